package argocd

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from the Lua scripts")

// healthTest mirrors Argo CD's resource_customizations/*/health_test.yaml.
type healthTest struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

func runHealth(t *testing.T, script string, obj map[string]any) (status, message string) {
	t.Helper()
	status, message, err := RunHealth(script, obj)
	if err != nil {
		t.Fatal(err)
	}
	return status, message
}

func TestHealthChecks(t *testing.T) {
	statuses := map[string]map[string]bool{}
	for _, kind := range Kinds {
		dir := filepath.Join("resource_customizations", Group, kind)
		script, err := HealthScript(kind)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var ht healthTest
		if err := yaml.UnmarshalStrict(raw, &ht); err != nil {
			t.Fatal(err)
		}
		statuses[kind] = map[string]bool{}
		for _, tc := range ht.Tests {
			t.Run(kind+"/"+strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
				in, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
				if err != nil {
					t.Fatal(err)
				}
				var obj map[string]any
				if err := yaml.Unmarshal(in, &obj); err != nil {
					t.Fatal(err)
				}
				if obj["kind"] != kind {
					t.Fatalf("fixture is a %v, want %s", obj["kind"], kind)
				}
				status, message := runHealth(t, script, obj)
				if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
					t.Fatalf("health = %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
				}
			})
			statuses[kind][tc.HealthStatus.Status] = true
		}
	}
	// Every case the contract names has a fixture.
	want := map[string][]string{
		"TwitterPipeline": {"Healthy", "Progressing", "Degraded", "Suspended"},
		"LiveDashboard":   {"Healthy", "Progressing", "Degraded"},
	}
	for kind, ss := range want {
		for _, s := range ss {
			if !statuses[kind][s] {
				t.Errorf("%s has no fixture for %s", kind, s)
			}
		}
	}
}

func TestConfigMapSnippetIsCurrent(t *testing.T) {
	want, err := ConfigMapSnippet()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("argocd-cm.yaml", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("argocd-cm.yaml is stale: run go test ./config/argocd -update")
	}
	// What Argo CD reads back from the ConfigMap is the script itself.
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	for _, kind := range Kinds {
		script, _ := HealthScript(kind)
		if cm.Data[ConfigMapKey(kind)] != script {
			t.Errorf("argocd-cm %s does not hold the %s script verbatim", ConfigMapKey(kind), kind)
		}
	}
}

func TestApplicationSyncsSamples(t *testing.T) {
	raw, err := os.ReadFile("application.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Kind string `json:"kind"`
		Spec struct {
			Source struct {
				Path string `json:"path"`
			} `json:"source"`
			SyncPolicy struct {
				SyncOptions []string `json:"syncOptions"`
			} `json:"syncPolicy"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	if app.Kind != "Application" || app.Spec.Source.Path != "config/samples" {
		t.Fatalf("application.yaml: kind %q path %q, want an Application of config/samples", app.Kind, app.Spec.Source.Path)
	}
	if !strings.Contains(strings.Join(app.Spec.SyncPolicy.SyncOptions, ","), "ServerSideApply=true") {
		t.Fatal("application.yaml does not sync with server-side apply")
	}
}
