package analytics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ingestEventEvery paces a collection's ingest events: at most one
// INGEST_ERROR and one INGEST_WARNING per collection in this time. What
// happens meanwhile is held and reported when the time is up: the latest
// error, and the count of every record skipped as malformed.
const ingestEventEvery = time.Minute

// ingestEvents writes a collection's ingest trouble into commons._events
// with Rockset's labels: INGEST_ERROR (kind INGEST, type ERROR) when its
// source goes into ERROR or its error changes, INGEST_WARNING (type WARNING)
// for records skipped as malformed; details.message says what happened.
// Paced, so that a source failing in a loop or a stream of bad records
// cannot flood the events.
type ingestEvents struct {
	coll   string // workspace.collection
	clock  clock.WithDelayedExecution
	emit   func(label, typ string, details map[string]any)
	reason func() string // why the latest malformed record was skipped

	mu        sync.Mutex
	lastErr   string // the last error reported
	lastErrAt time.Time
	heldErr   string    // an error not reported yet
	skipped   int       // malformed records not reported yet
	since     time.Time // when the first of them was skipped
	lastWarn  time.Time
	flush     clock.Timer // reports what is held when the pace allows
	stopped   bool
}

func (s *Server) newIngestEvents(coll string, reason func() string) *ingestEvents {
	return &ingestEvents{coll: coll, clock: s.clock, reason: reason,
		emit: func(label, typ string, details map[string]any) {
			s.event(context.Background(), label, "INGEST", typ, map[string]any{"collections": []string{coll}, "details": details})
		}}
}

// IngestError records the source going into ERROR.
func (e *ingestEvents) IngestError(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	now := e.clock.Now()
	switch {
	case e.lastErrAt.IsZero() || now.Sub(e.lastErrAt) >= ingestEventEvery:
		e.errorLocked(msg, now)
	case msg == e.lastErr:
		e.heldErr = "" // back to the error reported last
	default:
		e.heldErr = msg
		e.scheduleLocked(e.lastErrAt.Add(ingestEventEvery).Sub(now))
	}
}

// Malformed counts skipped records and reports them at the pace allowed.
func (e *ingestEvents) Malformed(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	now := e.clock.Now()
	if e.skipped == 0 {
		e.since = now
	}
	e.skipped += n
	if e.lastWarn.IsZero() || now.Sub(e.lastWarn) >= ingestEventEvery {
		e.warnLocked(now)
		return
	}
	e.scheduleLocked(e.lastWarn.Add(ingestEventEvery).Sub(now))
}

func (e *ingestEvents) scheduleLocked(d time.Duration) {
	if e.flush != nil {
		return // the pending flush is at most this late: both kinds share one minute's pace
	}
	// On its own goroutine, as time.AfterFunc does (a fake clock calls it
	// while holding its lock, which Now needs).
	e.flush = e.clock.AfterFunc(d, func() { go e.flushHeld() })
}

// flushHeld reports what is held whose pace allows it, and waits for the
// rest.
func (e *ingestEvents) flushHeld() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flush = nil
	if e.stopped {
		return
	}
	now := e.clock.Now()
	var wait time.Duration
	if e.heldErr != "" {
		if d := e.lastErrAt.Add(ingestEventEvery).Sub(now); d > 0 {
			wait = d
		} else {
			e.errorLocked(e.heldErr, now)
		}
	}
	if e.skipped > 0 {
		if d := e.lastWarn.Add(ingestEventEvery).Sub(now); d > 0 {
			wait = max(wait, d)
		} else {
			e.warnLocked(now)
		}
	}
	if wait > 0 {
		e.scheduleLocked(wait)
	}
}

func (e *ingestEvents) errorLocked(msg string, now time.Time) {
	e.emit("INGEST_ERROR", "ERROR", map[string]any{"message": msg})
	e.lastErr, e.lastErrAt, e.heldErr = msg, now, ""
}

func (e *ingestEvents) warnLocked(now time.Time) {
	reason := e.reason()
	e.emit("INGEST_WARNING", "WARNING", map[string]any{
		"message": fmt.Sprintf("%d records skipped as malformed since %s; the latest: %s",
			e.skipped, e.since.UTC().Format(time.RFC3339), reason),
		"malformed_records": e.skipped,
		"since":             e.since.UTC().Format(time.RFC3339),
		"last_reason":       reason,
	})
	e.skipped, e.lastWarn = 0, now
}

// stop ends reporting: a server stopping reports nothing more.
func (e *ingestEvents) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	if e.flush != nil {
		e.flush.Stop()
		e.flush = nil
	}
}
