package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/config/argocd"
	"github.com/streamdash/streamdash/test/apitest"
)

// TestSamplesHaveNoPerpetualDiff is what Argo CD relies on: applying the
// samples again with server-side apply changes nothing, and no controller
// ever owns a field of spec (so a sync never fights the operator).
func TestSamplesHaveNoPerpetualDiff(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(root, "config", "samples")
	kubectl(t, "apply", "--server-side", "--field-manager=argocd-controller", "-k", samples)

	// Let the controllers work on them (finalizer, status) before comparing.
	eventually(t, 2*time.Minute, "the sample pipeline to get its finalizer and status", func() (bool, string) {
		p := getPipeline(t, "default", "demo")
		return len(p.Finalizers) > 0 && p.Status.ObservedGeneration > 0, conditionSummary(p.Status.Conditions)
	})

	before := specSnapshot(t)
	out := kubectl(t, "apply", "--server-side", "--field-manager=argocd-controller", "-k", samples)
	after := specSnapshot(t)
	for key, b := range before {
		if a := after[key]; a.generation != b.generation {
			t.Errorf("%s: second apply moved generation %d -> %d\n%s", key, b.generation, a.generation, out)
		}
	}

	objs := []client.Object{}
	var pipelines v1alpha1.TwitterPipelineList
	var dashboards v1alpha1.LiveDashboardList
	if err := cluster.Client.List(context.Background(), &pipelines, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.List(context.Background(), &dashboards, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for i := range pipelines.Items {
		objs = append(objs, &pipelines.Items[i])
	}
	for i := range dashboards.Items {
		objs = append(objs, &dashboards.Items[i])
	}
	for _, o := range objs {
		for _, mf := range o.GetManagedFields() {
			if mf.Manager == "argocd-controller" || mf.Subresource == "status" || mf.FieldsV1 == nil {
				continue
			}
			if strings.Contains(string(mf.FieldsV1.Raw), `"f:spec"`) {
				t.Errorf("%s/%s: manager %q owns fields of spec: %s", o.GetNamespace(), o.GetName(), mf.Manager, mf.FieldsV1.Raw)
			}
		}
	}
	kubectl(t, "delete", "-k", samples, "--wait=true", "--timeout=120s")
}

type snapshot struct{ generation int64 }

func specSnapshot(t *testing.T) map[string]snapshot {
	t.Helper()
	out := map[string]snapshot{}
	var pipelines v1alpha1.TwitterPipelineList
	var dashboards v1alpha1.LiveDashboardList
	if err := cluster.Client.List(context.Background(), &pipelines, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.List(context.Background(), &dashboards, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, p := range pipelines.Items {
		out["tp/"+p.Name] = snapshot{p.Generation}
	}
	for _, d := range dashboards.Items {
		out["ld/"+d.Name] = snapshot{d.Generation}
	}
	if len(out) != 3 {
		t.Fatalf("found %d sample objects in default, want 3", len(out))
	}
	return out
}

// argoHealth evaluates Argo CD's health check for a live object, read as
// Argo CD reads it: the API server's JSON.
func argoHealth(t *testing.T, kind, ns, name string) (status, message string) {
	t.Helper()
	out := kubectl(t, "get", strings.ToLower(kind)+".streamdash.io", name, "-n", ns, "-o", "json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	script, err := argocd.HealthScript(kind)
	if err != nil {
		t.Fatal(err)
	}
	status, message, err = argocd.RunHealth(script, obj)
	if err != nil {
		t.Fatal(err)
	}
	return status, message
}

// wantArgoHealth checks Argo CD's verdict on a live object.
func wantArgoHealth(t *testing.T, kind, ns, name, want string) {
	t.Helper()
	if status, message := argoHealth(t, kind, ns, name); status != want {
		t.Errorf("Argo CD health of %s %s/%s = %s (%s), want %s", kind, ns, name, status, message, want)
	}
}
