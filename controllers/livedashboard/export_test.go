package livedashboard

import "sigs.k8s.io/controller-runtime/pkg/client"

// NewReconciler is a reconciler without a manager, for tests that decide
// what its cache returns.
func NewReconciler(c client.Client, uncached client.Reader, opts Options) *Reconciler {
	opts.defaults()
	return newReconciler(c, uncached, opts)
}
