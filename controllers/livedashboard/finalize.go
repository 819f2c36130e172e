package livedashboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/secrets"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/rockset"
)

// waitDeletion is how soon a deletion waiting on the server looks again.
const waitDeletion = 2 * time.Second

// giveUpDeletion is how long after deletionTimestamp a failing deletion of
// the key or role is retried. Past it the dashboard is let go with a Warning
// naming what to delete by hand: a server uninstalled first, or a dead
// endpoint, must not hold the dashboard (and its namespace) for ever.
const giveUpDeletion = 5 * time.Minute

// finalize deletes the dashboard's API key, then its role, then the key's
// Secret, and lets the dashboard go; the Deployment and Service follow it
// (garbage collection). A key or role already gone counts as deleted; only
// names carrying the operator's marker (names.DashboardKey) are deleted.
func (r *Reconciler) finalize(ctx context.Context, s *pass) steps.Outcome {
	if !controllerutil.ContainsFinalizer(s.d, v1alpha1.Finalizer) {
		s.finalized = true
		return steps.Stop() // another finalizer holds it; nothing of ours is left
	}
	if o := steps.RunUntil(ctx, s,
		steps.Step[*pass]{Name: "connection", Run: r.connectionForDeletion},
		steps.Step[*pass]{Name: "apiKey", Run: r.deleteAPIKey},
		steps.Step[*pass]{Name: "role", Run: r.deleteRole},
		steps.Step[*pass]{Name: "keySecret", Run: r.deleteKeySecret},
	); o.Intent != steps.IntentDone {
		return o
	}
	return r.removeFinalizer(ctx, s)
}

// connectionForDeletion reaches the server the key was made on: the
// pipeline's, or, when the pipeline is gone, the operator's default. When
// neither can be reached with a key (the pipeline and its key Secret went
// first, as in a namespace deletion), the dashboard is let go with a Warning
// naming the key and role to delete by hand, rather than held for ever.
func (r *Reconciler) connectionForDeletion(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	p := &v1alpha1.TwitterPipeline{}
	err := r.client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.PipelineRef.Name}, p)
	switch {
	case apierrors.IsNotFound(err):
		p = &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace}} // the operator's defaults
	case err != nil:
		return steps.Retry(err)
	}
	conn, err := rocksetconn.Resolve(ctx, r.uncached, p, r.opts.Rockset)
	if secrets.IsMissing(err) || errors.Is(err, rocksetconn.ErrNotConfigured) {
		r.keyLeft(d, err.Error())
		return steps.Done()
	}
	if err != nil {
		return steps.Retry(err)
	}
	madeOn, err := r.keyServer(ctx, d)
	if err != nil {
		return steps.Retry(err)
	}
	if madeOn != "" && madeOn != conn.APIServer {
		r.keyLeft(d, fmt.Sprintf("the key was made on %s, but the operator now reaches only %s (the pipeline is gone or moved)", madeOn, conn.APIServer))
		return steps.Done()
	}
	clients, err := r.rocksetClients(conn)
	if err != nil {
		r.keyLeft(d, err.Error())
		return steps.Done()
	}
	s.clients = clients
	return steps.Done()
}

// keyServer is the endpoint the dashboard's key was made on, as its key
// Secret records it; "" when there is no such Secret or it records none.
func (r *Reconciler) keyServer(ctx context.Context, d *v1alpha1.LiveDashboard) (string, error) {
	var sec corev1.Secret
	err := r.uncached.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: KeySecretName(d)}, &sec)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	if !metav1.IsControlledBy(&sec, d) {
		return "", nil
	}
	return sec.Annotations[keyServerAnnotation], nil
}

// keyLeft says that the key and role could not be deleted, and why.
func (r *Reconciler) keyLeft(d *v1alpha1.LiveDashboard, why string) {
	name := names.DashboardKey(d)
	r.left(d, fmt.Sprintf("Rockset API key %s and role %s", name, name), why)
}

// left says that what (on the Rockset server) could not be deleted, and why.
func (r *Reconciler) left(d *v1alpha1.LiveDashboard, what, why string) {
	r.event(d, status.EventWarning, EventAPIKeyLeft, "Delete", fmt.Sprintf(
		"could not delete %s (%s); delete them on the server if they exist", what, rockset.Redact(why)))
}

// deletionFailed is a failed call deleting what: retried until
// giveUpDeletion has passed since the dashboard's deletion began, then left
// (s.clients cleared, so no later step tries the same server).
func (r *Reconciler) deletionFailed(s *pass, what string, err error) steps.Outcome {
	if r.opts.Now().Sub(s.d.DeletionTimestamp.Time) < giveUpDeletion {
		return steps.Retry(err)
	}
	r.left(s.d, what, fmt.Sprintf("still failing %s after deletion began: %s", giveUpDeletion, rockset.Message(err)))
	s.clients = nil
	return steps.Done()
}

func (r *Reconciler) deleteAPIKey(ctx context.Context, s *pass) steps.Outcome {
	if s.clients == nil {
		return steps.Done()
	}
	name := names.DashboardKey(s.d)
	s.deleting = "deleting Rockset API key " + name
	err := s.clients.access.DeleteAPIKey(ctx, name)
	switch {
	case err == nil:
		r.event(s.d, status.EventNormal, EventAPIKeyDeleted, "Delete", "deleted Rockset API key "+name)
		return steps.Done()
	case rockset.IsNotFound(err):
		return steps.Done()
	case rockset.KindOf(err) == rockset.KindAuth:
		r.keyLeft(s.d, rockset.Message(err))
		s.clients = nil // the role cannot be deleted with this key either
		return steps.Done()
	default:
		return r.deletionFailed(s, fmt.Sprintf("Rockset API key %s and role %s", name, name), err)
	}
}

func (r *Reconciler) deleteRole(ctx context.Context, s *pass) steps.Outcome {
	if s.clients == nil {
		return steps.Done()
	}
	name := names.DashboardKey(s.d)
	s.deleting = "deleting Rockset role " + name
	what := "Rockset role " + name
	role, err := s.clients.access.GetRole(ctx, name)
	switch {
	case rockset.IsNotFound(err):
		return steps.Done()
	case err != nil:
		return r.deletionFailed(s, what, err)
	}
	if !madeByOperator(role) {
		return steps.Done() // someone else's role of the name: never delete it
	}
	err = s.clients.access.DeleteRole(ctx, name)
	switch {
	case err == nil, rockset.IsNotFound(err):
		return steps.Done()
	case rockset.KindOf(err) == rockset.KindRejected:
		// Refused for good: the analytics server answers 400
		// DependentResources while a key holds the role, as when the
		// pipeline's key changed owner after the dashboard's key was made
		// (keys belong to their creator, so that key was out of reach).
		r.left(s.d, what, rockset.Message(err))
		return steps.Done()
	case rockset.IsConflict(err):
		if r.opts.Now().Sub(s.d.DeletionTimestamp.Time) < giveUpDeletion {
			return steps.Wait(waitDeletion) // a key still holds it
		}
		return r.deletionFailed(s, what, err)
	default:
		return r.deletionFailed(s, what, err)
	}
}

func (r *Reconciler) deleteKeySecret(ctx context.Context, s *pass) steps.Outcome {
	var sec corev1.Secret
	err := r.uncached.Get(ctx, types.NamespacedName{Namespace: s.d.Namespace, Name: KeySecretName(s.d)}, &sec)
	switch {
	case apierrors.IsNotFound(err):
		return steps.Done()
	case err != nil:
		return steps.Retry(err)
	}
	if !metav1.IsControlledBy(&sec, s.d) {
		return steps.Done()
	}
	if err := r.client.Delete(ctx, &sec); err != nil && !apierrors.IsNotFound(err) {
		return steps.Retry(err)
	}
	return steps.Done()
}

func (r *Reconciler) removeFinalizer(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	before := d.DeepCopy()
	controllerutil.RemoveFinalizer(d, v1alpha1.Finalizer)
	if err := r.client.Patch(ctx, d, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			s.finalized = true
			return steps.Stop()
		}
		return steps.Retry(fmt.Errorf("remove finalizer: %w", err))
	}
	s.finalized = true
	r.forget(client.ObjectKeyFromObject(d))
	return steps.Stop()
}
