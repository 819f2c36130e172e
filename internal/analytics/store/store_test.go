package store_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
	"github.com/streamdash/streamdash/internal/analytics/tweetfixture"
	"github.com/streamdash/streamdash/internal/panels"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeDocs(t *testing.T, c *store.Collection, docs [][]byte, batch int) store.WriteResult {
	t.Helper()
	var total store.WriteResult
	for i := 0; i < len(docs); i += batch {
		end := min(i+batch, len(docs))
		var b store.Batch
		for j := i; j < end; j++ {
			b.Records = append(b.Records, store.Record{Data: docs[j], RID: "r" + strconv.Itoa(j), Arrival: time.Now()})
		}
		res, err := c.Write(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		total.Inserted += res.Inserted
		total.Malformed += res.Malformed
	}
	return total
}

func query(t *testing.T, s *store.Store, rw *rewrite.Rewriter, table, q string, params ...rewrite.Param) *store.Result {
	t.Helper()
	res, err := runQuery(s, rw, table, q, params...)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return res
}

func runQuery(s *store.Store, rw *rewrite.Rewriter, table, q string, params ...rewrite.Param) (*store.Result, error) {
	ctx := context.Background()
	rq, err := rw.Rewrite(ctx, q, func(ws, coll string) (rewrite.Table, error) {
		if (ws == "commons" || ws == "") && coll == "tweets" {
			return rewrite.Table{Name: table, Path: "commons.tweets"}, nil
		}
		return rewrite.Table{}, fmt.Errorf("collection %s.%s not found", ws, coll)
	})
	if err != nil {
		return nil, err
	}
	args, err := rewrite.Bind(rq, params)
	if err != nil {
		return nil, err
	}
	return s.Query(ctx, rq.SQL, args, 0)
}

func TestPanelQueriesMatchIndependentCounts(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_tweets")
	if err != nil {
		t.Fatal(err)
	}
	c.Configure(store.EventTime{Field: "timestamp_ms", Format: "milliseconds_since_epoch"}, "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	tweets := tweetfixture.Generate(1, "t", 3000, now.Add(-2*time.Hour), now)
	docs := make([][]byte, len(tweets))
	for i, tw := range tweets {
		docs[i] = tw.JSON()
	}
	res := writeDocs(t, c, docs, 500)
	if res.Inserted != len(tweets) || res.Malformed != 0 {
		t.Fatalf("write = %+v, want %d inserted", res, len(tweets))
	}
	rw := rewrite.New(s.DB())
	since := now.Add(-time.Hour)
	ref := `"commons"."tweets"`
	p := func(name, typ, v string) rewrite.Param { return rewrite.Param{Name: name, Type: typ, Value: v} }
	sinceP := p("since", "timestamp", since.Format(time.RFC3339Nano))
	limit8 := p("limit", "int", "8")

	t.Run("top_hashtags", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("top_hashtags", ref), sinceP, limit8)
		want := tweetfixture.TopHashtags(tweets, since, 8)
		compareCounts(t, got, "hashtag", "tweet_count", want)
	})
	t.Run("related_hashtags", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("related_hashtags", ref), sinceP, limit8, p("hashtag", "string", "MUSIC"))
		want := tweetfixture.RelatedHashtags(tweets, since, "music", 8)
		compareCounts(t, got, "hashtag", "tweet_count", want)
	})
	t.Run("influencers", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("influencers", ref), sinceP, p("limit", "int", "5"), p("hashtag", "string", "golang"))
		want := tweetfixture.Influencers(tweets, since, "golang", 5)
		compareCounts(t, got, "screen_name", "followers_count", want)
	})
	t.Run("counts", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("count", ref), sinceP)
		if n := got.Rows[0]["tweets"]; n != tweetfixture.CountSince(tweets, since, "") {
			t.Errorf("count = %v, want %d", n, tweetfixture.CountSince(tweets, since, ""))
		}
		got = query(t, s, rw, "c_tweets", panels.For("hashtag_count", ref), sinceP, p("hashtag", "string", "DuckDB"))
		if n := got.Rows[0]["tweets"]; n != tweetfixture.CountSince(tweets, since, "duckdb") {
			t.Errorf("hashtag count = %v, want %d", n, tweetfixture.CountSince(tweets, since, "duckdb"))
		}
	})
	t.Run("live_tweets", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("live_tweets", ref), sinceP, p("limit", "int", "7"))
		want := tweetfixture.Newest(tweets, since, "", 7)
		compareIDs(t, got, want)
		got = query(t, s, rw, "c_tweets", panels.For("hashtag_live_tweets", ref), sinceP, p("limit", "int", "7"), p("hashtag", "string", "news"))
		compareIDs(t, got, tweetfixture.Newest(tweets, since, "news", 7))
	})
	t.Run("incoming_tweets", func(t *testing.T) {
		recent := now.Add(-40 * time.Second)
		got := query(t, s, rw, "c_tweets", panels.For("incoming_tweets", ref), p("since", "timestamp", recent.Format(time.RFC3339Nano)))
		want := tweetfixture.Buckets(tweets, recent)
		if len(got.Rows) != len(want) {
			t.Fatalf("buckets = %d, want %d", len(got.Rows), len(want))
		}
		for _, r := range got.Rows {
			b, err := time.Parse(time.RFC3339Nano, r["bucket"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if r["tweets"] != want[b] {
				t.Errorf("bucket %s = %v, want %d", b, r["tweets"], want[b])
			}
		}
	})
	t.Run("injection_is_a_value", func(t *testing.T) {
		got := query(t, s, rw, "c_tweets", panels.For("hashtag_count", ref), sinceP, p("hashtag", "string", "x' OR '1'='1"))
		if n := got.Rows[0]["tweets"]; n != tweetfixture.CountSince(tweets, since, "x' OR '1'='1") {
			t.Errorf("count = %v, want %d", n, tweetfixture.CountSince(tweets, since, "x' OR '1'='1"))
		}
	})
}

func compareCounts(t *testing.T, got *store.Result, key, count string, want []tweetfixture.Count) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("test data gives no expected rows")
	}
	if len(got.Rows) != len(want) {
		t.Fatalf("rows = %v, want %v", got.Rows, want)
	}
	for i, w := range want {
		if got.Rows[i][key] != w.Key || got.Rows[i][count] != w.Count {
			t.Errorf("row %d = %v, want %v", i, got.Rows[i], w)
		}
	}
}

func compareIDs(t *testing.T, got *store.Result, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("test data gives no expected rows")
	}
	if len(got.Rows) != len(want) {
		t.Fatalf("rows = %d, want %d", len(got.Rows), len(want))
	}
	for i, w := range want {
		if got.Rows[i]["id_str"] != w {
			t.Errorf("row %d id = %v, want %s", i, got.Rows[i]["id_str"], w)
		}
	}
}
