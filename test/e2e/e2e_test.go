// Package e2e drives the whole system as a user would: kubectl and the two
// resources against a real kube-apiserver, with the manager, the analytics
// server, the Kinesis emulator and the operator's Deployments running as
// local processes from freshly built binaries (test/localcluster).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/localcluster"
)

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := apitest.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Build the programs from this tree: a stale bin/ would test old code.
	bin, err := os.MkdirTemp("", "streamdash-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the programs: %v\n%s", err, out)
		return 1
	}
	state, err := os.MkdirTemp("", "streamdash-e2e-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		RepoRoot: root,
		BinDir:   bin,
		StateDir: state,
		// A short resync so drift (a stream deleted out of band) is noticed within the test.
		ManagerArgs: []string{"--resync-period=15s"},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the local system: %v\n", err)
		return 1
	}
	code := m.Run()
	cluster.Stop()
	if code == 0 {
		os.RemoveAll(state)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: logs kept in %s\n", filepath.Join(state, "logs"))
	}
	return code
}

// kubectl runs the cluster's kubectl and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cluster.RunKubectl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// applyYAML server-side-applies a manifest given as text.
func applyYAML(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "--server-side", "--field-manager=e2e-user", "-f", f)
}

// eventually polls cond until it returns true, failing with its last message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	kubectl(t, "create", "namespace", name)
	return name
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
