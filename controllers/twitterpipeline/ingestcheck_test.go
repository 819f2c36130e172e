package twitterpipeline

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/internal/rockset"
)

// TestHealthChanged: the ingest check asks for a full reconcile exactly when
// the collection's state no longer matches the CollectionReady verdict a
// full pass made from it, and leaves verdicts about other things alone.
func TestHealthChanged(t *testing.T) {
	tests := []struct {
		name string
		// cond is CollectionReady's status and reason; "" status: no condition yet.
		status metav1.ConditionStatus
		reason string
		action rockset.CollectionActionKind
		want   bool
	}{
		{"ready and still healthy", metav1.ConditionTrue, ReasonCollectionReady, rockset.CollectionNone, false},
		{"ready, now the source fails", metav1.ConditionTrue, ReasonCollectionReady, rockset.CollectionSourceFailed, true},
		{"ready, now not READY", metav1.ConditionTrue, ReasonCollectionReady, rockset.CollectionWait, true},
		{"failed and still failing", metav1.ConditionFalse, ReasonIngestFailed, rockset.CollectionSourceFailed, false},
		{"failed, now recovered", metav1.ConditionFalse, ReasonIngestFailed, rockset.CollectionNone, true},
		{"pending, now READY", metav1.ConditionFalse, ReasonCollectionPending, rockset.CollectionNone, true},
		{"waiting for the stream: not the collection's verdict", metav1.ConditionFalse, ReasonWaitingForStream, rockset.CollectionNone, false},
		{"API unreachable: the full pass reports it", metav1.ConditionFalse, ReasonAnalyticsUnreachable, rockset.CollectionNone, false},
		{"no verdict yet", "", "", rockset.CollectionNone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline()
			if tc.status != "" {
				meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionCollectionReady, Status: tc.status, Reason: tc.reason})
			}
			if got := healthChanged(p, rockset.CollectionAction{Kind: tc.action}); got != tc.want {
				t.Errorf("healthChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
