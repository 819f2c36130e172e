package ingest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/streamdash/streamdash/internal/analytics/store"
)

// flakyKinesis is a fake for what the emulator cannot be made to do on
// demand: throttle and expire iterators. It also holds a closed parent shard
// with two children, as after a split.
type flakyKinesis struct {
	mu     sync.Mutex
	shards map[string][]string // shard -> documents
	order  []types.Shard
	calls  int
	closed map[string]bool

	parentFinished bool
	childTooEarly  bool
}

func (f *flakyKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: f.order}, nil
}

func (f *flakyKinesis) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), StreamCreationTimestamp: aws.Time(time.Unix(1.7e9, 0)),
	}}, nil
}

func (f *flakyKinesis) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	pos := 0
	if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
		n, err := strconv.Atoi(aws.ToString(in.StartingSequenceNumber))
		if err != nil {
			return nil, err
		}
		pos = n + 1
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s|%d", aws.ToString(in.ShardId), pos))}, nil
}

func (f *flakyKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch f.calls % 5 {
	case 1:
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	case 3:
		return nil, &types.ExpiredIteratorException{Message: aws.String("expired")}
	}
	id, p, _ := strings.Cut(aws.ToString(in.ShardIterator), "|")
	if id != "p" && !f.parentFinished {
		f.childTooEarly = true
	}
	pos, _ := strconv.Atoi(p)
	docs := f.shards[id]
	end := min(pos+3, len(docs))
	out := &kinesis.GetRecordsOutput{MillisBehindLatest: aws.Int64(int64(len(docs) - end))}
	now := time.Now()
	for i := pos; i < end; i++ {
		out.Records = append(out.Records, types.Record{Data: []byte(docs[i]), SequenceNumber: aws.String(strconv.Itoa(i)), ApproximateArrivalTimestamp: &now})
	}
	if end == len(docs) && f.closed[id] {
		f.parentFinished = true
		return out, nil // NextShardIterator nil: the shard is finished
	}
	out.NextShardIterator = aws.String(fmt.Sprintf("%s|%d", id, end))
	return out, nil
}

func TestReaderSurvivesThrottlingExpiryAndSplits(t *testing.T) {
	parentDocs, childDocs := 10, 7
	f := &flakyKinesis{shards: map[string][]string{}, closed: map[string]bool{"p": true}}
	var want int
	for _, id := range []string{"p", "c1", "c2"} {
		n := childDocs
		if id == "p" {
			n = parentDocs
		}
		for i := 0; i < n; i++ {
			f.shards[id] = append(f.shards[id], fmt.Sprintf(`{"_id":"%s-%d","shard":"%s"}`, id, i, id))
			want++
		}
	}
	f.order = []types.Shard{
		{ShardId: aws.String("c1"), ParentShardId: aws.String("p")},
		{ShardId: aws.String("c2"), ParentShardId: aws.String("p")},
		{ShardId: aws.String("p")},
	}
	st, err := store.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	sink, err := st.Collection(ctx, "c_reader")
	if err != nil {
		t.Fatal(err)
	}
	r := Start(ctx, Spec{Name: "test", Stream: "s", Policy: "EARLIEST", Client: f, Sink: sink, PollInterval: 5 * time.Millisecond})
	defer r.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		stats, err := sink.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stats.DocCount == int64(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("documents = %d, want %d (status %+v)", stats.DocCount, want, r.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	cps, err := sink.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cps["p"].Closed || cps["p"].Seq != strconv.Itoa(parentDocs-1) || cps["c1"].Seq != strconv.Itoa(childDocs-1) {
		t.Fatalf("checkpoints = %+v", cps)
	}
	if f.childTooEarly {
		t.Error("a child shard was read before its parent was finished")
	}
	res, err := st.Query(ctx, `SELECT count(*) AS n FROM c_reader WHERE shard = 'p'`, nil, 0)
	if err != nil || res.Rows[0]["n"] != int64(parentDocs) {
		t.Fatalf("parent documents = %v, %v", res, err)
	}
	if r.Status().State == StateInitializing {
		t.Errorf("status = %+v, want a reading state", r.Status())
	}
}

// failingKinesis cannot list its shards: the stream is gone.
type failingKinesis struct {
	flakyKinesis
	mu    sync.Mutex
	lists int
}

func (f *failingKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return nil, &types.ResourceNotFoundException{Message: aws.String("Stream s not found")}
}

func (f *failingKinesis) listed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

type countedEvents struct {
	mu     sync.Mutex
	errors []string
}

func (c *countedEvents) IngestError(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors = append(c.errors, msg)
}

func (c *countedEvents) Malformed(int) {}

// TestReaderReportsAnErrorOnce: a reader failing the same way on every
// retry tells its Events once, not once per retry.
func TestReaderReportsAnErrorOnce(t *testing.T) {
	st, err := store.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	sink, err := st.Collection(ctx, "c_failing")
	if err != nil {
		t.Fatal(err)
	}
	f := &failingKinesis{}
	ev := &countedEvents{}
	r := Start(ctx, Spec{Name: "test", Stream: "s", Policy: "EARLIEST", Client: f, Sink: sink, PollInterval: 5 * time.Millisecond, Events: ev})
	deadline := time.Now().Add(20 * time.Second)
	for f.listed() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the reader listed shards %d times, want 3 retries", f.listed())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.errors) != 1 || !strings.Contains(ev.errors[0], "not found") || r.Status().State != StateError {
		t.Fatalf("after %d failures: errors reported %q, status %+v", f.listed(), ev.errors, r.Status())
	}
}
