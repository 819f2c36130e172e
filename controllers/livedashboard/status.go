package livedashboard

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/rockset"
)

// Defaults the CRD also sets; repeated here for objects created without them.
const (
	defaultWindow          = time.Hour
	defaultRefreshInterval = 30 * time.Second
	minRefreshInterval     = 10 * time.Second
	defaultTopN            = 8
	maxTopN                = 20
)

// Condition reasons this controller sets.
const (
	ReasonPipelineNotFound   = "PipelineNotFound"
	ReasonPipelineNotReady   = "PipelineNotReady"
	ReasonAPIKeyMissing      = "APIKeySecretMissing"
	ReasonInvalidEndpoint    = "InvalidEndpoint"
	ReasonDeploymentNotReady = "DeploymentNotAvailable"
	ReasonQueriesSucceeded   = "QueriesSucceeded"
	ReasonQueriesPending     = "QueriesPending"
	ReasonDashboardReady     = "DashboardReady"
	ReasonDeploymentConflict = "DeploymentConflict"
	ReasonServiceConflict    = "ServiceConflict"
	ReasonSecretConflict     = "SecretConflict"
	// ReasonAPIKeyNotPermitted: the pipeline's key may not make the
	// dashboard's role and key; the message says what to do.
	ReasonAPIKeyNotPermitted = "APIKeyNotPermitted"
	// ReasonAPIKeyConflict: a role of the dashboard key's name is someone else's.
	ReasonAPIKeyConflict = "APIKeyConflict"
	// ReasonAPIKeySuspended: someone suspended the dashboard's key.
	ReasonAPIKeySuspended = "APIKeySuspended"
	ReasonAPIKeyPending   = "APIKeyPending"
	ReasonRetrying        = "Retrying"
	ReasonDeleting        = "Deleting"
)

// Event reasons for actions (condition changes are events of their own).
const (
	EventAPIKeyCreated = "APIKeyCreated"
	EventAPIKeyUpdated = "APIKeyRoleUpdated"
	EventAPIKeyDeleted = "APIKeyDeleted"
	EventAPIKeyLeft    = "APIKeyNotDeleted"
)

// failureReasons are the reasons whose condition events are Warnings.
var failureReasons = map[string]bool{
	ReasonPipelineNotFound: true, ReasonAPIKeyMissing: true, ReasonInvalidEndpoint: true,
	ReasonDeploymentConflict: true, ReasonServiceConflict: true, ReasonSecretConflict: true,
	ReasonAPIKeyNotPermitted: true, ReasonAPIKeyConflict: true, ReasonAPIKeySuspended: true,
}

// computeStatus writes what the pass observed into the dashboard's status:
// the refresh's results, QueriesHealthy, and the kstatus conditions (Ready,
// Reconciling, Stalled). Messages hold no counters, so an unchanged
// dashboard produces an identical status and no write.
func (r *Reconciler) computeStatus(s *pass, final steps.Outcome) {
	d := s.d
	d.Status.URL = URL(d)
	if s.refreshed {
		if s.queryErr != nil {
			r.reporter.Set(d, queriesFailed(s.queryErr, d.Status.LastRefreshTime))
		} else {
			applySummary(&d.Status, s.summary, topN(d), s.refreshedAt)
			r.reporter.Set(d, status.True(v1alpha1.ConditionQueriesHealthy, ReasonQueriesSucceeded, "the view's queries succeeded"))
		}
	} else if s.p != nil && !s.collectionReady && meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueriesHealthy) == nil {
		r.reporter.Set(d, status.False(v1alpha1.ConditionQueriesHealthy, ReasonQueriesPending, "waiting for the pipeline's collection"))
	}

	notReady := func(reason, msg string, progressing bool) {
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, reason, msg))
		if progressing {
			r.reporter.Set(d, status.True(v1alpha1.ConditionReconciling, reason, msg))
		} else {
			r.reporter.Remove(d, v1alpha1.ConditionReconciling)
		}
	}
	switch {
	case !d.DeletionTimestamp.IsZero():
		msg := s.deleting
		if msg == "" {
			msg = "cleaning up"
		}
		if final.Intent == steps.IntentRetry && final.Err != nil {
			msg += ": retrying after an error: " + rockset.Redact(final.Err.Error())
		}
		notReady(ReasonDeleting, msg, true)
		return
	case final.Intent == steps.IntentStalled:
		r.reporter.Set(d, status.True(v1alpha1.ConditionStalled, final.Reason, final.Message))
		notReady(final.Reason, final.Message, false)
		// A verdict on this generation: kstatus reads Stalled only once
		// observedGeneration has caught up.
		d.Status.ObservedGeneration = d.Generation
		return
	}
	r.reporter.Remove(d, v1alpha1.ConditionStalled)
	if final.Intent == steps.IntentRetry {
		// A transient failure. One failed call does not undo Ready, but
		// Ready stays only while the queries succeed and the failures have
		// lasted less than a refresh interval: beyond that the dashboard is
		// not working as it says. observedGeneration waits for a pass that
		// looked at everything.
		if status.IsTrue(d, v1alpha1.ConditionReady) && status.IsTrue(d, v1alpha1.ConditionQueriesHealthy) &&
			s.retryingFor < refreshInterval(d) {
			return
		}
		msg := "retrying after an error"
		if final.Err != nil {
			// Errors quote servers, whose text may echo a credential.
			msg += ": " + rockset.Redact(final.Err.Error())
		}
		notReady(ReasonRetrying, msg, true)
		return
	}

	available, depMsg := false, ""
	if s.deployment != nil {
		available, depMsg = deploymentAvailable(s.deployment)
	}
	switch {
	case !status.IsTrue(s.p, v1alpha1.ConditionReady):
		// kstatus: not Ready while Reconciling, though old results may show.
		notReady(ReasonPipelineNotReady, fmt.Sprintf("waiting for TwitterPipeline %q to be Ready", s.p.Name), true)
	case !s.keyReady:
		notReady(ReasonAPIKeyPending, "making the dashboard's API key", true)
	case !available:
		if depMsg == "" {
			depMsg = "the dashboard Deployment has no Available condition yet"
		}
		notReady(ReasonDeploymentNotReady, "dashboard Deployment not available: "+depMsg, true)
	case !status.IsTrue(d, v1alpha1.ConditionQueriesHealthy):
		if q := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueriesHealthy); q != nil {
			notReady(q.Reason, q.Message, false)
		} else {
			notReady(ReasonQueriesPending, "waiting for the first refresh", true)
		}
	default:
		r.reporter.Set(d, status.True(v1alpha1.ConditionReady, ReasonDashboardReady, "the dashboard serves and its queries succeed"))
		r.reporter.Remove(d, v1alpha1.ConditionReconciling)
	}
	d.Status.ObservedGeneration = d.Generation
}

func refreshInterval(d *v1alpha1.LiveDashboard) time.Duration {
	if d.Spec.RefreshInterval == nil || d.Spec.RefreshInterval.Duration <= 0 {
		return defaultRefreshInterval
	}
	return max(d.Spec.RefreshInterval.Duration, minRefreshInterval)
}

func topN(d *v1alpha1.LiveDashboard) int32 {
	n := d.Spec.TopN
	if n <= 0 {
		return defaultTopN
	}
	return min(n, maxTopN)
}

func view(d *v1alpha1.LiveDashboard) panels.View {
	return panels.View{Hashtag: panels.NormalizeHashtag(d.Spec.Hashtag), Window: window(d), TopN: int(topN(d))}
}

func window(d *v1alpha1.LiveDashboard) time.Duration {
	if d.Spec.Window == nil || d.Spec.Window.Duration <= 0 {
		return defaultWindow
	}
	return d.Spec.Window.Duration
}

// attempt is the last refresh this controller ran for a dashboard: when, and
// for which generation. It is kept in memory as well as in status so that a
// reconcile reading a cache that has not yet seen the last status write does
// not refresh (and write) a second time in the same interval.
type attempt struct {
	at         time.Time
	generation int64
	uid        types.UID
}

// nextRefresh decides whether the queries are due now and, if not, how long
// until they are. A spec change (new generation) makes them due at once.
func nextRefresh(last attempt, generation int64, interval time.Duration, now time.Time) (due bool, wait time.Duration) {
	if last.at.IsZero() || last.generation != generation {
		return true, interval
	}
	next := last.at.Add(interval)
	if !now.Before(next) {
		return true, interval
	}
	return false, next.Sub(now)
}

// lastAttempt is the later of the remembered attempt and status.lastRefreshTime.
func lastAttempt(mem attempt, d *v1alpha1.LiveDashboard) attempt {
	if t := d.Status.LastRefreshTime; t != nil && t.After(mem.at) {
		return attempt{at: t.Time, generation: d.Status.ObservedGeneration, uid: d.UID}
	}
	return mem
}

// applySummary writes a successful refresh into status. Lists are bounded
// by topN and carry no tweet text; the Tweets view clears the Hashtag view's
// lists and the other way round, so a changed spec leaves no stale rows.
func applySummary(st *v1alpha1.LiveDashboardStatus, s panels.Summary, n int32, now time.Time) {
	st.TopHashtags = hashtagCounts(s.TopHashtags, n)
	st.RelatedHashtags = hashtagCounts(s.RelatedHashtags, n)
	st.Influencers = nil
	for _, i := range s.Influencers[:min(len(s.Influencers), int(n))] {
		st.Influencers = append(st.Influencers, v1alpha1.Influencer{ScreenName: i.ScreenName, FollowersCount: i.Followers})
	}
	st.TweetsLastMinute = s.TweetsLastMinute
	st.TweetsPerMinute = s.TweetsPerMinute
	st.QueryLatencyMillis = s.Latency.Milliseconds()
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.LastRefreshTime = &t
}

func hashtagCounts(in []panels.HashtagCount, n int32) []v1alpha1.HashtagCount {
	var out []v1alpha1.HashtagCount
	for _, h := range in[:min(len(in), int(n))] {
		out = append(out, v1alpha1.HashtagCount{Hashtag: h.Hashtag, TweetCount: h.Tweets})
	}
	return out
}

// queriesFailed is QueriesHealthy=False for err. The message names the
// reason and how old the kept results are, never the server's text (which
// can quote SQL).
func queriesFailed(err error, last *metav1.Time) metav1.Condition {
	reason := panels.Reason(err)
	msg := fmt.Sprintf("the view's queries failed (%s)", reason)
	if last != nil {
		msg += "; results are from " + last.UTC().Format(time.RFC3339)
	}
	return status.False(v1alpha1.ConditionQueriesHealthy, reason, msg)
}
