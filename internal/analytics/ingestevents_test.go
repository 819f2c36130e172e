package analytics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

type emitted struct {
	mu     sync.Mutex
	events []string // "LABEL details.message"
}

func (r *emitted) emit(label, typ string, details map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %v", label, details["message"]))
}

func (r *emitted) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.events...)
}

// TestIngestEventsPace: a source failing in a loop and a stream of bad
// records make at most one INGEST_ERROR and one INGEST_WARNING a minute per
// collection; what is held meanwhile (the latest error, every skipped
// record) is reported when the minute is up.
func TestIngestEventsPace(t *testing.T) {
	type step struct {
		after time.Duration // since the previous step, on the fake clock
		err   string        // IngestError(err) when not ""
		bad   int           // Malformed(bad) when > 0
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string // events, in order, once the clock has moved 2 minutes past the last step
	}{
		{"one error", []step{{err: "read: denied"}}, []string{"INGEST_ERROR read: denied"}},
		{"the same error again within the minute: once",
			[]step{{err: "e1"}, {after: time.Second, err: "e1"}, {after: 30 * time.Second, err: "e1"}},
			[]string{"INGEST_ERROR e1"}},
		{"the same error a minute later: again",
			[]step{{err: "e1"}, {after: time.Minute, err: "e1"}},
			[]string{"INGEST_ERROR e1", "INGEST_ERROR e1"}},
		{"errors alternating in a loop: one a minute, the latest held",
			[]step{{err: "e1"}, {after: time.Second, err: "e2"}, {after: time.Second, err: "e1"}, {after: time.Second, err: "e3"}},
			[]string{"INGEST_ERROR e1", "INGEST_ERROR e3"}},
		{"back to the reported error: nothing held",
			[]step{{err: "e1"}, {after: time.Second, err: "e2"}, {after: time.Second, err: "e1"}},
			[]string{"INGEST_ERROR e1"}},
		{"bad records: the first at once, the rest counted together",
			[]step{{bad: 5}, {after: time.Second, bad: 100}, {after: 10 * time.Second, bad: 1000}},
			[]string{"INGEST_WARNING 5 records", "INGEST_WARNING 1100 records"}},
		{"errors and bad records keep separate paces",
			[]step{{err: "e1"}, {after: time.Second, bad: 3}},
			[]string{"INGEST_ERROR e1", "INGEST_WARNING 3 records"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testingclock.NewFakeClock(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
			var got emitted
			e := &ingestEvents{coll: "commons.c", clock: clock, emit: got.emit, reason: func() string { return "not a JSON object" }}
			for _, s := range tc.steps {
				clock.Step(s.after)
				if s.err != "" {
					e.IngestError(s.err)
				}
				if s.bad > 0 {
					e.Malformed(s.bad)
				}
			}
			clock.Step(2 * time.Minute)
			deadline := time.Now().Add(5 * time.Second)
			for len(got.list()) < len(tc.want) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // the held events are written on their own goroutine
			}
			e.stop()
			events := got.list()
			if len(events) != len(tc.want) {
				t.Fatalf("events %q, want %q", events, tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(events[i], w) {
					t.Errorf("event %d: %q, want %q...", i, events[i], w)
				}
			}
		})
	}
}
