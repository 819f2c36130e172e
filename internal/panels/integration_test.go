package panels_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/tweet"
)

// dataset is tweets at known distances from now: some in the last minute,
// some within ten minutes, some only in the hour, some outside the hour. No
// tweet is near a window's edge, so the answers hold for a few minutes.
func dataset(now time.Time) []tweet.Document {
	g := tweet.NewGenerator(42)
	var docs []tweet.Document
	docs = append(docs, panelstest.Spread(g, 150, now.Add(-80*time.Minute), now.Add(-65*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 200, now.Add(-45*time.Minute), now.Add(-15*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 150, now.Add(-8*time.Minute), now.Add(-2*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 60, now.Add(-40*time.Second), now.Add(-5*time.Second))...)
	return docs
}

func TestPanelsAgainstAnalyticsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Kinesis emulator and the analytics server")
	}
	f := panelstest.Start(t, "panels-it")
	now := time.Now()
	docs := dataset(now)
	f.Put(t, docs, len(docs))

	r, err := panels.New(f.Client, f.Workspace, f.Collection)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hourAgo := now.Add(-time.Hour)

	top, _, err := r.TopHashtags(ctx, hourAgo, 8)
	if err != nil {
		t.Fatal(err)
	}
	wantTop := panelstest.TopHashtags(docs, hourAgo, 8)
	if got, want := fmt.Sprint(top), fmt.Sprint(wantTop); got != fmt.Sprint(toPanels(wantTop)) {
		t.Errorf("top hashtags:\n got %s\nwant %s", got, want)
	}
	tag := wantTop[0].Hashtag

	rel, _, err := r.RelatedHashtags(ctx, tag, hourAgo, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(rel), fmt.Sprint(toPanels(panelstest.RelatedHashtags(docs, tag, hourAgo, 8))); got != want {
		t.Errorf("related to %s:\n got %s\nwant %s", tag, got, want)
	}

	inf, _, err := r.Influencers(ctx, tag, hourAgo, 5)
	if err != nil {
		t.Fatal(err)
	}
	var wantInf []panels.Influencer
	for _, i := range panelstest.Influencers(docs, tag, hourAgo, 5) {
		wantInf = append(wantInf, panels.Influencer{ScreenName: i.ScreenName, Followers: i.Followers})
	}
	if fmt.Sprint(inf) != fmt.Sprint(wantInf) {
		t.Errorf("influencers of %s:\n got %v\nwant %v", tag, inf, wantInf)
	}

	for _, tc := range []struct {
		name    string
		hashtag string
		since   time.Time
	}{
		{"all in last minute", "", now.Add(-time.Minute)},
		{"all in ten minutes", "", now.Add(-10 * time.Minute)},
		{"all in the hour", "", hourAgo},
		{"hashtag in the hour", tag, hourAgo},
		{"hashtag upper-cased", "#" + strings.ToUpper(tag), hourAgo},
		{"injection is a hashtag with no tweets", `x' OR '1'='1`, hourAgo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := r.Count(ctx, tc.hashtag, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if want := panelstest.Count(docs, panels.NormalizeHashtag(tc.hashtag), tc.since); got != want {
				t.Errorf("count = %d, want %d", got, want)
			}
		})
	}

	live, _, err := r.LiveTweets(ctx, now.Add(-time.Minute), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 7 || live[0].ID != docs[len(docs)-1].IDStr || live[0].Text != docs[len(docs)-1].Text {
		t.Errorf("live tweets: got %d, first %+v; want 7, first %s", len(live), live[0], docs[len(docs)-1].IDStr)
	}
	for i := 1; i < len(live); i++ {
		if live[i].Time.After(live[i-1].Time) {
			t.Errorf("live tweets not newest first at %d", i)
		}
	}

	from := now.Add(-panels.ChartWindow)
	buckets, _, err := r.Incoming(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range buckets {
		if b.Start.UnixMilli()%2000 != 0 {
			t.Errorf("bucket %v not on a 2 s boundary", b.Start)
		}
		sum += b.Tweets
	}
	if want := panelstest.Count(docs, "", from.Truncate(2*time.Second)); sum != want {
		t.Errorf("incoming buckets sum to %d, want %d", sum, want)
	}

	s, err := r.Summarize(ctx, panels.View{Hashtag: tag, Window: time.Hour, TopN: 3}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := panelstest.Count(docs, tag, now.Add(-time.Minute)); s.TweetsLastMinute != want {
		t.Errorf("summary last minute = %d, want %d", s.TweetsLastMinute, want)
	}
	if want := panelstest.PerMinute(docs, tag, 10*time.Minute, now); s.TweetsPerMinute != want {
		t.Errorf("summary per minute = %d, want %d", s.TweetsPerMinute, want)
	}
	if len(s.RelatedHashtags) > 3 || len(s.Influencers) > 3 || s.TopHashtags != nil {
		t.Errorf("summary lists not bounded by topN / view: %+v", s)
	}
}

func toPanels(in []panelstest.HashtagCount) []panels.HashtagCount {
	out := make([]panels.HashtagCount, len(in))
	for i, h := range in {
		out[i] = panels.HashtagCount{Hashtag: h.Hashtag, Tweets: h.Tweets}
	}
	return out
}

// BenchmarkPanelQueries runs each panel query against the analytics server
// holding the dataset (560 tweets); ns/op is one query's round trip.
func BenchmarkPanelQueries(b *testing.B) {
	f := panelstest.Start(b, "panels-bench")
	now := time.Now()
	docs := dataset(now)
	f.Put(b, docs, len(docs))
	r, err := panels.New(f.Client, f.Workspace, f.Collection)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	hourAgo := now.Add(-time.Hour)
	tag := panelstest.TopHashtags(docs, hourAgo, 1)[0].Hashtag
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"LiveTweets", func() error { _, _, err := r.LiveTweets(ctx, now.Add(-time.Minute), 7); return err }},
		{"TopHashtags", func() error { _, _, err := r.TopHashtags(ctx, hourAgo, 8); return err }},
		{"Incoming", func() error { _, _, err := r.Incoming(ctx, now.Add(-panels.ChartWindow)); return err }},
		{"HashtagTweets", func() error { _, _, err := r.HashtagTweets(ctx, tag, hourAgo, 7); return err }},
		{"RelatedHashtags", func() error { _, _, err := r.RelatedHashtags(ctx, tag, hourAgo, 8); return err }},
		{"Influencers", func() error { _, _, err := r.Influencers(ctx, tag, hourAgo, 5); return err }},
		{"SummarizeTweetsView", func() error {
			_, err := r.Summarize(ctx, panels.View{Window: time.Hour, TopN: 8}, now)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
