// Package ingest reads a collection's Kinesis stream: one reader per
// collection over every shard, following resharding, with checkpoints that
// the store commits in the same transaction as the documents they cover.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamdash/streamdash/internal/analytics/store"
)

// Kinesis is the part of the Kinesis API a reader uses.
type Kinesis interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// StreamKey is the checkpoint row that holds the identity of the stream the
// other checkpoints were taken on (its Seq). Kinesis shard IDs never hold '@'.
const StreamKey = "@stream"

// Sink is where a reader commits batches (a store.Collection).
type Sink interface {
	Write(ctx context.Context, b store.Batch) (store.WriteResult, error)
	Checkpoints(ctx context.Context) (map[string]store.Checkpoint, error)
	SetError(ctx context.Context, msg string) error
}

// Metrics are the ingest series, labelled by collection.
type Metrics struct {
	Docs      *prometheus.CounterVec
	Malformed *prometheus.CounterVec
	Lag       *prometheus.GaugeVec
}

// NewMetrics registers the ingest series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Docs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "analytics_documents_ingested_total", Help: "Documents written into collections.",
		}, []string{"collection"}),
		Malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "analytics_malformed_records_total", Help: "Records skipped because they are not JSON objects or the ingest transformation rejected them.",
		}, []string{"collection"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "analytics_ingest_lag_seconds", Help: "How far the reader is behind the tip of its stream (max over shards).",
		}, []string{"collection"}),
	}
	reg.MustRegister(m.Docs, m.Malformed, m.Lag)
	return m
}

// Spec configures a reader.
type Spec struct {
	Name         string // metrics label, workspace.collection
	Stream       string
	Policy       string    // EARLIEST or LATEST: where a shard without checkpoint starts
	StartTime    time.Time // LATEST means records arriving from here on (the collection's creation)
	Client       Kinesis
	Sink         Sink
	PollInterval time.Duration
	Metrics      *Metrics
	Log          *slog.Logger
	Events       Events // optional
}

// Events hears what belongs in the organisation's events (commons._events);
// its methods are called on the reader's goroutine and must not block long.
type Events interface {
	// IngestError: the reader went into ERROR, or its error changed.
	IngestError(msg string)
	// Malformed: a committed batch skipped n records as malformed.
	Malformed(n int)
}

// Source states, as Rockset names them.
const (
	StateInitializing = "INITIALIZING"
	StateWatching     = "WATCHING"
	StateProcessing   = "PROCESSING"
	StateError        = "ERROR"
)

// Status is a reader's live state.
type Status struct {
	State           string
	Message         string
	Reading         bool // has listed shards and read at least once
	LastProcessedAt time.Time
	MillisBehind    int64
}

// Reader is a running reader.
type Reader struct {
	spec   Spec
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status Status

	// The stream the checkpoints belong to; see StreamKey.
	identity       string
	recordIdentity bool // the next batch with checkpoints stores identity
	replace        bool // the next batch with checkpoints replaces all of them
	fresh          bool // the stream was replaced: shards start at TRIM_HORIZON
}

// Start runs a reader until Stop or ctx ends.
func Start(ctx context.Context, spec Spec) *Reader {
	if spec.PollInterval <= 0 {
		spec.PollInterval = 200 * time.Millisecond
	}
	if spec.Log == nil {
		spec.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{spec: spec, cancel: cancel, done: make(chan struct{}), status: Status{State: StateInitializing}}
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	return r
}

// Stop ends the reader and waits for it; an uncommitted batch is dropped and
// will be read again from the checkpoint.
func (r *Reader) Stop() {
	r.cancel()
	<-r.done
}

// Status returns the reader's state.
func (r *Reader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Reader) setStatus(fn func(s *Status)) {
	r.mu.Lock()
	fn(&r.status)
	r.mu.Unlock()
}

type shard struct {
	id        string
	parents   []string
	iterator  string
	committed string // last committed sequence number
	closed    bool
	retryAt   time.Time
	backoff   time.Duration
}

const (
	listEvery   = 5 * time.Second
	maxBackoff  = 5 * time.Second
	recordLimit = 10000
)

func (r *Reader) run(ctx context.Context) {
	var cps map[string]store.Checkpoint
	for {
		var err error
		if cps, err = r.spec.Sink.Checkpoints(ctx); err == nil {
			break
		}
		if !r.wait(ctx, time.Second) {
			return
		}
	}
	r.identity = cps[StreamKey].Seq
	delete(cps, StreamKey)
	shards := map[string]*shard{}
	var lastList time.Time
	errBackoff := time.Duration(0)
	for ctx.Err() == nil {
		if time.Since(lastList) >= listEvery {
			if err := r.listShards(ctx, shards, cps); err != nil {
				r.fail(ctx, "list shards", err, &errBackoff)
				continue
			}
			lastList = time.Now()
		}
		batch, pending, readErr := r.readRound(ctx, shards)
		if ctx.Err() != nil {
			return
		}
		if len(batch.Checkpoints) > 0 && r.recordIdentity {
			batch.Checkpoints = append(batch.Checkpoints, store.Checkpoint{Shard: StreamKey, Seq: r.identity})
			batch.ReplaceCheckpoints = r.replace
		}
		if len(batch.Records) > 0 || len(batch.Checkpoints) > 0 {
			res, err := r.spec.Sink.Write(ctx, batch)
			if err != nil {
				// Nothing was committed: rewind to the checkpoints.
				for _, s := range shards {
					s.iterator = ""
				}
				r.fail(ctx, "write batch", err, &errBackoff)
				continue
			}
			if batch.ReplaceCheckpoints || len(batch.Checkpoints) > 0 && r.recordIdentity {
				r.recordIdentity, r.replace = false, false
			}
			for id, p := range pending {
				s := shards[id]
				if p.seq != "" {
					s.committed = p.seq
				}
				if p.closed {
					s.closed = true
					cps[id] = store.Checkpoint{Shard: id, Seq: s.committed, Closed: true}
					lastList = time.Time{} // its children may be startable now
				}
			}
			if r.spec.Metrics != nil {
				r.spec.Metrics.Docs.WithLabelValues(r.spec.Name).Add(float64(res.Inserted))
				r.spec.Metrics.Malformed.WithLabelValues(r.spec.Name).Add(float64(res.Malformed))
			}
			if res.Malformed > 0 && r.spec.Events != nil {
				r.spec.Events.Malformed(res.Malformed)
			}
		}
		if readErr != nil {
			// The stream may have been deleted or replaced: look again
			// before the next read rather than up to listEvery later.
			lastList = time.Time{}
			r.fail(ctx, "read", readErr, &errBackoff)
			continue
		}
		errBackoff = 0
		state := StateWatching
		if len(batch.Records) > 0 {
			state = StateProcessing
		}
		r.setStatus(func(s *Status) {
			s.State = state
			s.Message = ""
			s.Reading = true
			if len(batch.Records) > 0 {
				s.LastProcessedAt = time.Now()
			}
		})
		if len(batch.Records) == 0 && !r.wait(ctx, r.spec.PollInterval) {
			return
		}
	}
}

func (r *Reader) fail(ctx context.Context, what string, err error, backoff *time.Duration) {
	msg := what + ": " + reason(err)
	r.spec.Log.Warn("ingest", "collection", r.spec.Name, "error", msg)
	changed := false
	r.setStatus(func(s *Status) {
		changed = s.State != StateError || s.Message != msg
		s.State = StateError
		s.Message = msg
	})
	_ = r.spec.Sink.SetError(ctx, msg)
	if changed && r.spec.Events != nil {
		r.spec.Events.IngestError(msg)
	}
	if *backoff == 0 {
		*backoff = 200 * time.Millisecond
	} else {
		*backoff = min(*backoff*2, maxBackoff)
	}
	r.wait(ctx, *backoff)
}

func (r *Reader) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// checkStream compares the stream's identity with the one the checkpoints
// were taken on. On a new stream the shards and checkpoints known so far are
// forgotten, and the next commit replaces the stored ones.
func (r *Reader) checkStream(ctx context.Context, shards map[string]*shard, cps map[string]store.Checkpoint) error {
	out, err := r.spec.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(r.spec.Stream)})
	var denied *types.AccessDeniedException
	if errors.As(err, &denied) {
		// An integration allowed to read but not to describe: keep reading
		// without detecting a re-created stream rather than not at all.
		return nil
	}
	if err != nil {
		return err
	}
	sum := out.StreamDescriptionSummary
	if sum == nil || sum.StreamCreationTimestamp == nil {
		return errors.New("describe stream: no creation time")
	}
	id := aws.ToString(sum.StreamARN) + " " + sum.StreamCreationTimestamp.UTC().Format(time.RFC3339Nano)
	switch r.identity {
	case id:
		return nil
	case "":
		// First reading, or checkpoints from before identities were kept:
		// they are taken to be this stream's.
	default:
		r.spec.Log.Info("ingest: stream was re-created, reading it from the start", "collection", r.spec.Name, "stream", r.spec.Stream, "was", r.identity, "now", id)
		clear(shards)
		clear(cps)
		r.replace = true
		r.fresh = true
	}
	r.identity = id
	r.recordIdentity = true
	return nil
}

func (r *Reader) listShards(ctx context.Context, shards map[string]*shard, cps map[string]store.Checkpoint) error {
	if err := r.checkStream(ctx, shards, cps); err != nil {
		return err
	}
	in := &kinesis.ListShardsInput{StreamName: aws.String(r.spec.Stream)}
	for {
		out, err := r.spec.Client.ListShards(ctx, in)
		if err != nil {
			return err
		}
		for _, sh := range out.Shards {
			id := aws.ToString(sh.ShardId)
			if _, ok := shards[id]; ok {
				continue
			}
			s := &shard{id: id}
			for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
				if p != nil && *p != "" {
					s.parents = append(s.parents, *p)
				}
			}
			if cp, ok := cps[id]; ok {
				s.committed = cp.Seq
				s.closed = cp.Closed
			}
			shards[id] = s
		}
		if out.NextToken == nil {
			return nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

type pendingShard struct {
	seq    string
	closed bool
}

// readRound reads once from every readable shard and returns what to commit.
func (r *Reader) readRound(ctx context.Context, shards map[string]*shard) (store.Batch, map[string]pendingShard, error) {
	var batch store.Batch
	pending := map[string]pendingShard{}
	ids := make([]string, 0, len(shards))
	for id := range shards {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var firstErr error
	var behind int64
	now := time.Now()
	for _, id := range ids {
		s := shards[id]
		if s.closed || now.Before(s.retryAt) || !parentsDone(s, shards) {
			continue
		}
		if s.iterator == "" {
			it, err := r.iterator(ctx, s)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("shard %s iterator: %w", id, err)
				}
				continue
			}
			s.iterator = it
		}
		out, err := r.spec.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(s.iterator), Limit: aws.Int32(recordLimit)})
		var throttled *types.ProvisionedThroughputExceededException
		var expired *types.ExpiredIteratorException
		switch {
		case errors.As(err, &throttled):
			s.backoff = min(max(s.backoff*2, 100*time.Millisecond), maxBackoff)
			s.retryAt = time.Now().Add(s.backoff)
			continue
		case errors.As(err, &expired):
			s.iterator = "" // re-acquired from the checkpoint next round
			continue
		case err != nil:
			if ctx.Err() == nil && firstErr == nil {
				firstErr = fmt.Errorf("shard %s: %w", id, err)
			}
			continue
		}
		s.backoff = 0
		s.retryAt = time.Time{}
		p := pendingShard{}
		for _, rec := range out.Records {
			seq := aws.ToString(rec.SequenceNumber)
			arrival := time.Now()
			if rec.ApproximateArrivalTimestamp != nil {
				arrival = *rec.ApproximateArrivalTimestamp
			}
			batch.Records = append(batch.Records, store.Record{Data: rec.Data, RID: id + ":" + seq, Arrival: arrival})
			p.seq = seq
		}
		if out.MillisBehindLatest != nil && *out.MillisBehindLatest > behind {
			behind = *out.MillisBehindLatest
		}
		if out.NextShardIterator == nil {
			p.closed = true
			s.iterator = ""
		} else {
			s.iterator = *out.NextShardIterator
		}
		if p.seq != "" || p.closed {
			pending[id] = p
			seq := p.seq
			if seq == "" {
				seq = s.committed
			}
			batch.Checkpoints = append(batch.Checkpoints, store.Checkpoint{Shard: id, Seq: seq, Closed: p.closed})
		}
	}
	if r.spec.Metrics != nil {
		r.spec.Metrics.Lag.WithLabelValues(r.spec.Name).Set(float64(behind) / 1000)
	}
	r.setStatus(func(s *Status) { s.MillisBehind = behind })
	return batch, pending, firstErr
}

// parentsDone: a child shard starts only after every parent we know of has
// been read to its end. A parent no longer listed has expired.
func parentsDone(s *shard, shards map[string]*shard) bool {
	for _, p := range s.parents {
		if ps, ok := shards[p]; ok && !ps.closed {
			return false
		}
	}
	return true
}

func (r *Reader) iterator(ctx context.Context, s *shard) (string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(r.spec.Stream), ShardId: aws.String(s.id)}
	switch {
	case s.committed != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(s.committed)
	case len(s.parents) > 0 || r.spec.Policy == "EARLIEST" || r.fresh:
		// A child of a shard we read holds only records we have not seen,
		// and so does a stream that replaced the one we read.
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	default:
		// LATEST as of the collection's creation, so a restart before the
		// first record loses nothing written in between.
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(r.spec.StartTime)
	}
	out, err := r.spec.Client.GetShardIterator(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ShardIterator), nil
}

// reason is an error as a status message: an AWS API error by its code and
// message only, without the request ID and HTTP details that change on every
// attempt, so a status that keeps failing the same way reads the same.
func reason(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}
