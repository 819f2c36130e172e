package twitterpipeline_test

import (
	"context"
	"fmt"
	"os"
	"slices"
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
// all are Ready. Then, with the default resync (STREAMDASH_SCALE_RESYNC,
// 10m) and ingest check (30s) and STREAMDASH_SCALE_WORKERS (8) workers, it
// measures two windows of STREAMDASH_SCALE_STEADY (2m): idle, and a trickle
// of one document per pipeline every STREAMDASH_SCALE_TRICKLE (10s). For each
// it reports status writes, ingest checks and full reconciles per pipeline
// per minute and the ingest check's round time. It asserts behaviour only
// (all Ready, no status writes while idle, every pipeline checked, every
// documentCount right after the trickle); the figures are reported.
//
//	STREAMDASH_SCALE=1 go test ./controllers/twitterpipeline -run TestScale -v -timeout 30m
//
// It is not parallel: it reads the ingest check round histogram,
// which every manager in the process adds to, and its timings are only
// meaningful without neighbours (go test runs it before the parallel tests).
func TestScale(t *testing.T) {
	if os.Getenv("STREAMDASH_SCALE") == "" {
		t.Skip("scale check: set STREAMDASH_SCALE=1")
	}
	n := envInt("STREAMDASH_SCALE_N", 100)
	steady := envDuration("STREAMDASH_SCALE_STEADY", 2*time.Minute)
	resync := envDuration("STREAMDASH_SCALE_RESYNC", twitterpipeline.DefaultResyncPeriod)

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
	counter := startManager(t, ns, func(o *twitterpipeline.Options) {
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

	// Steady state: nothing changes. Between resyncs only the ingest check
	// looks at a pipeline. First let every pipeline have one check that
	// found nothing to write, so that its last status change is behind us.
	keys := make([]client.ObjectKey, n)
	for i := range keys {
		keys[i] = client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("p%03d", i)}
	}
	checksOf := func(counts map[client.ObjectKey]map[string]float64, key client.ObjectKey, results ...string) float64 {
		total := 0.0
		for r, v := range counts[key] {
			if len(results) == 0 || slices.Contains(results, r) {
				total += v
			}
		}
		return total
	}
	atReady := allIngestCheckCounts(t)
	eventually(t, 3*twitterpipeline.DefaultIngestCheckInterval+time.Minute, "one quiet ingest check of every pipeline after Ready", func() error {
		now := allIngestCheckCounts(t)
		for _, k := range keys {
			if checksOf(now, k, "unchanged") <= checksOf(atReady, k, "unchanged") {
				return fmt.Errorf("%s not checked quietly yet", k.Name)
			}
		}
		return nil
	})
	// window measures one phase: status writes, ingest checks and full
	// reconciles per pipeline, and the ingest check's round time.
	type phase struct {
		writes, passes        int
		minChecks, maxChecks  float64
		results               map[string]float64
		rounds                uint64
		roundSeconds, minutes float64
	}
	window := func(during func(stop <-chan struct{})) phase {
		_, _, statusBefore := counter.snapshot()
		passesBefore := map[client.ObjectKey]int{}
		for _, k := range keys {
			passesBefore[k] = counter.gets(k)
		}
		checksBefore := allIngestCheckCounts(t)
		roundsBefore, secondsBefore := ingestCheckRounds(t)
		start := time.Now()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); during(stop) }()
		eventually(t, steady+time.Minute, fmt.Sprintf("a window of %s", steady), func() error {
			if time.Since(start) < steady {
				return fmt.Errorf("%s of %s", time.Since(start).Round(time.Second), steady)
			}
			return nil
		})
		close(stop)
		<-done
		var ph phase
		ph.minutes = time.Since(start).Minutes()
		_, _, statusAfter := counter.snapshot()
		checksAfter := allIngestCheckCounts(t)
		ph.results = map[string]float64{}
		ph.minChecks = -1
		for _, k := range keys {
			ph.writes += statusAfter[k] - statusBefore[k]
			ph.passes += counter.gets(k) - passesBefore[k]
			c := checksOf(checksAfter, k) - checksOf(checksBefore, k)
			if ph.minChecks < 0 || c < ph.minChecks {
				ph.minChecks = c
			}
			ph.maxChecks = max(ph.maxChecks, c)
			for r, v := range checksAfter[k] {
				ph.results[r] += v - checksBefore[k][r]
			}
		}
		rounds, seconds := ingestCheckRounds(t)
		ph.rounds, ph.roundSeconds = rounds-roundsBefore, seconds-secondsBefore
		return ph
	}
	report := func(name string, ph phase) {
		meanRound := time.Duration(0)
		if ph.rounds > 0 {
			meanRound = time.Duration(ph.roundSeconds / float64(ph.rounds) * float64(time.Second))
		}
		t.Logf("%s: %.1f min, %d status writes = %.3f per pipeline per minute; ingest checks per pipeline %.0f..%.0f, results %v; "+
			"%d full reconciles (%.3f per pipeline per minute); %d check rounds of all %d pipelines, mean %s",
			name, ph.minutes, ph.writes, float64(ph.writes)/float64(n)/ph.minutes, ph.minChecks, ph.maxChecks, ph.results,
			ph.passes, float64(ph.passes)/float64(n)/ph.minutes, ph.rounds, n, meanRound.Round(time.Millisecond))
	}

	idle := window(func(<-chan struct{}) {})
	report("idle", idle)
	if idle.writes != 0 {
		t.Errorf("%d status writes while idle, want 0", idle.writes)
	}
	if idle.minChecks < 1 {
		t.Errorf("some pipeline had no ingest check in %s", steady)
	}

	// Trickle: one document into every collection every
	// STREAMDASH_SCALE_TRICKLE (10s), written straight through the analytics
	// server's write API (the emulator cannot take 100 writers and 100
	// readers at this rate on this machine; the controller sees the same).
	every := envDuration("STREAMDASH_SCALE_TRICKLE", 10*time.Second)
	written := 0
	var slowest time.Duration
	trickle := window(func(stop <-chan struct{}) {
		for round := 0; ; round++ {
			roundStart := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < 10; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < n; i += 10 {
						doc := map[string]any{"id_str": fmt.Sprintf("trickle-%d", round), "text": "trickle", "timestamp_ms": strconv.FormatInt(time.Now().UnixMilli(), 10)}
						if _, err := rocksetC.AddDocuments(ctx, names.DefaultWorkspace, fmt.Sprintf("p%03d", i), []any{doc}); err != nil {
							t.Errorf("add document: %v", err)
						}
					}
				}(w)
			}
			wg.Wait()
			written++
			slowest = max(slowest, time.Since(roundStart))
			select {
			case <-stop:
				return
			case <-time.After(time.Until(roundStart.Add(every))):
			}
		}
	})
	report(fmt.Sprintf("trickle (1 document per pipeline every %s, %d rounds, slowest %s)", every, written, slowest.Round(time.Millisecond)), trickle)
	eventually(t, 3*twitterpipeline.DefaultIngestCheckInterval, "every pipeline's documentCount equals the documents written", func() error {
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
