package twitterpipeline

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

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

// scriptedReads answers GetCollection with the next error of a script (nil:
// the collection), for runs of failures the real server cannot be made to
// give read by read. TestCollectionDeletedOutOfBand covers NotFound against
// the real analytics server.
type scriptedReads struct {
	rockset.API
	col    rockset.Collection
	script []error
}

func (s *scriptedReads) GetCollection(context.Context, string, string) (rockset.Collection, error) {
	err := s.script[0]
	s.script = s.script[1:]
	if err != nil {
		return rockset.Collection{}, err
	}
	return s.col, nil
}

// TestReadFailuresHandOff: a failed read of the collection hands the
// pipeline to a full reconcile (which sets the condition) at once when the
// collection is gone, after two failed reads in a row otherwise, and once
// per run of failures: a good read, or a full pass that read it, ends the run.
func TestReadFailuresHandOff(t *testing.T) {
	unreachable := &rockset.Error{Op: "get collection", Kind: rockset.KindUnreachable, Err: errors.New("connection refused")}
	notFound := &rockset.Error{Op: "get collection", Kind: rockset.KindNotFound, Err: errors.New("collection not found")}
	// A step is one ingest check (a read's answer and the check's result),
	// or, with pass set, a full pass that read the collection.
	type step struct {
		read error
		pass bool
		want string
	}
	ok := step{want: checkUnchanged}
	tests := []struct {
		name  string
		steps []step
		// wantAsked is how many full reconciles the checks asked for.
		wantAsked int
	}{
		{"one failed read is not worth a full pass",
			[]step{{read: unreachable, want: checkFailed}, ok, {read: unreachable, want: checkFailed}, ok}, 0},
		{"two in a row hand off, once per run",
			[]step{{read: unreachable, want: checkFailed}, {read: unreachable, want: checkReconcile},
				{read: unreachable, want: checkFailed}, {read: unreachable, want: checkFailed}}, 1},
		{"a good read ends the run",
			[]step{{read: unreachable, want: checkFailed}, {read: unreachable, want: checkReconcile}, ok,
				{read: unreachable, want: checkFailed}, {read: unreachable, want: checkReconcile}}, 2},
		{"a collection gone hands off at once",
			[]step{{read: notFound, want: checkReconcile}, {read: notFound, want: checkFailed}}, 1},
		{"gone after a failed read",
			[]step{{read: unreachable, want: checkFailed}, {read: notFound, want: checkReconcile}}, 1},
		{"a full pass that read the collection ends the run",
			[]step{{read: notFound, want: checkReconcile}, {pass: true}, {read: notFound, want: checkReconcile}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline(func(p *v1alpha1.TwitterPipeline) { p.UID = "uid-1" })
			api := &scriptedReads{col: rockset.Collection{Status: "READY", DocCount: 3}}
			p.Status.Collection = collectionStatus(p, &api.col) // a good read has nothing to write
			targets := newCheckTargets()
			key := client.ObjectKeyFromObject(p)
			target := checkTarget{uid: p.UID, api: api}
			targets.set(key, target)
			asked := make(chan event.GenericEvent, len(tc.steps))
			c := &ingestChecker{targets: targets, reconcile: asked}
			for i, s := range tc.steps {
				if s.pass {
					targets.set(key, target)
					continue
				}
				api.script = []error{s.read}
				if got := c.check(context.Background(), p); got != s.want {
					t.Fatalf("check %d (read error %v) = %s, want %s", i+1, s.read, got, s.want)
				}
			}
			if len(asked) != tc.wantAsked {
				t.Errorf("%d full reconciles asked for, want %d", len(asked), tc.wantAsked)
			}
		})
	}
}

// TestCheckSkipsUnseenPipeline: a pipeline recreated under the same name,
// which no full pass has seen, is skipped, not reported unchanged, and its
// predecessor's collection is not read.
func TestCheckSkipsUnseenPipeline(t *testing.T) {
	p := newPipeline(func(p *v1alpha1.TwitterPipeline) { p.UID = "uid-new" })
	targets := newCheckTargets()
	api := &scriptedReads{} // an empty script: a read would panic
	targets.set(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, checkTarget{uid: "uid-old", api: api})
	c := &ingestChecker{targets: targets, reconcile: make(chan event.GenericEvent, 1)}
	if got := c.check(context.Background(), p); got != checkSkipped {
		t.Errorf("check = %s, want %s", got, checkSkipped)
	}
}
