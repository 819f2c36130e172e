package livedashboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/secrets"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/panels"
)

// pass is one reconcile of one dashboard: what it resolved before the steps
// ran and what the steps observed, for the status computation.
type pass struct {
	d *v1alpha1.LiveDashboard

	// p is the dashboard's pipeline; nil when it does not exist.
	p       *v1alpha1.TwitterPipeline
	conn    rocksetconn.Connection
	clients *rocksetClients

	// Observations.
	// keyReady: the dashboard's own key exists and its Secret holds it.
	keyReady   bool
	deployment *appsv1.Deployment
	// refreshed: the queries ran on this pass; summary or queryErr says how.
	refreshed   bool
	refreshedAt time.Time
	summary     panels.Summary
	queryErr    error
	// collectionReady: the pipeline's collection can be queried.
	collectionReady bool
	// retryingFor is how long the passes of this dashboard have been
	// failing in a row, this one included (0 on the first failure).
	retryingFor time.Duration

	// deleting says what deletion is waiting for; finalized that the
	// finalizer was removed and there is no status left to write.
	deleting  string
	finalized bool
}

// findPipeline reads the dashboard's pipeline. A missing one stalls the
// dashboard until it appears (the pipeline watch brings it back).
func (r *Reconciler) findPipeline(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	p := &v1alpha1.TwitterPipeline{}
	err := r.client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.PipelineRef.Name}, p)
	switch {
	case apierrors.IsNotFound(err):
		return steps.Stalled(ReasonPipelineNotFound,
			fmt.Sprintf("TwitterPipeline %q does not exist in namespace %s", d.Spec.PipelineRef.Name, d.Namespace), 0)
	case err != nil:
		return steps.Retry(err)
	}
	s.p = p
	s.collectionReady = status.IsTrue(p, v1alpha1.ConditionReady) || status.IsTrue(p, v1alpha1.ConditionCollectionReady)
	return steps.Done()
}

// resolveConnection reads the pipeline's endpoint and API key: the key the
// operator uses to make the dashboard's own key and to refresh its status.
// It never reaches the dashboard's pod.
func (r *Reconciler) resolveConnection(ctx context.Context, s *pass) steps.Outcome {
	conn, err := rocksetconn.Resolve(ctx, r.uncached, s.p, r.opts.Rockset)
	switch {
	case secrets.IsMissing(err):
		// Secrets are not watched per dashboard: look again in a while.
		return steps.Stalled(ReasonAPIKeyMissing, "the pipeline's API key is not available: "+err.Error(), refreshInterval(s.d))
	case errors.Is(err, rocksetconn.ErrNotConfigured):
		return steps.Stalled(ReasonAPIKeyMissing, err.Error(), refreshInterval(s.d))
	case err != nil:
		return steps.Retry(err)
	}
	clients, err := r.rocksetClients(conn)
	if err != nil {
		return steps.Stalled(ReasonInvalidEndpoint, fmt.Sprintf("Rockset API server %q: %v", conn.APIServer, err), 0)
	}
	s.conn, s.clients = conn, clients
	return steps.Done()
}
