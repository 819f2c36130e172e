package twitterpipeline

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// referencesIndex indexes pipelines by the Secrets and ConfigMaps they
// reference, so a change to one wakes exactly the pipelines that use it.
const referencesIndex = "spec.references"

// defaultKeyReference marks pipelines that use the operator's API key Secret.
const defaultKeyReference = "DefaultAPIKey"

func secretRef(name string) string    { return "Secret/" + name }
func configMapRef(name string) string { return "ConfigMap/" + name }

// references lists what a pipeline reads besides itself.
func references(obj client.Object) []string {
	p, ok := obj.(*v1alpha1.TwitterPipeline)
	if !ok {
		return nil
	}
	var refs []string
	if r := p.Spec.Rockset.APIKeySecretRef; r != nil {
		refs = append(refs, secretRef(r.Name))
	} else {
		refs = append(refs, defaultKeyReference)
	}
	if r := p.Spec.Stream.CredentialsSecretRef; r != nil {
		refs = append(refs, secretRef(r.Name))
	}
	if x := p.Spec.Source.X; x != nil {
		refs = append(refs, secretRef(x.BearerTokenSecretRef.Name))
	}
	if rp := p.Spec.Source.Replay; rp != nil && rp.ConfigMapRef != nil {
		refs = append(refs, configMapRef(rp.ConfigMapRef.Name))
	}
	return refs
}

func indexReferences(ctx context.Context, idx client.FieldIndexer) error {
	return idx.IndexField(ctx, &v1alpha1.TwitterPipeline{}, referencesIndex, references)
}

func (r *Reconciler) pipelinesFor(ctx context.Context, namespace, ref string) []reconcile.Request {
	var list v1alpha1.TwitterPipelineList
	opts := []client.ListOption{client.MatchingFields{referencesIndex: ref}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.client.List(ctx, &list, opts...); err != nil {
		logf.FromContext(ctx).Error(err, "list pipelines referencing an object", "reference", ref)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
	}
	return reqs
}

// pipelinesForSecret maps a Secret to the pipelines that read it: by
// reference, as the operator's default API key, or as the owner of the
// mirrored key Secret.
func (r *Reconciler) pipelinesForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	reqs := r.pipelinesFor(ctx, obj.GetNamespace(), secretRef(obj.GetName()))
	if key := r.opts.Rockset.APIKeySecret; key.Name == obj.GetName() && key.Namespace == obj.GetNamespace() {
		reqs = append(reqs, r.pipelinesFor(ctx, "", defaultKeyReference)...)
	}
	for _, o := range obj.GetOwnerReferences() {
		if o.Controller != nil && *o.Controller && o.Kind == "TwitterPipeline" && o.APIVersion == v1alpha1.GroupVersion.String() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: o.Name}})
		}
	}
	return reqs
}

func (r *Reconciler) pipelinesForConfigMap(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.pipelinesFor(ctx, obj.GetNamespace(), configMapRef(obj.GetName()))
}
