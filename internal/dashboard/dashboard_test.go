package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/dashboard"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/internal/tweet"
)

// dataset: tweets at known distances from now, none near a window's edge.
func dataset(now time.Time) []tweet.Document {
	g := tweet.NewGenerator(7)
	var docs []tweet.Document
	docs = append(docs, panelstest.Spread(g, 100, now.Add(-80*time.Minute), now.Add(-65*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 250, now.Add(-45*time.Minute), now.Add(-15*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 120, now.Add(-8*time.Minute), now.Add(-2*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 40, now.Add(-40*time.Second), now.Add(-8*time.Second))...)
	return docs
}

// recorder keeps every byte the dashboard server writes to any client.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(&teeWriter{ResponseWriter: w, r: r}, req)
	})
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

type teeWriter struct {
	http.ResponseWriter
	r *recorder
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.r.mu.Lock()
	t.r.buf.Write(b)
	t.r.mu.Unlock()
	return t.ResponseWriter.Write(b)
}

func (t *teeWriter) Flush() { t.ResponseWriter.(http.Flusher).Flush() }

// Wire forms of the snapshot, as the page reads them.
type wirePanel struct {
	Rows      json.RawMessage `json:"rows"`
	LatencyMs float64         `json:"latencyMs"`
	Updated   *time.Time      `json:"updated"`
	Stale     bool            `json:"stale"`
	Error     string          `json:"error"`
}

type wireSnapshot struct {
	View    string               `json:"view"`
	Hashtag string               `json:"hashtag"`
	Panels  map[string]wirePanel `json:"panels"`
}

type wireHashtag struct {
	Hashtag string `json:"hashtag"`
	Tweets  int64  `json:"tweets"`
}

// sseClient reads a view's event stream and hands each snapshot to fn until
// fn returns false or ctx ends.
func sseClient(ctx context.Context, url string, fn func(wireSnapshot) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var s wireSnapshot
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			return fmt.Errorf("bad snapshot %q: %w", data, err)
		}
		if !fn(s) {
			return nil
		}
	}
	return sc.Err()
}

// allFresh reports whether every panel of s has data and is not stale.
func allFresh(s wireSnapshot) bool {
	for _, p := range s.Panels {
		if p.Updated == nil || p.Stale {
			return false
		}
	}
	return len(s.Panels) == 3
}

type env struct {
	f     *panelstest.Fixture
	docs  []tweet.Document
	now   time.Time
	srv   *dashboard.Server
	url   string
	bytes *recorder
}

func setup(t *testing.T) *env {
	if testing.Short() {
		t.Skip("starts the Kinesis emulator and the analytics server")
	}
	f := panelstest.Start(t, "dash-it")
	now := time.Now()
	docs := dataset(now)
	f.Put(t, docs, len(docs))
	srv, err := dashboard.New(dashboard.Config{Workspace: f.Workspace, Collection: f.Collection, Window: time.Hour, TopN: 8}, f.Client, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	rec := &recorder{}
	ts := httptest.NewServer(rec.wrap(srv.Handler()))
	t.Cleanup(ts.Close)
	return &env{f: f, docs: docs, now: now, srv: srv, url: ts.URL, bytes: rec}
}

func TestDashboard(t *testing.T) {
	e := setup(t)
	// The browser test first: its Live Tweets expectation holds only while
	// the newest tweets are less than a minute old.
	t.Run("browser", func(t *testing.T) { testBrowser(t, e) })
	t.Run("events", func(t *testing.T) { testEvents(t, e) })
	t.Run("shared polling under load", func(t *testing.T) { testLoad(t, e) })
	t.Run("stale when the analytics server is down", func(t *testing.T) { testStale(t, e) })
	t.Run("endpoints", func(t *testing.T) { testEndpoints(t, e) })
}

func testEvents(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got wireSnapshot
	if err := sseClient(ctx, e.url+"/events/tweets", func(s wireSnapshot) bool { got = s; return !allFresh(s) }); err != nil {
		t.Fatal(err)
	}
	var top []wireHashtag
	if err := json.Unmarshal(got.Panels["topHashtags"].Rows, &top); err != nil {
		t.Fatal(err)
	}
	want := panelstest.TopHashtags(e.docs, time.Now().Add(-time.Hour), 8)
	if fmt.Sprint(top) != fmt.Sprint(toWire(want)) {
		t.Errorf("top hashtags = %v, want %v", top, want)
	}

	tag := want[0].Hashtag
	var hs wireSnapshot
	if err := sseClient(ctx, e.url+"/events/hashtag/"+url.PathEscape(strings.ToUpper(tag)), func(s wireSnapshot) bool { hs = s; return !allFresh(s) }); err != nil {
		t.Fatal(err)
	}
	if hs.View != "hashtag" || hs.Hashtag != tag {
		t.Errorf("upper-cased hashtag URL opened view %q/%q, want hashtag/%q", hs.View, hs.Hashtag, tag)
	}
	var rel []wireHashtag
	if err := json.Unmarshal(hs.Panels["relatedHashtags"].Rows, &rel); err != nil {
		t.Fatal(err)
	}
	if want := toWire(panelstest.RelatedHashtags(e.docs, tag, time.Now().Add(-time.Hour), 8)); fmt.Sprint(rel) != fmt.Sprint(want) {
		t.Errorf("related = %v, want %v", rel, want)
	}
}

func toWire(in []panelstest.HashtagCount) []wireHashtag {
	out := make([]wireHashtag, len(in))
	for i, h := range in {
		out[i] = wireHashtag{Hashtag: h.Hashtag, Tweets: h.Tweets}
	}
	return out
}

// countingTransport counts the requests a dashboard server sends.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// testLoad: many browsers on one view cost the analytics server what one
// browser costs, three queries per interval. Its own dashboard server, so
// views other subtests left polling do not count.
func testLoad(t *testing.T, e *env) {
	counter := &countingTransport{next: http.DefaultTransport}
	client, err := rockset.NewClient(e.f.Endpoint, e.f.APIKey, &http.Client{Transport: counter, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{Workspace: e.f.Workspace, Collection: e.f.Collection}, client, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	var perInterval []float64
	for _, clients := range []int{1, 300} {
		q := measure(t, ts.URL, clients, counter)
		perInterval = append(perInterval, q)
	}
	// Three panels, one query each per interval, whatever the audience.
	for i, q := range perInterval {
		if q > 3.5 {
			t.Errorf("run %d: %.1f queries per interval; one view should send 3", i, q)
		}
	}
}

// measure connects clients to the Tweets view, waits until each has a
// snapshot, then counts analytics queries and snapshots over 10 s.
func measure(t *testing.T, base string, clients int, counter *countingTransport) float64 {
	const watch = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready, messages atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := sseClient(ctx, base+"/events/tweets", func(wireSnapshot) bool {
				if first {
					ready.Add(1)
					first = false
				}
				messages.Add(1)
				return true
			})
			if err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for ready.Load() < int64(clients) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d clients got a snapshot", ready.Load(), clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
	q0, m0, t0 := counter.n.Load(), messages.Load(), time.Now()
	time.Sleep(watch) // the measurement window itself, not a wait for a condition
	q1, m1, elapsed := counter.n.Load(), messages.Load(), time.Since(t0)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	intervals := elapsed.Seconds() / 2
	perInterval := float64(q1-q0) / intervals
	t.Logf("load: %d SSE clients for %s: %d analytics queries (%.2f per 2 s interval), %d snapshots delivered (%.2f per client per interval)",
		clients, elapsed.Round(time.Millisecond), q1-q0, perInterval, m1-m0, float64(m1-m0)/float64(clients)/intervals)
	if float64(m1-m0) < float64(clients)*intervals/2 {
		t.Errorf("clients received %d snapshots in %.0f intervals; want about one per interval each", m1-m0, intervals)
	}
	return perInterval
}

func testStale(t *testing.T, e *env) {
	target, _ := url.Parse(e.f.Endpoint)
	fp := panelstest.NewFlakyProxy(target)
	ps := httptest.NewServer(fp)
	defer ps.Close()
	client, err := rockset.NewClient(ps.URL, e.f.APIKey, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{Workspace: e.f.Workspace, Collection: e.f.Collection, QueryTimeout: 3 * time.Second}, client, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phase := 0 // 0: wait fresh, 1: down, wait stale, 2: up again, wait fresh
	var staleSeen wireSnapshot
	err = sseClient(ctx, ts.URL+"/events/tweets", func(s wireSnapshot) bool {
		switch phase {
		case 0:
			if allFresh(s) {
				fp.SetDown(true)
				phase = 1
			}
		case 1:
			p := s.Panels["topHashtags"]
			if p.Stale && p.Error != "" {
				staleSeen = s
				fp.SetDown(false)
				phase = 2
			}
		case 2:
			return !allFresh(s)
		}
		return true
	})
	if err != nil {
		t.Fatalf("phase %d: %v", phase, err)
	}
	p := staleSeen.Panels["topHashtags"]
	if p.Updated == nil || len(p.Rows) < 10 {
		t.Errorf("stale panel lost its last data or its last-updated time: %+v", p)
	}
	if p.Error != "AnalyticsUnreachable" {
		t.Errorf("stale panel error = %q, want AnalyticsUnreachable", p.Error)
	}
	if resp, err := http.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz while recovering: %v %v", resp, err)
	}
}

func testEndpoints(t *testing.T, e *env) {
	for _, tc := range []struct {
		name, path string
		status     int
		contains   string
	}{
		{"healthz", "/healthz", 200, "ok"},
		{"metrics has clients and latency", "/metrics", 200, "streamdash_dashboard_query_duration_seconds_bucket{panel=\"topHashtags\""},
		{"metrics has connected clients", "/metrics", 200, "streamdash_dashboard_connected_clients"},
		{"tweets page", "/tweets", 200, `data-view="tweets"`},
		{"hashtag page escapes the hashtag", "/hashtag/%3Cscript%3E", 200, `data-hashtag="&lt;script&gt;"`},
		{"empty hashtag refused", "/events/hashtag/%20", 400, ""},
		{"over-long hashtag refused", "/events/hashtag/" + strings.Repeat("a", 200), 400, ""},
		{"vendored chart library", "/assets/vendor/uPlot.iife.min.js", 200, "uPlot"},
		{"unknown path", "/nope", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(e.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
				t.Errorf("GET %s = %d (want %d), body contains %q: %v", tc.path, resp.StatusCode, tc.status, tc.contains, strings.Contains(string(b), tc.contains))
			}
		})
	}
}

func TestHashtagViewsAreBounded(t *testing.T) {
	// No analytics server: the bound is on views, whatever their queries do.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every query fails fast
	client, err := rockset.NewClient("http://"+addr, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{Collection: "c", MaxHashtagViews: 3, Interval: 200 * time.Millisecond, QueryTimeout: time.Second}, client, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var open []*http.Response
	for i := range 4 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events/hashtag/tag%d", ts.URL, i), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
		want := http.StatusOK
		if i == 3 {
			want = http.StatusServiceUnavailable
		}
		if resp.StatusCode != want {
			t.Errorf("view %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	// The Tweets view is not a hashtag view and is always available.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/events/tweets", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("tweets view with hashtag views full: %v %v", resp, err)
	}
	// Closing one watcher frees its slot for another hashtag (idle views are evicted).
	open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/events/hashtag/other", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after a watcher left: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range open {
		r.Body.Close()
	}
}
