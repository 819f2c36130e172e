package localcluster

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

func resourceVersions(t *testing.T, c *Cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	var pipelines v1alpha1.TwitterPipelineList
	var dashboards v1alpha1.LiveDashboardList
	if err := c.Client.List(context.Background(), &pipelines); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.List(context.Background(), &dashboards); err != nil {
		t.Fatal(err)
	}
	for _, p := range pipelines.Items {
		out["tp/"+p.Name] = p.ResourceVersion
	}
	for _, d := range dashboards.Items {
		out["ld/"+d.Name] = d.ResourceVersion
	}
	return out
}

// TestControlPlaneWithoutPrograms brings the stack up with no program built:
// what the demo does before the other parts exist.
func TestControlPlaneWithoutPrograms(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	var c *Cluster
	for run := 1; run <= 2; run++ { // a second run on the same state directory starts fresh
		var err error
		c, err = Start(ctx, Options{BinDir: t.TempDir(), StateDir: state})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if strings.Join(c.Missing, ",") != strings.Join(Programs, ",") {
			t.Fatalf("Missing = %v, want every program", c.Missing)
		}
		out, err := c.RunKubectl(ctx, "get", "dashboards", "-A")
		if err != nil || !strings.Contains(out, "No resources found") {
			t.Fatalf("run %d: a fresh cluster lists dashboards: %q (%v)", run, out, err)
		}
		if run == 1 {
			if _, err := c.Apply(ctx, filepath.Join(c.opts.RepoRoot, "config", "samples")); err != nil {
				t.Fatal(err)
			}
			c.Stop()
		}
	}
	defer c.Stop()

	samples := filepath.Join(c.opts.RepoRoot, "config", "samples")
	if _, err := c.Apply(ctx, samples); err != nil {
		t.Fatal(err)
	}
	out, err := c.RunKubectl(ctx, "get", "dashboards")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PIPELINE", "HASHTAG", "tweets", "music"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kubectl get dashboards lacks %q:\n%s", want, out)
		}
	}
	// Applying the same samples again with server-side apply changes nothing.
	before := resourceVersions(t, c)
	if _, err := c.Apply(ctx, samples); err != nil {
		t.Fatal(err)
	}
	after := resourceVersions(t, c)
	if len(before) == 0 || strings.Join(sortedPairs(before), ",") != strings.Join(sortedPairs(after), ",") {
		t.Fatalf("a second apply changed objects: %v -> %v", before, after)
	}

	if _, err := c.ApplyYAML(ctx, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-text\n  namespace: default\ndata:\n  a: b\n"); err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "from-text"}, &cm); err != nil || cm.Data["a"] != "b" {
		t.Fatalf("ApplyYAML did not create the ConfigMap: %+v (%v)", cm.Data, err)
	}

	var key corev1.Secret
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: "streamdash-system", Name: "streamdash-analytics-apikey"}, &key); err != nil {
		t.Fatal(err)
	}
	if string(key.Data["apikey"]) != c.APIKey() || len(c.APIKey()) < 32 {
		t.Fatal("the API-key Secret does not hold the generated key")
	}
	if _, err := c.Kinesis.Client().ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(c.Kubeconfig)
	if err != nil || !strings.Contains(string(kubeconfig), strings.TrimSuffix(c.Config.Host, "/")) {
		t.Fatalf("kubeconfig %s does not point at %s (%v)", c.Kubeconfig, c.Config.Host, err)
	}

	host, kinesisURL := c.Config.Host, c.Kinesis.Endpoint
	c.Stop()
	hc := &http.Client{Timeout: time.Second}
	for _, u := range []string{host, kinesisURL} {
		if resp, err := hc.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Stop", u)
		}
	}
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func TestMain(m *testing.M) {
	// The stand-in logs to its own file; controller-runtime's global logger
	// only carries client warnings here.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(m.Run())
}
