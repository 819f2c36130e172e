// Package steps is the one reconcile shape of streamdash's controllers: a
// reconcile runs named steps with one signature, each returns an Outcome
// (what it wants next), Combine keeps the most severe intent and the soonest
// requeue, and Result turns the combined Outcome into controller-runtime's
// terms, saying in the log when the next run is. No step sleeps.
package steps

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Intent is what a step wants to happen next, in rising severity.
type Intent int

const (
	// IntentDone: this part is as desired; look again at the resync
	// period, or after Outcome.After when that is sooner.
	IntentDone Intent = iota
	// IntentWait: work is under way; look again after Outcome.After.
	IntentWait
	// IntentRetry: a transient failure; retry with jittered exponential backoff.
	IntentRetry
	// IntentStalled: the user must change something; no retry until a
	// watched object changes, or Outcome.After when that is not enough.
	IntentStalled
)

func (i Intent) String() string {
	return [...]string{"Done", "Wait", "Retry", "Stalled"}[i]
}

// Outcome is a step's result.
type Outcome struct {
	Intent Intent
	After  time.Duration
	Err    error
	// Reason and Message describe a stall for the Stalled condition.
	Reason, Message string
	// Exact: After is a schedule the user set (a refresh interval), kept
	// to the millisecond rather than spread by Jitter, which would make
	// each run later than promised and let the schedule drift.
	Exact bool
}

// Done: as desired. DoneAfter: as desired, but look again after d (sooner
// than the resync). DoneAt: as desired, and the next scheduled run is in
// exactly d (not jittered). Wait: work under way, look again after d. Retry: a
// transient error, back off. Stop: nothing more to do for this object (it
// is going away); no requeue.
func Done() Outcome                     { return Outcome{Intent: IntentDone} }
func DoneAfter(d time.Duration) Outcome { return Outcome{Intent: IntentDone, After: d} }
func DoneAt(d time.Duration) Outcome    { return Outcome{Intent: IntentDone, After: d, Exact: true} }
func Wait(d time.Duration) Outcome      { return Outcome{Intent: IntentWait, After: d} }
func Retry(err error) Outcome           { return Outcome{Intent: IntentRetry, Err: err} }
func Stop() Outcome                     { return Outcome{Intent: IntentWait} }

// Stalled says the user must act; recheck > 0 also looks again after that long.
func Stalled(reason, message string, recheck time.Duration) Outcome {
	return Outcome{Intent: IntentStalled, Reason: reason, Message: message, After: recheck}
}

// Combine keeps the most severe intent (stalled > retry > wait > done) and,
// among equals, the soonest requeue.
func Combine(a, b Outcome) Outcome {
	if b.Intent > a.Intent {
		return b
	}
	if a.Intent > b.Intent {
		return a
	}
	if b.After > 0 && (a.After == 0 || b.After < a.After) {
		a.After, a.Exact = b.After, b.Exact
	}
	if a.Err == nil {
		a.Err = b.Err
	}
	return a
}

// Step is one named part of the work on a reconcile's state S.
type Step[S any] struct {
	Name string
	Run  func(context.Context, S) Outcome
}

// RunAll runs every step in order and combines their outcomes.
func RunAll[S any](ctx context.Context, s S, list ...Step[S]) Outcome {
	log := logf.FromContext(ctx)
	final := Done()
	for _, st := range list {
		o := st.Run(ctx, s)
		if o.Intent != IntentDone {
			log.V(1).Info("step not done", "step", st.Name, "intent", o.Intent.String(), "after", o.After, "error", o.Err)
		}
		final = Combine(final, o)
	}
	return final
}

// RunUntil runs the steps in order and stops at the first that is not done
// (a teardown, where each part must be gone before the next).
func RunUntil[S any](ctx context.Context, s S, list ...Step[S]) Outcome {
	for _, st := range list {
		if o := st.Run(ctx, s); o.Intent != IntentDone {
			return o
		}
	}
	return Done()
}

// Result turns the combined Outcome into controller-runtime's terms and
// logs when the next run is. resync is the period of a Done pass.
func Result(ctx context.Context, o Outcome, resync time.Duration) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	switch o.Intent {
	case IntentWait:
		if o.After <= 0 {
			return ctrl.Result{}, nil
		}
		next := Jitter(o.After)
		log.V(1).Info("work under way", "next run in", next.Round(time.Millisecond).String())
		return ctrl.Result{RequeueAfter: next}, nil
	case IntentRetry:
		log.Info("retrying with backoff", "error", fmt.Sprint(o.Err))
		return ctrl.Result{}, o.Err
	case IntentStalled:
		if o.After > 0 {
			next := Jitter(o.After)
			log.Info("stalled", "reason", o.Reason, "message", o.Message, "next check in", next.Round(time.Millisecond).String())
			return ctrl.Result{RequeueAfter: next}, nil
		}
		log.Info("stalled until a watched object changes", "reason", o.Reason, "message", o.Message)
		return ctrl.Result{}, reconcile.TerminalError(fmt.Errorf("%s: %s", o.Reason, o.Message))
	default:
		next := Jitter(resync)
		switch {
		case o.After > 0 && o.After < resync && o.Exact:
			next = o.After
		case o.After > 0 && o.After < resync:
			next = Jitter(o.After)
		}
		log.V(1).Info("reconciled", "next check in", next.Round(time.Millisecond).String())
		return ctrl.Result{RequeueAfter: next}, nil
	}
}

// Jitter spreads d by up to +20% so that many objects created together do
// not come back in lockstep.
func Jitter(d time.Duration) time.Duration {
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

// NewRateLimiter is the controllers' retry backoff: exponential from 250ms to
// 5m per object, jittered, under an overall 10/s bucket.
func NewRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return jitteredLimiter{workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](250*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)}
}

func (l jitteredLimiter) When(item reconcile.Request) time.Duration {
	return Jitter(l.TypedRateLimiter.When(item))
}
