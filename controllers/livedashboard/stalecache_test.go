package livedashboard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
)

// behindCache is the manager's cache when it has not yet seen the last
// writes to a dashboard: it returns an older copy. The real cache does this
// for a few milliseconds, when a pass queued by the events of the pass
// before (its Secret, Deployment and Service) starts at once; too short to
// hit on demand, so it is held here.
type behindCache struct {
	client.Client
	old *v1alpha1.LiveDashboard
}

func (c behindCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if d, ok := obj.(*v1alpha1.LiveDashboard); ok && c.old != nil && key == client.ObjectKeyFromObject(c.old) {
		c.old.DeepCopyInto(d)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// TestCacheBehindLastPass: a pass that reads a copy older than what the pass
// before wrote works from the API server's copy. From the old one it failed
// to add the finalizer again (a conflict) and replaced the conditions list
// with one computed from the old status (in TestLiveDashboard it dropped
// QueriesHealthy: Ready=False "waiting for the first refresh" with
// lastRefreshTime set).
func TestCacheBehindLastPass(t *testing.T) {
	if testing.Short() {
		t.Skip("runs envtest")
	}
	t.Parallel() // its own namespace; no manager
	_, cfg := startAPIServer(t)
	c, err := client.New(cfg, client.Options{Scheme: newScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "behind"
	newNamespace(t, c, ns)
	ctx := context.Background()
	// Its pipeline does not exist: the pass stalls without a Rockset server.
	d := dashboardSpec(ns, "d", "missing", "", 3, 10*time.Second)
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	created := d.DeepCopy()
	cache := &behindCache{Client: c}
	r := livedashboard.NewReconciler(cache, c, livedashboard.Options{Image: "streamdash:test"})
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(d)}

	check := func(pass string, err error) {
		t.Helper()
		if !errors.Is(err, reconcile.TerminalError(nil)) {
			t.Errorf("%s: error %v, want the stall's terminal error", pass, err)
		}
		var got v1alpha1.LiveDashboard
		if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
			t.Fatal(err)
		}
		if s := condition(&got, v1alpha1.ConditionStalled); s == nil || s.Reason != livedashboard.ReasonPipelineNotFound ||
			condition(&got, v1alpha1.ConditionReconciling) != nil || len(got.Finalizers) != 1 {
			t.Errorf("%s: finalizers %v, conditions %s", pass, got.Finalizers, describe(&got))
		}
	}
	_, err = r.Reconcile(ctx, req) // adds the finalizer, writes Stalled
	check("first pass", err)
	cache.old = created // the cache has not seen those writes
	_, err = r.Reconcile(ctx, req)
	check("pass on a cache behind", err)
}
