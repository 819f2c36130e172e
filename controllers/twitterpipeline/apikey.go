package twitterpipeline

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
)

// removeAPIKeyCopy deletes <pipeline>-rockset-apikey, the copy of the
// operator's admin API key that earlier versions kept in the pipeline's
// namespace for dashboard pods. Each dashboard now gets a key of its own that
// may only query its collection (controllers/livedashboard), so no namespace
// holds the admin key. Only a copy this pipeline (or an earlier one of its
// name) made is deleted. The check reads the manager's metadata-only cache,
// so a pipeline without a copy costs no request.
func (r *Reconciler) removeAPIKeyCopy(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	key := types.NamespacedName{Namespace: p.Namespace, Name: names.PodSecret(p)}
	copyMeta := &metav1.PartialObjectMetadata{}
	copyMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.client.Get(ctx, key, copyMeta)
	switch {
	case apierrors.IsNotFound(err):
		return steps.Done()
	case err != nil:
		return steps.Retry(err)
	}
	if !metav1.IsControlledBy(copyMeta, p) && !leftByEarlierIncarnation(copyMeta, p) {
		return steps.Done() // not ours: leave it
	}
	if err := r.client.Delete(ctx, copyMeta, client.Preconditions{UID: &copyMeta.UID}); err != nil && !apierrors.IsNotFound(err) {
		return steps.Retry(err)
	}
	r.event(p, status.EventNormal, EventAPIKeyCopyRemoved, "Delete",
		fmt.Sprintf("deleted Secret %s, the operator's API key copy for dashboards: each LiveDashboard now has a key of its own", key.Name))
	return steps.Done()
}

// leftByEarlierIncarnation reports whether obj was made by a TwitterPipeline
// of this name that no longer exists (same name and kind, another UID).
func leftByEarlierIncarnation(obj metav1.Object, p *v1alpha1.TwitterPipeline) bool {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || obj.GetLabels()[labelManagedBy] != managedBy || obj.GetLabels()[labelPipeline] != p.Name {
		return false
	}
	return ref.Kind == "TwitterPipeline" && ref.Name == p.Name && ref.UID != p.UID &&
		ref.APIVersion == v1alpha1.GroupVersion.String()
}
