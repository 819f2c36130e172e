package analytics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/streamdash/streamdash/internal/analytics/store"
)

// ingestEventEvery paces a collection's ingest events: records skipped as
// malformed make at most one INGEST_WARNING per collection in this time,
// counting them all; an unchanged error is not repeated within it.
const ingestEventEvery = time.Minute

// ingestEvents writes a collection's ingest trouble into commons._events
// with Rockset's labels: INGEST_ERROR (kind INGEST, type ERROR) when its
// source goes into ERROR or its error changes, INGEST_WARNING (type WARNING)
// for records skipped as malformed; details.message says what happened.
type ingestEvents struct {
	s    *Server
	coll string // workspace.collection
	sc   *store.Collection

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	skipped   int       // malformed records not reported yet
	since     time.Time // when the first of them was skipped
	lastWarn  time.Time
	flush     clock.Timer // reports the skipped ones when the pace allows
	stopped   bool
}

func (s *Server) newIngestEvents(coll string, sc *store.Collection) *ingestEvents {
	return &ingestEvents{s: s, coll: coll, sc: sc}
}

// IngestError records the source going into ERROR.
func (e *ingestEvents) IngestError(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.s.clock.Now()
	if e.stopped || msg == e.lastErr && now.Sub(e.lastErrAt) < ingestEventEvery {
		return
	}
	e.lastErr, e.lastErrAt = msg, now
	e.s.event(context.Background(), "INGEST_ERROR", "INGEST", "ERROR", map[string]any{
		"collections": []string{e.coll}, "details": map[string]any{"message": msg},
	})
}

// Malformed counts skipped records and reports them at the pace allowed.
func (e *ingestEvents) Malformed(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	now := e.s.clock.Now()
	if e.skipped == 0 {
		e.since = now
	}
	e.skipped += n
	if e.lastWarn.IsZero() || now.Sub(e.lastWarn) >= ingestEventEvery {
		e.warnLocked(now)
		return
	}
	if e.flush == nil {
		// On its own goroutine, as time.AfterFunc does (a fake clock calls
		// it while holding its lock, which Now needs).
		e.flush = e.s.clock.AfterFunc(e.lastWarn.Add(ingestEventEvery).Sub(now), func() { go e.flushSkipped() })
	}
}

func (e *ingestEvents) flushSkipped() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flush = nil
	if e.skipped > 0 && !e.stopped {
		e.warnLocked(e.s.clock.Now())
	}
}

func (e *ingestEvents) warnLocked(now time.Time) {
	reason := e.sc.LastMalformed()
	e.s.event(context.Background(), "INGEST_WARNING", "INGEST", "WARNING", map[string]any{
		"collections": []string{e.coll},
		"details": map[string]any{
			"message": fmt.Sprintf("%d records skipped as malformed since %s; the latest: %s",
				e.skipped, e.since.UTC().Format(time.RFC3339), reason),
			"malformed_records": e.skipped,
			"since":             e.since.UTC().Format(time.RFC3339),
			"last_reason":       reason,
		},
	})
	e.skipped, e.lastWarn = 0, now
}

// stop ends reporting: a collection deleted or a server stopping reports
// nothing more.
func (e *ingestEvents) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	if e.flush != nil {
		e.flush.Stop()
		e.flush = nil
	}
}
