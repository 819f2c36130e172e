package dashboard

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/panels"
)

// BenchmarkBroadcast measures one view's push: encode the snapshot once and
// hand it to every subscriber, for audiences of different sizes.
func BenchmarkBroadcast(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			cfg := Config{Collection: "c"}
			cfg.defaults()
			v := newView("tweets", "", &cfg, newMetrics(), slog.New(slog.DiscardHandler), nil)
			now := time.Now().UTC()
			var tweets []panels.Tweet
			for i := range panels.LiveTweetsShown {
				tweets = append(tweets, panels.Tweet{ID: fmt.Sprint(i), Time: now, ScreenName: "someone", Text: "a tweet of ordinary length with a #hashtag or two #music"})
			}
			var tags []panels.HashtagCount
			for i := range 8 {
				tags = append(tags, panels.HashtagCount{Hashtag: fmt.Sprintf("tag%d", i), Tweets: int64(100 - i)})
			}
			v.state[panelLiveTweets] = panelState{Rows: tweets, Updated: &now}
			v.state[panelTopHashtags] = panelState{Rows: tags, Updated: &now}
			v.state[panelIncoming] = panelState{Rows: chartPoints(panels.FillBuckets(nil, now.Add(-time.Minute), now)), Updated: &now}
			for range subs {
				v.subscribe()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v.broadcast()
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m", 45 * time.Second: "45s", 720 * time.Hour: "720h"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
