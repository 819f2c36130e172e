package panels

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
)

// recordingQuerier records what would be sent; it answers with canned rows so
// that the request side (SQL text, parameters) can be checked without a server.
type recordingQuerier struct {
	sql  []string
	reqs []option.QueryOptions
	rows []map[string]any
}

func (q *recordingQuerier) Query(_ context.Context, sql string, opts ...option.QueryOption) (openapi.QueryResponse, error) {
	req := option.QueryOptions{QueryRequest: openapi.NewQueryRequestWithDefaults()}
	for _, o := range opts {
		o(&req)
	}
	q.sql = append(q.sql, sql)
	q.reqs = append(q.reqs, req)
	return openapi.QueryResponse{Results: q.rows}, nil
}

func params(req option.QueryOptions) map[string]string {
	m := map[string]string{}
	for _, p := range req.Sql.Parameters {
		m[p.Name] = p.Type + ":" + p.Value
	}
	return m
}

func TestHashtagIsAParameterNeverSQL(t *testing.T) {
	hostile := []string{`x' OR '1'='1`, `"; DROP TABLE x; --`, `#Music`, `ünïcødé`}
	for _, h := range hostile {
		t.Run(h, func(t *testing.T) {
			q := &recordingQuerier{rows: []map[string]any{{"tweets": float64(0)}}}
			r, err := New(q, "commons", "demo-tweets")
			if err != nil {
				t.Fatal(err)
			}
			since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			if _, _, err := r.Count(context.Background(), h, since); err != nil {
				t.Fatal(err)
			}
			q.rows = nil
			if _, _, err := r.RelatedHashtags(context.Background(), h, since, 8); err != nil {
				t.Fatal(err)
			}
			for i, s := range q.sql {
				if strings.Contains(s, NormalizeHashtag(h)) || strings.Contains(s, h) {
					t.Errorf("query %d contains the hashtag: %s", i, s)
				}
				if !strings.Contains(s, `FROM "commons"."demo-tweets" AS t`) {
					t.Errorf("query %d does not read the quoted collection: %s", i, s)
				}
				p := params(q.reqs[i])
				if p["hashtag"] != "string:"+NormalizeHashtag(h) {
					t.Errorf("query %d hashtag parameter = %q", i, p["hashtag"])
				}
				if p["since"] != "timestamp:2026-01-02T03:04:05Z" {
					t.Errorf("query %d since parameter = %q", i, p["since"])
				}
			}
			if p := params(q.reqs[1]); p["limit"] != "int:8" {
				t.Errorf("related limit = %q", p["limit"])
			}
		})
	}
}

func TestLimitIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   int
		want string
	}{{"zero becomes one", 0, "int:1"}, {"ordinary", 7, "int:7"}, {"huge is capped", 1 << 30, fmt.Sprintf("int:%d", MaxLimit)}} {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQuerier{}
			r, _ := New(q, "", "c")
			if _, _, err := r.LiveTweets(context.Background(), time.Now(), tc.in); err != nil {
				t.Fatal(err)
			}
			if got := params(q.reqs[0])["limit"]; got != tc.want {
				t.Errorf("limit = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFrom(t *testing.T) {
	for _, tc := range []struct {
		name, ws, coll, want string
		wantErr              bool
	}{
		{"dashes quoted", "commons", "demo-tweets", `"commons"."demo-tweets"`, false},
		{"default workspace", "", "c1", `"commons"."c1"`, false},
		{"quote rejected", "commons", `a"b`, "", true},
		{"dot rejected", "commons", "a.b", "", true},
		{"empty collection", "commons", "", "", true},
		{"leading dash", "commons", "-a", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := From(tc.ws, tc.coll)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("From(%q,%q) = %q, %v; want %q, err %v", tc.ws, tc.coll, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDecodeRows(t *testing.T) {
	q := &recordingQuerier{rows: []map[string]any{
		{"id_str": "1", "event_time": "2026-01-02T03:04:05.123000Z", "screen_name": "a", "text": "hi"},
		{"id_str": "2", "event_time": "2026-01-02 03:04:06.5", "screen_name": nil, "text": nil},
		{"id_str": "3", "event_time": float64(1767323047000)},
	}}
	r, _ := New(q, "ws", "c")
	got, _, err := r.LiveTweets(context.Background(), time.Now(), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tweet{
		{ID: "1", Time: time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC), ScreenName: "a", Text: "hi"},
		{ID: "2", Time: time.Date(2026, 1, 2, 3, 4, 6, 5e8, time.UTC)},
		{ID: "3", Time: time.UnixMilli(1767323047000).UTC()},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}

	for _, tc := range []struct {
		name string
		row  map[string]any
	}{
		{"count not integer", map[string]any{"hashtag": "a", "tweet_count": 1.5}},
		{"count missing type", map[string]any{"hashtag": "a", "tweet_count": []any{}}},
		{"hashtag missing", map[string]any{"tweet_count": float64(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q.rows = []map[string]any{tc.row}
			_, _, err := r.TopHashtags(context.Background(), time.Now(), 8)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a DecodeError", err)
			}
			if Reason(err) != "UnexpectedResult" {
				t.Errorf("Reason = %s", Reason(err))
			}
		})
	}
}

func TestFillBuckets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := FillBuckets([]Bucket{{Start: t0.Add(2 * time.Second), Tweets: 3}, {Start: t0.Add(6 * time.Second), Tweets: 1}},
		t0.Add(time.Second), t0.Add(7*time.Second))
	want := []int64{0, 3, 0, 1}
	if len(got) != len(want) {
		t.Fatalf("got %d buckets, want %d: %v", len(got), len(want), got)
	}
	for i, b := range got {
		if b.Tweets != want[i] || !b.Start.Equal(t0.Add(time.Duration(i)*BucketWidth)) {
			t.Errorf("bucket %d = %v, want %d at %v", i, b, want[i], t0.Add(time.Duration(i)*BucketWidth))
		}
	}
}

func TestPerMinuteAndSpan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		count  int64
		want   int64
	}{
		{"hour window uses ten minutes", time.Hour, 605, 61},
		{"short window uses the window", 2 * time.Minute, 9, 5},
		{"rounds down below half", 10 * time.Minute, 14, 1},
		{"zero", time.Hour, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PerMinute(tc.count, RateSpanFor(tc.window)); got != tc.want {
				t.Errorf("PerMinute = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "QueryTimeout"},
		{&QueryError{Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}, "AnalyticsUnreachable"},
		{&QueryError{Err: errors.New("collection does not exist")}, "CollectionNotFound"},
		{&QueryError{Err: errors.New("something odd")}, "QueryFailed"},
		{nil, ""},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestNormalizeHashtag(t *testing.T) {
	for in, want := range map[string]string{"#Music": "music", " AI ": "ai", "x' OR '1'='1": "x' or '1'='1", "": ""} {
		if got := NormalizeHashtag(in); got != want {
			t.Errorf("NormalizeHashtag(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzTimeField: timestamps come from the analytics server, outside input;
// any string must decode or fail cleanly.
func FuzzTimeField(f *testing.F) {
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02 03:04:05.1", "1767323047000", "", "x", "2026-13-40T99:99:99Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := timeField(map[string]any{"t": s}, "t")
		if err == nil && tm.Location() != time.UTC {
			t.Errorf("%q decoded to a non-UTC time", s)
		}
	})
}

func TestCoveredSpan(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		first time.Time
		want  time.Duration
	}{
		{"no tweets: the whole span", time.Time{}, 10 * time.Minute},
		{"data for three minutes", now.Add(-3 * time.Minute), 3 * time.Minute},
		{"older than the span", now.Add(-30 * time.Minute), 10 * time.Minute},
		{"a few seconds: at least a minute", now.Add(-5 * time.Second), time.Minute},
	}
	for _, tc := range cases {
		if got := CoveredSpan(10*time.Minute, tc.first, now); got != tc.want {
			t.Errorf("%s: CoveredSpan = %v, want %v", tc.name, got, tc.want)
		}
	}
}
