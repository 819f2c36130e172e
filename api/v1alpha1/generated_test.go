package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/streamdash/streamdash/test/apitest"
)

// Generated files are committed; this fails when `make manifests generate`
// would change them, so a stale CRD never ships.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	gen := os.Getenv("CONTROLLER_GEN")
	if gen == "" {
		t.Skip("CONTROLLER_GEN is not set (make test sets it)")
	}
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(gen,
		"rbac:roleName=manager-role", "crd", "object:headerFile=hack/boilerplate.go.txt",
		"paths=./api/...", "paths=./controllers/...",
		"output:crd:artifacts:config="+filepath.Join(out, "crd"),
		"output:rbac:artifacts:config="+filepath.Join(out, "rbac"),
		"output:object:dir="+filepath.Join(out, "object"))
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, msg)
	}
	compare := func(generated, committed string) {
		want, err := os.ReadFile(generated)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, committed))
		if err != nil {
			t.Fatalf("%s: %v (run make manifests generate)", committed, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run make manifests generate and commit the result", committed)
		}
	}
	crds, _ := filepath.Glob(filepath.Join(out, "crd", "*.yaml"))
	if len(crds) != 2 {
		t.Fatalf("controller-gen wrote %d CRDs, want 2", len(crds))
	}
	for _, f := range crds {
		compare(f, filepath.Join("config", "crd", "bases", filepath.Base(f)))
	}
	if _, err := os.Stat(filepath.Join(out, "rbac", "role.yaml")); err == nil {
		compare(filepath.Join(out, "rbac", "role.yaml"), filepath.Join("config", "rbac", "role.yaml"))
	}
	compare(filepath.Join(out, "object", "zz_generated.deepcopy.go"), filepath.Join("api", "v1alpha1", "zz_generated.deepcopy.go"))
}
