// Command demo runs the whole streamdash system on this machine (make demo):
// the local Kubernetes node, the streamdash image imported into it,
// dist/install.yaml applied as a user would, the Kinesis emulator
// (test/localcluster); then it applies config/samples, waits until
// everything is Ready, prints the dashboards' URLs, `kubectl get dashboards`
// and the pods, and runs until Ctrl-C or SIGTERM, when it stops everything
// it started and leaves nothing behind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/streamdash/streamdash/test/localcluster"
	"github.com/streamdash/streamdash/test/node"
)

func main() {
	var (
		stateDir = flag.String("state-dir", "bin/demo", "logs and the image of this run (emptied first)")
		binDir   = flag.String("bin-dir", "bin", "where the built programs are (make build)")
		install  = flag.String("install", "dist/install.yaml", "what to install (make build-installer)")
		samples  = flag.String("samples", "config/samples", "what to apply: a kustomization, a directory or a file")
		timeout  = flag.Duration("ready-timeout", 5*time.Minute, "how long to wait for the samples to become Ready")
		stalled  = flag.Duration("stalled-timeout", time.Minute, "give up when a resource stays Stalled this long")
	)
	flag.Parse()
	// The demo reads the API through controller-runtime's client; its own
	// progress lines say what happens.
	ctrllog.SetLogger(logr.Discard())
	// `make demo` runs us under `go run`, which dies on SIGTERM without
	// passing it on; ask the kernel for a SIGTERM when our parent goes, so
	// the usual clean stop still happens.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, localcluster.Options{BinDir: *binDir, StateDir: *stateDir, InstallYAML: *install, Owner: "make demo", Progress: os.Stdout, CheckStop: true}, *samples, *timeout, *stalled); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts localcluster.Options, samples string, timeout, stalledFor time.Duration) error {
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	begin := time.Now()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, node.ErrUnsupported) {
			return fmt.Errorf("%w (the demo runs a real Kubernetes node: run it as root on Linux)", err)
		}
		return err
	}
	defer func() {
		say("stopping everything ...")
		if err := c.Stop(); err != nil {
			say("stopped, but: %v", err)
			return
		}
		say("stopped; the machine is as the demo found it")
	}()
	say("logs: %s (node/<component>.log, kinesis.log, pods/, pods.txt)", c.LogDir)

	out, err := c.Apply(ctx, samples)
	if err != nil {
		return err
	}
	fmt.Print(out)
	say("waiting up to %s for the pipeline and dashboards to become Ready ...", timeout)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	lastReport := ""
	err = c.WaitReady(wctx, localcluster.WaitOptions{
		ReportEvery: 2 * time.Second,
		Report: func(states []localcluster.ResourceState) {
			// Only changes: the same lines every 10 s hide what moved.
			var b strings.Builder
			for _, s := range states {
				fmt.Fprintf(&b, "  %s\n", s)
			}
			if b.String() != lastReport {
				fmt.Print(b.String())
				lastReport = b.String()
			}
		},
		StalledFor: stalledFor,
	})
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		printPods(ctx, c)
		return err
	}
	urls, err := c.DashboardURLs(ctx)
	if err != nil {
		printPods(ctx, c)
		return err
	}
	say("")
	say("dashboards (open in a browser on this machine):")
	for _, u := range urls {
		say("  %s/%s (%s): %s   [in cluster: %s]", u.Namespace, u.Name, u.View, u.LocalURL, u.ClusterURL)
	}
	say("")
	kubectl := relative(c.Kubectl)
	say("$ %s --kubeconfig %s get dashboards", kubectl, c.Kubeconfig)
	if out, err := c.RunKubectl(ctx, "get", "dashboards"); err == nil {
		fmt.Print(out)
	} else {
		say("%v", err)
	}
	say("")
	printPods(ctx, c)
	say("")
	say("use kubectl with: export KUBECONFIG=%s; %s get twitterpipelines,dashboards,pods -A", c.Kubeconfig, kubectl)
	say("streamdash demo ready (%s after start; the node took %s)", time.Since(begin).Round(100*time.Millisecond), c.Node.Started.Round(100*time.Millisecond))
	say("press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

func printPods(ctx context.Context, c *localcluster.Cluster) {
	fmt.Println("$ kubectl get pods -A -o wide")
	out, err := c.RunKubectl(ctx, "get", "pods", "-A", "-o", "wide")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(out)
}

func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
