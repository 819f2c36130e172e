package apitest

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SetDeploymentAvailable plays the Deployment controller and the kubelet,
// which envtest does not run: it writes the status of a finished rollout of
// d's replicas whose pods are all ready (available) or none of them are. A
// real node is the test/e2e suite's job; this lets envtest suites prove what
// a controller does with either answer.
func SetDeploymentAvailable(ctx context.Context, c client.Client, d *appsv1.Deployment, available bool) error {
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	ready, cond, reason := n, corev1.ConditionTrue, "MinimumReplicasAvailable"
	if !available {
		ready, cond, reason = 0, corev1.ConditionFalse, "MinimumReplicasUnavailable"
	}
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: ready, AvailableReplicas: ready,
		UnavailableReplicas: n - ready,
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: cond, Reason: reason,
			LastUpdateTime: now, LastTransitionTime: now,
		}},
	}
	return c.Status().Update(ctx, d)
}
