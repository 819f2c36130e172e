package twitterpipeline

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
)

// setCondition sets a condition; the Reporter records its change as an event.
func (r *Reconciler) setCondition(p *v1alpha1.TwitterPipeline, cond metav1.Condition) {
	status.Reporter{Recorder: r.recorder, Failures: failureReasons}.Set(p, cond)
}

func (r *Reconciler) removeCondition(p *v1alpha1.TwitterPipeline, condType string) {
	status.Reporter{Recorder: r.recorder, Failures: failureReasons}.Remove(p, condType)
}
