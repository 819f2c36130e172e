// Package livedashboard is the LiveDashboard controller: a dashboard
// Deployment and Service per LiveDashboard, pointed at its pipeline's
// collection with an API key of its own that may query only that collection,
// and the view's panel queries run once per refreshInterval with their
// results written into status, so `kubectl get dashboards` shows them.
//
// One reconcile reads top to bottom (Reconcile), in the shape of every
// streamdash controller (controllers/steps): get the dashboard; a deferred
// status patch that writes only when something changed; deletion (the key
// and its role are deleted); the finalizer; a missing pipeline or key stalls;
// then the named steps (apiKey, deployment, service, refresh), whose outcomes
// combine. Status is computed in status.go from what the steps observed.
package livedashboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
)

// PipelineRefIndex indexes LiveDashboards by spec.pipelineRef.name, so a
// pipeline event finds its dashboards without listing them all.
const PipelineRefIndex = "spec.pipelineRef.name"

// +kubebuilder:rbac:groups=streamdash.io,resources=livedashboards,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=streamdash.io,resources=livedashboards/status,verbs=patch
// +kubebuilder:rbac:groups=streamdash.io,resources=livedashboards/finalizers,verbs=update
// +kubebuilder:rbac:groups=streamdash.io,resources=twitterpipelines,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// ControllerName names the controller's event recorder.
const ControllerName = "streamdash-livedashboard"

// resyncPeriod bounds how long a dashboard goes unchecked; its refresh
// schedule (refreshInterval, at most this) normally brings it back sooner.
const resyncPeriod = 10 * time.Minute

// Reconciler reconciles LiveDashboards.
type Reconciler struct {
	client   client.Client
	uncached client.Reader // Secrets: read one at a time, never cached cluster-wide
	reporter status.Reporter
	opts     Options

	mu       sync.Mutex
	attempts map[types.NamespacedName]attempt
	// seen is each dashboard's resourceVersion at the end of this
	// controller's last pass over it (after its own writes), to tell a cache
	// that has not caught up with them.
	seen    map[types.NamespacedName]string
	clients map[string]*rocksetClients // by endpoint
	keys    map[types.NamespacedName]keyCheck
	// failing is when each dashboard's current run of failed passes began.
	failing map[types.NamespacedName]failure
}

// failure is the start of a dashboard's run of failed passes.
type failure struct {
	uid   types.UID
	since time.Time
}

// SetupWithManager registers the controller, its index and its watches.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	opts.defaults()
	if opts.Image == "" {
		return errors.New("livedashboard: Options.Image is required")
	}
	r := newReconciler(mgr.GetClient(), mgr.GetAPIReader(), opts)
	r.reporter.Recorder = mgr.GetEventRecorder(ControllerName)
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.LiveDashboard{}, PipelineRefIndex,
		func(o client.Object) []string { return []string{o.(*v1alpha1.LiveDashboard).Spec.PipelineRef.Name} }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("livedashboard").
		// Status writes of its own bump no generation: ignored, so a refresh
		// does not trigger another one.
		For(&v1alpha1.LiveDashboard{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}, builder.WithPredicates(deploymentChanged())).
		Owns(&corev1.Service{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The key Secret, as metadata only: a deleted or edited one brings
		// the dashboard back to make it whole; its value is never cached.
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Watches(&v1alpha1.TwitterPipeline{}, handler.EnqueueRequestsFromMapFunc(r.dashboardsOf),
			builder.WithPredicates(pipelineChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles, RateLimiter: steps.NewRateLimiter()}).
		Complete(r)
}

// newReconciler is a reconciler reading through c (the manager's cache)
// and uncached (the API server), with opts already defaulted.
func newReconciler(c client.Client, uncached client.Reader, opts Options) *Reconciler {
	return &Reconciler{
		client:   c,
		uncached: uncached,
		reporter: status.Reporter{Failures: failureReasons},
		opts:     opts,
		attempts: map[types.NamespacedName]attempt{},
		seen:     map[types.NamespacedName]string{},
		clients:  map[string]*rocksetClients{},
		keys:     map[types.NamespacedName]keyCheck{},
		failing:  map[types.NamespacedName]failure{},
	}
}

// dashboardsOf maps a pipeline to the dashboards that reference it.
func (r *Reconciler) dashboardsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.LiveDashboardList
	if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{PipelineRefIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing dashboards of pipeline", "pipeline", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i, d := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Name}}
	}
	return reqs
}

// pipelineChanged passes pipeline events that matter to a dashboard: it
// appeared or went away, its spec changed, or its readiness changed. Its
// counters (documents, posts written) change all the time and are ignored.
func pipelineChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*v1alpha1.TwitterPipeline)
			n, ok2 := e.ObjectNew.(*v1alpha1.TwitterPipeline)
			if !ok1 || !ok2 {
				return true
			}
			return o.Generation != n.Generation ||
				readyOf(o.Status.Conditions, v1alpha1.ConditionReady) != readyOf(n.Status.Conditions, v1alpha1.ConditionReady) ||
				readyOf(o.Status.Conditions, v1alpha1.ConditionCollectionReady) != readyOf(n.Status.Conditions, v1alpha1.ConditionCollectionReady)
		},
	}
}

// deploymentChanged passes Deployment events that change what status says:
// its availability, or its spec (drift to correct).
func deploymentChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*appsv1.Deployment)
			n, ok2 := e.ObjectNew.(*appsv1.Deployment)
			if !ok1 || !ok2 {
				return true
			}
			a1, _ := deploymentAvailable(o)
			a2, _ := deploymentAvailable(n)
			return o.Generation != n.Generation || a1 != a2
		},
	}
}

func readyOf(conds []metav1.Condition, t string) bool { return meta.IsStatusConditionTrue(conds, t) }

// Reconcile brings one dashboard one pass closer to its spec and, when due,
// refreshes its status from the analytics server.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	d := &v1alpha1.LiveDashboard{}
	if err := r.client.Get(ctx, req.NamespacedName, d); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !r.caughtUp(req.NamespacedName, d) {
		// The cache may not have this controller's last writes yet (a pass
		// queued by the events of the one before runs at once). A status
		// computed from an older one would undo them: the merge patch
		// replaces the whole conditions list, and a finalizer patch on an
		// old resourceVersion conflicts. Read the dashboard itself.
		if err := r.uncached.Get(ctx, req.NamespacedName, d); err != nil {
			if apierrors.IsNotFound(err) {
				r.forget(req.NamespacedName)
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, err
		}
	}
	original := d.DeepCopy()
	s := &pass{d: d}
	var final steps.Outcome

	defer func() {
		if s.finalized {
			return // the finalizer is gone and so, possibly, is the object
		}
		s.retryingFor = r.retryStreak(req.NamespacedName, d.UID, final.Intent == steps.IntentRetry)
		r.computeStatus(s, final)
		if !equality.Semantic.DeepEqual(original.Status, d.Status) {
			if err := r.client.Status().Patch(ctx, d, client.MergeFrom(original)); err != nil {
				if !apierrors.IsNotFound(err) {
					result, retErr = ctrl.Result{}, errors.Join(retErr, fmt.Errorf("patch status: %w", err))
				}
				return
			}
		}
		r.remember(req.NamespacedName, d.ResourceVersion)
	}()

	if !d.DeletionTimestamp.IsZero() {
		final = r.finalize(ctx, s)
		return r.result(ctx, final)
	}
	if !controllerutil.ContainsFinalizer(d, v1alpha1.Finalizer) {
		before := d.DeepCopy()
		controllerutil.AddFinalizer(d, v1alpha1.Finalizer)
		if err := r.client.Patch(ctx, d, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			final = steps.Retry(fmt.Errorf("add finalizer: %w", err))
			return r.result(ctx, final)
		}
		original = d.DeepCopy() // the status patch must not carry the old resourceVersion
	}
	if final = r.findPipeline(ctx, s); final.Intent != steps.IntentDone {
		return r.result(ctx, final)
	}
	if final = r.resolveConnection(ctx, s); final.Intent != steps.IntentDone {
		return r.result(ctx, final)
	}

	final = steps.RunAll(ctx, s,
		steps.Step[*pass]{Name: "apiKey", Run: r.reconcileAPIKey},
		steps.Step[*pass]{Name: "deployment", Run: r.reconcileDeployment},
		steps.Step[*pass]{Name: "service", Run: r.reconcileService},
		steps.Step[*pass]{Name: "refresh", Run: r.refreshStatus},
	)
	return r.result(ctx, final)
}

// result turns the combined outcome into controller-runtime's terms.
func (r *Reconciler) result(ctx context.Context, o steps.Outcome) (ctrl.Result, error) {
	return steps.Result(ctx, o, resyncPeriod)
}

// event records an action on the dashboard (condition changes are recorded by status.Reporter).
func (r *Reconciler) event(d *v1alpha1.LiveDashboard, eventType, reason, action, msg string) {
	if r.reporter.Recorder != nil {
		r.reporter.Recorder.Eventf(d, nil, eventType, reason, action, "%s", msg)
	}
}

func (r *Reconciler) forget(nn types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.attempts, nn)
	delete(r.seen, nn)
	delete(r.keys, nn)
	delete(r.failing, nn)
}

// retryStreak records whether this pass failed and returns for how long the
// dashboard's passes have been failing in a row; a pass that does not fail
// ends the run.
func (r *Reconciler) retryStreak(nn types.NamespacedName, uid types.UID, failed bool) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !failed {
		delete(r.failing, nn)
		return 0
	}
	now := r.opts.Now()
	f, ok := r.failing[nn]
	if !ok || f.uid != uid {
		r.failing[nn] = failure{uid: uid, since: now}
		return 0
	}
	return now.Sub(f.since)
}

// caughtUp reports whether d, read from the cache, is at least what this
// controller last saw and wrote of it: its resourceVersion is the one the
// last pass ended with, or there was no pass yet. A differing one is a cache
// behind, or a write by someone else; either way the API server has the truth.
func (r *Reconciler) caughtUp(nn types.NamespacedName, d *v1alpha1.LiveDashboard) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv, ok := r.seen[nn]
	return !ok || rv == d.ResourceVersion
}

func (r *Reconciler) remember(nn types.NamespacedName, resourceVersion string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[nn] = resourceVersion
}
