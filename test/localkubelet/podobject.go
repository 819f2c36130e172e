package localkubelet

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Pod objects are published only with Options.PublishPods, so that
// `kubectl get pods` shows what runs. Nothing reads them back: the local
// pods are the truth, the objects a view of it.

func (p *pod) object() *corev1.Pod {
	spec := p.spec.DeepCopy()
	spec.NodeName = p.meta.NodeName
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.meta.Name, Namespace: p.meta.Namespace,
			Labels: p.meta.Labels, Annotations: p.meta.Annotations,
		},
		Spec: *spec,
	}
}

// podStatus renders the pod's state as the kubelet would report it.
func (p *pod) podStatus() corev1.PodStatus {
	ready := p.ready()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := corev1.PodStatus{
		Phase:     corev1.PodPending,
		HostIP:    p.meta.HostIP,
		HostIPs:   []corev1.HostIP{{IP: p.meta.HostIP}},
		PodIP:     p.meta.IP,
		PodIPs:    []corev1.PodIP{{IP: p.meta.IP}},
		StartTime: &p.startTime,
	}
	allRunning := len(p.spec.Containers) > 0
	for _, c := range p.spec.Containers {
		s := p.containers[c.Name]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: s.ready && s.running,
			RestartCount: int32(s.restarts), Started: ptr.To(s.running)}
		switch {
		case s.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: p.startTime}
		case s.restarts > 0 && s.reason != "ContainerCreating":
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: s.reason + ": " + s.message}
		default:
			reason := s.reason
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: s.message}
		}
		allRunning = allRunning && s.running
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	if allRunning {
		st.Phase = corev1.PodRunning
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: p.startTime}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, true),
		cond(corev1.ContainersReady, ready),
		cond(corev1.PodReady, ready),
	}
	if p.message != "" {
		st.Message = p.message
	}
	return st
}

// publishPod creates the Pod object, or brings its status up to date.
func (k *Kubelet) publishPod(ctx context.Context, p *pod) {
	if !k.opts.PublishPods {
		return
	}
	st := p.podStatus()
	raw, _ := json.Marshal(st)
	p.mu.Lock()
	same := p.publishedStatus == string(raw)
	p.mu.Unlock()
	if same {
		return
	}
	obj := p.object()
	err := k.client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		err = k.reader.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}
	if err != nil {
		k.opts.Logger.Error(err, "publish pod", "pod", p.meta.Namespace+"/"+p.meta.Name)
		return
	}
	patch := client.MergeFrom(obj.DeepCopy())
	// The API server computes the QoS class at creation and refuses changes.
	st.QOSClass = obj.Status.QOSClass
	obj.Status = st
	if err := k.client.Status().Patch(ctx, obj, patch); err != nil {
		k.opts.Logger.Error(err, "publish pod status", "pod", p.meta.Namespace+"/"+p.meta.Name)
		return
	}
	p.mu.Lock()
	p.publishedStatus = string(raw)
	p.mu.Unlock()
}

// unpublishPods deletes the Pod objects of stopped pods, at once: no kubelet
// is left to confirm a graceful deletion.
func (k *Kubelet) unpublishPods(pods []*pod) {
	if !k.opts.PublishPods {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range pods {
		err := k.client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.meta.Namespace, Name: p.meta.Name}},
			client.GracePeriodSeconds(0))
		if err != nil && !apierrors.IsNotFound(err) {
			k.opts.Logger.Error(err, "delete pod object", "pod", p.meta.Namespace+"/"+p.meta.Name)
		}
	}
}

// removeLeftoverPods deletes Pod objects a previous run on this node left
// behind when it could not clean up (it was killed).
func (k *Kubelet) removeLeftoverPods(ctx context.Context) error {
	if !k.opts.PublishPods {
		return nil
	}
	var pods corev1.PodList
	if err := k.reader.List(ctx, &pods, client.MatchingFields{"spec.nodeName": k.opts.NodeName}); err != nil {
		return err
	}
	for i := range pods.Items {
		if err := k.client.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
