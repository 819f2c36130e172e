package producer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamdash/streamdash/internal/producer/jetstream/jetstreamtest"
	"github.com/streamdash/streamdash/internal/producer/kinesiswriter"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/producer/xstream/xstreamtest"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for gathered(t, reg, name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, gathered(t, reg, name), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sortDocs(ds []tweet.Document) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].IDStr < ds[j].IDStr })
}

// TestXStreamToKinesis: posts delivered over several connections broken in
// every way X breaks them reach Kinesis exactly once and exactly as converted.
func TestXStreamToKinesis(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	if err := kinesiswriter.CreateStream(context.Background(), c, "x", 2); err != nil {
		t.Fatal(err)
	}
	lines := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, xstreamtest.Post(i, "music", "News"))
		}
		return out
	}
	fx, srv := xstreamtest.Start(t, "token-123",
		xstreamtest.Lines(lines(1, 5), "close"),
		xstreamtest.Hangup,
		xstreamtest.Status(503, nil, `{"title":"Service Unavailable","type":"about:blank"}`),
		xstreamtest.Lines(append(lines(6, 10), xstreamtest.OperationalDisconnect), "hang"),
		xstreamtest.Lines(append(lines(11, 14), `{"data":{"id":`), "close"),
		xstreamtest.Lines(lines(15, 20), "hang"),
	)
	fx.Rules = []xstream.PresentRule{{ID: "1", Value: "old", Tag: "sd-x/old"}, {ID: "2", Value: "mine", Tag: "other"}}
	fast := xstream.DefaultBackoff()
	fast.NetworkStep, fast.HTTPStart, fast.RateLimitStart = time.Millisecond, time.Millisecond, time.Millisecond
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Stream: "x", Source: SourceX, Kinesis: c, Registry: reg,
			XEndpoint: srv.URL, XBearerToken: "token-123", RulesTagPrefix: "sd-x/", XBackoff: fast,
			XRules: []xstream.Rule{{Value: "music has:hashtags", Tag: "music"}},
		})
	}()
	waitMetric(t, reg, "streamdash_producer_posts_written_total", 20)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := readDocs(t, c, "x")
	var want []tweet.Document
	for _, l := range lines(1, 20) {
		d, err := tweet.FromXV2([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	sortDocs(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stream holds %d documents, want %d; first %+v", len(got), len(want), got[0])
	}
	if v := gathered(t, reg, "streamdash_producer_reconnects_total"); v != 5 {
		t.Errorf("reconnects %v, want 5", v)
	}
	if v := gathered(t, reg, "streamdash_producer_malformed_total"); v != 1 {
		t.Errorf("malformed %v, want 1 (the message cut by the disconnect)", v)
	}
	var tags []string
	for _, r := range fx.Rules {
		tags = append(tags, r.Value+"|"+r.Tag)
	}
	sort.Strings(tags)
	if want := []string{"mine|other", "music has:hashtags|sd-x/music"}; !reflect.DeepEqual(tags, want) {
		t.Errorf("rules %v, want %v", tags, want)
	}
}

// TestJetstreamToKinesis: connections cut mid-log resume from the cursor;
// Kinesis receives every post exactly once.
func TestJetstreamToKinesis(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	if err := kinesiswriter.CreateStream(context.Background(), c, "bsky", 2); err != nil {
		t.Fatal(err)
	}
	evs := jetstreamtest.Log(40)
	url := jetstreamtest.Start(t, &jetstreamtest.Server{Events: evs, Cuts: []int{11, 9, 0, 5}})
	// An AppView that knows nobody: every document keeps the DID and 0
	// followers, so the expected output does not depend on timing.
	appView := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"profiles": []any{}})
	}))
	defer appView.Close()
	var want []tweet.Document
	for _, ev := range evs {
		if ev.PostID == "" {
			continue
		}
		d, err := tweet.FromJetstream([]byte(ev.Raw), tweet.Profile{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	sortDocs(want)

	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Stream: "bsky", Source: SourceBluesky, Kinesis: c, Registry: reg, JetstreamURL: url, ProfileAPI: appView.URL})
	}()
	waitMetric(t, reg, "streamdash_producer_posts_written_total", float64(len(want)))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := readDocs(t, c, "bsky"); !reflect.DeepEqual(got, want) {
		t.Errorf("stream holds %d documents, want %d", len(got), len(want))
	}
	if v := gathered(t, reg, "streamdash_producer_reconnects_total"); v < 4 {
		t.Errorf("reconnects %v, want at least 4", v)
	}
}
