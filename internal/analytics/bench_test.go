package analytics_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/analytics/store"
	"github.com/streamdash/streamdash/internal/analytics/tweetfixture"
	"github.com/streamdash/streamdash/internal/panels"
)

const benchDocs = 1_000_000

// loadTweets writes tweets into a collection's storage in batches, as the
// Kinesis reader would after decoding records.
func loadTweets(tb testing.TB, sc *store.Collection, tweets []tweetfixture.Tweet, batch int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	for i := 0; i < len(tweets); i += batch {
		var b store.Batch
		for j := i; j < min(i+batch, len(tweets)); j++ {
			b.Records = append(b.Records, store.Record{Data: tweets[j].JSON(), RID: "shard-0:" + strconv.Itoa(j), Arrival: now})
		}
		if _, err := sc.Write(ctx, b); err != nil {
			tb.Fatal(err)
		}
	}
}

type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l[len(l)*95/100].Microseconds())/1000, "p95-ms")
}

// plainSQL is the same panel query written directly for DuckDB: the table
// by its name, `$name` parameters, and UNNEST's element as a column alias.
func plainSQL(name string) string {
	q := panels.For(name, "plain")
	q = strings.ReplaceAll(q, "UNNEST(t.entities.hashtags) AS h", "UNNEST(t.entities.hashtags) AS u(h)")
	for _, p := range []string{"since", "limit", "hashtag"} {
		q = strings.ReplaceAll(q, ":"+p, "$"+p)
	}
	return q
}

// BenchmarkPanelQueries runs the dashboard's panel queries over 1M canonical
// tweets spread over the last 24 hours: through the HTTP API with the real
// client, and the same SQL on a plain DuckDB table holding the same rows.
func BenchmarkPanelQueries(b *testing.B) {
	var benchSrv *testServer
	var benchNow time.Time
	var tableName string
	func() {
		benchSrv = startServer(b, analytics.Config{})
		ctx := context.Background()
		if _, err := benchSrv.rc.CreateCollection(ctx, "commons", "bench",
			option.WithEventTimeInfo("timestamp_ms", "UTC", option.EventTimeInfoFormat("milliseconds_since_epoch"))); err != nil {
			b.Fatal(err)
		}
		sc, err := benchSrv.srv.CollectionStorage("commons", "bench")
		if err != nil {
			b.Fatal(err)
		}
		benchNow = time.Now().UTC()
		start := time.Now()
		tweets := tweetfixture.Generate(42, "b", benchDocs, benchNow.Add(-24*time.Hour), benchNow)
		loadTweets(b, sc, tweets, 20000)
		tableName = sc.Table
		if _, err := benchSrv.srv.Store().DB().Exec(`CREATE TABLE plain AS SELECT * FROM ` + sc.Table); err != nil {
			b.Fatal(err)
		}
		b.Logf("setup: %d tweets generated and loaded in %s", benchDocs, time.Since(start).Round(time.Millisecond))
	}()
	rc := benchSrv.rc
	db := benchSrv.srv.Store().DB()
	ref := `"commons"."bench"`
	hour := benchNow.Add(-time.Hour)
	cases := []struct {
		panel string
		since time.Time
		limit int
		tag   string
	}{
		{"top_hashtags", hour, 8, ""},
		{"related_hashtags", hour, 8, "music"},
		{"influencers", hour, 5, "golang"},
		{"live_tweets", benchNow.Add(-time.Minute), 7, ""},
		{"incoming_tweets", benchNow.Add(-40 * time.Second), 0, ""},
		{"count", benchNow.Add(-time.Minute), 0, ""},
		{"hashtag_live_tweets", hour, 7, "news"},
	}
	for _, tc := range cases {
		sinceS := tc.since.Format(time.RFC3339Nano)
		b.Run(tc.panel+"/api", func(b *testing.B) {
			opts := []option.QueryOption{option.WithParameter("since", "timestamp", sinceS)}
			if strings.Contains(panels.Queries[tc.panel], ":limit") {
				opts = append(opts, option.WithParameter("limit", "int", strconv.Itoa(tc.limit)))
			}
			if tc.tag != "" {
				opts = append(opts, option.WithParameter("hashtag", "string", tc.tag))
			}
			q := panels.For(tc.panel, ref)
			runAPI(b, rc, q, opts)
		})
		args := []any{sql.Named("since", tc.since)}
		if strings.Contains(panels.Queries[tc.panel], ":limit") {
			args = append(args, sql.Named("limit", int64(tc.limit)))
		}
		if tc.tag != "" {
			args = append(args, sql.Named("hashtag", tc.tag))
		}
		b.Run(tc.panel+"/duckdb", func(b *testing.B) {
			runPlain(b, db, plainSQL(tc.panel), args)
		})
		b.Run(tc.panel+"/duckdb-rewritten", func(b *testing.B) {
			runPlain(b, db, rewrittenPlain(b, benchSrv, tc.panel, ref, tableName), args)
		})
	}
	// The whole 24 hours (1M tweets). DuckDB's literal lateral form takes
	// about 20 s per run here, so only the rewritten forms are timed.
	all := benchNow.Add(-25 * time.Hour)
	b.Run("top_hashtags_24h/api", func(b *testing.B) {
		runAPI(b, rc, panels.For("top_hashtags", ref), []option.QueryOption{
			option.WithParameter("since", "timestamp", all.Format(time.RFC3339Nano)),
			option.WithParameter("limit", "int", "8")})
	})
	b.Run("top_hashtags_24h/duckdb-rewritten", func(b *testing.B) {
		runPlain(b, db, rewrittenPlain(b, benchSrv, "top_hashtags", ref, tableName), []any{sql.Named("since", all), sql.Named("limit", int64(8))})
	})
}

// rewrittenPlain is the SQL the server runs for a panel, pointed at the plain table.
func rewrittenPlain(b *testing.B, ts *testServer, panel, ref, table string) string {
	q, err := ts.srv.RewriteSQL(context.Background(), panels.For(panel, ref))
	if err != nil {
		b.Fatal(err)
	}
	return strings.ReplaceAll(q, "FROM "+table+" ", "FROM plain ")
}

func runAPI(b *testing.B, rc *rs.RockClient, q string, opts []option.QueryOption) {
	ctx := context.Background()
	var lat latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		res, err := rc.Query(ctx, q, opts...)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if len(res.Results) == 0 {
			b.Fatal("no rows")
		}
	}
	lat.report(b)
}

func runPlain(b *testing.B, db *sql.DB, q string, args []any) {
	ctx := context.Background()
	var lat latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		lat = append(lat, time.Since(t0))
		if n == 0 {
			b.Fatal("no rows")
		}
	}
	lat.report(b)
}

// BenchmarkIngest writes decoded records into storage, bypassing Kinesis:
// documents per second and DuckDB memory per million documents.
func BenchmarkIngest(b *testing.B) {
	const batch = 10000
	dbPath := b.TempDir() + "/ingest.duckdb"
	s, err := store.Open(dbPath)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sc, err := s.Collection(context.Background(), "c_ingest")
	if err != nil {
		b.Fatal(err)
	}
	sc.Configure(store.EventTime{Field: "timestamp_ms", Format: "milliseconds_since_epoch"}, "")
	now := time.Now().UTC()
	pool := tweetfixture.Generate(5, "i", 200_000, now.Add(-time.Hour), now)
	data := make([][]byte, len(pool))
	for i := range pool {
		data[i] = pool[i].JSON()
	}
	ctx := context.Background()
	b.ResetTimer()
	docs := 0
	for i := 0; i < b.N; i++ {
		var bt store.Batch
		for j := 0; j < batch; j++ {
			n := docs + j
			// Fresh ids: a real stream brings new tweets, not updates.
			rec := data[n%len(data)]
			if n >= len(data) {
				rec = []byte(strings.Replace(string(rec), `"id_str":"i-`, fmt.Sprintf(`"id_str":"i%d-`, n/len(data)), 1))
			}
			bt.Records = append(bt.Records, store.Record{Data: rec, RID: "s:" + strconv.Itoa(n), Arrival: now})
		}
		if _, err := sc.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
		docs += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "docs/s")
	if _, err := s.DB().Exec(`CHECKPOINT`); err != nil {
		b.Fatal(err)
	}
	var mem int64
	if err := s.DB().QueryRow(`SELECT sum(memory_usage_bytes) FROM duckdb_memory()`).Scan(&mem); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	perM := func(v int64) float64 { return float64(v) / float64(docs) * 1e6 / (1 << 20) }
	b.ReportMetric(perM(mem), "duckdb-mem-MiB/Mdocs")
	b.ReportMetric(perM(fi.Size()), "disk-MiB/Mdocs")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "go-heap-MiB")
	b.ReportMetric(float64(docs), "docs")
}

// BenchmarkFreshness measures PutRecords to queryable through the emulator,
// with the server's default poll interval.
func BenchmarkFreshness(b *testing.B) {
	e := emulator(b)
	ts := startServer(b, analytics.Config{PollInterval: 200 * time.Millisecond})
	stream := fmt.Sprintf("fresh-%d", b.N)
	createStream(b, e, stream, 1)
	setupTweets(b, ts.rc, e.Region, stream, stream, "LATEST")
	kc := e.Client()
	ctx := context.Background()
	var lat latencies
	now := time.Now().UTC()
	// A field is queryable once a document has brought it: seed one.
	seed := tweetfixture.Generate(99, "seed", 1, now, now.Add(time.Second))[0]
	putRecords(b, kc, stream, [][]byte{seed.JSON()})
	waitDocs(b, ts.rc, "commons", stream, 1, 30*time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tw := tweetfixture.Generate(uint64(i), fmt.Sprintf("f%d", i), 1, now, now.Add(time.Second))[0]
		t0 := time.Now()
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: tw.JSON(), PartitionKey: aws.String(tw.IDStr)}); err != nil {
			b.Fatal(err)
		}
		for {
			res, err := ts.rc.Query(ctx, `SELECT count(*) AS n FROM "`+stream+`" WHERE id_str = :id`, option.WithParameter("id", "string", tw.IDStr))
			if err != nil {
				b.Fatal(err)
			}
			if res.Results[0]["n"] == 1.0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	lat.report(b)
}
