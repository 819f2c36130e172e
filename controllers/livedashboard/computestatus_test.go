package livedashboard

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/config/argocd"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/panels"
)

// TestComputeStatus: every outcome of a pass, failures included, leaves
// conditions that kstatus (cli-utils, as Flux and kubectl wait read them)
// and the Argo CD health script read the same way, and the way a user
// should: Failed when they must act, InProgress while work goes on,
// Current only when the dashboard serves and its queries succeed.
func TestComputeStatus(t *testing.T) {
	readyPipeline := &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1}}
	meta.SetStatusCondition(&readyPipeline.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "PipelineReady"})
	pendingPipeline := &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1}}
	dep := func(available bool) *appsv1.Deployment {
		st := corev1.ConditionFalse
		if available {
			st = corev1.ConditionTrue
		}
		return &appsv1.Deployment{Status: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: st, Message: "minimum availability"}}}}
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	serving := func(s *pass) {
		s.p, s.collectionReady, s.keyReady, s.deployment = readyPipeline, true, true, dep(true)
		s.refreshed, s.refreshedAt = true, now
	}
	// wasReady: the last pass found the dashboard serving.
	wasReady := func(d *v1alpha1.LiveDashboard) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Conditions = []metav1.Condition{
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonDashboardReady, ObservedGeneration: d.Generation},
			{Type: v1alpha1.ConditionQueriesHealthy, Status: metav1.ConditionTrue, Reason: ReasonQueriesSucceeded, ObservedGeneration: d.Generation},
		}
	}
	// token looks like an API key; no condition may carry it.
	const token = "k3yLikeT0kenThatMustNeverReachStatus0123456789"
	tests := []struct {
		name string
		// before is the dashboard's status before the pass (nil: none).
		before func(*v1alpha1.LiveDashboard)
		pass   func(*pass)
		final  steps.Outcome
		// want is the kstatus both readers agree on; wantReason Ready's reason.
		want       status.Status
		wantReason string
		// wantObserved: observedGeneration caught up with the generation.
		wantObserved bool
	}{
		{name: "pipeline missing", final: steps.Stalled(ReasonPipelineNotFound, `TwitterPipeline "p" does not exist`, 0),
			want: status.FailedStatus, wantReason: ReasonPipelineNotFound, wantObserved: true},
		{name: "pipeline's key may not make keys", pass: func(s *pass) { s.p = readyPipeline },
			final: steps.Stalled(ReasonAPIKeyNotPermitted, "cannot create role ...", 5*time.Minute),
			want:  status.FailedStatus, wantReason: ReasonAPIKeyNotPermitted, wantObserved: true},
		{name: "someone else's Deployment", pass: func(s *pass) { s.p, s.keyReady = readyPipeline, true },
			final: steps.Stalled(ReasonDeploymentConflict, "Deployment d-dashboard exists", 5*time.Minute),
			want:  status.FailedStatus, wantReason: ReasonDeploymentConflict, wantObserved: true},
		{name: "a transient error before it was ever ready", pass: func(s *pass) { s.p = readyPipeline },
			final: steps.Retry(errors.New("read role: unreachable")),
			want:  status.InProgressStatus, wantReason: ReasonRetrying},
		{name: "a transient error once ready keeps Ready", before: wasReady, pass: func(s *pass) { s.p = readyPipeline },
			final: steps.Retry(errors.New("throttled")),
			want:  status.CurrentStatus, wantReason: ReasonDashboardReady, wantObserved: true},
		{name: "a transient error while the queries fail is not Ready", before: wasReady,
			pass:  func(s *pass) { serving(s); s.queryErr = errors.New("connection refused") },
			final: steps.Retry(errors.New("read role: unreachable")),
			want:  status.InProgressStatus, wantReason: ReasonRetrying, wantObserved: true},
		{name: "errors for longer than a refresh interval are not Ready", before: wasReady,
			pass:  func(s *pass) { s.p, s.retryingFor = readyPipeline, defaultRefreshInterval },
			final: steps.Retry(errors.New("throttled")),
			want:  status.InProgressStatus, wantReason: ReasonRetrying, wantObserved: true},
		{name: "a key-like token in an error is redacted", pass: func(s *pass) { s.p = readyPipeline },
			final: steps.Retry(errors.New("GET /v1/orgs/self?apikey=" + token + ": connection reset")),
			want:  status.InProgressStatus, wantReason: ReasonRetrying},
		{name: "a key-like token in a deletion's error is redacted", before: func(d *v1alpha1.LiveDashboard) {
			t := metav1.NewTime(now)
			d.DeletionTimestamp = &t
			d.Finalizers = []string{v1alpha1.Finalizer}
		}, final: steps.Retry(errors.New("DELETE /v1/orgs/self/apikeys?key=" + token + ": connection reset")),
			want: status.TerminatingStatus, wantReason: ReasonDeleting},
		{name: "pipeline not ready", pass: func(s *pass) { s.p, s.keyReady, s.deployment = pendingPipeline, true, dep(true) },
			final: steps.DoneAt(30 * time.Second), want: status.InProgressStatus, wantReason: ReasonPipelineNotReady, wantObserved: true},
		{name: "Deployment not yet available", pass: func(s *pass) { serving(s); s.deployment = dep(false) },
			final: steps.DoneAt(30 * time.Second), want: status.InProgressStatus, wantReason: ReasonDeploymentNotReady, wantObserved: true},
		{name: "queries failing", pass: func(s *pass) { serving(s); s.queryErr = errors.New("connection refused") },
			final: steps.DoneAt(30 * time.Second), want: status.InProgressStatus, wantReason: panels.Reason(errors.New("connection refused")), wantObserved: true},
		{name: "serving", pass: serving, final: steps.DoneAt(30 * time.Second),
			want: status.CurrentStatus, wantReason: ReasonDashboardReady, wantObserved: true},
		{name: "a stall cleared", before: func(d *v1alpha1.LiveDashboard) {
			d.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: ReasonAPIKeyNotPermitted}}
		}, pass: serving, final: steps.DoneAt(30 * time.Second), want: status.CurrentStatus, wantReason: ReasonDashboardReady, wantObserved: true},
		{name: "deleting", before: func(d *v1alpha1.LiveDashboard) {
			t := metav1.NewTime(now)
			d.DeletionTimestamp = &t
			d.Finalizers = []string{v1alpha1.Finalizer}
		}, pass: func(s *pass) { s.deleting = "deleting Rockset API key k" }, final: steps.Wait(2 * time.Second),
			want: status.TerminatingStatus, wantReason: ReasonDeleting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &v1alpha1.LiveDashboard{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "LiveDashboard"},
				ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", Generation: 2},
				Spec:       v1alpha1.LiveDashboardSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "p"}},
			}
			if tc.before != nil {
				tc.before(d)
			}
			s := &pass{d: d}
			if tc.pass != nil {
				tc.pass(s)
			}
			r := &Reconciler{}
			r.computeStatus(s, tc.final)

			ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %+v, want reason %s", ready, tc.wantReason)
			}
			for _, c := range d.Status.Conditions {
				if strings.Contains(c.Message, token) {
					t.Errorf("%s carries a key-like token: %s", c.Type, c.Message)
				}
			}
			if got := d.Status.ObservedGeneration == d.Generation; got != tc.wantObserved {
				t.Errorf("observedGeneration %d at generation %d: caught up %v, want %v", d.Status.ObservedGeneration, d.Generation, got, tc.wantObserved)
			}
			stalled := meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionStalled)
			reconciling := meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReconciling)
			if stalled && reconciling {
				t.Errorf("both Stalled and Reconciling: %+v", d.Status.Conditions)
			}
			raw, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			health, ks, err := argocd.CheckAgreement(obj)
			// kstatus has a state of its own for an object being deleted,
			// which Argo CD's scripts never see as such: Progressing is its
			// reading of work going on.
			terminating := ks == status.TerminatingStatus && health == "Progressing"
			if err != nil && !terminating {
				t.Errorf("Argo CD and kstatus disagree: %v", err)
			}
			if ks != tc.want {
				t.Errorf("kstatus %s (Argo CD %s), want %s; conditions %+v", ks, health, tc.want, d.Status.Conditions)
			}
		})
	}
}

// TestRetryStreak: the length of a run of failed passes, which decides how
// long a Ready dashboard may keep failing: it starts at 0, grows with the
// clock, ends with a pass that does not fail, and is a new object's own.
func TestRetryStreak(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	now := start
	r := &Reconciler{opts: Options{Now: func() time.Time { return now }}, failing: map[types.NamespacedName]failure{}}
	nn := types.NamespacedName{Namespace: "ns", Name: "d"}
	passes := []struct {
		name   string
		at     time.Duration // since start
		uid    types.UID
		failed bool
		want   time.Duration
	}{
		{name: "first failure", at: 0, uid: "a", failed: true, want: 0},
		{name: "still failing", at: 20 * time.Second, uid: "a", failed: true, want: 20 * time.Second},
		{name: "failing past an interval", at: 45 * time.Second, uid: "a", failed: true, want: 45 * time.Second},
		{name: "a pass that works ends it", at: 50 * time.Second, uid: "a", failed: false, want: 0},
		{name: "a new run starts at 0", at: time.Minute, uid: "a", failed: true, want: 0},
		{name: "a new object under the name", at: 2 * time.Minute, uid: "b", failed: true, want: 0},
	}
	for _, p := range passes {
		now = start.Add(p.at)
		if got := r.retryStreak(nn, p.uid, p.failed); got != p.want {
			t.Errorf("%s: %s, want %s", p.name, got, p.want)
		}
	}
}
