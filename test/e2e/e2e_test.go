// Package e2e drives the whole system as a user would, on a real
// Kubernetes node (test/node): the streamdash image built from this tree and
// imported into containerd, dist/install.yaml applied as it is, then kubectl
// and the two resources. Every streamdash program runs in a container; the
// Kinesis emulator runs on the host (test/localcluster).
//
// The node starts once per run. The tests run in parallel, each in its own
// namespace, except TestResilience, which deletes the shared analytics pod.
// After the suite, TestMain checks that stopping the node left the machine as
// it was and that a second node starts and stops cleanly too.
//
// The node needs Linux and root; elsewhere every test skips and says so.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/image"
	"github.com/streamdash/streamdash/test/localcluster"
	"github.com/streamdash/streamdash/test/node"
)

var (
	cluster *localcluster.Cluster
	// skipReason is why the suite cannot run here ("" when it can).
	skipReason string
)

// fetchImage runs test/e2e/fetch, for requests from inside the cluster.
const fetchImage = "streamdash.local/e2e-fetch:1"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// requireCluster skips a test where the node cannot run.
func requireCluster(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func run(m *testing.M) int {
	flag.Parse()
	// The tests wait on the node (pods starting, probes, ingest) far more
	// than they compute: all of them run at once, not GOMAXPROCS at a time,
	// unless -test.parallel says otherwise. TestOnTheRealNode's roll must
	// start mid-ingest, which a test queued behind two others would miss.
	apitest.WaitBoundParallel(16)
	// The suite reads the API through controller-runtime's client; failures
	// say what they saw.
	ctrllog.SetLogger(logr.Discard())
	if err := node.Supported(); err != nil {
		skipReason = fmt.Sprintf("the end-to-end suite runs a real Kubernetes node: %v", err)
		fmt.Fprintln(os.Stderr, "e2e: skipped:", skipReason)
		return m.Run()
	}
	root, err := apitest.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	work, err := os.MkdirTemp("", "streamdash-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := prepare(root, work); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	// Long enough to wait for a demo or a node-up to go: one node per
	// machine.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	state := filepath.Join(work, "state")
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		RepoRoot:    root,
		BinDir:      filepath.Join(work, "bin"),
		InstallYAML: filepath.Join(work, "install.yaml"),
		StateDir:    state,
		Owner:       "the end-to-end suite (go test ./test/e2e)",
		Progress:    os.Stderr,
		WaitForNode: true,
		// A short resync so drift (a stream deleted out of band) is noticed within the test.
		ManagerArgs: []string{"--resync-period=15s"},
		CheckStop:   true,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start the system on the node: %v\n", err)
		return 1
	}
	// The watchdog, an interrupt and the end of the suite may each stop the
	// node, even at once: it stops once, and the others wait for that.
	stopNode := sync.OnceValue(cluster.Stop)
	var interrupted atomic.Bool
	// go test's -timeout panics without running deferred calls: stop the
	// node a little before, so it never outlives the run.
	if d := flag.Lookup("test.timeout"); d != nil {
		if timeout, _ := time.ParseDuration(d.Value.String()); timeout > 2*time.Minute {
			watchdog := time.AfterFunc(timeout-time.Minute, func() {
				fmt.Fprintln(os.Stderr, "e2e: the test timeout is near: stopping the node")
				stopNode()
			})
			defer watchdog.Stop()
		}
	}
	// Ctrl-C, or a SIGTERM, would otherwise end the process with the node's
	// iptables rules, mounts and bridge left on the machine.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		if s, ok := <-signals; ok {
			interrupted.Store(true)
			fmt.Fprintf(os.Stderr, "e2e: %v: stopping the node\n", s)
			if err := stopNode(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: stopping the node: %v\n", err)
			}
			os.Exit(2)
		}
	}()
	if err := cluster.Node.ImportImage(ctx, filepath.Join(work, "fetch.tar")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		stopNode()
		return 1
	}
	code := m.Run()
	if err := stopNode(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the node after the suite: %v\n", err)
		code = 1
	}
	if interrupted.Load() {
		select {} // the signal handler exits
	}
	if err := startAgain(root, filepath.Join(state, "logs", "node-again")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		code = 1
	}
	if code == 0 {
		os.RemoveAll(work)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: logs kept in %s\n", filepath.Join(state, "logs"))
	}
	return code
}

// startAgain starts a bare node once more from nothing, verifies it and
// stops it: after the suite's node, the second start and the second stop
// must work and leave nothing behind either (the demo's "a second run works").
// The suite's node holds the machine meanwhile, so this runs after it and
// adds one node start and stop to the suite.
func startAgain(root, logDir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := node.Start(ctx, node.Options{RepoRoot: root, LogDir: logDir, Owner: "the end-to-end suite's second node start",
		Progress: os.Stderr, Wait: true, CheckStop: true})
	if err != nil {
		return fmt.Errorf("the second node start: %w", err)
	}
	verr := n.Verify(ctx)
	if verr != nil {
		verr = fmt.Errorf("the second node: %w", verr)
	}
	if err := n.Stop(); err != nil {
		return errors.Join(verr, fmt.Errorf("stopping the second node: %w", err))
	}
	return verr
}

// prepare builds, into work, what a user would install: the programs from
// this tree (a stale bin/ would test old code), dist/install.yaml from
// config/default, and the fetch image.
func prepare(root, work string) error {
	if err := image.BuildPrograms(root, filepath.Join(work, "bin")); err != nil {
		return err
	}
	fetch := exec.Command(filepath.Join(root, "hack", "go-build-cached.sh"), filepath.Join(work, "fetch"), "./test/e2e/fetch")
	fetch.Dir = root
	fetch.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := fetch.CombinedOutput(); err != nil {
		return fmt.Errorf("building test/e2e/fetch: %w\n%s", err, out)
	}
	// make build-installer's command, or kubectl's built-in kustomize.
	render := exec.Command(filepath.Join(root, "bin", "k8s", node.K8sVersion, "kubectl"), "kustomize", "config/default")
	if k := os.Getenv("KUSTOMIZE"); k != "" {
		render = exec.Command(k, "build", "config/default")
	}
	render.Dir = root
	var stderr strings.Builder
	render.Stderr = &stderr
	out, err := render.Output()
	if err != nil {
		return fmt.Errorf("render config/default: %w\n%s", err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(work, "install.yaml"), out, 0o644); err != nil {
		return err
	}
	spec := image.Spec{Ref: fetchImage, User: image.User, Entrypoint: []string{"/fetch"},
		Files: []image.File{{Src: filepath.Join(work, "fetch"), Dst: "/fetch", Mode: 0o755}}}
	if err := image.WriteArchive(filepath.Join(work, "fetch.tar"), spec); err != nil {
		return err
	}
	return nil
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
