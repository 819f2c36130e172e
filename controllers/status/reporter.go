// Package status is the one place where controllers change conditions, so
// that every condition change is also a Kubernetes event and the kstatus
// summary conditions (Ready, Reconciling, Stalled) are derived the same way
// for every kind.
package status

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// Object is a resource with conditions in its status.
type Object interface {
	client.Object
	GetConditions() *[]metav1.Condition
}

// Event types, as core/v1 spells them.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Reporter sets conditions and records an event for each change.
type Reporter struct {
	Recorder events.EventRecorder
	// Failures are the condition reasons that mean something is wrong (a
	// rejected key, a source in ERROR, a conflict), as opposed to progress
	// (creating, waiting). A condition going False, or Stalled going True,
	// with one of them is a Warning event.
	Failures map[string]bool
}

// Set puts cond on obj (observedGeneration from obj) and, when its status,
// reason or message changed, records an event with the condition's reason and
// message. It reports whether anything changed.
func (r Reporter) Set(obj Object, cond metav1.Condition) bool {
	cond.ObservedGeneration = obj.GetGeneration()
	conds := obj.GetConditions()
	var old *metav1.Condition
	if found := meta.FindStatusCondition(*conds, cond.Type); found != nil {
		// A copy: SetStatusCondition below overwrites the element in place.
		c := *found
		old = &c
	}
	if old != nil && old.Status == cond.Status && old.Reason == cond.Reason &&
		old.Message == cond.Message && old.ObservedGeneration == cond.ObservedGeneration {
		return false
	}
	meta.SetStatusCondition(conds, cond)
	if old != nil && old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message {
		return true // only observedGeneration moved: not news
	}
	if r.Recorder != nil {
		note := fmt.Sprintf("%s=%s: %s", cond.Type, cond.Status, cond.Message)
		r.Recorder.Eventf(obj, nil, r.eventType(cond), cond.Reason, cond.Type, "%s", truncate(note, 1000))
	}
	return true
}

// Remove deletes a condition (Reconciling or Stalled once they no longer apply).
func (r Reporter) Remove(obj Object, condType string) bool {
	return meta.RemoveStatusCondition(obj.GetConditions(), condType)
}

// True, False build conditions; Set fills in observedGeneration.
func True(condType, reason, message string) metav1.Condition {
	return metav1.Condition{Type: condType, Status: metav1.ConditionTrue, Reason: reason, Message: message}
}

// False builds a False condition.
func False(condType, reason, message string) metav1.Condition {
	return metav1.Condition{Type: condType, Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

// IsTrue reports whether obj has condType=True.
func IsTrue(obj Object, condType string) bool {
	return meta.IsStatusConditionTrue(*obj.GetConditions(), condType)
}

// eventType is Warning for what needs attention: Stalled, a failed check,
// and any condition turning False for one of the Failures reasons; Normal
// for progress (a part going False while it is created or updated) and for
// recovery.
func (r Reporter) eventType(c metav1.Condition) string {
	switch {
	case c.Type == v1alpha1.ConditionStalled && c.Status == metav1.ConditionTrue:
		return EventWarning
	case c.Type == v1alpha1.ConditionQueriesHealthy && c.Status == metav1.ConditionFalse:
		return EventWarning
	case c.Status == metav1.ConditionFalse && r.Failures[c.Reason]:
		return EventWarning
	default:
		return EventNormal
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
