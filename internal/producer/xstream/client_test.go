package xstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/producer/xstream/xstreamtest"
	"github.com/streamdash/streamdash/internal/tweet"
)

const testToken = "AAAAAAAAAAAAAAAAAAAAAsecret-bearer-token"

// recordingSink collects what a source hands over.
type recordingSink struct {
	mu         sync.Mutex
	docs       []tweet.Document
	malformed  []string
	reconnects int
}

func (s *recordingSink) Emit(_ context.Context, d tweet.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs = append(s.docs, d)
	return nil
}

func (s *recordingSink) Malformed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed = append(s.malformed, tweet.MalformedReason(err))
}

func (s *recordingSink) Reconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconnects++
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.docs))
	for i, d := range s.docs {
		out[i] = d.IDStr
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPlanRules(t *testing.T) {
	tests := []struct {
		name    string
		wanted  []xstream.Rule
		present []xstream.PresentRule
		prefix  string
		wantAdd []xstream.Rule
		wantDel []string
	}{
		{
			name:    "empty account: add everything",
			wanted:  []xstream.Rule{{"music", "p/m"}, {"news", "p/n"}},
			prefix:  "p/",
			wantAdd: []xstream.Rule{{"music", "p/m"}, {"news", "p/n"}},
		},
		{
			name:    "in sync: nothing to do",
			wanted:  []xstream.Rule{{"music", "p/m"}},
			present: []xstream.PresentRule{{"1", "music", "p/m"}},
			prefix:  "p/",
		},
		{
			name:    "stale owned rule deleted, foreign rule kept",
			wanted:  []xstream.Rule{{"music", "p/m"}},
			present: []xstream.PresentRule{{"1", "music", "p/m"}, {"2", "dogs", "p/d"}, {"3", "cats", "other"}},
			prefix:  "p/",
			wantDel: []string{"2"},
		},
		{
			name:    "changed tag: delete the old, add the new",
			wanted:  []xstream.Rule{{"music", "p/tunes"}},
			present: []xstream.PresentRule{{"1", "music", "p/m"}},
			prefix:  "p/",
			wantAdd: []xstream.Rule{{"music", "p/tunes"}},
			wantDel: []string{"1"},
		},
		{
			name:    "duplicate owned copies: keep one",
			wanted:  []xstream.Rule{{"music", "p/m"}},
			present: []xstream.PresentRule{{"1", "music", "p/m"}, {"2", "music", "p/m"}},
			prefix:  "p/",
			wantDel: []string{"2"},
		},
		{
			name:    "empty prefix never deletes",
			wanted:  nil,
			present: []xstream.PresentRule{{"1", "music", "m"}},
			prefix:  "",
		},
		{
			name:    "another pipeline's prefix is not ours",
			wanted:  nil,
			present: []xstream.PresentRule{{"1", "music", "p2/m"}, {"2", "news", "p/n"}},
			prefix:  "p/",
			wantDel: []string{"2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			add, del := xstream.PlanRules(tc.wanted, tc.present, tc.prefix)
			if !reflect.DeepEqual(add, tc.wantAdd) || !reflect.DeepEqual(del, tc.wantDel) {
				t.Errorf("add %v del %v; want add %v del %v", add, del, tc.wantAdd, tc.wantDel)
			}
		})
	}
}

func TestSyncRules(t *testing.T) {
	f, srv := xstreamtest.Start(t, testToken)
	f.Rules = []xstream.PresentRule{
		{ID: "1", Value: "cats", Tag: "someone-else"},
		{ID: "2", Value: "dogs", Tag: "sd-a/dogs"},
		{ID: "3", Value: "music has:hashtags", Tag: "sd-a/music"},
		{ID: "4", Value: "weather", Tag: "sd-b/weather"},
	}
	wanted := []xstream.Rule{{Value: "music has:hashtags", Tag: "music"}, {Value: "news lang:en", Tag: "sd-a/news"}}
	c, err := xstream.New(xstream.Config{Endpoint: srv.URL, BearerToken: testToken, Rules: wanted, TagPrefix: "sd-a/"})
	if err != nil {
		t.Fatal(err)
	}
	added, deleted, err := c.SyncRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if added != 1 || deleted != 1 {
		t.Errorf("added %d deleted %d, want 1 and 1", added, deleted)
	}
	got, err := c.ListRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var gotS []string
	for _, r := range got {
		gotS = append(gotS, r.Value+"|"+r.Tag)
	}
	sort.Strings(gotS)
	want := []string{"cats|someone-else", "music has:hashtags|sd-a/music", "news lang:en|sd-a/news", "weather|sd-b/weather"}
	if !reflect.DeepEqual(gotS, want) {
		t.Errorf("rules after sync %v, want %v", gotS, want)
	}

	// A second sync finds nothing to change and sends nothing.
	before := f.RulePOSTs()
	added, deleted, err = c.SyncRules(context.Background())
	if err != nil || added != 0 || deleted != 0 || f.RulePOSTs() != before {
		t.Errorf("second sync: added %d deleted %d err %v posts %d", added, deleted, err, f.RulePOSTs()-before)
	}

	// X refuses an invalid rule: a RuleError, which Run does not retry.
	bad, _ := xstream.New(xstream.Config{Endpoint: srv.URL, BearerToken: testToken, Rules: []xstream.Rule{{Value: "INVALID(x)"}}, TagPrefix: "sd-a/"})
	err = bad.Run(context.Background(), &recordingSink{})
	var re *xstream.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("Run with an invalid rule: %v, want RuleError", err)
	}

	// A wrong token is an HTTP error, and the token is not in it.
	wrong, _ := xstream.New(xstream.Config{Endpoint: srv.URL, BearerToken: "wrong-token"})
	_, _, err = wrong.SyncRules(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestBackoffGuidance(t *testing.T) {
	b := xstream.DefaultBackoff()
	tests := []struct {
		name string
		f    func(int) time.Duration
		want []time.Duration
	}{
		{"network: +250ms linear up to 16s", b.Network, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second}},
		{"http: 5s doubling up to 320s", b.HTTP, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 320 * time.Second}},
		{"429: 60s doubling", b.RateLimited, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				if got := tc.f(i + 1); got != w {
					t.Errorf("attempt %d: %s, want %s", i+1, got, w)
				}
			}
		})
	}
	if got := b.Network(64); got != 16*time.Second {
		t.Errorf("network cap %s", got)
	}
	if got := b.Network(63); got != 15750*time.Millisecond {
		t.Errorf("network attempt 63: %s", got)
	}
	if b.IdleTimeout != 20*time.Second {
		t.Errorf("idle timeout %s", b.IdleTimeout)
	}
}

// TestStreamReconnectSchedule drives a client through every failure kind
// with X's real timings; Wait records the schedule instead of sleeping.
func TestStreamReconnectSchedule(t *testing.T) {
	f, srv := xstreamtest.Start(t, testToken)
	reset := time.Now().Add(100 * time.Second).Unix()
	f.Scripts = []xstreamtest.Script{
		xstreamtest.Hangup, // network
		xstreamtest.Hangup, // network
		xstreamtest.Status(503, nil, `{"title":"Service Unavailable","detail":"busy","type":"about:blank","status":503}`),
		xstreamtest.Status(503, nil, `{"title":"Service Unavailable","detail":"busy","type":"about:blank","status":503}`),
		xstreamtest.Status(429, map[string]string{"x-rate-limit-remaining": "0", "x-rate-limit-reset": strconv.FormatInt(reset, 10)}, `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`),
		xstreamtest.Status(429, nil, `{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.twitter.com/2/problems/streaming-connection"}`),
		xstreamtest.Lines([]string{xstreamtest.Post(1, "music"), xstreamtest.Post(2), `{"data":`, "{\"data\":{\"id\":\"9\",\"text\":\"\xff\"}}", xstreamtest.Post(3, "Music", "news")}, "close"),
		xstreamtest.Hangup,
		xstreamtest.Lines([]string{xstreamtest.Post(4), xstreamtest.OperationalDisconnect, xstreamtest.Post(99)}, "hang"),
		xstreamtest.Lines([]string{xstreamtest.Post(5), `{"errors":[{"title":"Something","detail":"not a disconnect"}]}`, xstreamtest.Post(6)}, "hang"),
	}
	var mu sync.Mutex
	var waits []time.Duration
	var logs bytes.Buffer
	c, err := xstream.New(xstream.Config{
		Endpoint: srv.URL, BearerToken: testToken, TagPrefix: "sd-a/", Rules: []xstream.Rule{{Value: "music"}},
		Log: slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil)),
		Wait: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	waitFor(t, "post 6", func() bool { return len(sink.ids()) == 6 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if got, want := sink.ids(), []string{"1", "2", "3", "4", "5", "6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("posts %v, want %v (post 99 follows the disconnect notice and must not be read)", got, want)
	}
	if want := []string{tweet.ReasonInvalidJSON, tweet.ReasonInvalidUTF8}; !reflect.DeepEqual(sink.malformed, want) {
		t.Errorf("malformed %v, want %v", sink.malformed, want)
	}
	if sink.reconnects != 9 {
		t.Errorf("reconnects %d, want 9", sink.reconnects)
	}
	mu.Lock()
	got := append([]time.Duration(nil), waits...)
	mu.Unlock()
	want := []time.Duration{
		0,                      // first connection
		250 * time.Millisecond, // network 1
		500 * time.Millisecond, // network 2
		5 * time.Second,        // HTTP 1
		10 * time.Second,       // HTTP 2
		-1,                     // 429 with the window exhausted: until x-rate-limit-reset (~100s), longer than 60s
		2 * time.Minute,        // 429 #2
		0,                      // delivered, then closed: reconnect at once
		250 * time.Millisecond, // network 1 again: the counters were reset
		0,                      // operational disconnect after data: at once
	}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %d entries", got, len(want))
	}
	for i := range want {
		if want[i] == -1 {
			if got[i] < 95*time.Second || got[i] > 100*time.Second {
				t.Errorf("wait %d = %s, want about 100s (x-rate-limit-reset)", i, got[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("wait %d = %s, want %s (all: %v)", i, got[i], want[i], got)
		}
	}
	for _, q := range f.Queries() {
		if q != xstream.StreamQuery {
			t.Errorf("stream query %q, want %q", q, xstream.StreamQuery)
		}
	}
	if strings.Contains(logs.String(), testToken) {
		t.Error("the bearer token appears in the logs")
	}
	if !strings.Contains(logs.String(), "UpstreamOperationalDisconnect") {
		t.Errorf("operational disconnect not logged: %s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestIdleTimeout: a connection silent for the idle timeout is dead, but
// keep-alives keep a quiet one open.
func TestIdleTimeout(t *testing.T) {
	f, srv := xstreamtest.Start(t, testToken)
	f.Scripts = []xstreamtest.Script{
		xstreamtest.Lines([]string{xstreamtest.Post(1)}, "silent"),
		xstreamtest.Lines([]string{xstreamtest.Post(2)}, "hang"),
	}
	b := xstream.DefaultBackoff()
	b.IdleTimeout = 200 * time.Millisecond
	c, err := xstream.New(xstream.Config{Endpoint: srv.URL, BearerToken: testToken, Backoff: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	waitFor(t, "reconnect after the silent connection", func() bool { return len(sink.ids()) == 2 })
	// The second connection sends only keep-alives; it must stay up for
	// several idle timeouts.
	hold := time.Now().Add(5 * b.IdleTimeout)
	for time.Now().Before(hold) {
		if n := c.Connections(); n != 2 {
			t.Fatalf("connections %d while keep-alives flow, want 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if !reflect.DeepEqual(sink.ids(), []string{"1", "2"}) {
		t.Errorf("posts %v", sink.ids())
	}
}

func TestOversizedLineSkipped(t *testing.T) {
	f, srv := xstreamtest.Start(t, testToken)
	huge := `{"data":{"id":"7","text":"` + strings.Repeat("x", tweet.MaxMessageBytes) + `"}}`
	f.Scripts = []xstreamtest.Script{
		xstreamtest.Lines([]string{xstreamtest.Post(1), huge, xstreamtest.Post(2)}, "hang"),
	}
	c, _ := xstream.New(xstream.Config{Endpoint: srv.URL, BearerToken: testToken})
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	waitFor(t, "post 2", func() bool { return len(sink.ids()) == 2 })
	cancel()
	<-done
	if fmt.Sprint(sink.malformed) != "["+tweet.ReasonTooLarge+"]" {
		t.Errorf("malformed %v", sink.malformed)
	}
}

// TestConnectionAttemptLimit: connections that deliver and drop are retried
// at once, but never more than MaxConnects per ConnectWindow.
func TestConnectionAttemptLimit(t *testing.T) {
	var scripts []xstreamtest.Script
	for i := 1; i <= 5; i++ {
		scripts = append(scripts, xstreamtest.Lines([]string{xstreamtest.Post(i)}, "close"))
	}
	_, srv := xstreamtest.Start(t, testToken, scripts...)
	b := xstream.DefaultBackoff()
	b.MaxConnects, b.ConnectWindow = 3, time.Hour
	clock := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var waits []time.Duration
	c, err := xstream.New(xstream.Config{
		Endpoint: srv.URL, BearerToken: testToken, Backoff: b,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
		Wait: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
			clock = clock.Add(d + time.Second) // each connection takes a second
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	waitFor(t, "five posts", func() bool { return len(sink.ids()) == 5 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	// Attempts at 1s, 2s and 3s; at 3s the fourth must wait until the
	// first leaves the hour window (1s + 1h - 3s); by then the second has
	// left too, so the fifth goes at once.
	want := []time.Duration{0, 0, 0, time.Hour - 2*time.Second, 0}
	if len(waits) < 5 || !reflect.DeepEqual(waits[:5], want) {
		t.Errorf("waits %v, want %v then more", waits, want)
	}
}
