// Package livedashboard is the LiveDashboard controller: a dashboard
// Deployment and Service per LiveDashboard, pointed at its pipeline's
// collection, and the view's panel queries run once per refreshInterval with
// their results written into status, so `kubectl get dashboards` shows them.
package livedashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/secrets"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/rockset"
)

// PipelineRefIndex indexes LiveDashboards by spec.pipelineRef.name, so a
// pipeline event finds its dashboards without listing them all.
const PipelineRefIndex = "spec.pipelineRef.name"

// +kubebuilder:rbac:groups=streamdash.io,resources=livedashboards,verbs=get;list;watch
// +kubebuilder:rbac:groups=streamdash.io,resources=livedashboards/status,verbs=patch
// +kubebuilder:rbac:groups=streamdash.io,resources=twitterpipelines,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles LiveDashboards.
type Reconciler struct {
	client   client.Client
	uncached client.Reader // Secrets: read one at a time, never cached cluster-wide
	reporter status.Reporter
	opts     Options

	mu       sync.Mutex
	attempts map[types.NamespacedName]attempt
	queriers map[string]panels.Querier
}

// SetupWithManager registers the controller, its index and its watches.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	opts.defaults()
	if opts.Image == "" {
		return errors.New("livedashboard: Options.Image is required")
	}
	r := &Reconciler{
		client:   mgr.GetClient(),
		uncached: mgr.GetAPIReader(),
		reporter: status.Reporter{Recorder: mgr.GetEventRecorder("streamdash-livedashboard"), Failures: failureReasons},
		opts:     opts,
		attempts: map[types.NamespacedName]attempt{},
		queriers: map[string]panels.Querier{},
	}
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
		Watches(&v1alpha1.TwitterPipeline{}, handler.EnqueueRequestsFromMapFunc(r.dashboardsOf),
			builder.WithPredicates(pipelineChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
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

// Reconcile brings one dashboard's Deployment and Service in line and, when
// due, refreshes its status from the analytics server. Status is patched at
// most once per call and only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var d v1alpha1.LiveDashboard
	if err := r.client.Get(ctx, req.NamespacedName, &d); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !d.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned objects go with it (garbage collection)
	}
	before := d.Status.DeepCopy()
	res, err := r.reconcile(ctx, &d)
	if !equality.Semantic.DeepEqual(before, &d.Status) {
		patch := &v1alpha1.LiveDashboard{}
		d.DeepCopyInto(patch)
		orig := d.DeepCopy()
		orig.Status = *before
		if perr := r.client.Status().Patch(ctx, patch, client.MergeFrom(orig)); perr != nil {
			return ctrl.Result{}, errors.Join(err, perr)
		}
	}
	if err == nil && res.RequeueAfter > 0 {
		logger.V(1).Info("next refresh", "in", res.RequeueAfter.Round(time.Millisecond))
	}
	return res, err
}

// reconcile runs the steps in order and leaves the outcome in d.Status.
func (r *Reconciler) reconcile(ctx context.Context, d *v1alpha1.LiveDashboard) (ctrl.Result, error) {
	d.Status.URL = URL(d)

	var p v1alpha1.TwitterPipeline
	err := r.client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.PipelineRef.Name}, &p)
	if apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("TwitterPipeline %q does not exist in namespace %s", d.Spec.PipelineRef.Name, d.Namespace)
		r.reporter.Set(d, status.True(v1alpha1.ConditionStalled, ReasonPipelineNotFound, msg))
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, ReasonPipelineNotFound, msg))
		r.reporter.Remove(d, v1alpha1.ConditionReconciling)
		d.Status.ObservedGeneration = d.Generation // a verdict on this generation (kstatus reads Stalled only then)
		return ctrl.Result{}, nil                  // the pipeline watch brings us back when it appears
	}
	if err != nil {
		return ctrl.Result{}, err
	}

	conn, err := rocksetconn.Resolve(ctx, r.uncached, &p, r.opts.Rockset)
	if secrets.IsMissing(err) {
		msg := "the pipeline's API key is not available: " + err.Error()
		r.reporter.Set(d, status.True(v1alpha1.ConditionStalled, ReasonAPIKeyMissing, msg))
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, ReasonAPIKeyMissing, msg))
		r.reporter.Remove(d, v1alpha1.ConditionReconciling)
		d.Status.ObservedGeneration = d.Generation
		// Secrets are not watched per dashboard; look again in a while.
		return ctrl.Result{RequeueAfter: refreshInterval(d)}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	r.reporter.Remove(d, v1alpha1.ConditionStalled)

	dep, err := r.ensureDeployment(ctx, d, &p, conn)
	if err == nil {
		err = r.ensureService(ctx, d)
	}
	var conflict *conflictError
	if errors.As(err, &conflict) {
		// Someone else's object holds the name: retrying cannot help, the
		// user must rename or remove it. Its deletion does not reach us
		// (it is not ours), so look again at a slow pace.
		msg := conflict.Error() + "; delete or rename it, or rename this LiveDashboard"
		r.reporter.Set(d, status.True(v1alpha1.ConditionStalled, conflict.reason, msg))
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, conflict.reason, msg))
		r.reporter.Remove(d, v1alpha1.ConditionReconciling)
		d.Status.ObservedGeneration = d.Generation
		return ctrl.Result{RequeueAfter: conflictRecheck}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}

	pipelineReady := status.IsTrue(&p, v1alpha1.ConditionReady)
	collectionReady := pipelineReady || status.IsTrue(&p, v1alpha1.ConditionCollectionReady)
	if pipelineReady {
		r.reporter.Remove(d, v1alpha1.ConditionReconciling)
	} else {
		r.reporter.Set(d, status.True(v1alpha1.ConditionReconciling, ReasonPipelineNotReady,
			fmt.Sprintf("waiting for TwitterPipeline %q to be Ready", p.Name)))
	}

	interval := refreshInterval(d)
	res := ctrl.Result{RequeueAfter: interval}
	if collectionReady {
		res.RequeueAfter = r.refresh(ctx, d, &p, conn, interval)
	} else if meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueriesHealthy) == nil {
		r.reporter.Set(d, status.False(v1alpha1.ConditionQueriesHealthy, ReasonQueriesPending, "waiting for the pipeline's collection"))
	}

	available, depMsg := deploymentAvailable(dep)
	switch {
	case !pipelineReady:
		// kstatus: not Ready while Reconciling, though old results may show.
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, ReasonPipelineNotReady, fmt.Sprintf("TwitterPipeline %q is not Ready", p.Name)))
	case !available:
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, ReasonDeploymentNotReady, "dashboard Deployment not available: "+depMsg))
	case !status.IsTrue(d, v1alpha1.ConditionQueriesHealthy):
		q := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueriesHealthy)
		r.reporter.Set(d, status.False(v1alpha1.ConditionReady, q.Reason, q.Message))
	default:
		r.reporter.Set(d, status.True(v1alpha1.ConditionReady, ReasonDashboardReady, "the dashboard serves and its queries succeed"))
	}
	d.Status.ObservedGeneration = d.Generation
	return res, nil
}

// refresh runs the view's queries if they are due and returns the wait
// until the next refresh.
func (r *Reconciler) refresh(ctx context.Context, d *v1alpha1.LiveDashboard, p *v1alpha1.TwitterPipeline,
	conn rocksetconn.Connection, interval time.Duration) time.Duration {
	now := r.opts.Now()
	key := client.ObjectKeyFromObject(d)
	r.mu.Lock()
	mem := r.attempts[key]
	r.mu.Unlock()
	if mem.uid != d.UID {
		mem = attempt{} // a new object under an old name
	}
	last := lastAttempt(mem, d)
	due, wait := nextRefresh(last, d.Generation, interval, now)
	if !due {
		return wait
	}
	r.mu.Lock()
	r.attempts[key] = attempt{at: now, generation: d.Generation, uid: d.UID}
	r.mu.Unlock()

	summary, err := r.query(ctx, p, conn, view(d), now)
	if err != nil {
		log.FromContext(ctx).Info("dashboard queries failed", "reason", panels.Reason(err), "error", err.Error())
		r.reporter.Set(d, queriesFailed(err, d.Status.LastRefreshTime))
		return interval
	}
	applySummary(&d.Status, summary, topN(d), now)
	r.reporter.Set(d, status.True(v1alpha1.ConditionQueriesHealthy, ReasonQueriesSucceeded, "the view's queries succeeded"))
	return interval
}

func (r *Reconciler) query(ctx context.Context, p *v1alpha1.TwitterPipeline, conn rocksetconn.Connection, v panels.View, now time.Time) (panels.Summary, error) {
	q, err := r.querier(conn)
	if err != nil {
		return panels.Summary{}, err
	}
	runner, err := panels.New(q, names.Workspace(p), names.Collection(p))
	if err != nil {
		return panels.Summary{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	defer cancel()
	return runner.Summarize(ctx, v, now)
}

// querier returns a client per endpoint and key, reused across dashboards.
func (r *Reconciler) querier(conn rocksetconn.Connection) (panels.Querier, error) {
	sum := sha256.Sum256([]byte(conn.APIServer + "\x00" + conn.APIKey))
	k := hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if q, ok := r.queriers[k]; ok {
		return q, nil
	}
	var (
		q   panels.Querier
		err error
	)
	if r.opts.NewQuerier != nil {
		q, err = r.opts.NewQuerier(conn)
	} else {
		q, err = rockset.NewClient(conn.APIServer, conn.APIKey, r.opts.HTTPClient)
	}
	if err != nil {
		return nil, err
	}
	r.queriers[k] = q
	return q, nil
}

func (r *Reconciler) forget(nn types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.attempts, nn)
}

func (r *Reconciler) ensureDeployment(ctx context.Context, d *v1alpha1.LiveDashboard, p *v1alpha1.TwitterPipeline, conn rocksetconn.Connection) (*appsv1.Deployment, error) {
	desired := desiredDeployment(d, p, conn, &r.opts)
	if err := controllerutil.SetControllerReference(d, desired, r.client.Scheme()); err != nil {
		return nil, err
	}
	var existing appsv1.Deployment
	err := r.client.Get(ctx, client.ObjectKeyFromObject(desired), &existing)
	if apierrors.IsNotFound(err) {
		if err := r.client.Create(ctx, desired); err != nil {
			return nil, err
		}
		return desired, nil
	}
	if err != nil {
		return nil, err
	}
	if !metav1.IsControlledBy(&existing, d) {
		return nil, &conflictError{reason: ReasonDeploymentConflict, kind: "Deployment", name: existing.Name}
	}
	if upToDate(&existing, desired) {
		return &existing, nil
	}
	existing.Labels = desired.Labels
	existing.Annotations = mergeMap(existing.Annotations, desired.Annotations)
	existing.Spec = desired.Spec
	if err := r.client.Update(ctx, &existing); err != nil {
		return nil, err
	}
	return &existing, nil
}

func (r *Reconciler) ensureService(ctx context.Context, d *v1alpha1.LiveDashboard) error {
	desired := desiredService(d)
	if err := controllerutil.SetControllerReference(d, desired, r.client.Scheme()); err != nil {
		return err
	}
	var existing corev1.Service
	err := r.client.Get(ctx, client.ObjectKeyFromObject(desired), &existing)
	if apierrors.IsNotFound(err) {
		return r.client.Create(ctx, desired)
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(&existing, d) {
		return &conflictError{reason: ReasonServiceConflict, kind: "Service", name: existing.Name}
	}
	if upToDate(&existing, desired) {
		return nil
	}
	// The cluster assigns these; keep them.
	desired.Spec.ClusterIP, desired.Spec.ClusterIPs = existing.Spec.ClusterIP, existing.Spec.ClusterIPs
	desired.Spec.IPFamilies, desired.Spec.IPFamilyPolicy = existing.Spec.IPFamilies, existing.Spec.IPFamilyPolicy
	if desired.Spec.Type != corev1.ServiceTypeClusterIP && len(existing.Spec.Ports) == 1 {
		desired.Spec.Ports[0].NodePort = existing.Spec.Ports[0].NodePort
	}
	existing.Labels = desired.Labels
	existing.Annotations = mergeMap(existing.Annotations, desired.Annotations)
	existing.Spec = desired.Spec
	return r.client.Update(ctx, &existing)
}

// conflictError says that an object of the dashboard's name belongs to
// someone else.
type conflictError struct{ reason, kind, name string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s %s exists and is not owned by this LiveDashboard", e.kind, e.name)
}

// conflictRecheck is how often a dashboard stalled on a conflict looks again.
const conflictRecheck = 5 * time.Minute

func mergeMap(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}
