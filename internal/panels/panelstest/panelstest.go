// Package panelstest puts a known set of tweets through the real pipeline
// (the Kinesis emulator into the project's analytics server) for tests of the
// panels, the dashboard and the LiveDashboard controller, and computes the
// panels' answers from the same tweets independently of any SQL.
package panelstest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

// Fixture is a running analytics server holding one collection fed from a
// Kinesis stream.
type Fixture struct {
	Endpoint   string // http://127.0.0.1:port of the analytics server
	APIKey     string
	KeyFile    string // a file holding APIKey, as a mounted Secret would
	Workspace  string
	Collection string
	Client     *rs.RockClient
	// Queries counts the query requests the analytics server received.
	Queries *atomic.Int64
	Kinesis *kinesislocal.Emulator
	Stream  string
}

// countingHandler counts POST .../queries requests on their way in.
type countingHandler struct {
	next http.Handler
	n    *atomic.Int64
}

func (c countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/queries") {
		c.n.Add(1)
	}
	c.next.ServeHTTP(w, r)
}

// Start runs the Kinesis emulator and an analytics server with an empty
// collection that reads a new stream from its start. The server is given the
// emulator's endpoint rather than the process environment, so tests using
// Start can run in parallel, each with its own emulator.
func Start(t testing.TB, collection string) *Fixture {
	t.Helper()
	e := kinesislocal.Start(t)
	key := "sd-test-" + fmt.Sprint(time.Now().UnixNano())
	srv, err := analytics.New(analytics.Config{Listen: "127.0.0.1:0", APIKeys: []string{key}, PollInterval: 50 * time.Millisecond,
		KinesisEndpoint: e.Endpoint})
	if err != nil {
		t.Fatalf("analytics: %v", err)
	}
	if _, err := srv.Listen(); err != nil {
		t.Fatalf("analytics listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// Queries are counted in front of a second listener with the same handler,
	// so the count covers every client that uses Endpoint.
	queries := &atomic.Int64{}
	counted := &http.Server{Handler: countingHandler{next: srv.Handler(), n: queries}, ReadHeaderTimeout: 5 * time.Second}
	ln, err := listenLocal()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = counted.Serve(ln) }()
	t.Cleanup(func() { _ = counted.Close() })

	f := &Fixture{
		Endpoint: "http://" + ln.Addr().String(), APIKey: key, Workspace: "commons", Collection: collection,
		Queries: queries, Kinesis: e, Stream: "panelstest-" + collection,
	}
	f.KeyFile = filepath.Join(t.TempDir(), "apikey")
	if err := os.WriteFile(f.KeyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Client, err = rockset.NewClient(f.Endpoint, key, nil)
	if err != nil {
		t.Fatal(err)
	}

	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ccancel()
	kc := e.Client()
	if _, err := kc.CreateStream(cctx, &kinesis.CreateStreamInput{StreamName: aws.String(f.Stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	waitFor(t, cctx, "stream active", func() (bool, error) {
		out, err := kc.DescribeStreamSummary(cctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(f.Stream)})
		if err != nil {
			return false, nil
		}
		return out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive, nil
	})
	integ := "panelstest-" + collection
	if _, err := f.Client.CreateKinesisIntegration(cctx, integ, option.AWSKeys("test", "test")); err != nil {
		t.Fatalf("create integration: %v", err)
	}
	req := openapi.CreateCollectionRequest{
		Name: &collection,
		Sources: []openapi.Source{{
			IntegrationName: &integ,
			Kinesis: &openapi.SourceKinesis{
				StreamName: f.Stream, AwsRegion: aws.String(e.Region), OffsetResetPolicy: aws.String("EARLIEST"),
			},
		}},
		EventTimeInfo: &openapi.EventTimeInfo{Field: "timestamp_ms", Format: aws.String("milliseconds_since_epoch")},
	}
	if _, err := f.Client.CreateCollection(cctx, f.Workspace, collection, option.WithCollectionRequest(req)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	return f
}

// Put writes docs to the stream and waits until the collection holds want
// documents in total.
func (f *Fixture) Put(t testing.TB, docs []tweet.Document, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := f.PutAsync(ctx, docs); err != nil {
		t.Fatalf("put records: %v", err)
	}
	waitFor(t, ctx, fmt.Sprintf("%d documents ingested", want), func() (bool, error) {
		resp, err := f.Client.Query(ctx, fmt.Sprintf(`SELECT COUNT(*) AS n FROM "%s"."%s"`, f.Workspace, f.Collection))
		if err != nil || len(resp.Results) != 1 {
			return false, nil
		}
		n, _ := resp.Results[0]["n"].(float64)
		return int(n) == want, nil
	})
}

// PutAsync writes docs to the stream without waiting for ingestion.
func (f *Fixture) PutAsync(ctx context.Context, docs []tweet.Document) error {
	kc := f.Kinesis.Client()
	for start := 0; start < len(docs); start += 500 {
		batch := docs[start:min(start+500, len(docs))]
		entries := make([]ktypes.PutRecordsRequestEntry, len(batch))
		for i, d := range batch {
			b, err := d.Marshal()
			if err != nil {
				return err
			}
			entries[i] = ktypes.PutRecordsRequestEntry{Data: b, PartitionKey: aws.String(d.IDStr)}
		}
		for len(entries) > 0 {
			out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(f.Stream), Records: entries})
			if err != nil {
				return err
			}
			var retry []ktypes.PutRecordsRequestEntry
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					retry = append(retry, entries[i])
				}
			}
			entries = retry
		}
	}
	return nil
}

func waitFor(t testing.TB, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Spread returns n generated documents (seed) with times spread evenly over
// [from, to), oldest first.
func Spread(g *tweet.Generator, n int, from, to time.Time) []tweet.Document {
	out := make([]tweet.Document, n)
	step := to.Sub(from) / time.Duration(max(n, 1))
	for i := range out {
		out[i] = g.Next(from.Add(time.Duration(i) * step))
	}
	return out
}

// HashtagCount is an expected (hashtag, tweets) row.
type HashtagCount struct {
	Hashtag string
	Tweets  int64
}

// Influencer is an expected (screen name, followers) row.
type Influencer struct {
	ScreenName string
	Followers  int64
}

func inWindow(d tweet.Document, since time.Time) bool {
	t, err := d.Time()
	return err == nil && !t.Before(since)
}

func tagsOf(d tweet.Document) map[string]bool {
	m := map[string]bool{}
	for _, h := range d.Entities.Hashtags {
		m[strings.ToLower(h.Text)] = true
	}
	return m
}

// Count is the number of docs since since (carrying hashtag, if not "").
func Count(docs []tweet.Document, hashtag string, since time.Time) int64 {
	var n int64
	for _, d := range docs {
		if inWindow(d, since) && (hashtag == "" || tagsOf(d)[strings.ToLower(hashtag)]) {
			n++
		}
	}
	return n
}

// PerMinute is the expected tweetsPerMinute at now: the docs (carrying
// hashtag, if not "") in the last span, per minute of the part of the span
// that has docs (from the oldest of them, at least a minute), rounded.
func PerMinute(docs []tweet.Document, hashtag string, span time.Duration, now time.Time) int64 {
	since := now.Add(-span)
	var n int64
	var oldest time.Time
	for _, d := range docs {
		if !inWindow(d, since) || (hashtag != "" && !tagsOf(d)[strings.ToLower(hashtag)]) {
			continue
		}
		n++
		if t, _ := d.Time(); oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	covered := span
	if !oldest.IsZero() {
		covered = min(span, max(now.Sub(oldest), time.Minute))
	}
	return int64(math.Round(float64(n) / covered.Minutes()))
}

// TopHashtags is the hashtags in most docs since since, ties by name.
func TopHashtags(docs []tweet.Document, since time.Time, limit int) []HashtagCount {
	counts := map[string]int64{}
	for _, d := range docs {
		if !inWindow(d, since) {
			continue
		}
		for h := range tagsOf(d) {
			counts[h]++
		}
	}
	return top(counts, limit)
}

// RelatedHashtags is the hashtags in most docs carrying hashtag since since.
func RelatedHashtags(docs []tweet.Document, hashtag string, since time.Time, limit int) []HashtagCount {
	hashtag = strings.ToLower(hashtag)
	counts := map[string]int64{}
	for _, d := range docs {
		tags := tagsOf(d)
		if !inWindow(d, since) || !tags[hashtag] {
			continue
		}
		for h := range tags {
			if h != hashtag {
				counts[h]++
			}
		}
	}
	return top(counts, limit)
}

// Influencers is the authors of docs carrying hashtag since since, most
// followers first (a user's largest count), ties by name.
func Influencers(docs []tweet.Document, hashtag string, since time.Time, limit int) []Influencer {
	followers := map[string]int64{}
	for _, d := range docs {
		if !inWindow(d, since) || !tagsOf(d)[strings.ToLower(hashtag)] {
			continue
		}
		if f, ok := followers[d.User.ScreenName]; !ok || d.User.FollowersCount > f {
			followers[d.User.ScreenName] = d.User.FollowersCount
		}
	}
	out := make([]Influencer, 0, len(followers))
	for n, f := range followers {
		out = append(out, Influencer{ScreenName: n, Followers: f})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Followers != out[j].Followers {
			return out[i].Followers > out[j].Followers
		}
		return out[i].ScreenName < out[j].ScreenName
	})
	return out[:min(limit, len(out))]
}

func top(counts map[string]int64, limit int) []HashtagCount {
	out := make([]HashtagCount, 0, len(counts))
	for h, n := range counts {
		out = append(out, HashtagCount{Hashtag: h, Tweets: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tweets != out[j].Tweets {
			return out[i].Tweets > out[j].Tweets
		}
		return out[i].Hashtag < out[j].Hashtag
	})
	return out[:min(limit, len(out))]
}

func listenLocal() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
