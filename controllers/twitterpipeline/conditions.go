package twitterpipeline

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
)

// setCondition sets a condition through status.Reporter and makes sure its
// change is recorded as an event.
//
// status.Reporter.Set (as committed) compares the new condition with a
// pointer into the conditions slice after meta.SetStatusCondition has
// overwritten it, so it records an event only for a condition that did not
// exist before. Until that is fixed there, the event it missed is recorded
// here, in the same format; once it is fixed, the Reporter records it and
// this adds nothing.
func (r *Reconciler) setCondition(p *v1alpha1.TwitterPipeline, cond metav1.Condition) {
	var before *metav1.Condition
	if c := meta.FindStatusCondition(p.Status.Conditions, cond.Type); c != nil {
		cp := *c
		before = &cp
	}
	spy := &spyRecorder{EventRecorder: r.recorder}
	status.Reporter{Recorder: spy}.Set(p, cond)
	changed := before != nil && (before.Status != cond.Status || before.Reason != cond.Reason || before.Message != cond.Message)
	if changed && !spy.recorded && r.recorder != nil {
		eventType := status.EventNormal
		if cond.Type == v1alpha1.ConditionStalled && cond.Status == metav1.ConditionTrue {
			eventType = status.EventWarning
		}
		note := fmt.Sprintf("%s=%s: %s", cond.Type, cond.Status, cond.Message)
		if len(note) > 1000 {
			note = note[:997] + "..."
		}
		r.recorder.Eventf(p, nil, eventType, cond.Reason, cond.Type, "%s", note)
	}
}

func (r *Reconciler) removeCondition(p *v1alpha1.TwitterPipeline, condType string) {
	status.Reporter{Recorder: r.recorder}.Remove(p, condType)
}

// spyRecorder notes whether the Reporter recorded an event.
type spyRecorder struct {
	events.EventRecorder
	recorded bool
}

func (s *spyRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	s.recorded = true
	if s.EventRecorder != nil {
		s.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
	}
}
