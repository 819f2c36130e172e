package analytics_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/analytics/hostile"
	"github.com/streamdash/streamdash/internal/analytics/tweetfixture"
	"github.com/streamdash/streamdash/internal/panels"
)

// BenchmarkHostileLoad: the Top Hashtags panel's latency over 1M tweets,
// quiet and then while 8 clients send the hostile-input suite's queries (and
// a result over the byte cap) as fast as they are answered. The hostile
// run reports its p50 as a ratio to the quiet p50 of the same run.
func BenchmarkHostileLoad(b *testing.B) {
	ts := startServer(b, analytics.Config{})
	ctx := context.Background()
	if _, err := ts.rc.CreateCollection(ctx, "commons", "tweets",
		option.WithEventTimeInfo("timestamp_ms", "UTC", option.EventTimeInfoFormat("milliseconds_since_epoch"))); err != nil {
		b.Fatal(err)
	}
	sc, err := ts.srv.CollectionStorage("commons", "tweets")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	loadTweets(b, sc, tweetfixture.Generate(42, "h", benchDocs, now.Add(-24*time.Hour), now), 20000)
	q := panels.For("top_hashtags", `"commons"."tweets"`)
	opts := []option.QueryOption{
		option.WithParameter("since", "timestamp", now.Add(-time.Hour).Format(time.RFC3339Nano)),
		option.WithParameter("limit", "int", "8"),
	}
	panel := func(b *testing.B) []time.Duration {
		var lat []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			res, err := ts.rc.Query(ctx, q, opts...)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if len(res.Results) == 0 {
				b.Fatal("no rows")
			}
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		return lat
	}
	var quiet time.Duration
	b.Run("quiet", func(b *testing.B) {
		lat := panel(b)
		quiet = lat[len(lat)/2]
	})
	b.Run("hostile-8-clients", func(b *testing.B) {
		attack := append([]string{`SELECT repeat('x', 1000) AS s FROM range(1000000)`}, func() []string {
			var out []string
			for _, h := range hostile.Queries {
				out = append(out, h.SQL)
			}
			return out
		}()...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent, unexpected, other atomic.Int64
		for c := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc := &http.Client{}
				for i := c; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					got := rawQuery(b, hc, ts.url, testKey, attack[i%len(attack)], 5000)
					sent.Add(1)
					// 400 (refused), 408 (stopped at its timeout) and 429 (no
					// slot) are all clear refusals; anything else is not.
					if got.status != 400 && got.status != 408 && got.status != 429 {
						unexpected.Add(1)
						b.Logf("hostile query answered %d: %.200s", got.status, got.body)
					} else if got.status != 400 {
						other.Add(1)
					}
				}
			}()
		}
		lat := panel(b)
		close(stop)
		wg.Wait()
		if quiet > 0 {
			b.ReportMetric(float64(lat[len(lat)/2])/float64(quiet), "p50-ratio-to-quiet")
		}
		b.ReportMetric(float64(sent.Load()), "hostile-queries")
		b.ReportMetric(float64(other.Load()), "hostile-408-or-429")
		if unexpected.Load() > 0 {
			b.Errorf("%d hostile queries were answered other than 400, 408 or 429", unexpected.Load())
		}
	})
}
