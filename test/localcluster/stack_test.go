package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
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
	root, err := repoRoot()
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
