package kinesiswriter

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamdash/streamdash/internal/producer/postqueue"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

func posts(seed int64, n int) []postqueue.Post {
	g := tweet.NewGenerator(seed)
	out := make([]postqueue.Post, n)
	for i := range out {
		d := g.Next(time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond))
		b, err := d.Marshal()
		if err != nil {
			panic(err)
		}
		out[i] = postqueue.Post{Key: postqueue.PartitionKey(d.IDStr), Data: b}
	}
	return out
}

func sortedStrings(bs [][]byte) []string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = string(b)
	}
	sort.Strings(s)
	return s
}

func checkStream(t *testing.T, c *kinesis.Client, stream string, want []postqueue.Post) {
	t.Helper()
	got, err := ReadAll(context.Background(), c, stream)
	if err != nil {
		t.Fatal(err)
	}
	wantData := make([][]byte, len(want))
	for i, p := range want {
		wantData[i] = p.Data
	}
	g, w := sortedStrings(got), sortedStrings(wantData)
	if len(g) != len(w) {
		t.Fatalf("stream holds %d records, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("record %d differs:\n%s\nwant\n%s", i, g[i], w[i])
		}
	}
}

// throttlingClient forwards to the real emulator but, for the first calls,
// answers part of each batch with ProvisionedThroughputExceededException
// without sending it: a partial failure the emulator cannot be made to give.
type throttlingClient struct {
	real       PutRecordsAPI
	throttleN  atomic.Int32 // calls left to throttle
	calls      atomic.Int32
	mu         sync.Mutex
	batchSizes []int
}

func (c *throttlingClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opt ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.batchSizes = append(c.batchSizes, len(in.Records))
	c.mu.Unlock()
	if c.throttleN.Add(-1) < 0 {
		return c.real.PutRecords(ctx, in, opt...)
	}
	var pass []types.PutRecordsRequestEntry
	for i, r := range in.Records {
		if i%3 != 0 {
			pass = append(pass, r)
		}
	}
	realOut, err := c.real.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: in.StreamName, Records: pass}, opt...)
	if err != nil {
		return nil, err
	}
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	j := 0
	for i := range in.Records {
		if i%3 == 0 {
			out.Records = append(out.Records, types.PutRecordsResultEntry{
				ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("Rate exceeded for shard"),
			})
			*out.FailedRecordCount++
			continue
		}
		out.Records = append(out.Records, realOut.Records[j])
		j++
	}
	return out, nil
}

func TestWriterToEmulator(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	ctx := context.Background()

	tests := []struct {
		name      string
		n         int
		cfg       Config
		throttleN int32
		// wantMaxBatch bounds the records of one PutRecords call.
		wantMaxBatch int
	}{
		{name: "full batches and a partial flushed at close", n: 1100, cfg: Config{BatchSize: 500}, wantMaxBatch: 500},
		{name: "small batches", n: 230, cfg: Config{BatchSize: 50, InFlight: 3}, wantMaxBatch: 50},
		{name: "partial throttling retries only the failed entries", n: 400, cfg: Config{BatchSize: 100, RetryBase: time.Millisecond, RetryMax: 10 * time.Millisecond}, throttleN: 3, wantMaxBatch: 100},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("writer-%d", i)
			if err := CreateStream(ctx, c, stream, 2); err != nil {
				t.Fatal(err)
			}
			api := &throttlingClient{real: c}
			api.throttleN.Store(tc.throttleN)
			m := postqueue.NewMetrics(nil)
			tc.cfg.Stream = stream
			w, err := New(api, tc.cfg, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			in := make(chan postqueue.Post, 16)
			ps := posts(int64(i), tc.n)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, in) }()
			for _, p := range ps {
				in <- p
			}
			close(in)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			checkStream(t, c, stream, ps)
			if got := counterValue(m.Written); got != float64(tc.n) {
				t.Errorf("written metric %v, want %d", got, tc.n)
			}
			if got := counterValue(m.Failed); got != 0 {
				t.Errorf("failed metric %v", got)
			}
			wantThrottled := 0.0
			if tc.throttleN > 0 {
				wantThrottled = counterValue(m.Retried)
				if wantThrottled == 0 {
					t.Error("no retries counted for throttled records")
				}
			}
			if got := counterValue(m.Throttled); got != wantThrottled {
				t.Errorf("throttled metric %v, want %v", got, wantThrottled)
			}
			api.mu.Lock()
			for _, s := range api.batchSizes {
				if s > tc.wantMaxBatch {
					t.Errorf("a PutRecords call carried %d records, limit %d", s, tc.wantMaxBatch)
				}
			}
			api.mu.Unlock()
		})
	}
}

// recordingClient records calls without a server, for limits the emulator
// would reject before the writer's own checks could be seen.
type recordingClient struct {
	mu    sync.Mutex
	sizes [][2]int // records, bytes
}

func (c *recordingClient) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	b := 0
	for _, r := range in.Records {
		b += len(r.Data) + len(aws.ToString(r.PartitionKey))
	}
	c.mu.Lock()
	c.sizes = append(c.sizes, [2]int{len(in.Records), b})
	c.mu.Unlock()
	return &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0), Records: make([]types.PutRecordsResultEntry, len(in.Records))}, nil
}

func TestWriterBatchLimits(t *testing.T) {
	big := make([]byte, 300<<10) // 300 KiB: 17 fit in 5 MiB
	tests := []struct {
		name        string
		posts       []postqueue.Post
		wantBatches [][2]int
		wantFailed  float64
	}{
		{
			name:        "5 MiB closes a batch before 500 records",
			posts:       repeatPost(postqueue.Post{Key: "k", Data: big}, 20),
			wantBatches: [][2]int{{17, 17 * (300<<10 + 1)}, {3, 3 * (300<<10 + 1)}},
		},
		{
			name:        "a record over 1 MiB is counted as failed and skipped",
			posts:       []postqueue.Post{{Key: "a", Data: []byte("x")}, {Key: "b", Data: make([]byte, 1<<20)}, {Key: "c", Data: []byte("y")}},
			wantBatches: [][2]int{{2, 4}},
			wantFailed:  1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &recordingClient{}
			m := postqueue.NewMetrics(nil)
			w, err := New(api, Config{Stream: "s", InFlight: 1, FlushInterval: time.Hour}, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			in := make(chan postqueue.Post, len(tc.posts))
			for _, p := range tc.posts {
				in <- p
			}
			close(in)
			if err := w.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(api.sizes) != fmt.Sprint(tc.wantBatches) {
				t.Errorf("batches %v, want %v", api.sizes, tc.wantBatches)
			}
			if got := counterValue(m.Failed); got != tc.wantFailed {
				t.Errorf("failed %v, want %v", got, tc.wantFailed)
			}
		})
	}
}

func repeatPost(p postqueue.Post, n int) []postqueue.Post {
	out := make([]postqueue.Post, n)
	for i := range out {
		out[i] = p
	}
	return out
}

func TestWriterFlushesOnInterval(t *testing.T) {
	api := &recordingClient{}
	w, err := New(api, Config{Stream: "s", FlushInterval: 20 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan postqueue.Post)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), in) }()
	in <- postqueue.Post{Key: "a", Data: []byte("1")}
	in <- postqueue.Post{Key: "b", Data: []byte("2")}
	deadline := time.Now().Add(5 * time.Second)
	for {
		api.mu.Lock()
		n := len(api.sizes)
		api.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("partial batch was not flushed by the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(api.sizes) != "[[2 4]]" {
		t.Errorf("batches %v", api.sizes)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
