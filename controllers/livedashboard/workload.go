package livedashboard

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/controllers/steps"
)

// reconcileDeployment keeps the dashboard Deployment as desired. It waits
// for the dashboard's key: a pod started without its Secret would only
// hang in ContainerCreating. An object of the name that is someone else's
// stalls the dashboard.
func (r *Reconciler) reconcileDeployment(ctx context.Context, s *pass) steps.Outcome {
	if !s.keyReady {
		return steps.Done() // the apiKey step said why
	}
	d := s.d
	desired := desiredDeployment(d, s.p, s.conn, &r.opts)
	if err := controllerutil.SetControllerReference(d, desired, r.client.Scheme()); err != nil {
		return steps.Retry(err)
	}
	var existing appsv1.Deployment
	err := r.client.Get(ctx, client.ObjectKeyFromObject(desired), &existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.client.Create(ctx, desired); err != nil {
			return steps.Retry(err)
		}
		s.deployment = desired
		return steps.Done()
	case err != nil:
		return steps.Retry(err)
	}
	if !metav1.IsControlledBy(&existing, d) {
		return conflict(ReasonDeploymentConflict, "Deployment", existing.Name)
	}
	s.deployment = &existing
	if upToDate(&existing, desired) {
		return steps.Done()
	}
	existing.Labels = desired.Labels
	existing.Annotations = klabels.Merge(existing.Annotations, desired.Annotations)
	existing.Spec = desired.Spec
	if err := r.client.Update(ctx, &existing); err != nil {
		return steps.Retry(err)
	}
	return steps.Done()
}

// reconcileService keeps the dashboard Service as desired.
func (r *Reconciler) reconcileService(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	desired := desiredService(d)
	if err := controllerutil.SetControllerReference(d, desired, r.client.Scheme()); err != nil {
		return steps.Retry(err)
	}
	var existing corev1.Service
	err := r.client.Get(ctx, client.ObjectKeyFromObject(desired), &existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.client.Create(ctx, desired); err != nil {
			return steps.Retry(err)
		}
		return steps.Done()
	case err != nil:
		return steps.Retry(err)
	}
	if !metav1.IsControlledBy(&existing, d) {
		return conflict(ReasonServiceConflict, "Service", existing.Name)
	}
	if upToDate(&existing, desired) {
		return steps.Done()
	}
	// The cluster assigns these; keep them.
	desired.Spec.ClusterIP, desired.Spec.ClusterIPs = existing.Spec.ClusterIP, existing.Spec.ClusterIPs
	desired.Spec.IPFamilies, desired.Spec.IPFamilyPolicy = existing.Spec.IPFamilies, existing.Spec.IPFamilyPolicy
	if desired.Spec.Type != corev1.ServiceTypeClusterIP && len(existing.Spec.Ports) == 1 {
		desired.Spec.Ports[0].NodePort = existing.Spec.Ports[0].NodePort
	}
	existing.Labels = desired.Labels
	existing.Annotations = klabels.Merge(existing.Annotations, desired.Annotations)
	existing.Spec = desired.Spec
	if err := r.client.Update(ctx, &existing); err != nil {
		return steps.Retry(err)
	}
	return steps.Done()
}

// conflict stalls on an object of the dashboard's name that belongs to
// someone else: retrying cannot help, the user must rename or remove it. Its
// deletion does not reach us (it is not ours), so look again at a slow pace.
func conflict(reason, kind, name string) steps.Outcome {
	return steps.Stalled(reason, fmt.Sprintf(
		"%s %s exists and is not owned by this LiveDashboard; delete or rename it, or rename this LiveDashboard", kind, name),
		conflictRecheck)
}

// conflictRecheck is how often a dashboard stalled on a conflict looks again.
const conflictRecheck = 5 * time.Minute
