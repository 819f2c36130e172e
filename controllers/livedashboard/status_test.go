package livedashboard

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/internal/panels"
)

func TestNextRefresh(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		last     attempt
		gen      int64
		now      time.Time
		wantDue  bool
		wantWait time.Duration
	}{
		{"never refreshed", attempt{}, 1, t0, true, 30 * time.Second},
		{"within the interval", attempt{at: t0, generation: 1}, 1, t0.Add(10 * time.Second), false, 20 * time.Second},
		{"interval over", attempt{at: t0, generation: 1}, 1, t0.Add(30 * time.Second), true, 30 * time.Second},
		{"spec changed", attempt{at: t0, generation: 1}, 2, t0.Add(time.Second), true, 30 * time.Second},
		// After a refresh (refreshStatus): the next is an interval after it
		// began, whatever its queries took, unless they took it all.
		{"queries took 3s", attempt{at: t0, generation: 1}, 1, t0.Add(3 * time.Second), false, 27 * time.Second},
		{"queries took the whole interval", attempt{at: t0, generation: 1}, 1, t0.Add(31 * time.Second), true, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, wait := nextRefresh(tc.last, tc.gen, 30*time.Second, tc.now)
			if due != tc.wantDue || wait != tc.wantWait {
				t.Errorf("nextRefresh = %v, %s; want %v, %s", due, wait, tc.wantDue, tc.wantWait)
			}
		})
	}
}

func TestLastAttemptPrefersTheLater(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &v1alpha1.LiveDashboard{}
	d.Status.ObservedGeneration = 3
	d.Status.LastRefreshTime = &metav1.Time{Time: t0}
	// A cache that has not seen the last write yet: memory wins.
	if got := lastAttempt(attempt{at: t0.Add(5 * time.Second), generation: 3}, d); !got.at.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("memory not preferred: %v", got)
	}
	// After a restart memory is empty: status wins.
	if got := lastAttempt(attempt{}, d); !got.at.Equal(t0) || got.generation != 3 {
		t.Errorf("status not used: %v", got)
	}
}

func TestApplySummaryIsBounded(t *testing.T) {
	var s panels.Summary
	for i := range 30 {
		s.RelatedHashtags = append(s.RelatedHashtags, panels.HashtagCount{Hashtag: strings.Repeat("a", i+1), Tweets: int64(30 - i)})
		s.Influencers = append(s.Influencers, panels.Influencer{ScreenName: "u", Followers: 1})
	}
	s.TweetsLastMinute, s.TweetsPerMinute, s.Latency = 7, 3, 1500*time.Millisecond
	st := v1alpha1.LiveDashboardStatus{TopHashtags: []v1alpha1.HashtagCount{{Hashtag: "old", TweetCount: 1}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 700e6, time.UTC)
	applySummary(&st, s, 4, now)
	if len(st.RelatedHashtags) != 4 || len(st.Influencers) != 4 || st.TopHashtags != nil {
		t.Errorf("lists not bounded or stale list kept: %+v", st)
	}
	if st.QueryLatencyMillis != 1500 || st.TweetsLastMinute != 7 || st.TweetsPerMinute != 3 || !st.LastRefreshTime.Equal(&metav1.Time{Time: now.Truncate(time.Second)}) {
		t.Errorf("status = %+v", st)
	}
}

func TestQueriesFailedMessageHasNoServerText(t *testing.T) {
	err := &panels.QueryError{Err: errors.New(`Binder Error: SELECT secret FROM "x" connection refused`)}
	c := queriesFailed(err, nil)
	if c.Reason != "AnalyticsUnreachable" || strings.Contains(c.Message, "SELECT") || strings.Contains(c.Message, "Binder") {
		t.Errorf("condition = %+v", c)
	}
}

func TestDashboardArgsEscapeVariables(t *testing.T) {
	d := &v1alpha1.LiveDashboard{Spec: v1alpha1.LiveDashboardSpec{Hashtag: "$(POD_IP)", TopN: 50}}
	d.Name, d.Namespace = "x", "ns"
	p := &v1alpha1.TwitterPipeline{}
	p.Name = "p"
	args := dashboardArgs(d, p, rocksetconn.Connection{APIServer: "http://a:1", APIKey: "secret-key"})
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--hashtag=$$(POD_IP)") || !strings.Contains(joined, "--top-n=20") || strings.Contains(joined, "secret-key") {
		t.Errorf("args = %q", joined)
	}
	if !strings.Contains(joined, "--listen=$(POD_IP):8080") {
		t.Errorf("listen arg must expand POD_IP: %q", joined)
	}
}
