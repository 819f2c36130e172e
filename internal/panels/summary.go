package panels

import (
	"context"
	"math"
	"time"
)

// View says which dashboard view to summarise: the Tweets view when Hashtag
// is empty, else the Hashtag view.
type View struct {
	Hashtag string
	Window  time.Duration
	TopN    int
}

// Summary is what a LiveDashboard's status holds: the view's panel results
// without the live feed (no tweet text), and the tweet rates.
type Summary struct {
	// TopHashtags (Tweets view) in the window, at most TopN.
	TopHashtags []HashtagCount
	// RelatedHashtags and Influencers (Hashtag view) in the window, at most TopN.
	RelatedHashtags []HashtagCount
	Influencers     []Influencer
	// TweetsLastMinute counts the tweets (with the hashtag) since now-1m.
	TweetsLastMinute int64
	// TweetsPerMinute is the tweets (with the hashtag) since now-RateSpan
	// (or now-Window when the window is shorter) divided by the minutes that
	// span covers with data (CoveredSpan), rounded to the nearest integer.
	TweetsPerMinute int64
	// Latency is the sum of the queries' round trips.
	Latency time.Duration
}

// RateSpanFor is the span the tweets-per-minute average covers for a window.
func RateSpanFor(window time.Duration) time.Duration {
	if window > 0 && window < RateSpan {
		return window
	}
	return RateSpan
}

// PerMinute is count tweets over span as a whole number per minute.
func PerMinute(count int64, span time.Duration) int64 {
	if span <= 0 {
		return 0
	}
	return int64(math.Round(float64(count) / span.Minutes()))
}

// Summarize runs the view's queries once, one after the other (a controller
// refreshing many dashboards should not multiply its load on the analytics
// server by running them in parallel), and stops at the first failure.
func (r *Runner) Summarize(ctx context.Context, v View, now time.Time) (Summary, error) {
	var s Summary
	window := v.Window
	if window <= 0 {
		window = time.Hour
	}
	topN := max(1, v.TopN)
	since := now.Add(-window)
	add := func(l Latency) { s.Latency += l.Total }

	if v.Hashtag == "" {
		top, lat, err := r.TopHashtags(ctx, since, topN)
		add(lat)
		if err != nil {
			return s, err
		}
		s.TopHashtags = top
	} else {
		rel, lat, err := r.RelatedHashtags(ctx, v.Hashtag, since, topN)
		add(lat)
		if err != nil {
			return s, err
		}
		inf, lat, err := r.Influencers(ctx, v.Hashtag, since, topN)
		add(lat)
		if err != nil {
			return s, err
		}
		s.RelatedHashtags, s.Influencers = rel, inf
	}

	lastMinute, lat, err := r.Count(ctx, v.Hashtag, now.Add(-LiveWindow))
	add(lat)
	if err != nil {
		return s, err
	}
	span := RateSpanFor(window)
	inSpan, first, lat, err := r.countFrom(ctx, v.Hashtag, now.Add(-span))
	add(lat)
	if err != nil {
		return s, err
	}
	s.TweetsLastMinute = lastMinute
	s.TweetsPerMinute = PerMinute(inSpan, CoveredSpan(span, first, now))
	return s, nil
}

// CoveredSpan is the part of span (ending at now) that has tweets in it:
// from the oldest tweet in the span, but at least a minute. A pipeline that
// started three minutes ago then reports its real rate, not a third of it.
func CoveredSpan(span time.Duration, first, now time.Time) time.Duration {
	if first.IsZero() {
		return span
	}
	covered := now.Sub(first)
	return min(span, max(covered, time.Minute))
}
