package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
)

// buildPrograms builds the four programs into a temporary bin directory.
func buildPrograms(t *testing.T, root string) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/...")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	return bin
}

// TestStackRunsTheOperatorsPods starts everything with the real programs and
// checks the seams this package owns: the manager's Deployments run as local
// processes that really serve, the dashboards' Services resolve to them, and
// the analytics server survives a kill at the same address. Whether the
// pipeline becomes Ready is the end-to-end suite's business.
func TestStackRunsTheOperatorsPods(t *testing.T) {
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildPrograms(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{BinDir: bin, StateDir: filepath.Join(t.TempDir(), "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if len(c.Missing) != 0 {
		t.Fatalf("missing programs after a build: %v", c.Missing)
	}
	if _, err := c.Apply(ctx, filepath.Join(root, "config", "samples")); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"demo-producer", "tweets-dashboard", "music-dashboard"} {
		waitFor(ctx, t, "Deployment "+name+" available", func() (bool, string) {
			var d appsv1.Deployment
			if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &d); err != nil {
				return false, err.Error()
			}
			return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 1, fmt.Sprintf("%+v", d.Status)
		})
	}
	for _, svc := range []string{"tweets-dashboard", "music-dashboard"} {
		u, err := c.Kubelet.ServiceURL(ctx, "default", svc, "")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/healthz = %d", u, resp.StatusCode)
		}
	}

	waitFor(ctx, t, "kubectl get pods to list the three Running pods", func() (bool, string) {
		out, err := c.RunKubectl(ctx, "get", "pods", "--no-headers")
		if err != nil {
			return false, err.Error()
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		running := 0
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) >= 3 && f[1] == "1/1" && f[2] == "Running" {
				running++
			}
		}
		return len(lines) == 3 && running == 3, out
	})

	noPerpetualDiff(ctx, t, c, filepath.Join(root, "config", "samples"))

	url := c.AnalyticsURL
	c.KillAnalytics()
	if resp, err := http.Get(url + "/readyz"); err == nil {
		resp.Body.Close()
		t.Fatal("analytics still answers after KillAnalytics")
	}
	if err := c.StartAnalytics(ctx); err != nil {
		t.Fatal(err)
	}
	if c.AnalyticsURL != url {
		t.Fatalf("analytics moved from %s to %s", url, c.AnalyticsURL)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// noPerpetualDiff is what a GitOps tool sees once the controllers have
// reconciled the samples: a server-side diff shows nothing, a second apply
// changes no spec (generation stays), and no field manager but the applier
// owns anything under spec.
func noPerpetualDiff(ctx context.Context, t *testing.T, c *Cluster, samples string) {
	t.Helper()
	var pipelines v1alpha1.TwitterPipelineList
	waitFor(ctx, t, "the controllers to reconcile the samples", func() (bool, string) {
		if err := c.Client.List(ctx, &pipelines); err != nil {
			return false, err.Error()
		}
		return len(pipelines.Items) == 1 && len(pipelines.Items[0].Status.Conditions) > 0 && len(pipelines.Items[0].Finalizers) > 0,
			fmt.Sprintf("%+v", pipelines.Items)
	})
	out, err := c.RunKubectl(ctx, "diff", "--server-side", "--field-manager=streamdash-demo", "-k", samples)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("kubectl diff after reconciling shows a difference (%v):\n%s", err, out)
	}
	generations := func() map[string]int64 {
		var dashboards v1alpha1.LiveDashboardList
		if err := c.Client.List(ctx, &pipelines); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.List(ctx, &dashboards); err != nil {
			t.Fatal(err)
		}
		g := map[string]int64{}
		var objs []client.Object
		for i := range pipelines.Items {
			objs = append(objs, &pipelines.Items[i])
		}
		for i := range dashboards.Items {
			objs = append(objs, &dashboards.Items[i])
		}
		for _, o := range objs {
			g[o.GetName()] = o.GetGeneration()
			for _, mf := range o.GetManagedFields() {
				if mf.Manager != "streamdash-demo" && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:spec"`) {
					t.Errorf("%s: field manager %q owns spec fields: %s", o.GetName(), mf.Manager, mf.FieldsV1.Raw)
				}
			}
		}
		return g
	}
	before := generations()
	if _, err := c.Apply(ctx, samples); err != nil {
		t.Fatal(err)
	}
	after := generations()
	if fmt.Sprint(before) != fmt.Sprint(after) || len(before) != 3 {
		t.Fatalf("generations %v -> %v after applying the samples again", before, after)
	}
}
