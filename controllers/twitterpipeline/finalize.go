package twitterpipeline

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
	"github.com/streamdash/streamdash/internal/rockset"
)

// finalize runs the deletion policy. With Delete it removes, in order, the
// producer, the collection, the integration and the stream, confirming each
// is gone before the next (the collection reads the stream through the
// integration); a part that is already gone counts as deleted. With Retain it
// leaves them and says so.
func (r *Reconciler) finalize(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	if !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		s.finalized = true
		return steps.Stop() // another finalizer holds it; nothing of ours is left
	}
	if p.Spec.DeletionPolicy == v1alpha1.DeletionPolicyRetain {
		r.event(p, status.EventNormal, EventResourcesRetained, "Retain", fmt.Sprintf(
			"deletionPolicy Retain: keeping Kinesis stream %s, Rockset integration %s and collection %s.%s",
			names.Stream(p), names.Integration(p), names.Workspace(p), names.Collection(p)))
		return r.removeFinalizer(ctx, s)
	}

	if p.Status.Stream == nil && p.Status.Integration == nil && p.Status.Collection == nil {
		// Stalled from the start (a missing Secret): nothing outside the
		// cluster was made, so nothing needs the Secrets to be cleaned up.
		if o := r.deleteProducer(ctx, s); o.Intent != steps.IntentDone {
			return o
		}
		r.event(p, status.EventNormal, EventCleanupFinished, "Delete", "nothing to clean up: no stream, integration or collection was created")
		return r.removeFinalizer(ctx, s)
	}
	if o := steps.RunUntil(ctx, s,
		steps.Step[*pass]{Name: "producer", Run: r.deleteProducer},
		steps.Step[*pass]{Name: "connections", Run: r.resolveForDeletion},
		steps.Step[*pass]{Name: "collection", Run: r.deleteCollection},
		steps.Step[*pass]{Name: "integration", Run: r.deleteIntegration},
		steps.Step[*pass]{Name: "stream", Run: r.deleteStream},
	); o.Intent != steps.IntentDone {
		return o
	}
	r.event(p, status.EventNormal, EventCleanupFinished, "Delete", "deleted the producer, the collection, the integration and the stream")
	return r.removeFinalizer(ctx, s)
}

func (r *Reconciler) removeFinalizer(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	before := p.DeepCopy()
	controllerutil.RemoveFinalizer(p, v1alpha1.Finalizer)
	if err := r.client.Patch(ctx, p, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			s.finalized = true
			return steps.Stop()
		}
		return steps.Retry(fmt.Errorf("remove finalizer: %w", err))
	}
	s.finalized = true
	forgetMetrics(p.Namespace, p.Name)
	return steps.Stop() // nothing to requeue; Get will find it gone
}

func (r *Reconciler) deleteProducer(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	var d appsv1.Deployment
	err := r.client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: producerName(p)}, &d)
	if apierrors.IsNotFound(err) {
		return steps.Done()
	}
	if err != nil {
		return steps.Retry(err)
	}
	s.deleting = fmt.Sprintf("deleting producer Deployment %s", d.Name)
	if d.DeletionTimestamp.IsZero() {
		if err := r.client.Delete(ctx, &d, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return steps.Retry(err)
		}
		r.event(p, status.EventNormal, EventProducerDeleted, "Delete", fmt.Sprintf("deleted producer Deployment %s", d.Name))
	}
	return steps.Wait(waitDeletion)
}

// resolveForDeletion needs the same Secrets as creation did. When one is
// gone the cleanup cannot proceed; the user restores it or switches to Retain.
func (r *Reconciler) resolveForDeletion(ctx context.Context, s *pass) steps.Outcome {
	o := r.resolveConnections(ctx, s)
	if o.Intent == steps.IntentStalled {
		msg := fmt.Sprintf("cannot clean up: %s. Restore it, or set spec.deletionPolicy to Retain to keep the stream and collection", o.Message)
		s.deleting = msg
		return steps.Stalled(ReasonDeletionBlocked, msg, 0)
	}
	return o
}

func (r *Reconciler) deleteCollection(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	ws, name := names.Workspace(p), names.Collection(p)
	what := fmt.Sprintf("collection %s.%s", ws, name)
	c, err := s.rockset.GetCollection(ctx, ws, name)
	if err != nil {
		if rockset.IsNotFound(err) {
			return steps.Done()
		}
		return r.rocksetFailed(s, "read "+what, err)
	}
	switch rockset.CollectionOwnership(desiredCollection(p, s.streamName, s.region), c) {
	case rockset.NotOwned:
		return steps.Done() // not this pipeline's: never delete it
	case rockset.Adopted:
		if !deleteAdopted(p) {
			r.event(p, status.EventNormal, EventResourcesRetained, "Retain",
				fmt.Sprintf("keeping adopted %s (spec.adoption.deleteAdopted is false)", what))
			return steps.Done()
		}
	}
	s.deleting = "deleting " + what
	if c.Status != rockset.CollectionDeleted {
		if err := s.rockset.DeleteCollection(ctx, ws, name); err != nil && !rockset.IsNotFound(err) {
			return r.rocksetFailed(s, "delete "+what, err)
		}
		r.event(p, status.EventNormal, EventCollectionDeleted, "Delete", "deleted "+what)
	}
	return steps.Wait(waitDeletion)
}

func (r *Reconciler) deleteIntegration(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	name := names.Integration(p)
	in, err := s.rockset.GetIntegration(ctx, name)
	if err != nil {
		if rockset.IsNotFound(err) {
			return steps.Done()
		}
		return r.rocksetFailed(s, "read integration "+name, err)
	}
	if in.Description != description(p) {
		// Adopted (integrations cannot be marked) or someone else's.
		if !deleteAdopted(p) {
			if adoptionAllowed(p) {
				r.event(p, status.EventNormal, EventResourcesRetained, "Retain",
					fmt.Sprintf("keeping adopted Rockset integration %s (spec.adoption.deleteAdopted is false)", name))
			}
			return steps.Done()
		}
	}
	s.deleting = "deleting integration " + name
	if err := s.rockset.DeleteIntegration(ctx, name); err != nil {
		switch rockset.KindOf(err) {
		case rockset.KindNotFound:
		case rockset.KindConflict, rockset.KindRejected:
			// DEPENDENTRESOURCES: the collection is still going away.
			return steps.Wait(waitDeletion)
		default:
			return r.rocksetFailed(s, "delete integration "+name, err)
		}
	}
	r.event(p, status.EventNormal, EventIntegrationDeleted, "Delete", "deleted Rockset integration "+name)
	return steps.Wait(waitDeletion)
}

func (r *Reconciler) deleteStream(ctx context.Context, s *pass) steps.Outcome {
	name := s.streamName
	st, err := s.streams.Describe(ctx, name)
	if kinesis.IsNotFound(err) {
		return steps.Done()
	}
	if err != nil {
		return r.streamFailed(s, "describe", err)
	}
	if owner, ok := st.Tags[tagPipeline]; !ok || owner != streamTags(s.p)[tagPipeline] {
		return steps.Done() // not this pipeline's stream: never delete it
	}
	if st.Tags[tagAdopted] == "true" && !deleteAdopted(s.p) {
		r.event(s.p, status.EventNormal, EventResourcesRetained, "Retain",
			fmt.Sprintf("keeping adopted Kinesis stream %s (spec.adoption.deleteAdopted is false)", name))
		return steps.Done()
	}
	s.deleting = "deleting stream " + name
	if st.Status != kinesis.StatusDeleting {
		if err := s.streams.Delete(ctx, name); err != nil && !kinesis.IsNotFound(err) {
			return r.streamFailed(s, "delete", err)
		}
		r.event(s.p, status.EventNormal, EventStreamDeleted, "Delete", "deleted Kinesis stream "+name)
	}
	return steps.Wait(waitDeletion)
}
