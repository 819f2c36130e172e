package twitterpipeline

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
)

// reconcileAPIKeySecret keeps <pipeline>-rockset-apikey, the owned copy of
// the operator's API key that dashboard pods mount (pods cannot read a Secret
// in another namespace). With the pipeline's own key Secret no copy is needed
// and a stale one is removed.
func (r *Reconciler) reconcileAPIKeySecret(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	key := types.NamespacedName{Namespace: p.Namespace, Name: names.PodSecret(p)}
	var existing corev1.Secret
	err := r.uncached.Get(ctx, key, &existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return steps.Retry(err)
	}
	found := err == nil

	if !s.conn.UsesDefaultKey {
		if found && metav1.IsControlledBy(&existing, p) {
			if err := r.client.Delete(ctx, &existing); err != nil && !apierrors.IsNotFound(err) {
				return steps.Retry(err)
			}
		}
		return steps.Done()
	}

	value := []byte(s.conn.APIKey)
	if !found {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: key.Name, Namespace: key.Namespace,
				Labels: map[string]string{labelManagedBy: managedBy, labelPipeline: p.Name},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{rocksetconn.PodSecretKey: value},
		}
		if err := controllerutil.SetControllerReference(p, sec, r.client.Scheme()); err != nil {
			return steps.Retry(err)
		}
		if err := r.client.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
			return steps.Retry(err)
		}
		r.event(p, status.EventNormal, EventAPIKeySecretSynced, "Create",
			fmt.Sprintf("created Secret %s with the operator's Rockset API key for pods", key.Name))
		return steps.Done()
	}
	if !metav1.IsControlledBy(&existing, p) && leftByEarlierIncarnation(&existing, p) {
		// A pipeline deleted and re-created under the same name finds its
		// predecessor's copy until the garbage collector removes it: the
		// copy was ours, so take it over rather than stall.
		existing.OwnerReferences = nil
		if err := controllerutil.SetControllerReference(p, &existing, r.client.Scheme()); err != nil {
			return steps.Retry(err)
		}
		existing.Data = map[string][]byte{rocksetconn.PodSecretKey: value}
		if err := r.client.Update(ctx, &existing); err != nil {
			return steps.Retry(err)
		}
		return steps.Done()
	}
	if !metav1.IsControlledBy(&existing, p) {
		msg := fmt.Sprintf("Secret %s exists and is not owned by this pipeline; set spec.rockset.apiKeySecretRef or remove it", key.Name)
		return steps.Stalled(ReasonSecretConflict, msg, 0)
	}
	if bytes.Equal(existing.Data[rocksetconn.PodSecretKey], value) {
		return steps.Done()
	}
	existing.Data = map[string][]byte{rocksetconn.PodSecretKey: value}
	if err := r.client.Update(ctx, &existing); err != nil {
		return steps.Retry(err)
	}
	r.event(p, status.EventNormal, EventAPIKeySecretSynced, "Update",
		fmt.Sprintf("updated Secret %s: the operator's Rockset API key changed", key.Name))
	return steps.Done()
}

// leftByEarlierIncarnation reports whether sec was made by a TwitterPipeline
// of this name that no longer exists (same name and kind, another UID).
func leftByEarlierIncarnation(sec *corev1.Secret, p *v1alpha1.TwitterPipeline) bool {
	ref := metav1.GetControllerOf(sec)
	if ref == nil || sec.Labels[labelManagedBy] != managedBy || sec.Labels[labelPipeline] != p.Name {
		return false
	}
	return ref.Kind == "TwitterPipeline" && ref.Name == p.Name && ref.UID != p.UID &&
		ref.APIVersion == v1alpha1.GroupVersion.String()
}
