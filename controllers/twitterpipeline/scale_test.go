package twitterpipeline_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestScale creates STREAMDASH_SCALE_N (100) pipelines at once against
// envtest, the emulator and the analytics server, and reports the time until
// all are Ready and the API writes per pipeline during
// STREAMDASH_SCALE_STEADY (2m) of steady state with a resync period of
// STREAMDASH_SCALE_RESYNC (30s) and STREAMDASH_SCALE_WORKERS (8) workers. It asserts behaviour only (all Ready, no
// status writes while nothing changes), then runs a trickle of documents
// into every stream and reports the status writes per pipeline per minute
// for idle and trickling pipelines; the times are reported, not asserted.
//
//	STREAMDASH_SCALE=1 go test ./controllers/twitterpipeline -run TestScale -v -timeout 30m
func TestScale(t *testing.T) {
	if os.Getenv("STREAMDASH_SCALE") == "" {
		t.Skip("scale check: set STREAMDASH_SCALE=1")
	}
	n := envInt("STREAMDASH_SCALE_N", 100)
	steady := envDuration("STREAMDASH_SCALE_STEADY", 2*time.Minute)
	resync := envDuration("STREAMDASH_SCALE_RESYNC", 30*time.Second)

	needSuite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := "scale"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	workers := envInt("STREAMDASH_SCALE_WORKERS", twitterpipeline.DefaultMaxConcurrentReconciles)
	t.Logf("%d pipelines, %d workers, resync %s, steady window %s", n, workers, resync, steady)
	counter := startManager(t, func(o *twitterpipeline.Options) {
		o.ResyncPeriod = resync
		o.MaxConcurrentReconciles = workers
	})

	// Stand-in for the Deployment controller and kubelet: report every
	// producer rollout complete as soon as it is asked for.
	var standIn sync.WaitGroup
	standIn.Add(1)
	go func() {
		defer standIn.Done()
		for ctx.Err() == nil {
			var list appsv1.DeploymentList
			if err := direct.List(ctx, &list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					d := &list.Items[i]
					if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas < 1 {
						_ = setAvailable(ctx, d)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	defer standIn.Wait()
	defer cancel()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 10 {
				if err := direct.Create(ctx, newTestPipeline(ns, fmt.Sprintf("p%03d", i))); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	created := time.Since(start)

	readyAt := map[string]time.Duration{}
	eventually(t, 15*time.Minute, fmt.Sprintf("%d pipelines Ready", n), func() error {
		var list v1alpha1.TwitterPipelineList
		if err := direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, p := range list.Items {
			if _, seen := readyAt[p.Name]; !seen && meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionReady) {
				readyAt[p.Name] = time.Since(start)
			}
		}
		if len(readyAt) < n {
			reasons := map[string]int{}
			for _, p := range list.Items {
				if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status != "True" {
					reasons[c.Reason]++
				}
			}
			return fmt.Errorf("%d of %d Ready; not Ready by reason: %v", len(readyAt), n, reasons)
		}
		return nil
	})
	allReady := time.Since(start)
	times := make([]time.Duration, 0, n)
	for _, d := range readyAt {
		times = append(times, d)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("created %d pipelines in %s; all Ready %s after the first create (p50 %s, p90 %s)",
		n, created.Round(time.Millisecond), allReady.Round(time.Millisecond),
		times[len(times)/2].Round(time.Millisecond), times[len(times)*9/10].Round(time.Millisecond))
	totalSetup, byVerbSetup, _ := counter.snapshot()
	t.Logf("API writes until all Ready: %d (%.1f per pipeline): %v", totalSetup, float64(totalSetup)/float64(n), byVerbSetup)

	// Steady state: nothing changes; every pipeline resyncs several times.
	// First let every pipeline finish one more pass, so that the requeues
	// following its last status change are behind us.
	passes := func() map[string]int {
		m := map[string]int{}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("p%03d", i)
			m[name] = counter.gets(client.ObjectKey{Namespace: ns, Name: name})
		}
		return m
	}
	atReady := passes()
	eventually(t, 2*resync+time.Minute, "one more pass of every pipeline after Ready", func() error {
		for name, c := range passes() {
			if c <= atReady[name] {
				return fmt.Errorf("%s not reconciled again yet", name)
			}
		}
		return nil
	})
	before, _, beforeStatus := counter.snapshot()
	gets := passes()
	windowStart := time.Now()
	eventually(t, steady+2*resync+time.Minute, fmt.Sprintf("steady window of %s", steady), func() error {
		if time.Since(windowStart) < steady {
			return fmt.Errorf("%s of %s", time.Since(windowStart).Round(time.Second), steady)
		}
		return nil
	})
	after, byVerb, afterStatus := counter.snapshot()
	minPasses := -1
	for i := 0; i < n; i++ {
		k := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("p%03d", i)}
		if d := counter.gets(k) - gets[k.Name]; minPasses < 0 || d < minPasses {
			minPasses = d
		}
	}
	statusWrites := 0
	for k, v := range afterStatus {
		statusWrites += v - beforeStatus[k]
	}
	t.Logf("steady state %s (resync %s, at least %d passes per pipeline): %d API writes (%.2f per pipeline), %d status writes; writes by kind over the whole run: %v",
		time.Since(windowStart).Round(time.Second), resync, minPasses, after-before, float64(after-before)/float64(n), statusWrites, byVerb)
	if minPasses < 1 {
		t.Errorf("some pipeline was not reconciled during the steady window")
	}
	if statusWrites != 0 {
		t.Errorf("%d status writes in steady state, want 0", statusWrites)
	}

	idleRate := float64(statusWrites) / float64(n) / time.Since(windowStart).Minutes()
	t.Logf("idle: %.3f status writes per pipeline per minute", idleRate)

	// Trickle: one document per pipeline every STREAMDASH_SCALE_TRICKLE
	// (10s) for the same window; status follows each ingest check that saw
	// new documents, and writes nothing more.
	every := envDuration("STREAMDASH_SCALE_TRICKLE", 10*time.Second)
	_, _, trickleBefore := counter.snapshot()
	trickleStart := time.Now()
	written := 0
	var slowest time.Duration
	for round := 0; time.Since(trickleStart) < steady; round++ {
		roundStart := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 10; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 10 {
					putDocs(t, names.Stream(newTestPipeline(ns, fmt.Sprintf("p%03d", i))), 1_000_000+round, 1)
				}
			}(w)
		}
		wg.Wait()
		slowest = max(slowest, time.Since(roundStart))
		written++
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(trickleStart.Add(time.Duration(round+1) * every))):
		}
	}
	trickleWindow := time.Since(trickleStart)
	_, _, trickleAfter := counter.snapshot()
	trickleWrites := 0
	for k, v := range trickleAfter {
		trickleWrites += v - trickleBefore[k]
	}
	t.Logf("trickle (1 document per pipeline every %s, ingest check %s): %d rounds (slowest %s), %d status writes in %s, %.3f per pipeline per minute",
		every, twitterpipeline.DefaultIngestCheckInterval, written, slowest.Round(time.Millisecond), trickleWrites, trickleWindow.Round(time.Second),
		float64(trickleWrites)/float64(n)/trickleWindow.Minutes())
	eventually(t, 2*time.Minute, "every pipeline's documentCount equals the documents written", func() error {
		var list v1alpha1.TwitterPipelineList
		if err := direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		behind := 0
		for _, p := range list.Items {
			if p.Status.Collection == nil || p.Status.Collection.DocumentCount != int64(written) {
				behind++
			}
		}
		if behind > 0 {
			return fmt.Errorf("%d of %d pipelines do not show %d documents yet", behind, len(list.Items), written)
		}
		return nil
	})

	delStart := time.Now()
	for i := 0; i < n; i++ {
		_ = direct.Delete(ctx, &v1alpha1.TwitterPipeline{ObjectMeta: metaName(ns, fmt.Sprintf("p%03d", i))})
	}
	eventually(t, 15*time.Minute, "all pipelines deleted", func() error {
		var list v1alpha1.TwitterPipelineList
		if err := direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d left", len(list.Items))
		}
		return nil
	})
	t.Logf("all %d deleted (producer, collection, integration, stream) in %s", n, time.Since(delStart).Round(time.Millisecond))
}

func metaName(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
