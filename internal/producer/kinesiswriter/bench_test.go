package kinesiswriter

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/streamdash/streamdash/internal/producer/postqueue"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

// benchRecords per round: about a second of the emulator's ~1,100 records/s.
const benchRecords = 1000

// BenchmarkWriterVsPlainLoop writes the same documents to the same emulator
// with a plain sequential PutRecords loop (500 per call, no retries) and
// with the Writer (batching, partial-failure retries) with one and with two
// PutRecords calls in flight. Each iteration runs one round of each; it
// reports every throughput and the writers' as multiples of the plain
// loop's (writerN_x_plain).
func BenchmarkWriterVsPlainLoop(b *testing.B) {
	e := kinesislocal.Start(b)
	c := e.Client()
	ctx := context.Background()
	ps := posts(1, benchRecords)
	for _, s := range []string{"bench-warmup", "bench-plain", "bench-writer1", "bench-writer2"} {
		if err := CreateStream(ctx, c, s, 2); err != nil {
			b.Fatal(err)
		}
	}
	m := postqueue.NewMetrics(nil)
	writerRound := func(stream string, inFlight int) {
		w, err := New(c, Config{Stream: stream, InFlight: inFlight}, m, nil)
		if err != nil {
			b.Fatal(err)
		}
		in := make(chan postqueue.Post, len(ps))
		for _, p := range ps {
			in <- p
		}
		close(in)
		if err := w.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	plainRound := func(stream string) {
		for i := 0; i < len(ps); i += MaxBatchRecords {
			end := min(i+MaxBatchRecords, len(ps))
			entries := make([]types.PutRecordsRequestEntry, 0, end-i)
			for _, p := range ps[i:end] {
				entries = append(entries, types.PutRecordsRequestEntry{Data: p.Data, PartitionKey: aws.String(p.Key)})
			}
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil {
				b.Fatal(err)
			}
			if aws.ToInt32(out.FailedRecordCount) != 0 {
				b.Fatalf("%d records failed", aws.ToInt32(out.FailedRecordCount))
			}
		}
	}
	// The emulator runs on a JIT: warm it up so neither side pays for it.
	writerRound("bench-warmup", 2)
	plainRound("bench-warmup")

	// Rounds rotate so that the shared machine's noise falls on all alike;
	// each has its own stream because the emulator slows as a stream grows.
	rounds := []struct {
		name string
		run  func()
		took time.Duration
	}{
		{name: "plain", run: func() { plainRound("bench-plain") }},
		{name: "writer1", run: func() { writerRound("bench-writer1", 1) }},
		{name: "writer2", run: func() { writerRound("bench-writer2", 2) }},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range rounds {
			r := &rounds[(i+j)%len(rounds)]
			t0 := time.Now()
			r.run()
			r.took += time.Since(t0)
		}
	}
	if f := counterValue(m.Failed); f != 0 {
		b.Fatalf("%v records failed", f)
	}
	n := float64(b.N * benchRecords)
	for _, r := range rounds {
		b.ReportMetric(n/r.took.Seconds(), r.name+"_records/s")
		if r.name != "plain" {
			b.ReportMetric(rounds[0].took.Seconds()/r.took.Seconds(), r.name+"_x_plain")
		}
	}
}
