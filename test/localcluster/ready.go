package localcluster

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// ResourceState is one streamdash resource's readiness, for progress output.
type ResourceState struct {
	Kind, Namespace, Name string
	Ready                 bool
	// Stalled is true while a current Stalled condition says the user must
	// change something.
	Stalled bool
	// Reason and Message come from the Ready condition, or say that the
	// operator has not observed the latest generation yet.
	Reason, Message string
}

func (s ResourceState) String() string {
	state := "ready"
	if !s.Ready {
		state = "not ready"
	}
	msg := strings.TrimSpace(s.Reason + ": " + s.Message)
	return fmt.Sprintf("%s %s/%s %s (%s)", s.Kind, s.Namespace, s.Name, state, strings.Trim(msg, ": "))
}

func stateOf(kind string, obj client.Object, observed int64, conds []metav1.Condition) ResourceState {
	s := ResourceState{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	gen := obj.GetGeneration()
	ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	stalled := meta.FindStatusCondition(conds, v1alpha1.ConditionStalled)
	switch {
	// A stalled pass may leave status.observedGeneration behind; the
	// condition's own observedGeneration says it is current.
	case stalled != nil && stalled.Status == metav1.ConditionTrue && stalled.ObservedGeneration >= gen:
		s.Stalled = true
		s.Reason, s.Message = "Stalled/"+stalled.Reason, stalled.Message
	case observed < gen:
		s.Reason, s.Message = "NotObserved", fmt.Sprintf("the operator has not observed generation %d", gen)
		if ready != nil {
			s.Message += "; last Ready: " + ready.Reason + ": " + ready.Message
		}
	case ready == nil:
		s.Reason, s.Message = "NoStatus", "no Ready condition yet"
	default:
		s.Ready = ready.Status == metav1.ConditionTrue && ready.ObservedGeneration >= gen
		s.Reason, s.Message = ready.Reason, ready.Message
	}
	return s
}

// States lists every TwitterPipeline and LiveDashboard with its readiness.
func (c *Cluster) States(ctx context.Context) ([]ResourceState, error) {
	var pipelines v1alpha1.TwitterPipelineList
	if err := c.Client.List(ctx, &pipelines); err != nil {
		return nil, err
	}
	var dashboards v1alpha1.LiveDashboardList
	if err := c.Client.List(ctx, &dashboards); err != nil {
		return nil, err
	}
	var out []ResourceState
	for i := range pipelines.Items {
		p := &pipelines.Items[i]
		out = append(out, stateOf("TwitterPipeline", p, p.Status.ObservedGeneration, p.Status.Conditions))
	}
	for i := range dashboards.Items {
		d := &dashboards.Items[i]
		out = append(out, stateOf("LiveDashboard", d, d.Status.ObservedGeneration, d.Status.Conditions))
	}
	return out, nil
}

// WaitOptions tune WaitReady.
type WaitOptions struct {
	// Report receives the states every ReportEvery while not all are ready.
	Report      func([]ResourceState)
	ReportEvery time.Duration
	// StalledFor, when set, gives up once a resource has stayed Stalled this
	// long: Stalled is terminal until someone changes the spec.
	StalledFor time.Duration
}

// WaitReady waits until every TwitterPipeline and LiveDashboard is Ready for
// its current generation. It fails with the last states when ctx ends or a
// resource stays Stalled for StalledFor.
func (c *Cluster) WaitReady(ctx context.Context, o WaitOptions) error {
	var lastReport time.Time
	stalledSince := map[string]time.Time{}
	var states []ResourceState
	describe := func(prefix string) error {
		var lines []string
		for _, s := range states {
			lines = append(lines, s.String())
		}
		return fmt.Errorf("%s: %s", prefix, strings.Join(lines, "; "))
	}
	for {
		var err error
		states, err = c.States(ctx)
		if err == nil && len(states) > 0 && allReady(states) {
			return nil
		}
		if err == nil {
			now := time.Now()
			seen := map[string]bool{}
			for _, s := range states {
				key := s.Kind + "/" + s.Namespace + "/" + s.Name
				if !s.Stalled {
					continue
				}
				seen[key] = true
				if _, ok := stalledSince[key]; !ok {
					stalledSince[key] = now
				}
				if o.StalledFor > 0 && now.Sub(stalledSince[key]) >= o.StalledFor {
					return describe(fmt.Sprintf("%s stayed Stalled for %s", key, o.StalledFor))
				}
			}
			for key := range stalledSince {
				if !seen[key] {
					delete(stalledSince, key)
				}
			}
			if o.Report != nil && now.Sub(lastReport) >= o.ReportEvery {
				o.Report(states)
				lastReport = now
			}
		}
		select {
		case <-ctx.Done():
			return describe("not ready")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func allReady(states []ResourceState) bool {
	for _, s := range states {
		if !s.Ready {
			return false
		}
	}
	return true
}

// DashboardURL is where a LiveDashboard can be opened on this machine.
type DashboardURL struct {
	Namespace, Name string
	// View is "Tweets view" or "Hashtag view #tag".
	View string
	// ClusterURL is status.url, the in-cluster Service URL.
	ClusterURL string
	// LocalURL is the Service's ClusterIP address, which this machine
	// reaches through kube-proxy.
	LocalURL string
}

// DashboardURLs lists every LiveDashboard with the ClusterIP URL of its
// <name>-dashboard Service.
func (c *Cluster) DashboardURLs(ctx context.Context) ([]DashboardURL, error) {
	var dashboards v1alpha1.LiveDashboardList
	if err := c.Client.List(ctx, &dashboards); err != nil {
		return nil, err
	}
	var out []DashboardURL
	for _, d := range dashboards.Items {
		u := DashboardURL{Namespace: d.Namespace, Name: d.Name, View: "Tweets view", ClusterURL: d.Status.URL}
		if d.Spec.Hashtag != "" {
			u.View = "Hashtag view #" + strings.TrimPrefix(d.Spec.Hashtag, "#")
		}
		var svc corev1.Service
		if err := c.Client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Name + "-dashboard"}, &svc); err != nil {
			return nil, fmt.Errorf("dashboard %s/%s: %w", d.Namespace, d.Name, err)
		}
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			return nil, fmt.Errorf("dashboard %s/%s: Service %s has no ClusterIP port", d.Namespace, d.Name, svc.Name)
		}
		u.LocalURL = "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}
