package analytics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/analytics/tweetfixture"
	"github.com/streamdash/streamdash/internal/panels"
)

func setupTweets(t testing.TB, rc *rs.RockClient, region, name, stream, policy string, extra ...option.CollectionOption) {
	t.Helper()
	ctx := context.Background()
	if _, err := rc.GetIntegration(ctx, "kinesis-test"); err != nil {
		if _, err := rc.CreateKinesisIntegration(ctx, "kinesis-test", option.AWSKeys("test", "test")); err != nil {
			t.Fatal(err)
		}
	}
	opts := append([]option.CollectionOption{
		option.WithEventTimeInfo("timestamp_ms", "UTC", option.EventTimeInfoFormat("milliseconds_since_epoch")),
		kinesisSource("kinesis-test", stream, region, policy),
	}, extra...)
	if _, err := rc.CreateCollection(ctx, "commons", name, opts...); err != nil {
		t.Fatal(err)
	}
}

func tweetData(ts []tweetfixture.Tweet) [][]byte {
	out := make([][]byte, len(ts))
	for i, tw := range ts {
		out[i] = tw.JSON()
	}
	return out
}

func queryRows(t *testing.T, rc *rs.RockClient, sql string, opts ...option.QueryOption) []map[string]any {
	t.Helper()
	res, err := rc.Query(context.Background(), sql, opts...)
	if err != nil {
		t.Fatalf("query %s: %v", sql, err)
	}
	return res.Results
}

func checkCounts(t *testing.T, name string, rows []map[string]any, key, count string, want []tweetfixture.Count) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the test data gives no expected rows", name)
	}
	if len(rows) != len(want) {
		t.Fatalf("%s: rows = %v, want %v", name, rows, want)
	}
	for i, w := range want {
		if rows[i][key] != w.Key || rows[i][count] != float64(w.Count) {
			t.Errorf("%s: row %d = %v, want %v", name, i, rows[i], w)
		}
	}
}

// TestTweetsFromKinesis is the whole path: a stream, an integration, a
// collection, canonical tweets put into Kinesis, and the dashboard's panel
// queries through the API compared with counts computed here from the input.
func TestTweetsFromKinesis(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{})
	createStream(t, e, "tweets-e2e", 2)
	setupTweets(t, ts.rc, e.Region, "demo-tweets", "tweets-e2e", "EARLIEST")

	// Before the first document the panels answer with no rows, not errors.
	empty, err := ts.rc.Query(context.Background(), panels.For("top_hashtags", `"commons"."demo-tweets"`),
		option.WithParameter("since", "timestamp", time.Now().UTC().Format(time.RFC3339Nano)), option.WithParameter("limit", "int", "8"))
	if err != nil || len(empty.Results) != 0 {
		t.Fatalf("panel on an empty collection = %+v, %v; want no rows", empty, err)
	}
	for _, name := range []string{"live_tweets", "influencers", "count"} {
		res, err := ts.rc.Query(context.Background(), panels.For(name, `"commons"."demo-tweets"`),
			option.WithParameter("since", "timestamp", time.Now().UTC().Format(time.RFC3339Nano)),
			option.WithParameter("limit", "int", "5"), option.WithParameter("hashtag", "string", "x"))
		if err != nil {
			t.Fatalf("%s on an empty collection: %v", name, err)
		}
		if name == "count" && (len(res.Results) != 1 || res.Results[0]["tweets"] != 0.0) {
			t.Fatalf("count on an empty collection = %v, want 0", res.Results)
		}
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	tweets := tweetfixture.Generate(7, "e2e", 1200, now.Add(-90*time.Minute), now)
	data := tweetData(tweets)
	malformed := [][]byte{[]byte("not json"), []byte(`{"truncated":`), []byte(`[1,2,3]`)}
	putRecords(t, e.Client(), "tweets-e2e", append(data, malformed...))
	waitDocs(t, ts.rc, "commons", "demo-tweets", int64(len(tweets)), 60*time.Second)

	ctx := context.Background()
	c, err := ts.rc.GetCollection(ctx, "commons", "demo-tweets")
	if err != nil {
		t.Fatal(err)
	}
	if c.GetStatus() != "READY" {
		t.Errorf("status = %s, want READY", c.GetStatus())
	}
	waitFor(t, 10*time.Second, "malformed records counted", func() (bool, error) {
		c, err = ts.rc.GetCollection(ctx, "commons", "demo-tweets")
		if err != nil {
			return false, err
		}
		src := c.Sources[0].Status
		return src.GetTotalProcessedItems() == int64(len(data)+len(malformed)) &&
			strings.Contains(src.GetMessage(), "3 malformed records skipped"), fmt.Errorf("source status %+v", src)
	})
	if c.Stats.GetBytesInserted() <= 0 || c.Stats.GetLastUpdatedMs() <= 0 || c.Sources[0].Status.GetLastProcessedAt() == "" {
		t.Errorf("stats = %+v, source = %+v: want bytes, last update and last processed time", c.Stats, c.Sources[0].Status)
	}

	metrics := getPlain(t, ts.url+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`analytics_documents_ingested_total{collection="commons.demo-tweets"} %d`, len(tweets)),
		`analytics_malformed_records_total{collection="commons.demo-tweets"} 3`,
		`analytics_ingest_lag_seconds{collection="commons.demo-tweets"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	ref := `"commons"."demo-tweets"`
	since := now.Add(-time.Hour)
	sinceP := option.WithParameter("since", "timestamp", since.Format(time.RFC3339Nano))
	limit := func(n int) option.QueryOption { return option.WithParameter("limit", "int", fmt.Sprint(n)) }
	tag := func(h string) option.QueryOption { return option.WithParameter("hashtag", "string", h) }

	checkCounts(t, "top hashtags", queryRows(t, ts.rc, panels.For("top_hashtags", ref), sinceP, limit(8)),
		"hashtag", "tweet_count", tweetfixture.TopHashtags(tweets, since, 8))
	checkCounts(t, "related hashtags", queryRows(t, ts.rc, panels.For("related_hashtags", ref), sinceP, limit(8), tag("Music")),
		"hashtag", "tweet_count", tweetfixture.RelatedHashtags(tweets, since, "music", 8))
	checkCounts(t, "influencers", queryRows(t, ts.rc, panels.For("influencers", ref), sinceP, limit(5), tag("GOLANG")),
		"screen_name", "followers_count", tweetfixture.Influencers(tweets, since, "golang", 5))

	live := queryRows(t, ts.rc, panels.For("live_tweets", ref), sinceP, limit(7))
	wantLive := tweetfixture.Newest(tweets, since, "", 7)
	for i, id := range wantLive {
		if i >= len(live) || live[i]["id_str"] != id || live[i]["screen_name"] == nil || live[i]["text"] == nil {
			t.Fatalf("live tweets = %v, want ids %v", live, wantLive)
		}
	}
	liveTag := queryRows(t, ts.rc, panels.For("hashtag_live_tweets", ref), sinceP, limit(7), tag("news"))
	wantLiveTag := tweetfixture.Newest(tweets, since, "news", 7)
	if len(liveTag) != len(wantLiveTag) || liveTag[0]["id_str"] != wantLiveTag[0] {
		t.Fatalf("hashtag live tweets = %v, want %v", liveTag, wantLiveTag)
	}

	count := queryRows(t, ts.rc, panels.For("count", ref), sinceP)
	if count[0]["tweets"] != float64(tweetfixture.CountSince(tweets, since, "")) {
		t.Errorf("count = %v, want %d", count, tweetfixture.CountSince(tweets, since, ""))
	}
	hcount := queryRows(t, ts.rc, panels.For("hashtag_count", ref), sinceP, tag("DuckDB"))
	if hcount[0]["tweets"] != float64(tweetfixture.CountSince(tweets, since, "duckdb")) {
		t.Errorf("hashtag count = %v, want %d", hcount, tweetfixture.CountSince(tweets, since, "duckdb"))
	}
	recent := now.Add(-40 * time.Second)
	buckets := queryRows(t, ts.rc, panels.For("incoming_tweets", ref), option.WithParameter("since", "timestamp", recent.Format(time.RFC3339Nano)))
	want := tweetfixture.Buckets(tweets, recent)
	if len(buckets) != len(want) {
		t.Fatalf("buckets = %d, want %d", len(buckets), len(want))
	}
	for _, b := range buckets {
		bt, err := time.Parse(time.RFC3339Nano, b["bucket"].(string))
		if err != nil || b["tweets"] != float64(want[bt]) {
			t.Errorf("bucket %v = %v, want %d", b["bucket"], b["tweets"], want[bt])
		}
	}
	// A hashtag that is an injection attempt is only a hashtag.
	inj := queryRows(t, ts.rc, panels.For("hashtag_count", ref), sinceP, tag("x' OR '1'='1"))
	if inj[0]["tweets"] != float64(tweetfixture.CountSince(tweets, since, "x' OR '1'='1")) {
		t.Errorf("injection hashtag count = %v", inj)
	}
	// A field no document has brought yet reads NULL, as in Rockset.
	if r := queryRows(t, ts.rc, `SELECT count(*) AS n, max(t.not_yet_seen) AS m FROM "demo-tweets" AS t WHERE t.not_yet_seen IS NULL`); r[0]["n"] != float64(len(tweets)) || r[0]["m"] != nil {
		t.Errorf("unknown field = %v, want every tweet and a NULL", r)
	}
	// Bare and unquoted collection names reach the same collection.
	for _, q := range []string{`SELECT count(*) FROM "demo-tweets"`, `SELECT count(*) FROM commons."demo-tweets"`} {
		if r := queryRows(t, ts.rc, q); r[0]["?count"] != float64(len(tweets)) {
			t.Errorf("%s = %v", q, r)
		}
	}

	if m := getPlain(t, ts.url+"/metrics"); !strings.Contains(m, "analytics_query_duration_seconds_count") {
		t.Error("/metrics lacks the query latency histogram")
	}

	// Deleting the collection stops ingest and frees the name.
	if err := ts.rc.DeleteCollection(ctx, "commons", "demo-tweets"); err != nil {
		t.Fatal(err)
	}
	if err := ts.rc.DeleteIntegration(ctx, "kinesis-test"); err != nil {
		t.Fatalf("integration without collections: %v", err)
	}
}

// TestReshardDuringIngest splits shards while tweets flow: nothing lost,
// nothing twice.
func TestReshardDuringIngest(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{})
	createStream(t, e, "tweets-reshard", 1)
	setupTweets(t, ts.rc, e.Region, "reshard", "tweets-reshard", "LATEST")

	now := time.Now().UTC().Truncate(time.Millisecond)
	tweets := tweetfixture.Generate(11, "rs", 2000, now.Add(-10*time.Minute), now)
	data := tweetData(tweets)
	kc := e.Client()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(data); i += 250 {
			putRecords(t, kc, "tweets-reshard", data[i:min(i+250, len(data))])
		}
	}()
	waitFor(t, 30*time.Second, "first documents", func() (bool, error) { return docCount(t, ts.rc, "commons", "reshard") > 0, nil })
	if _, err := kc.UpdateShardCount(context.Background(), &kinesis.UpdateShardCountInput{
		StreamName: aws.String("tweets-reshard"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling,
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitDocs(t, ts.rc, "commons", "reshard", int64(len(tweets)), 60*time.Second)
	r := queryRows(t, ts.rc, `SELECT count(*) AS n, count(DISTINCT id_str) AS ids FROM reshard`)
	if r[0]["n"] != float64(len(tweets)) || r[0]["ids"] != float64(len(tweets)) {
		t.Fatalf("after resharding %v, want %d distinct tweets", r, len(tweets))
	}
	shards, err := kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("tweets-reshard")})
	if err != nil || len(shards.Shards) < 3 {
		t.Fatalf("shards = %d, %v: want the parent and its children", len(shards.Shards), err)
	}
}

// TestKillAndRestartMidIngest SIGKILLs the server process while it ingests
// and starts it again on the same data: every tweet once.
func TestKillAndRestartMidIngest(t *testing.T) {
	e := emulator(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	first := startChild(t, addr, dataDir)
	rc := client(t, "http://"+addr, testKey)
	createStream(t, e, "tweets-kill", 2)
	setupTweets(t, rc, e.Region, "kill", "tweets-kill", "LATEST")

	now := time.Now().UTC().Truncate(time.Millisecond)
	tweets := tweetfixture.Generate(13, "k", 3000, now.Add(-10*time.Minute), now)
	data := tweetData(tweets)
	kc := e.Client()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(data); i += 250 {
			putRecords(t, kc, "tweets-kill", data[i:min(i+250, len(data))])
		}
	}()
	var before int64
	waitFor(t, 30*time.Second, "ingest under way", func() (bool, error) {
		before = docCount(t, rc, "commons", "kill")
		return before > 0, nil
	})
	first.kill()
	startChild(t, addr, dataDir)
	wg.Wait()
	waitDocs(t, rc, "commons", "kill", int64(len(tweets)), 60*time.Second)
	r := queryRows(t, rc, `SELECT count(*) AS n, count(DISTINCT id_str) AS ids FROM kill`)
	if r[0]["n"] != float64(len(tweets)) || r[0]["ids"] != float64(len(tweets)) {
		t.Fatalf("after kill at %d documents: %v, want %d distinct tweets", before, r, len(tweets))
	}
	t.Logf("killed at %d of %d documents", before, len(tweets))
}

// TestRetentionAndSchemaThroughKinesis: old documents are purged; new fields
// and conflicting types arrive through the stream and stay queryable.
func TestRetentionAndSchemaThroughKinesis(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{PurgeInterval: 100 * time.Millisecond})
	createStream(t, e, "tweets-ret", 1)
	setupTweets(t, ts.rc, e.Region, "ret", "tweets-ret", "EARLIEST", option.WithCollectionRetentionSeconds(3600))

	now := time.Now().UTC().Truncate(time.Millisecond)
	old := tweetfixture.Generate(17, "old", 100, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	fresh := tweetfixture.Generate(19, "new", 100, now.Add(-10*time.Minute), now)
	data := append(tweetData(old), tweetData(fresh)...)
	data = append(data,
		[]byte(fmt.Sprintf(`{"id_str":"geo-1","timestamp_ms":"%d","geo":{"lat":52.5,"lon":13.4},"user":{"screen_name":"mapper","followers_count":"many"}}`, now.UnixMilli())),
	)
	putRecords(t, e.Client(), "tweets-ret", data)
	waitDocs(t, ts.rc, "commons", "ret", int64(len(fresh)+1), 60*time.Second)
	c, err := ts.rc.GetCollection(context.Background(), "commons", "ret")
	if err != nil || c.Stats.GetPurgedDocCount() != int64(len(old)) {
		t.Fatalf("purged = %d, %v; want %d", c.Stats.GetPurgedDocCount(), err, len(old))
	}
	r := queryRows(t, ts.rc, `SELECT t.geo.lat AS lat, CAST(t.user.followers_count AS VARCHAR) AS f FROM ret AS t WHERE t.id_str = 'geo-1'`)
	if len(r) != 1 || r[0]["lat"] != 52.5 || r[0]["f"] != `"many"` {
		t.Fatalf("new field and conflicting type = %v", r)
	}
	r = queryRows(t, ts.rc, `SELECT count(*) AS n FROM ret AS t WHERE t.geo IS NULL`)
	if r[0]["n"] != float64(len(fresh)) {
		t.Fatalf("older documents read NULL for the new field: %v", r)
	}
	r = queryRows(t, ts.rc, `SELECT CAST(t.user.followers_count AS VARCHAR) AS f FROM ret AS t WHERE t.id_str = 'new-0'`)
	if len(r) != 1 || r[0]["f"] != fmt.Sprint(fresh[0].User.FollowersCount) {
		t.Fatalf("an integer kept through the type conflict: %v, want %d", r, fresh[0].User.FollowersCount)
	}
}

// getPlain GETs url with the test API key (which /metrics needs).
func getPlain(t *testing.T, url string) string {
	t.Helper()
	_, b := doAuthed(t, http.MethodGet, url, nil)
	return string(b)
}

// doAuthed sends one request with the test API key and returns the status
// code and the whole body.
func doAuthed(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "ApiKey "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestQueriesDoNotBlockIngest: documents keep arriving while a long query runs.
func TestQueriesDoNotBlockIngest(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{})
	createStream(t, e, "tweets-busy", 1)
	setupTweets(t, ts.rc, e.Region, "busy", "tweets-busy", "EARLIEST")
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := tweetfixture.Generate(23, "a", 50, now.Add(-time.Minute), now)
	putRecords(t, e.Client(), "tweets-busy", tweetData(first))
	waitDocs(t, ts.rc, "commons", "busy", 50, 30*time.Second)

	done := make(chan error, 1)
	qctx, cancelQuery := context.WithCancel(context.Background())
	defer func() {
		cancelQuery() // the server interrupts DuckDB when the client goes away
		<-done
	}()
	go func() {
		_, err := ts.rc.Query(qctx, `SELECT count(*) FROM busy AS t, range(100000000000) AS r(x) WHERE r.x % 7 = t.user.followers_count`,
			option.WithTimeout(20*time.Second))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the query start scanning
	second := tweetfixture.Generate(29, "b", 50, now.Add(-time.Minute), now)
	start := time.Now()
	putRecords(t, e.Client(), "tweets-busy", tweetData(second))
	waitDocs(t, ts.rc, "commons", "busy", 100, 15*time.Second)
	t.Logf("50 documents put and queryable in %s while the query ran", time.Since(start).Round(time.Millisecond))
	select {
	case err := <-done:
		t.Fatalf("the long query ended (%v) before ingest was checked; make it longer", err)
	default:
	}
}
