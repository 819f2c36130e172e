package twitterpipeline

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
)

// Tags the operator puts on every stream it manages. The pipeline tag also
// guards against two pipelines naming the same stream.
const (
	tagPipeline  = "streamdash.io/pipeline"
	tagManagedBy = "streamdash.io/managed-by"
	managedBy    = "streamdash"
	// tagAdopted marks a stream the pipeline adopted rather than created:
	// deletion keeps it unless spec.adoption.deleteAdopted says otherwise.
	tagAdopted = "streamdash.io/adopted"
)

func streamTags(p *v1alpha1.TwitterPipeline) map[string]string {
	return map[string]string{tagPipeline: p.Namespace + "/" + p.Name, tagManagedBy: managedBy}
}

func desiredStream(p *v1alpha1.TwitterPipeline) kinesis.Desired {
	return kinesis.Desired{Shards: desiredShards(p), RetentionHours: p.Spec.Stream.RetentionHours, Tags: streamTags(p)}
}

// reconcileStream creates or adopts the stream and moves it one step towards
// the spec per pass. It never waits for ACTIVE: it reads, acts once, requeues.
func (r *Reconciler) reconcileStream(ctx context.Context, s *pass) steps.Outcome {
	p, name := s.p, s.streamName
	want := desiredStream(p)

	st, err := s.streams.Describe(ctx, name)
	if kinesis.IsNotFound(err) {
		if err := s.streams.Create(ctx, name, want.Shards, want.Tags); err != nil {
			return r.streamFailed(s, "create", err)
		}
		s.stream = &kinesis.Stream{Name: name, Status: kinesis.StatusCreating, OpenShards: 0}
		if p.Status.Stream != nil && p.Status.Stream.ARN != "" {
			// It existed (we recorded its ARN) and is gone: someone deleted it.
			msg := fmt.Sprintf("stream %s was deleted outside the operator and has been recreated; data not yet ingested was lost", name)
			r.event(p, status.EventWarning, EventStreamRecreated, "Create", msg)
			s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamRecreated, msg)
		} else {
			r.event(p, status.EventNormal, EventStreamCreated, "Create",
				fmt.Sprintf("creating Kinesis stream %s with %d shards in %s", name, want.Shards, s.region))
			s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamCreating, fmt.Sprintf("creating stream %s", name))
		}
		return steps.Wait(waitStream)
	}
	if err != nil {
		return r.streamFailed(s, "describe", err)
	}
	s.stream = &st

	owner, tagged := st.Tags[tagPipeline]
	switch {
	case tagged && owner != want.Tags[tagPipeline]:
		msg := fmt.Sprintf("stream %s belongs to TwitterPipeline %s; choose another spec.stream.name", name, owner)
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamConflict, msg)
		s.streamBlocked = true
		return steps.Stalled(ReasonStreamConflict, msg, r.opts.ResyncPeriod)
	case !tagged && !adoptionAllowed(p):
		msg := fmt.Sprintf("Kinesis stream %s exists and was not created by this pipeline (no %s tag); %s", name, tagPipeline, adoptionHint(p))
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonAdoptionRequired, msg)
		s.streamBlocked = true
		return steps.Stalled(ReasonAdoptionRequired, msg, r.opts.ResyncPeriod)
	case !tagged:
		// Adopting: the tags below mark it as this pipeline's, and as adopted.
		want.Tags[tagAdopted] = "true"
		r.event(p, status.EventNormal, EventStreamAdopted, "Adopt", fmt.Sprintf("adopting existing Kinesis stream %s (spec.adoption.policy Adopt)", name))
	case st.Tags[tagAdopted] == "true":
		want.Tags[tagAdopted] = "true"
	}
	if st.Status == kinesis.StatusDeleting {
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamDeleting,
			fmt.Sprintf("stream %s is being deleted outside the operator; it will be recreated", name))
		return steps.Wait(waitStream)
	}

	a := kinesis.NextAction(want, st)
	switch a.Kind {
	case kinesis.ActionWait:
		reason := ReasonStreamUpdating
		if st.Status == kinesis.StatusCreating {
			reason = ReasonStreamCreating
		}
		msg := fmt.Sprintf("stream %s is %s", name, st.Status)
		if st.OpenShards != want.Shards && st.Status == kinesis.StatusUpdating {
			reason = ReasonStreamResharding
			msg = fmt.Sprintf("stream %s is resharding towards %d shards", name, want.Shards)
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionStreamReady); c != nil && c.Reason == ReasonStreamRecreated {
			// Keep saying why the stream is new until it is ACTIVE again.
			reason, msg = c.Reason, c.Message
		}
		s.setPart(v1alpha1.ConditionStreamReady, false, reason, msg)
		return steps.Wait(waitStream)
	case kinesis.ActionAddTags:
		if err := s.streams.AddTags(ctx, name, a.Tags); err != nil {
			return r.streamFailed(s, "tag", err)
		}
		r.event(p, status.EventNormal, EventStreamTagged, "Tag", fmt.Sprintf("tagged stream %s with its owner", name))
		return steps.Wait(waitStream)
	case kinesis.ActionIncreaseRetention, kinesis.ActionDecreaseRetention:
		var err error
		if a.Kind == kinesis.ActionIncreaseRetention {
			err = s.streams.IncreaseRetention(ctx, name, a.RetentionHours)
		} else {
			err = s.streams.DecreaseRetention(ctx, name, a.RetentionHours)
		}
		if err != nil {
			return r.streamFailed(s, "change retention of", err)
		}
		r.event(p, status.EventNormal, EventStreamRetention, "UpdateRetention",
			fmt.Sprintf("changing retention of stream %s from %dh to %dh", name, st.RetentionHours, a.RetentionHours))
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamUpdating,
			fmt.Sprintf("changing retention of stream %s to %dh", name, a.RetentionHours))
		return steps.Wait(waitStream)
	case kinesis.ActionUpdateShards:
		if err := s.streams.UpdateShardCount(ctx, name, a.Shards); err != nil {
			return r.streamFailed(s, "reshard", err)
		}
		r.event(p, status.EventNormal, EventStreamResharding, "UpdateShardCount",
			fmt.Sprintf("resharding stream %s from %d to %d shards (desired %d)", name, st.OpenShards, a.Shards, want.Shards))
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamResharding,
			fmt.Sprintf("stream %s is resharding towards %d shards", name, want.Shards))
		return steps.Wait(waitStream)
	}
	s.setPart(v1alpha1.ConditionStreamReady, true, ReasonStreamActive,
		fmt.Sprintf("stream %s is ACTIVE with %d open shards", name, st.OpenShards))
	return steps.Done()
}

// streamFailed turns a Kinesis error into the StreamReady condition and the
// right intent: limits and rejected credentials stall (rechecked at the
// resync period, since a quota or an IAM policy changes outside Kubernetes),
// throttling and transient errors retry with backoff.
func (r *Reconciler) streamFailed(s *pass, what string, err error) steps.Outcome {
	msg := fmt.Sprintf("cannot %s stream %s: %v", what, s.streamName, err)
	switch kinesis.KindOf(err) {
	case kinesis.KindThrottled:
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamThrottled,
			fmt.Sprintf("AWS is throttling Kinesis calls for stream %s; retrying with backoff", s.streamName))
		return steps.Retry(err)
	case kinesis.KindLimit:
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonShardLimitExceeded, msg)
		return steps.Stalled(ReasonShardLimitExceeded, msg, r.opts.ResyncPeriod)
	case kinesis.KindAccessDenied:
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonCredentialsRejected, msg)
		return steps.Stalled(ReasonCredentialsRejected, msg, r.opts.ResyncPeriod)
	case kinesis.KindInvalid:
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonInvalidSpec, msg)
		return steps.Stalled(ReasonInvalidSpec, msg, r.opts.ResyncPeriod)
	case kinesis.KindInUse, kinesis.KindNotFound:
		// Busy, or gone between our read and our write: read again soon.
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamUpdating, fmt.Sprintf("stream %s is busy", s.streamName))
		return steps.Wait(waitStream)
	default:
		s.setPart(v1alpha1.ConditionStreamReady, false, ReasonStreamError, msg)
		return steps.Retry(err)
	}
}
