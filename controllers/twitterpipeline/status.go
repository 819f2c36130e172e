package twitterpipeline

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/rockset"
)

// The conditions this controller owns.
var (
	partConditions = []string{
		v1alpha1.ConditionStreamReady,
		v1alpha1.ConditionCollectionReady,
		v1alpha1.ConditionProducerReady,
	}
	notReadyReason = map[string]string{
		v1alpha1.ConditionStreamReady:     ReasonStreamNotReady,
		v1alpha1.ConditionCollectionReady: ReasonCollectionNotReady,
		v1alpha1.ConditionProducerReady:   ReasonProducerNotReady,
	}
)

// computeStatus writes what the pass observed into the pipeline's status.
// Messages hold no counters or timestamps, so an unchanged pipeline produces
// an identical status and no write.
func (r *Reconciler) computeStatus(s *pass, final steps.Outcome) {
	p := s.p
	p.Status.SourceType = sourceType(p)
	observeParts(s)

	if !p.DeletionTimestamp.IsZero() {
		msg := s.deleting
		if msg == "" {
			msg = "cleaning up"
		}
		r.setCondition(p, status.False(v1alpha1.ConditionReady, ReasonDeleting, msg))
		r.setCondition(p, status.True(v1alpha1.ConditionReconciling, ReasonDeleting, msg))
		r.setStalled(p, final)
		recordMetrics(p)
		return
	}

	for _, t := range partConditions {
		if pt, ok := s.parts[t]; ok {
			if pt.ready {
				r.setCondition(p, status.True(t, pt.reason, pt.message))
			} else {
				r.setCondition(p, status.False(t, pt.reason, pt.message))
			}
		}
	}
	stalledNow := r.setStalled(p, final)

	ready := !stalledNow
	reason, msg := ReasonPipelineReady, "the stream, the collection and the producer are ready"
	if stalledNow {
		reason, msg = final.Reason, final.Message
	} else {
		for _, t := range partConditions {
			c := meta.FindStatusCondition(p.Status.Conditions, t)
			if c == nil || c.Status != metav1.ConditionTrue {
				ready = false
				reason = notReadyReason[t]
				msg = fmt.Sprintf("%s is not yet known", t)
				if c != nil {
					msg = c.Message
				}
				break
			}
		}
		if !ready && final.Intent == steps.IntentRetry && final.Err != nil {
			// A transient failure outside the part steps (a read error): say so.
			if c := meta.FindStatusCondition(p.Status.Conditions, reasonCondition(reason)); c == nil {
				msg = "retrying after an error: " + final.Err.Error()
			}
		}
	}
	if ready {
		r.setCondition(p, status.True(v1alpha1.ConditionReady, reason, msg))
		r.removeCondition(p, v1alpha1.ConditionReconciling)
	} else {
		r.setCondition(p, status.False(v1alpha1.ConditionReady, reason, msg))
		if stalledNow {
			r.removeCondition(p, v1alpha1.ConditionReconciling)
		} else {
			r.setCondition(p, status.True(v1alpha1.ConditionReconciling, ReasonProgressing, msg))
		}
	}
	// A stall is a verdict on this generation too: kstatus, Flux and kubectl
	// wait read Stalled only once observedGeneration has caught up. A retry
	// (a transient error) has not finished looking at the spec.
	if final.Intent != steps.IntentRetry {
		p.Status.ObservedGeneration = p.Generation
	}
	recordMetrics(p)
}

// setStalled sets or removes Stalled and reports whether the pipeline is stalled.
func (r *Reconciler) setStalled(p *v1alpha1.TwitterPipeline, final steps.Outcome) bool {
	if final.Intent == steps.IntentStalled {
		r.setCondition(p, status.True(v1alpha1.ConditionStalled, final.Reason, final.Message))
		return true
	}
	r.removeCondition(p, v1alpha1.ConditionStalled)
	return false
}

func reasonCondition(notReady string) string {
	for t, r := range notReadyReason {
		if r == notReady {
			return t
		}
	}
	return ""
}

// observeParts copies the observed stream, integration, collection and
// producer into status.
func observeParts(s *pass) {
	p := s.p
	if s.stream != nil {
		p.Status.Stream = &v1alpha1.StreamStatus{
			Name: s.stream.Name, ARN: s.stream.ARN, Status: s.stream.Status, OpenShards: s.stream.OpenShards,
		}
		if p.Status.Stream.Name == "" {
			p.Status.Stream.Name = s.streamName
		}
	}
	if s.integrationOK {
		p.Status.Integration = &v1alpha1.IntegrationStatus{Name: names.Integration(p), CredentialsChecksum: s.integrationCreds}
	}
	if c := s.collection; c != nil {
		p.Status.Collection = collectionStatus(p, c)
	}
	if d := s.deployment; d != nil {
		ps := &v1alpha1.ProducerStatus{ReadyReplicas: d.Status.ReadyReplicas}
		if s.postsWritten != nil {
			ps.PostsWritten = *s.postsWritten
		} else if p.Status.Producer != nil {
			ps.PostsWritten = p.Status.Producer.PostsWritten
		}
		p.Status.Producer = ps
	}
}

// collectionStatus is status.collection for the collection as read.
func collectionStatus(p *v1alpha1.TwitterPipeline, c *rockset.Collection) *v1alpha1.CollectionStatus {
	cs := &v1alpha1.CollectionStatus{
		Workspace: names.Workspace(p), Name: names.Collection(p), Status: c.Status,
		DocumentCount: c.DocCount,
	}
	if !c.LastUpdated.IsZero() {
		// Whole seconds: metav1.Time serialises to seconds, and a finer
		// in-memory value would look like a change on every check.
		t := metav1.NewTime(c.LastUpdated.UTC().Truncate(time.Second))
		cs.LastIngestTime = &t
	}
	return cs
}

func sourceType(p *v1alpha1.TwitterPipeline) string {
	switch {
	case p.Spec.Source.X != nil:
		return "x"
	case p.Spec.Source.Bluesky != nil:
		return "bluesky"
	case p.Spec.Source.Replay != nil:
		return "replay"
	default:
		return ""
	}
}
