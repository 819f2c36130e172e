package postqueue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamdash/streamdash/internal/tweet"
)

func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
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

func doc(id string) tweet.Document {
	d := tweet.Document{IDStr: id, Source: "x"}
	d.SetTime(time.Unix(1, 0))
	return d
}

func TestNonBlockingSinkDropsWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	q := NewQueue(2, reg)
	s := NewSink(q, NewMetrics(reg), nil, "x", false)
	ctx := context.Background()
	var errs []error
	for _, id := range []string{"1", "2", "3", "4"} {
		errs = append(errs, s.Emit(ctx, doc(id)))
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrDropped) || !errors.Is(errs[3], ErrDropped) {
		t.Fatalf("errors %v", errs)
	}
	if v := value(t, reg, "streamdash_producer_posts_dropped_total"); v != 2 {
		t.Errorf("dropped %v, want 2", v)
	}
	if v := value(t, reg, "streamdash_producer_posts_read_total"); v != 4 {
		t.Errorf("read %v, want 4", v)
	}
	if v := value(t, reg, "streamdash_producer_queue_depth"); v != 2 {
		t.Errorf("queue depth %v, want 2", v)
	}
	p := <-q.C()
	if p.Key != "1" || !bytes.Contains(p.Data, []byte(`"id_str":"1"`)) {
		t.Errorf("first post %q %s", p.Key, p.Data)
	}
}

func TestBlockingSinkWaitsAndStopsOnCancel(t *testing.T) {
	reg := prometheus.NewRegistry()
	q := NewQueue(1, reg)
	s := NewSink(q, NewMetrics(reg), nil, "replay", true)
	if err := s.Emit(context.Background(), doc("1")); err != nil {
		t.Fatal(err)
	}
	// Full: the next Emit waits until the writer takes one.
	done := make(chan error, 1)
	go func() { done <- s.Emit(context.Background(), doc("2")) }()
	select {
	case err := <-done:
		t.Fatalf("Emit on a full queue returned %v without waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	<-q.C()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Cancelled while waiting: refused, and not counted as read.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Emit(ctx, doc("3")) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if v := value(t, reg, "streamdash_producer_posts_read_total"); v != 2 {
		t.Errorf("read %v, want 2", v)
	}
	q.Close()
	if q.Offer(Post{}) || q.Put(context.Background(), Post{}) == nil {
		t.Error("closed queue accepted a post")
	}
}

func TestMalformedCountedAndLoggedWithoutInput(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s := NewSink(NewQueue(1, nil), NewMetrics(reg), slog.New(slog.NewTextHandler(&logs, nil)), "bluesky", false)
	secretish := "{\"text\":\"my password is hunter2\xff\"}"
	for i := 0; i < 100; i++ {
		_, err := tweet.FromJetstream([]byte(secretish), tweet.Profile{})
		s.Malformed(err)
	}
	if v := value(t, reg, "streamdash_producer_malformed_total"); v != 100 {
		t.Errorf("malformed %v, want 100", v)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("input leaked into the log: %s", logs.String())
	}
	if n := strings.Count(logs.String(), "skipping malformed message"); n != 1 {
		t.Errorf("%d log lines for a burst of 100, want 1 (rate-limited)", n)
	}
}

func TestPartitionKey(t *testing.T) {
	tests := []struct {
		name, id string
		wantLen  int
		wantSame bool
	}{
		{"tweet id kept", "1346889436626259968", 19, true},
		{"bluesky id kept", "did:plc:eygmaihciaxprqvxpfvl6flk/3l3qo2vuowo2b", 46, true},
		{"over 256 characters hashed", strings.Repeat("é", 300), 64, false},
		{"empty hashed", "", 64, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := PartitionKey(tc.id)
			if len(k) != tc.wantLen || (k == tc.id) != tc.wantSame {
				t.Errorf("key %q", k)
			}
		})
	}
}
