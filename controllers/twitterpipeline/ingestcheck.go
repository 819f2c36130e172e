package twitterpipeline

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/internal/rockset"
)

// The ingest check keeps status.collection (documentCount, lastIngestTime,
// status) within one IngestCheckInterval of the collection at any time in a
// pipeline's life, cheaply: every interval it reads each pipeline's
// collection (one Rockset API request) and patches status only when a value
// changed. It does no stream, integration or Deployment work; full
// reconciles run on events and at the resync. When the collection's health
// no longer matches CollectionReady (its source failed or recovered), it
// asks for a full reconcile rather than judging conditions itself, so they
// are computed in one place (status.go). The same goes for a collection it
// cannot read: gone (NotFound) at once, otherwise after handOffAfter failed
// reads in a row, so one lost request does not cost a full pass but an API
// that stays down does not leave Ready True until the resync.

// checkTarget is what the last full pass learnt about reading a pipeline's
// collection: the client for its Rockset API (the key resolved), and what
// the pipeline wants of the collection.
type checkTarget struct {
	uid  types.UID
	api  rockset.API
	ws   string
	name string
	want rockset.CollectionDesired
}

// handOffAfter is how many failed reads in a row of a collection that was
// not reported missing hand its pipeline to a full reconcile.
const handOffAfter = 2

// readFailures is a run of failed reads of one pipeline's collection.
type readFailures struct {
	n         int
	handedOff bool // a full reconcile was asked for during this run
}

// checkTargets are the pipelines the ingest check reads, by name.
type checkTargets struct {
	mu       sync.Mutex
	m        map[types.NamespacedName]checkTarget
	failures map[types.NamespacedName]readFailures
}

func newCheckTargets() *checkTargets {
	return &checkTargets{m: map[types.NamespacedName]checkTarget{}, failures: map[types.NamespacedName]readFailures{}}
}

// set records what a full pass that read the collection learnt; that read
// ends any run of failures.
func (c *checkTargets) set(key types.NamespacedName, t checkTarget) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = t
	delete(c.failures, key)
}

func (c *checkTargets) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	delete(c.failures, key)
}

// readFailed counts a failed read and says whether to hand the pipeline to
// a full reconcile: once per run of failures, at once when the collection
// is gone, else at the handOffAfter-th failure. The full reconcile reports
// the failure and retries on its own backoff; asking again every interval
// would only add passes.
func (c *checkTargets) readFailed(key types.NamespacedName, notFound bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.failures[key]
	f.n++
	handOff := !f.handedOff && (notFound || f.n >= handOffAfter)
	if handOff {
		f.handedOff = true
	}
	c.failures[key] = f
	return handOff
}

// readOK ends a run of failed reads.
func (c *checkTargets) readOK(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failures, key)
}

func (c *checkTargets) get(key types.NamespacedName) (checkTarget, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	return t, ok
}

// Results of one pipeline's ingest check, the label of ingestChecks.
const (
	checkSkipped   = "skipped"   // no full pass has seen this pipeline yet: nothing to read
	checkUnchanged = "unchanged" // nothing to write
	checkWritten   = "written"   // status.collection patched
	checkReconcile = "reconcile" // health changed, or the collection is gone or unreadable: a full reconcile was asked for
	checkFailed    = "failed"    // the collection could not be read (not yet handed off) or status not written
)

var ingestChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "streamdash_twitterpipeline_ingest_checks_total",
	Help: "Light ingest checks of the pipeline's collection, by result (skipped, unchanged, written, reconcile, failed).",
}, []string{"namespace", "name", "result"})

var ingestCheckRounds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "streamdash_twitterpipeline_ingest_check_round_seconds",
	Help:    "How long one ingest check of every pipeline took.",
	Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
})

func init() { metrics.Registry.MustRegister(ingestChecks, ingestCheckRounds) }

// ingestChecker runs the ingest check on the leader.
type ingestChecker struct {
	client   client.Client
	targets  *checkTargets
	interval time.Duration
	clock    clock.WithTicker
	// reconcile receives pipelines whose health changed.
	reconcile chan<- event.GenericEvent
	workers   int
}

// NeedLeaderElection: only the leader writes status.
func (c *ingestChecker) NeedLeaderElection() bool { return true }

// Start checks every pipeline once per interval until ctx ends.
func (c *ingestChecker) Start(ctx context.Context) error {
	t := c.clock.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		c.round(ctx)
	}
}

// round checks every pipeline the cache holds, a few at a time.
func (c *ingestChecker) round(ctx context.Context) {
	start := time.Now()
	defer func() { ingestCheckRounds.Observe(time.Since(start).Seconds()) }()
	var list v1alpha1.TwitterPipelineList
	if err := c.client.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "ingest check: list pipelines")
		return
	}
	work := make(chan *v1alpha1.TwitterPipeline)
	var wg sync.WaitGroup
	for range min(c.workers, len(list.Items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				ingestChecks.WithLabelValues(p.Namespace, p.Name, c.check(ctx, p)).Inc()
			}
		}()
	}
	for i := range list.Items {
		p := &list.Items[i]
		if _, ok := c.targets.get(client.ObjectKeyFromObject(p)); !ok || !p.DeletionTimestamp.IsZero() {
			continue
		}
		select {
		case work <- p:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// check reads one pipeline's collection and brings status.collection up to
// date, or asks for a full reconcile when the collection's health changed.
func (c *ingestChecker) check(ctx context.Context, p *v1alpha1.TwitterPipeline) string {
	key := client.ObjectKeyFromObject(p)
	t, ok := c.targets.get(key)
	if !ok || t.uid != p.UID {
		return checkSkipped // a pipeline of the same name that no full pass has seen yet
	}
	col, err := t.api.GetCollection(ctx, t.ws, t.name)
	if err != nil {
		// A failure to read is the full reconcile's to report.
		log := logf.FromContext(ctx)
		if !c.targets.readFailed(key, rockset.IsNotFound(err)) {
			log.V(1).Info("ingest check: read collection", "pipeline", key, "error", rockset.Message(err))
			return checkFailed
		}
		log.Info("ingest check: cannot read the collection; asking for a full reconcile", "pipeline", key, "error", rockset.Message(err))
		c.askReconcile(ctx, p)
		return checkReconcile
	}
	c.targets.readOK(key)
	if healthChanged(p, rockset.NextCollectionAction(t.want, &col)) {
		c.askReconcile(ctx, p)
		return checkReconcile
	}
	observed := collectionStatus(p, &col)
	if equality.Semantic.DeepEqual(p.Status.Collection, observed) {
		return checkUnchanged
	}
	original := p.DeepCopy()
	p.Status.Collection = observed
	if err := c.client.Status().Patch(ctx, p, client.MergeFrom(original)); err != nil {
		if !apierrors.IsNotFound(err) {
			logf.FromContext(ctx).Error(err, "ingest check: patch status", "pipeline", key)
		}
		return checkFailed
	}
	recordMetrics(p)
	return checkWritten
}

// askReconcile hands p to a full reconcile.
func (c *ingestChecker) askReconcile(ctx context.Context, p *v1alpha1.TwitterPipeline) {
	select {
	case c.reconcile <- event.GenericEvent{Object: p}:
	case <-ctx.Done():
	}
}

// healthChanged says whether the collection's state no longer matches the
// CollectionReady condition that a full pass computed from it. Conditions
// set for reasons other than the collection's own state (waiting for the
// stream, an unreachable API) are left to the full reconcile.
func healthChanged(p *v1alpha1.TwitterPipeline, a rockset.CollectionAction) bool {
	cond := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionCollectionReady)
	if cond == nil {
		return false
	}
	switch cond.Reason {
	case ReasonCollectionReady, ReasonIngestFailed, ReasonCollectionPending:
	default:
		return false
	}
	healthy := a.Kind == rockset.CollectionNone
	return healthy != (cond.Status == "True")
}
