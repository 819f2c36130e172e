// Package twitterpipeline reconciles a TwitterPipeline into a Kinesis stream,
// a Rockset Kinesis integration and collection that ingests the stream, and
// the producer Deployment that fills it, with honest status.
//
// One reconcile reads top to bottom (Reconcile): get the pipeline; a deferred
// status patch that writes only when something changed; deletion; the
// finalizer; an invalid spec stalls; a missing Secret or ConfigMap stalls
// until it appears; then the named steps, each one small and with the same
// signature, whose outcomes combine (the most severe intent, the soonest
// requeue). Status is computed in status.go from what the steps observed.
package twitterpipeline

import (
	"context"
	"errors"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
)

// +kubebuilder:rbac:groups=streamdash.io,resources=twitterpipelines,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=streamdash.io,resources=twitterpipelines/status,verbs=get;patch
// +kubebuilder:rbac:groups=streamdash.io,resources=twitterpipelines/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// ControllerName names the controller, its event recorder and its log lines.
const ControllerName = "streamdash-twitterpipeline"

// Reconciler reconciles TwitterPipelines.
type Reconciler struct {
	client client.Client
	// uncached reads what the manager must not cache cluster-wide: Secrets
	// and ConfigMaps (watched as metadata only) and the producer's pods.
	uncached client.Reader
	opts     Options
	recorder events.EventRecorder
	// targets are the collections the ingest check reads, as full passes found them.
	targets *checkTargets
}

// SetupWithManager registers the controller, its field index and its watches.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	opts.setDefaults()
	if opts.Image == "" {
		return errors.New("twitterpipeline: Options.Image (--image) is required")
	}
	if opts.NewStreams == nil {
		if opts.AWSConfig == nil {
			var loadOpts []func(*awsconfig.LoadOptions) error
			if opts.AWSRegion != "" {
				loadOpts = append(loadOpts, awsconfig.WithRegion(opts.AWSRegion))
			}
			cfg, err := awsconfig.LoadDefaultConfig(context.Background(), loadOpts...)
			if err != nil {
				return fmt.Errorf("twitterpipeline: AWS configuration: %w", err)
			}
			opts.AWSConfig = &cfg
		}
		if opts.AWSRegion == "" {
			opts.AWSRegion = opts.AWSConfig.Region
		}
		clients := &kinesis.Clients{Base: *opts.AWSConfig}
		opts.NewStreams = clients.For
	}
	if opts.NewRockset == nil {
		opts.NewRockset = newRocksetClient(opts.HTTPClient)
	}
	if err := indexReferences(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	rec := mgr.GetEventRecorder(ControllerName)
	r := &Reconciler{client: mgr.GetClient(), uncached: mgr.GetAPIReader(), opts: opts, recorder: rec, targets: newCheckTargets()}
	healthChanged := make(chan event.GenericEvent)
	if err := mgr.Add(&ingestChecker{
		client: mgr.GetClient(), targets: r.targets, interval: opts.IngestCheckInterval, clock: opts.Clock,
		reconcile: healthChanged, workers: opts.MaxConcurrentReconciles,
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("twitterpipeline").
		// Our own status writes do not change the generation: they must not
		// bring the pipeline back (the steady state stays quiet).
		For(&v1alpha1.TwitterPipeline{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		// Metadata only: the manager keeps every Secret's and ConfigMap's
		// name and labels, never their data; values are read uncached, and
		// only those a pipeline references.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.pipelinesForSecret), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.pipelinesForConfigMap), builder.OnlyMetadata).
		// A collection whose health the ingest check saw change.
		WatchesRawSource(source.Channel(healthChanged, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles, RateLimiter: steps.NewRateLimiter()}).
		Complete(r)
}

// Reconcile brings one pipeline one pass closer to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	p := &v1alpha1.TwitterPipeline{}
	if err := r.client.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
			r.targets.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	original := p.DeepCopy()
	s := &pass{p: p}
	var final steps.Outcome

	defer func() {
		if s.finalized {
			return // the finalizer is gone and so, possibly, is the object
		}
		r.computeStatus(s, final)
		if equality.Semantic.DeepEqual(original.Status, p.Status) {
			return
		}
		if err := r.client.Status().Patch(ctx, p, client.MergeFrom(original)); err != nil && !apierrors.IsNotFound(err) {
			result, retErr = ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
	}()

	if !p.DeletionTimestamp.IsZero() {
		r.targets.forget(req.NamespacedName)
		final = r.finalize(ctx, s)
		return r.result(ctx, final)
	}
	if !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		before := p.DeepCopy()
		controllerutil.AddFinalizer(p, v1alpha1.Finalizer)
		if err := r.client.Patch(ctx, p, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			final = steps.Retry(fmt.Errorf("add finalizer: %w", err))
			return r.result(ctx, final)
		}
		original = p.DeepCopy() // the status patch must not carry the old resourceVersion
	}
	if err := validate(p, r.opts.AWSRegion); err != nil {
		final = steps.Stalled(ReasonInvalidSpec, err.Error(), 0)
		return r.result(ctx, final)
	}
	if final = r.resolveConnections(ctx, s); final.Intent != steps.IntentDone {
		return r.result(ctx, final)
	}
	if final = r.checkSourceReferences(ctx, s); final.Intent != steps.IntentDone {
		return r.result(ctx, final)
	}

	final = steps.RunAll(ctx, s,
		steps.Step[*pass]{Name: "stream", Run: r.reconcileStream},
		steps.Step[*pass]{Name: "integration", Run: r.reconcileIntegration},
		steps.Step[*pass]{Name: "collection", Run: r.reconcileCollection},
		steps.Step[*pass]{Name: "apiKeyCopy", Run: r.removeAPIKeyCopy},
		steps.Step[*pass]{Name: "producer", Run: r.reconcileProducer},
	)
	return r.result(ctx, final)
}

// result turns the combined outcome into controller-runtime's terms.
func (r *Reconciler) result(ctx context.Context, o steps.Outcome) (ctrl.Result, error) {
	return steps.Result(ctx, o, r.opts.ResyncPeriod)
}

// event records an action on the pipeline (condition changes are recorded by status.Reporter).
func (r *Reconciler) event(p *v1alpha1.TwitterPipeline, eventType, reason, action, msg string) {
	if r.recorder != nil {
		r.recorder.Eventf(p, nil, eventType, reason, action, "%s", msg)
	}
}
