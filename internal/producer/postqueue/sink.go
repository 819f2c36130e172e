package postqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/streamdash/streamdash/internal/tweet"
)

// Sink is what a source hands its documents to. It encodes them, picks the
// partition key, enqueues, and keeps the source's counters.
type Sink struct {
	q       *Queue
	m       *Metrics
	log     *slog.Logger
	source  string
	block   bool
	lastLog atomic.Int64 // unix nanos of the last malformed log line
}

// NewSink returns a sink for the named source. When block is true Emit waits
// for room in the queue; otherwise a full queue drops the post and counts it.
func NewSink(q *Queue, m *Metrics, log *slog.Logger, source string, block bool) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{q: q, m: m, log: log, source: source, block: block}
}

// ErrDropped is returned by Emit when the queue was full.
var ErrDropped = errors.New("queue full: post dropped")

// Emit enqueues d. Errors: ctx's when a blocking sink is cancelled,
// ErrDropped when a non-blocking sink's queue is full.
func (s *Sink) Emit(ctx context.Context, d tweet.Document) error {
	data, err := d.Marshal()
	if err != nil {
		s.Malformed(&tweet.MalformedError{Reason: tweet.ReasonBadValue, Err: err})
		return nil
	}
	p := Post{Key: PartitionKey(d.IDStr), Data: data}
	if s.block {
		// Counted only once queued: a post refused at shutdown was never
		// acknowledged, so "everything read is written" stays checkable.
		if err := s.q.Put(ctx, p); err != nil {
			return err
		}
		s.m.Read.WithLabelValues(s.source).Inc()
		return nil
	}
	s.m.Read.WithLabelValues(s.source).Inc()
	if !s.q.Offer(p) {
		s.m.Dropped.WithLabelValues(s.source).Inc()
		return ErrDropped
	}
	return nil
}

// Malformed counts one skipped input. It logs the reason (never the input,
// which may be anything) at most once a second so that a flood of garbage
// cannot flood the log.
func (s *Sink) Malformed(err error) {
	reason := tweet.MalformedReason(err)
	if reason == "" {
		reason = "other"
	}
	s.m.Malformed.WithLabelValues(s.source, reason).Inc()
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last > int64(time.Second) && s.lastLog.CompareAndSwap(last, now) {
		s.log.Warn("skipping malformed message", "source", s.source, "reason", reason, "error", err.Error())
	}
}

// Reconnected counts one reconnection of the source.
func (s *Sink) Reconnected() { s.m.Reconnects.WithLabelValues(s.source).Inc() }

// Logger returns the sink's logger.
func (s *Sink) Logger() *slog.Logger { return s.log }

// PartitionKey spreads records evenly over shards: Kinesis hashes the key
// with MD5, and post ids are unique, so the id itself is used; ids longer
// than Kinesis's 256-character limit are replaced by their SHA-256.
func PartitionKey(id string) string {
	if id != "" && utf8.RuneCountInString(id) <= 256 {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}
