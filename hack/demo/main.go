// Command demo runs the whole streamdash system on this machine (make demo):
// control plane, Kinesis emulator, analytics, manager and the local kubelet
// (test/localcluster), applies config/samples, waits until everything is
// Ready, prints the dashboards' URLs and `kubectl get dashboards`, then runs
// until Ctrl-C or SIGTERM and stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/streamdash/streamdash/test/localcluster"
)

func main() {
	var (
		stateDir = flag.String("state-dir", "bin/demo", "kubeconfig, logs and data of this run (emptied first)")
		binDir   = flag.String("bin-dir", "bin", "where the built programs are (make build)")
		samples  = flag.String("samples", "config/samples", "what to apply: a kustomization, a directory or a file")
		timeout  = flag.Duration("ready-timeout", 5*time.Minute, "how long to wait for the samples to become Ready")
		stalled  = flag.Duration("stalled-timeout", time.Minute, "give up when a resource stays Stalled this long")
	)
	flag.Parse()
	// `make demo` runs us under `go run`, which dies on SIGTERM without
	// passing it on; ask the kernel for a SIGTERM when our parent goes, so
	// the usual clean stop still happens.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, localcluster.Options{BinDir: *binDir, StateDir: *stateDir, Progress: os.Stdout, SetGlobalLogger: true}, *samples, *timeout, *stalled); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts localcluster.Options, samples string, timeout, stalledFor time.Duration) error {
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping everything ...")
		c.Stop()
		say("stopped")
	}()
	say("logs: %s (control-plane.log, kinesis.log, analytics.log, manager.log, localkubelet.log, controller-runtime.log, pods/<namespace>_<pod>_<container>.log)", c.LogDir)
	if len(c.Missing) > 0 {
		say("not built, so not running: %s (build them with: make build)", strings.Join(c.Missing, ", "))
	}

	out, err := c.Apply(ctx, samples)
	if err != nil {
		return err
	}
	fmt.Print(out)

	ready := len(c.Missing) == 0
	if ready {
		say("waiting up to %s for the pipeline and dashboards to become Ready ...", timeout)
		wctx, cancel := context.WithTimeout(ctx, timeout)
		lastReport := ""
		err := c.WaitReady(wctx, localcluster.WaitOptions{
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
			printPods(c)
			return err
		}
		urls, err := c.DashboardURLs(ctx)
		if err != nil {
			printPods(c)
			return err
		}
		say("")
		say("dashboards (open in a browser on this machine):")
		for _, u := range urls {
			say("  %s/%s (%s): %s   [in cluster: %s]", u.Namespace, u.Name, u.View, u.LocalURL, u.ClusterURL)
		}
	} else {
		say("the samples are applied, but nothing reconciles them until the missing programs are built")
	}
	say("")
	kubectl := relative(c.Kubectl)
	kubeconfig := relative(c.Kubeconfig)
	say("$ %s --kubeconfig %s get dashboards", kubectl, kubeconfig)
	if out, err := c.RunKubectl(ctx, "get", "dashboards"); err == nil {
		fmt.Print(out)
	} else {
		say("%v", err)
	}
	say("")
	say("use kubectl with: export KUBECONFIG=%s; %s get twitterpipelines,dashboards,deployments,pods", kubeconfig, kubectl)
	if ready {
		say("streamdash demo ready")
	} else {
		say("streamdash demo partly up (missing: %s)", strings.Join(c.Missing, ", "))
	}
	say("press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

func printPods(c *localcluster.Cluster) {
	for _, p := range c.Kubelet.Pods() {
		state := "ready"
		if !p.Ready {
			state = "not ready: " + p.Message
		}
		fmt.Printf("  pod %s/%s %s restarts=%d (%s)\n", p.Namespace, p.Name, p.IP, p.Restarts, state)
		for _, l := range p.Logs {
			fmt.Printf("    log %s\n", l)
		}
	}
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
