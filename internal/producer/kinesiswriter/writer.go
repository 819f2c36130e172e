// Package kinesiswriter writes encoded documents to a Kinesis stream with
// PutRecords: batches of at most 500 records and 5 MiB, flushed when full or
// after a short interval, only the failed entries of a partial failure sent
// again (with exponential backoff and full jitter), and everything taken
// from the queue flushed before Run returns.
package kinesiswriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/streamdash/streamdash/internal/producer/postqueue"
)

// Kinesis PutRecords limits.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 5 << 20
	MaxRecordBytes  = 1 << 20 // data plus partition key
)

// PutRecordsAPI is the part of *kinesis.Client the writer uses.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Config tunes a Writer. Zero fields take the defaults in brackets.
type Config struct {
	Stream        string        // stream name (required)
	BatchSize     int           // records per PutRecords [500, at most 500]
	FlushInterval time.Duration // longest a partial batch waits [200ms]
	// InFlight is how many PutRecords calls may run at once [1]. One keeps
	// records in order per shard and already carries 500 records per
	// round trip (thousands per second on real Kinesis, far above a tweet
	// source); more helps only over a slow network: against the emulator,
	// two in flight measured slower than one (docs/benchmarks.md).
	InFlight int
	// RetryBase and RetryMax bound the backoff between attempts [100ms, 5s].
	RetryBase, RetryMax time.Duration
	// MaxAttempts bounds attempts for records failing with an error other
	// than throttling [10]; throttled records are retried until ctx ends,
	// because throttling passes and the posts must not be lost.
	MaxAttempts int
}

func (c *Config) defaults() error {
	if c.Stream == "" {
		return errors.New("kinesiswriter: stream name is required")
	}
	if c.BatchSize <= 0 || c.BatchSize > MaxBatchRecords {
		c.BatchSize = MaxBatchRecords
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.InFlight <= 0 {
		c.InFlight = 1
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	return nil
}

// Writer batches posts into PutRecords calls.
type Writer struct {
	api PutRecordsAPI
	cfg Config
	m   *postqueue.Metrics
	log *slog.Logger
}

// New returns a writer for cfg.Stream.
func New(api PutRecordsAPI, cfg Config, m *postqueue.Metrics, log *slog.Logger) (*Writer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = postqueue.NewMetrics(nil)
	}
	return &Writer{api: api, cfg: cfg, m: m, log: log}, nil
}

type batch struct {
	entries []types.PutRecordsRequestEntry
	bytes   int
}

// Run writes every post received from in until in is closed, then flushes
// what is left, waits for the calls in flight and returns nil. Cancelling
// ctx abandons retries (counting the records as failed) and returns ctx's
// error: it is the hard deadline of a shutdown, not the signal to start one.
func (w *Writer) Run(ctx context.Context, in <-chan postqueue.Post) error {
	batches := make(chan batch)
	var wg sync.WaitGroup
	for i := 0; i < w.cfg.InFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				w.send(ctx, b.entries)
			}
		}()
	}

	cur := batch{}
	timer := time.NewTimer(w.cfg.FlushInterval)
	timer.Stop()
	flush := func() bool {
		timer.Stop()
		if len(cur.entries) == 0 {
			return true
		}
		select {
		case batches <- cur:
			cur = batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer func() {
		close(batches)
		wg.Wait()
	}()
	for {
		select {
		case p, ok := <-in:
			if !ok {
				if !flush() {
					w.m.Failed.Add(float64(len(cur.entries)))
					return ctx.Err()
				}
				return nil
			}
			size := len(p.Data) + len(p.Key)
			if size > MaxRecordBytes {
				w.m.Failed.Inc()
				w.log.Error("record larger than Kinesis allows: skipped", "bytes", size)
				continue
			}
			if len(cur.entries) > 0 && (len(cur.entries) >= w.cfg.BatchSize || cur.bytes+size > MaxBatchBytes) {
				if !flush() {
					return ctx.Err()
				}
			}
			if len(cur.entries) == 0 {
				cur.entries = make([]types.PutRecordsRequestEntry, 0, w.cfg.BatchSize)
				timer.Reset(w.cfg.FlushInterval)
			}
			cur.entries = append(cur.entries, types.PutRecordsRequestEntry{Data: p.Data, PartitionKey: aws.String(p.Key)})
			cur.bytes += size
			if len(cur.entries) >= w.cfg.BatchSize {
				if !flush() {
					return ctx.Err()
				}
			}
		case <-timer.C:
			if !flush() {
				return ctx.Err()
			}
		case <-ctx.Done():
			w.m.Failed.Add(float64(len(cur.entries)))
			return ctx.Err()
		}
	}
}

// send writes entries, retrying failed ones, until all are written, given
// up on, or ctx ends.
func (w *Writer) send(ctx context.Context, entries []types.PutRecordsRequestEntry) {
	attempts := make([]int, len(entries)) // non-throttle failures per entry
	for try := 0; len(entries) > 0; try++ {
		if try > 0 {
			if !w.sleep(ctx, try) {
				w.m.Failed.Add(float64(len(entries)))
				w.log.Error("shutdown deadline: records not written", "records", len(entries))
				return
			}
		}
		w.m.Batches.Inc()
		out, err := w.api.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(w.cfg.Stream), Records: entries})
		if err != nil {
			if ctx.Err() != nil {
				continue // the sleep above reports it
			}
			// The SDK has already retried the request; the stream may not
			// exist yet or the network is down. Keep the records and wait.
			w.log.Warn("PutRecords failed; retrying the batch", "records", len(entries), "error", err.Error())
			continue
		}
		if out.FailedRecordCount == nil || *out.FailedRecordCount == 0 {
			w.m.Written.Add(float64(len(entries)))
			return
		}
		if len(out.Records) != len(entries) {
			w.log.Warn("PutRecords answered with a different number of records; retrying the batch", "sent", len(entries), "answered", len(out.Records))
			continue
		}
		var retry []types.PutRecordsRequestEntry
		var retryAttempts []int
		throttled, other := 0, 0
		var lastCode string
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				continue
			}
			code := aws.ToString(r.ErrorCode)
			if code == "ProvisionedThroughputExceededException" {
				throttled++
			} else {
				other++
				lastCode = code
				attempts[i]++
				if attempts[i] >= w.cfg.MaxAttempts {
					w.m.Failed.Inc()
					continue
				}
			}
			retry = append(retry, entries[i])
			retryAttempts = append(retryAttempts, attempts[i])
		}
		w.m.Written.Add(float64(len(entries) - throttled - other))
		w.m.Throttled.Add(float64(throttled))
		w.m.Retried.Add(float64(len(retry)))
		if other > 0 {
			w.log.Warn("PutRecords partial failure", "failed", other, "throttled", throttled, "code", lastCode)
		}
		entries, attempts = retry, retryAttempts
	}
}

// sleep waits the backoff for attempt try (exponential, full jitter); false if ctx ended.
func (w *Writer) sleep(ctx context.Context, try int) bool {
	d := w.cfg.RetryBase << min(try-1, 20)
	if d > w.cfg.RetryMax || d <= 0 {
		d = w.cfg.RetryMax
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// String describes the writer for logs.
func (w *Writer) String() string {
	return fmt.Sprintf("kinesis stream %s (batch %d, flush %s)", w.cfg.Stream, w.cfg.BatchSize, w.cfg.FlushInterval)
}
