package livedashboard_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
)

// TestManyDashboards runs 200 LiveDashboards (LD_SCALE overrides; refreshInterval
// 10s, LD_INTERVAL overrides) against
// envtest and the analytics server and reports the status writes and the
// analytics queries per refresh interval. Each dashboard must be written once
// per interval: never more, and not fall behind.
func TestManyDashboards(t *testing.T) {
	if testing.Short() {
		t.Skip("runs envtest, the Kinesis emulator and the analytics server")
	}
	t.Parallel() // its own namespace, manager, analytics server and emulator
	// 50 by default: what make test checks is the schedule (every dashboard
	// written once per interval, never more), which must hold on a loaded CI
	// machine; the capacity figures in docs/benchmarks.md use LD_SCALE=200,
	// where 2 shared cores fall behind a 10 s interval.
	n := 50
	if s := os.Getenv("LD_SCALE"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	interval := 10 * time.Second
	if s := os.Getenv("LD_INTERVAL"); s != "" {
		interval, _ = time.ParseDuration(s)
	}
	window := 3 * interval

	f := panelstest.Start(t, "ld-many")
	now := time.Now()
	docs := dataset(now)
	f.Put(t, docs, len(docs))
	_, cfg := startAPIServer(t)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: newScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "many"
	startManager(t, cfg, livedashboard.Options{Image: "streamdash:test", Now: wholeSeconds}, ns)
	newNamespace(t, c, ns)
	keySecret(t, c, ns, "analytics-key", f.APIKey)
	pipeline(t, c, ns, "p", f.Endpoint, "analytics-key", f.Collection, true)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		writes    = map[string][]time.Time{}
		refreshed = map[string]bool{}
	)
	go watchDashboards(ctx, t, c, ns, "", func(d *v1alpha1.LiveDashboard) {
		mu.Lock()
		defer mu.Unlock()
		writes[d.Name] = append(writes[d.Name], time.Now())
		if d.Status.LastRefreshTime != nil {
			refreshed[d.Name] = true
		}
	})

	created := time.Now()
	for i := range n {
		if err := c.Create(ctx, dashboardSpec(ns, fmt.Sprintf("d%03d", i), "p", "", 8, interval)); err != nil {
			t.Fatal(err)
		}
	}
	createTook := time.Since(created)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		done := len(refreshed)
		mu.Unlock()
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			var list v1alpha1.LiveDashboardList
			_ = c.List(ctx, &list, client.InNamespace(ns))
			for _, d := range list.Items[:min(3, len(list.Items))] {
				t.Logf("%s: %s lastRefresh %v", d.Name, describe(&d), d.Status.LastRefreshTime)
			}
			mu.Lock()
			t.Logf("watch saw writes for %d dashboards", len(writes))
			mu.Unlock()
			t.Fatalf("only %d of %d dashboards refreshed", done, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	allRefreshed := time.Since(created)

	// Measure a steady window.
	mu.Lock()
	before := map[string]int{}
	for k, v := range writes {
		before[k] = len(v)
	}
	mu.Unlock()
	q0 := f.Queries.Load()
	start := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for a condition
	elapsed := time.Since(start)
	q1 := f.Queries.Load()
	mu.Lock()
	var counts []int
	total := 0
	for i := range n {
		name := fmt.Sprintf("d%03d", i)
		k := len(writes[name]) - before[name]
		counts = append(counts, k)
		total += k
	}
	mu.Unlock()
	sort.Ints(counts)
	intervals := elapsed.Seconds() / interval.Seconds()
	queries := q1 - q0
	t.Logf("%d LiveDashboards, refreshInterval %s: created in %s, all refreshed %s after the first create",
		n, interval, createTook.Round(time.Millisecond), allRefreshed.Round(time.Millisecond))
	t.Logf("steady window %s (%.1f intervals): %d status writes = %.2f per dashboard per interval (min %d, median %d, max %d per dashboard); %.1f writes/s to the API server",
		elapsed.Round(time.Millisecond), intervals, total, float64(total)/float64(n)/intervals, counts[0], counts[n/2], counts[n-1], float64(total)/elapsed.Seconds())
	t.Logf("analytics: %d queries = %.2f per dashboard per interval, %.1f queries/s", queries, float64(queries)/float64(n)/intervals, float64(queries)/elapsed.Seconds())
	// Exactly one write per interval: a window of 3 intervals sees 3 writes,
	// or 2 or 4 depending on where the window's edges fall.
	if counts[n-1] > int(intervals)+1 {
		t.Errorf("a dashboard was written %d times in %.1f intervals", counts[n-1], intervals)
	}
	if counts[0] < int(intervals)-1 {
		t.Errorf("a dashboard was written only %d times in %.1f intervals: refreshes fall behind", counts[0], intervals)
	}
	if per := float64(queries) / float64(total); total > 0 && (per < 2.5 || per > 3.5) {
		t.Errorf("%.2f analytics queries per status write; the Tweets view refresh runs 3", per)
	}
}
