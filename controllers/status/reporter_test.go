package status

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

type recorded struct{ eventType, reason, note string }

type fakeRecorder struct{ events []recorded }

func (f *fakeRecorder) Eventf(_, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	f.events = append(f.events, recorded{eventtype, reason, fmt.Sprintf(note, args...)})
}

func TestSetRecordsAnEventPerChange(t *testing.T) {
	steps := []struct {
		name       string
		generation int64
		cond       metav1.Condition
		wantChange bool
		wantEvent  *recorded // nil: no event
	}{
		{"new condition", 1, False(v1alpha1.ConditionReady, "StreamNotReady", "creating the stream"), true,
			&recorded{EventNormal, "StreamNotReady", "Ready=False: creating the stream"}},
		{"same again", 1, False(v1alpha1.ConditionReady, "StreamNotReady", "creating the stream"), false, nil},
		{"status flips", 1, True(v1alpha1.ConditionReady, "Ready", "all parts ready"), true,
			&recorded{EventNormal, "Ready", "Ready=True: all parts ready"}},
		{"only the generation moves", 2, True(v1alpha1.ConditionReady, "Ready", "all parts ready"), true, nil},
		{"stalled is a warning", 2, True(v1alpha1.ConditionStalled, "SecretNotFound", "Secret x not found"), true,
			&recorded{EventWarning, "SecretNotFound", "Stalled=True: Secret x not found"}},
		{"message changes", 2, True(v1alpha1.ConditionStalled, "SecretNotFound", "Secret y not found"), true,
			&recorded{EventWarning, "SecretNotFound", "Stalled=True: Secret y not found"}},
		{"failing queries are a warning", 2, False(v1alpha1.ConditionQueriesHealthy, "QueryFailed", "timeout"), true,
			&recorded{EventWarning, "QueryFailed", "QueriesHealthy=False: timeout"}},
		{"a part going False for a failure reason is a warning", 2, False(v1alpha1.ConditionCollectionReady, "IngestFailed", "source ERROR"), true,
			&recorded{EventWarning, "IngestFailed", "CollectionReady=False: source ERROR"}},
		{"recovery is normal", 2, True(v1alpha1.ConditionCollectionReady, "CollectionReady", "ingesting"), true,
			&recorded{EventNormal, "CollectionReady", "CollectionReady=True: ingesting"}},
		{"a part going False while it is created is progress", 2, False(v1alpha1.ConditionCollectionReady, "CollectionCreating", "creating"), true,
			&recorded{EventNormal, "CollectionCreating", "CollectionReady=False: creating"}},
	}
	rec := &fakeRecorder{}
	r := Reporter{Recorder: rec, Failures: map[string]bool{"IngestFailed": true}}
	d := &v1alpha1.LiveDashboard{}
	for _, s := range steps {
		d.Generation = s.generation
		before := len(rec.events)
		if got := r.Set(d, s.cond); got != s.wantChange {
			t.Errorf("%s: Set reported change=%v, want %v", s.name, got, s.wantChange)
		}
		newEvents := rec.events[before:]
		switch {
		case s.wantEvent == nil && len(newEvents) != 0:
			t.Errorf("%s: recorded %v, want no event", s.name, newEvents)
		case s.wantEvent != nil && (len(newEvents) != 1 || newEvents[0] != *s.wantEvent):
			t.Errorf("%s: recorded %v, want [%v]", s.name, newEvents, *s.wantEvent)
		}
		if !IsTrue(d, s.cond.Type) != (s.cond.Status == metav1.ConditionFalse) {
			t.Errorf("%s: condition %s not stored", s.name, s.cond.Type)
		}
	}
	for _, c := range d.Status.Conditions {
		if c.ObservedGeneration != 2 && c.Type != v1alpha1.ConditionQueriesHealthy {
			t.Errorf("condition %s has observedGeneration %d, want 2", c.Type, c.ObservedGeneration)
		}
	}
}
