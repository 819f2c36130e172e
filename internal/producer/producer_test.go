package producer

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamdash/streamdash/internal/producer/kinesiswriter"
	"github.com/streamdash/streamdash/internal/producer/replay"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

// readDocs reads the stream back through the Kinesis API and decodes it.
func readDocs(t *testing.T, c *kinesis.Client, stream string) []tweet.Document {
	t.Helper()
	recs, err := kinesiswriter.ReadAll(context.Background(), c, stream)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]tweet.Document, len(recs))
	for i, r := range recs {
		d, err := tweet.DecodeCanonical(r)
		if err != nil {
			t.Fatalf("record %d is not a canonical document: %v\n%s", i, err, r)
		}
		docs[i] = d
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].IDStr < docs[j].IDStr })
	return docs
}

// generated is what the synthetic source emits for seed without rewriting timestamps.
func generated(seed int64, n int, rate float64) []tweet.Document {
	g := tweet.NewGenerator(seed)
	step := time.Millisecond
	if rate > 0 {
		step = time.Duration(float64(time.Second) / rate)
	}
	out := make([]tweet.Document, n)
	for i := range out {
		out[i] = g.Next(replay.SyntheticEpoch.Add(time.Duration(i) * step))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IDStr < out[j].IDStr })
	return out
}

func TestSyntheticReplayToKinesis(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	ctx := context.Background()
	if err := kinesiswriter.CreateStream(ctx, c, "synthetic", 2); err != nil {
		t.Fatal(err)
	}
	err := Run(ctx, Config{
		Stream: "synthetic", Source: SourceReplay, Kinesis: c, ExitWhenDone: true,
		Replay: replay.Config{Seed: 77, Count: 600, Rate: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readDocs(t, c, "synthetic")
	want := generated(77, 600, 0)
	if len(got) != len(want) {
		t.Fatalf("%d documents in the stream, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("document %d differs:\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
}

// scrape reads one metric's value from /metrics.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return -1
}

func TestCancelFlushesEverythingRead(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	if err := kinesiswriter.CreateStream(context.Background(), c, "flush", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Stream: "flush", Source: SourceReplay, Kinesis: c, Listen: "127.0.0.1:0",
			Ready: func(a string) { addrCh <- a }, QueueSize: 2000, Registry: reg,
			// A long flush interval: the last partial batch is only written
			// because the shutdown flushes it.
			FlushInterval: time.Hour, BatchSize: 100,
			Replay: replay.Config{Seed: 3, Rate: 400},
		})
	}()
	addr := <-addrCh
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for scrape(t, addr, "streamdash_producer_posts_written_total") < 150 {
		if time.Now().After(deadline) {
			t.Fatal("nothing written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	read := func() float64 { return scrape(t, addr, `streamdash_producer_posts_read_total`) }
	if read() < 150 {
		t.Fatalf("posts read %v", read())
	}
	if scrape(t, addr, "streamdash_producer_queue_depth") < 0 {
		t.Error("no queue depth metric")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := readDocs(t, c, "flush")
	n := len(got)
	if read, written := gathered(t, reg, "streamdash_producer_posts_read_total"), gathered(t, reg, "streamdash_producer_posts_written_total"); float64(n) != read || read != written {
		t.Errorf("stream holds %d, read %v, written %v: everything read must be written", n, read, written)
	}
	if n%100 == 0 {
		t.Logf("%d documents: the shutdown may have fallen on a batch boundary", n)
	}
	// Everything read was written, in generator order with no gap: the
	// stream holds exactly the first n documents of the seed.
	want := generated(3, n, 400)
	for i := range want {
		if !reflect.DeepEqual(got[i], withTime(want[i], got[i])) {
			t.Fatalf("document %d is not the generator's:\n%+v\n%+v", i, got[i], want[i])
		}
	}
	ids := map[string]bool{}
	for _, d := range got {
		ids[d.IDStr] = true
	}
	if len(ids) != n {
		t.Errorf("%d duplicates", n-len(ids))
	}
}

// withTime copies got's time fields into want (the source rewrote them).
func withTime(want, got tweet.Document) tweet.Document {
	want.CreatedAt, want.TimestampMS = got.CreatedAt, got.TimestampMS
	return want
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no stream", Config{Source: SourceReplay}, "--stream"},
		{"unknown source", Config{Stream: "s", Source: "myspace"}, "unknown source"},
		{"x without token", Config{Stream: "s", Source: SourceX}, "bearer token"},
		{"missing replay file", Config{Stream: "s", Replay: replay.Config{File: "/nonexistent/file.ndjson"}}, "replay file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// gathered sums a metric's samples in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
