package twitterpipeline

import (
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// intent is what a step wants to happen next. Steps never sleep: they act
// once and say when to look again.
type intent int

const (
	// intentDone: this part is as desired; look again at the resync period,
	// or after outcome.after when that is sooner (ingest being observed).
	intentDone intent = iota
	// intentWait: work is under way (a stream CREATING, a collection not yet
	// READY); look again after outcome.after.
	intentWait
	// intentRetry: a transient failure (throttling, a server down); retry
	// with jittered exponential backoff.
	intentRetry
	// intentStalled: the user must change something; no retry until a
	// watched object changes, or outcome.after when that is not enough (an
	// IAM policy fixed outside Kubernetes).
	intentStalled
)

// outcome is a step's result.
type outcome struct {
	intent intent
	after  time.Duration
	err    error
	// reason and message describe a stall for the Stalled condition.
	reason, message string
}

func done() outcome                   { return outcome{intent: intentDone} }
func waitFor(d time.Duration) outcome { return outcome{intent: intentWait, after: d} }
func retry(err error) outcome         { return outcome{intent: intentRetry, err: err} }

// stalled says the user must act; recheck > 0 also looks again after that long.
func stalled(reason, message string, recheck time.Duration) outcome {
	return outcome{intent: intentStalled, reason: reason, message: message, after: recheck}
}

// combine keeps the most severe intent (stalled > retry > wait > done) and,
// among waits, the soonest requeue.
func combine(a, b outcome) outcome {
	if b.intent > a.intent {
		return b
	}
	if a.intent > b.intent {
		return a
	}
	if b.after > 0 && (a.after == 0 || b.after < a.after) {
		a.after = b.after
	}
	if a.err == nil {
		a.err = b.err
	}
	return a
}

// Requeue intervals while work is under way.
const (
	waitStream     = 2 * time.Second
	waitCollection = 3 * time.Second
	waitDeletion   = time.Second
)

// jitter spreads d by up to +20% so that many pipelines created together do
// not come back in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// jitteredLimiter adds jitter to the per-item exponential backoff used for
// retryable errors (AWS throttling, Rockset 429/503, a server down).
type jitteredLimiter struct {
	workqueue.TypedRateLimiter[reconcile.Request]
}

func newRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return jitteredLimiter{workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](250*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)}
}

func (l jitteredLimiter) When(item reconcile.Request) time.Duration {
	return jitter(l.TypedRateLimiter.When(item))
}
