package localcluster

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

func TestStateOf(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus, gen int64, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, ObservedGeneration: gen, Reason: reason, Message: reason + " message"}
	}
	tests := []struct {
		name       string
		generation int64
		observed   int64
		conds      []metav1.Condition
		wantReady  bool
		// wantReason is the reason the demo prints.
		wantReason string
	}{
		{"no status", 1, 0, nil, false, "NotObserved"},
		{"ready", 2, 2, []metav1.Condition{cond("Ready", "True", 2, "Ready")}, true, "Ready"},
		{"ready for an old generation", 3, 2, []metav1.Condition{cond("Ready", "True", 2, "Ready")}, false, "NotObserved"},
		{"ready condition older than status", 3, 3, []metav1.Condition{cond("Ready", "True", 2, "Ready")}, false, "Ready"},
		{"not ready", 1, 1, []metav1.Condition{cond("Ready", "False", 1, "ProducerNotReady")}, false, "ProducerNotReady"},
		{"stalled without observedGeneration", 1, 0, []metav1.Condition{cond("Stalled", "True", 1, "RocksetRejected"), cond("Ready", "False", 1, "RocksetRejected")}, false, "Stalled/RocksetRejected"},
		{"stale stall", 2, 1, []metav1.Condition{cond("Stalled", "True", 1, "MissingSecret")}, false, "NotObserved"},
		{"observed without conditions", 1, 1, nil, false, "NoStatus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Generation: tc.generation}}
			s := stateOf("TwitterPipeline", p, tc.observed, tc.conds)
			if s.Ready != tc.wantReady || s.Reason != tc.wantReason {
				t.Fatalf("stateOf = ready %v reason %q (%s), want ready %v reason %q", s.Ready, s.Reason, s, tc.wantReady, tc.wantReason)
			}
		})
	}
}
