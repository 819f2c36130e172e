package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
)

// `kubectl get dashboards` is how users read results: the short names and
// printer columns must reach the real kubectl.
func TestKubectlGetDashboardsPrintsColumns(t *testing.T) {
	ctx := context.Background()
	d := validDashboard()
	d.Name = "columns"
	d.Spec.PipelineRef.Name = "tweets-pipeline"
	d.Spec.Hashtag = "music"
	if err := k8s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Status.TopHashtags = []v1alpha1.HashtagCount{{Hashtag: "jazz", TweetCount: 12}, {Hashtag: "rock", TweetCount: 3}}
	d.Status.TweetsPerMinute = 42
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "serving"})
	if err := k8s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}

	kubeconfig := apitest.Kubeconfig(t, testEnv)
	for _, resource := range []string{"dashboards", "dashboard", "ld", "livedashboards"} {
		out := apitest.Kubectl(t, kubeconfig, "get", resource, "columns", "-n", "default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl get %s printed %d lines, want header and one row:\n%s", resource, len(lines), out)
		}
		header := strings.Fields(lines[0])
		wantHeader := []string{"NAME", "PIPELINE", "HASHTAG", "TOP", "HASHTAG", "TWEETS/MIN", "READY", "AGE"}
		if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
			t.Errorf("kubectl get %s header = %q, want %q", resource, lines[0], strings.Join(wantHeader, " "))
		}
		row := strings.Fields(lines[1])
		wantRow := []string{"columns", "tweets-pipeline", "music", "jazz", "42", "True"}
		if len(row) < len(wantRow) || strings.Join(row[:len(wantRow)], " ") != strings.Join(wantRow, " ") {
			t.Errorf("kubectl get %s row = %q, want it to start with %q", resource, lines[1], strings.Join(wantRow, " "))
		}
	}

	out := apitest.Kubectl(t, kubeconfig, "get", "streamdash", "-n", "default")
	if !strings.Contains(out, "livedashboard.streamdash.io/columns") {
		t.Errorf("kubectl get streamdash (the category) does not list the dashboard:\n%s", out)
	}
}

func TestKubectlGetPipelinesPrintsColumns(t *testing.T) {
	ctx := context.Background()
	p := validPipeline()
	p.Name = "columns"
	if err := k8s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status.SourceType = "replay"
	p.Status.Stream = &v1alpha1.StreamStatus{Name: "streamdash-default-columns", Status: "ACTIVE", OpenShards: 2}
	p.Status.Collection = &v1alpha1.CollectionStatus{Workspace: "commons", Name: "columns", DocumentCount: 1234}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "StreamNotReady", Message: "creating"})
	if err := k8s.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	kubeconfig := apitest.Kubeconfig(t, testEnv)
	for _, resource := range []string{"tp", "pipeline", "twitterpipelines"} {
		out := apitest.Kubectl(t, kubeconfig, "get", resource, "columns", "-n", "default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl get %s printed:\n%s", resource, out)
		}
		if got, want := strings.Join(strings.Fields(lines[0]), " "), "NAME SOURCE STREAM SHARDS DOCUMENTS READY AGE"; got != want {
			t.Errorf("header = %q, want %q", got, want)
		}
		row := strings.Fields(lines[1])
		want := []string{"columns", "replay", "streamdash-default-columns", "2", "1234", "False"}
		if len(row) < len(want) || strings.Join(row[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("row = %q, want it to start with %q", lines[1], strings.Join(want, " "))
		}
	}
}
