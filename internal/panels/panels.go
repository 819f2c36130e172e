// Package panels is the dashboard's queries: the SQL of every panel of the
// Tweets view and the Hashtag view (panels.md), run through rockset-go-client
// with every value a query parameter, and their rows decoded into typed
// results. The dashboard program and the LiveDashboard controller both use it,
// so the browser and `kubectl get dashboards` always agree.
package panels

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
)

// Querier is the one method of *rockset.RockClient the panels need.
type Querier interface {
	Query(ctx context.Context, sql string, options ...option.QueryOption) (openapi.QueryResponse, error)
}

// Sizes and windows from panels.md.
const (
	LiveTweetsShown  = 7
	TopHashtagsShown = 8
	RelatedShown     = 8
	InfluencersShown = 5
	LiveWindow       = time.Minute
	BucketWidth      = 2 * time.Second
	// ChartWindow is how far back the Incoming Tweets chart looks: 20 points
	// of 2 s at least, with room for a slow poll.
	ChartWindow = 60 * time.Second
	// RateSpan is the longest span the tweets-per-minute average covers.
	RateSpan = 10 * time.Minute
	// MaxLimit bounds every LIMIT parameter, whatever the caller asks.
	MaxLimit = 100
)

// Tweet is one row of a Live Tweets panel.
type Tweet struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	ScreenName string    `json:"screenName"`
	Text       string    `json:"text"`
}

// HashtagCount is a lower-cased hashtag and the number of tweets carrying it.
type HashtagCount struct {
	Hashtag string `json:"hashtag"`
	Tweets  int64  `json:"tweets"`
}

// Bucket is one point of the Incoming Tweets chart.
type Bucket struct {
	Start  time.Time `json:"start"`
	Tweets int64     `json:"tweets"`
}

// Influencer is a user who tweeted a hashtag.
type Influencer struct {
	ScreenName string `json:"screenName"`
	Followers  int64  `json:"followers"`
}

// Latency is how long one query took: Total as the caller saw it (the
// dashboard shows this), Server as the server reported in stats.
type Latency struct {
	Total  time.Duration
	Server time.Duration
}

// Runner runs the panel queries against one collection.
type Runner struct {
	q    Querier
	from string
	// Timeout bounds each query; zero leaves it to the caller's context.
	Timeout time.Duration
}

// New returns a Runner for workspace.collection (workspace "" is commons).
func New(q Querier, workspace, collection string) (*Runner, error) {
	if q == nil {
		return nil, errors.New("panels: nil querier")
	}
	from, err := From(workspace, collection)
	if err != nil {
		return nil, err
	}
	return &Runner{q: q, from: from}, nil
}

// NormalizeHashtag is the form in which hashtags are compared, shown and used
// as view keys: no surrounding space, no leading '#', lower-cased.
func NormalizeHashtag(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "#"))
}

// LiveTweets is the newest tweets since since, newest first.
func (r *Runner) LiveTweets(ctx context.Context, since time.Time, limit int) ([]Tweet, Latency, error) {
	rows, lat, err := r.run(ctx, sqlLiveTweets, since, limit, "")
	if err != nil {
		return nil, lat, err
	}
	ts, err := decodeTweets(rows)
	return ts, lat, err
}

// HashtagTweets is the newest tweets carrying hashtag since since.
func (r *Runner) HashtagTweets(ctx context.Context, hashtag string, since time.Time, limit int) ([]Tweet, Latency, error) {
	rows, lat, err := r.run(ctx, sqlHashtagTweets, since, limit, hashtag)
	if err != nil {
		return nil, lat, err
	}
	ts, err := decodeTweets(rows)
	return ts, lat, err
}

// TopHashtags is the hashtags found in most tweets since since.
func (r *Runner) TopHashtags(ctx context.Context, since time.Time, limit int) ([]HashtagCount, Latency, error) {
	rows, lat, err := r.run(ctx, sqlTopHashtags, since, limit, "")
	if err != nil {
		return nil, lat, err
	}
	hs, err := decodeHashtagCounts(rows)
	return hs, lat, err
}

// RelatedHashtags is the hashtags that co-occur most with hashtag since since.
func (r *Runner) RelatedHashtags(ctx context.Context, hashtag string, since time.Time, limit int) ([]HashtagCount, Latency, error) {
	rows, lat, err := r.run(ctx, sqlRelated, since, limit, hashtag)
	if err != nil {
		return nil, lat, err
	}
	hs, err := decodeHashtagCounts(rows)
	return hs, lat, err
}

// Influencers is the users who tweeted hashtag since since, most followed first.
func (r *Runner) Influencers(ctx context.Context, hashtag string, since time.Time, limit int) ([]Influencer, Latency, error) {
	rows, lat, err := r.run(ctx, sqlInfluencers, since, limit, hashtag)
	if err != nil {
		return nil, lat, err
	}
	out := make([]Influencer, 0, len(rows))
	for i, row := range rows {
		name, err := stringField(row, "screen_name")
		if err != nil {
			return nil, lat, fmt.Errorf("panels: influencers row %d: %w", i, err)
		}
		n, err := intField(row, "followers_count")
		if err != nil {
			return nil, lat, fmt.Errorf("panels: influencers row %d: %w", i, err)
		}
		out = append(out, Influencer{ScreenName: name, Followers: n})
	}
	return out, lat, nil
}

// Incoming is the number of tweets per 2-second bucket since since, oldest
// first; buckets without tweets are absent (see FillBuckets).
func (r *Runner) Incoming(ctx context.Context, since time.Time) ([]Bucket, Latency, error) {
	rows, lat, err := r.run(ctx, sqlIncoming, since, -1, "")
	if err != nil {
		return nil, lat, err
	}
	out := make([]Bucket, 0, len(rows))
	for i, row := range rows {
		t, err := timeField(row, "bucket")
		if err != nil {
			return nil, lat, fmt.Errorf("panels: incoming row %d: %w", i, err)
		}
		n, err := intField(row, "tweets")
		if err != nil {
			return nil, lat, fmt.Errorf("panels: incoming row %d: %w", i, err)
		}
		out = append(out, Bucket{Start: t, Tweets: n})
	}
	return out, lat, nil
}

// Count is the number of tweets since since; with a hashtag, of the tweets
// carrying it.
func (r *Runner) Count(ctx context.Context, hashtag string, since time.Time) (int64, Latency, error) {
	n, _, lat, err := r.countFrom(ctx, hashtag, since)
	return n, lat, err
}

// countFrom counts like Count and also returns the oldest tweet's time
// (zero when there is none).
func (r *Runner) countFrom(ctx context.Context, hashtag string, since time.Time) (int64, time.Time, Latency, error) {
	q := sqlCount
	if hashtag != "" {
		q = sqlHashtagCount
	}
	rows, lat, err := r.run(ctx, q, since, -1, hashtag)
	if err != nil {
		return 0, time.Time{}, lat, err
	}
	if len(rows) != 1 {
		return 0, time.Time{}, lat, fmt.Errorf("panels: count returned %d rows", len(rows))
	}
	n, err := intField(rows[0], "tweets")
	if err != nil || n == 0 {
		return n, time.Time{}, lat, err
	}
	first, err := timeField(rows[0], "first")
	return n, first, lat, err
}

// FillBuckets returns one bucket per BucketWidth from the bucket holding from
// up to the bucket holding to, taking counts from got and zero elsewhere, so
// that a quiet interval draws as zero rather than as a line across the gap.
func FillBuckets(got []Bucket, from, to time.Time) []Bucket {
	start := from.Truncate(BucketWidth)
	end := to.Truncate(BucketWidth)
	byStart := make(map[int64]int64, len(got))
	for _, b := range got {
		byStart[b.Start.UnixMilli()] += b.Tweets
	}
	var out []Bucket
	for t := start; !t.After(end); t = t.Add(BucketWidth) {
		out = append(out, Bucket{Start: t.UTC(), Tweets: byStart[t.UnixMilli()]})
	}
	return out
}

// run sends one query. limit < 0 means the query has no :limit; hashtag ""
// means it has no :hashtag.
func (r *Runner) run(ctx context.Context, sqlFmt string, since time.Time, limit int, hashtag string) ([]map[string]any, Latency, error) {
	opts := []option.QueryOption{option.WithParameter("since", "timestamp", since.UTC().Format(time.RFC3339Nano))}
	if limit >= 0 {
		limit = max(1, min(limit, MaxLimit))
		opts = append(opts, option.WithParameter("limit", "int", strconv.Itoa(limit)))
	}
	if hashtag != "" {
		opts = append(opts, option.WithParameter("hashtag", "string", NormalizeHashtag(hashtag)))
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
		opts = append(opts, option.WithTimeout(r.Timeout))
	}
	start := time.Now()
	resp, err := r.q.Query(ctx, fmt.Sprintf(sqlFmt, r.from), opts...)
	lat := Latency{Total: time.Since(start)}
	if err != nil {
		return nil, lat, &QueryError{Err: err}
	}
	if s := resp.Stats; s != nil && s.ElapsedTimeMs != nil {
		lat.Server = time.Duration(*s.ElapsedTimeMs) * time.Millisecond
	}
	if len(resp.QueryErrors) > 0 {
		return nil, lat, &QueryError{Err: fmt.Errorf("%s", resp.QueryErrors[0].GetMessage())}
	}
	return resp.Results, lat, nil
}

// QueryError is a failed query. Its message comes from the analytics server
// and can quote the SQL, so the dashboard logs it and shows the browser only
// Reason.
type QueryError struct{ Err error }

func (e *QueryError) Error() string { return "query failed: " + e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// Reason is a CamelCase, secret-free summary of err for a condition reason or
// a browser: QueryTimeout, AnalyticsUnreachable, QueryRejected or QueryFailed.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "QueryTimeout"
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return "UnexpectedResult"
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "deadline exceeded"), strings.Contains(msg, "timeout"):
		return "QueryTimeout"
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"),
		strings.Contains(msg, "connection reset"), strings.Contains(msg, "eof"):
		return "AnalyticsUnreachable"
	case strings.Contains(msg, "401"), strings.Contains(msg, "403"), strings.Contains(msg, "auth"):
		return "Unauthorized"
	case strings.Contains(msg, "404"), strings.Contains(msg, "not found"), strings.Contains(msg, "does not exist"):
		return "CollectionNotFound"
	case strings.Contains(msg, "400"), strings.Contains(msg, "invalid"):
		return "QueryRejected"
	}
	return "QueryFailed"
}
