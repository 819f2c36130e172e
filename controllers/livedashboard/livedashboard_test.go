package livedashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/apitest"
)

// wholeSeconds is the controller's clock in the tests: status.lastRefreshTime
// has second precision, so a clock on whole seconds makes it the exact
// instant the queries used, and the expected counts can be computed for it.
func wholeSeconds() time.Time { return time.Now().Truncate(time.Second) }

// dataset: tweets at known distances from now; see the panels tests.
func dataset(now time.Time) []tweet.Document {
	g := tweet.NewGenerator(2026)
	var docs []tweet.Document
	docs = append(docs, panelstest.Spread(g, 100, now.Add(-80*time.Minute), now.Add(-65*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 250, now.Add(-45*time.Minute), now.Add(-15*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 150, now.Add(-9*time.Minute), now.Add(-2*time.Minute))...)
	docs = append(docs, panelstest.Spread(g, 50, now.Add(-50*time.Second), now.Add(-5*time.Second))...)
	return docs
}

func TestLiveDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs envtest, the Kinesis emulator and the analytics server")
	}
	t.Parallel() // its own namespace, manager, analytics server and emulator
	f := panelstest.Start(t, "ld-tweets")
	env, cfg := startAPIServer(t)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: newScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "ld"
	startManager(t, cfg, livedashboard.Options{Image: "streamdash:test", Now: wholeSeconds}, ns)
	newNamespace(t, c, ns)
	keySecret(t, c, ns, "analytics-key", f.APIKey)
	ctx := context.Background()
	// The data goes in first: the "early" dashboard below queries as soon as
	// its pipeline appears.
	now := time.Now()
	docs := dataset(now)
	f.Put(t, docs, len(docs))

	t.Run("stalled until its pipeline appears", func(t *testing.T) {
		if err := c.Create(ctx, dashboardSpec(ns, "early", "late", "", 3, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := waitDashboard(t, c, ns, "early", "Stalled", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return isTrue(d, v1alpha1.ConditionStalled)
		})
		if s := condition(d, v1alpha1.ConditionStalled); s.Reason != livedashboard.ReasonPipelineNotFound || isTrue(d, v1alpha1.ConditionReady) {
			t.Errorf("conditions: %s", describe(d))
		}
		// No requeue is scheduled for a missing pipeline: only the pipeline
		// watch (through the spec.pipelineRef.name index) can bring it back.
		pipeline(t, c, ns, "late", f.Endpoint, "analytics-key", f.Collection, true)
		d = waitDashboard(t, c, ns, "early", "queries after the pipeline appeared", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return condition(d, v1alpha1.ConditionStalled) == nil && isTrue(d, v1alpha1.ConditionQueriesHealthy)
		})
		t.Logf("early: %s", describe(d))
	})

	t.Run("reconciling while its pipeline is not ready", func(t *testing.T) {
		pipeline(t, c, ns, "pending", f.Endpoint, "analytics-key", f.Collection, false)
		if err := c.Create(ctx, dashboardSpec(ns, "waiting", "pending", "", 3, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := waitDashboard(t, c, ns, "waiting", "Reconciling", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return isTrue(d, v1alpha1.ConditionReconciling)
		})
		if r := condition(d, v1alpha1.ConditionReconciling); r.Reason != livedashboard.ReasonPipelineNotReady || d.Status.LastRefreshTime != nil || isTrue(d, v1alpha1.ConditionReady) {
			t.Errorf("waiting: %s, lastRefreshTime %v", describe(d), d.Status.LastRefreshTime)
		}
	})

	const topN = 5

	var tweetsView *v1alpha1.LiveDashboard
	t.Run("tweets view status holds the expected counts", func(t *testing.T) {
		if err := c.Create(ctx, dashboardSpec(ns, "all", "late", "", topN, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := waitDashboard(t, c, ns, "all", "a refresh", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return d.Status.LastRefreshTime != nil && isTrue(d, v1alpha1.ConditionQueriesHealthy)
		})
		at := d.Status.LastRefreshTime.Time
		wantTop := panelstest.TopHashtags(docs, at.Add(-time.Hour), topN)
		if got := fmt.Sprint(d.Status.TopHashtags); got != fmt.Sprint(statusCounts(wantTop)) {
			t.Errorf("topHashtags = %s, want %v", got, wantTop)
		}
		if want := panelstest.Count(docs, "", at.Add(-time.Minute)); d.Status.TweetsLastMinute != want || want == 0 {
			t.Errorf("tweetsLastMinute = %d, want %d (non-zero)", d.Status.TweetsLastMinute, want)
		}
		if want := panelstest.PerMinute(docs, "", 10*time.Minute, at); d.Status.TweetsPerMinute != want || want == 0 {
			t.Errorf("tweetsPerMinute = %d, want %d (non-zero)", d.Status.TweetsPerMinute, want)
		}
		if d.Status.RelatedHashtags != nil || d.Status.Influencers != nil {
			t.Errorf("tweets view has hashtag-view lists: %+v", d.Status)
		}
		if d.Status.URL != "http://all-dashboard.ld.svc:80" {
			t.Errorf("url = %q", d.Status.URL)
		}
		// envtest runs no Deployment controller and no kubelet: the
		// dashboard is not Ready while its Deployment is not Available (the
		// pod serving is proven on a real node by test/e2e).
		if r := condition(d, v1alpha1.ConditionReady); r == nil || r.Status != "False" || r.Reason != livedashboard.ReasonDeploymentNotReady {
			t.Errorf("Ready before the Deployment is available: %s", describe(d))
		}
		checkDeployment(t, c, d, f)

		// The Deployment's Available condition drives Ready both ways,
		// through the Deployment watch, not the next refresh.
		for _, step := range []struct {
			available bool
			want      metav1.ConditionStatus
		}{{true, metav1.ConditionTrue}, {false, metav1.ConditionFalse}, {true, metav1.ConditionTrue}} {
			setDashboardDeploymentAvailable(t, c, d, step.available)
			// Shorter than the 10s refresh interval: the Deployment watch,
			// not a periodic refresh, brings the change.
			d = waitDashboard(t, c, ns, "all", "Ready="+string(step.want), 8*time.Second, func(d *v1alpha1.LiveDashboard) bool {
				r := condition(d, v1alpha1.ConditionReady)
				return r != nil && r.Status == step.want && r.ObservedGeneration == d.Generation
			})
			if r := condition(d, v1alpha1.ConditionReady); !step.available && r.Reason != livedashboard.ReasonDeploymentNotReady {
				t.Errorf("Deployment unavailable: Ready reason %s, want %s", r.Reason, livedashboard.ReasonDeploymentNotReady)
			}
		}
		tweetsView = d
	})

	t.Run("hashtag view status holds the expected related hashtags and influencers", func(t *testing.T) {
		tag := panelstest.TopHashtags(docs, now.Add(-time.Hour), 1)[0].Hashtag
		if err := c.Create(ctx, dashboardSpec(ns, "tag", "late", strings.ToUpper(tag), topN, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := waitDashboard(t, c, ns, "tag", "a refresh", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return d.Status.LastRefreshTime != nil && isTrue(d, v1alpha1.ConditionQueriesHealthy)
		})
		at := d.Status.LastRefreshTime.Time
		wantRel := panelstest.RelatedHashtags(docs, tag, at.Add(-time.Hour), topN)
		if got := fmt.Sprint(d.Status.RelatedHashtags); got != fmt.Sprint(statusCounts(wantRel)) || len(wantRel) == 0 {
			t.Errorf("relatedHashtags = %s, want %v", got, wantRel)
		}
		var wantInf []v1alpha1.Influencer
		for _, i := range panelstest.Influencers(docs, tag, at.Add(-time.Hour), topN) {
			wantInf = append(wantInf, v1alpha1.Influencer{ScreenName: i.ScreenName, FollowersCount: i.Followers})
		}
		if fmt.Sprint(d.Status.Influencers) != fmt.Sprint(wantInf) || len(wantInf) == 0 {
			t.Errorf("influencers = %v, want %v", d.Status.Influencers, wantInf)
		}
		if want := panelstest.Count(docs, tag, at.Add(-time.Minute)); d.Status.TweetsLastMinute != want {
			t.Errorf("tweetsLastMinute = %d, want %d", d.Status.TweetsLastMinute, want)
		}
		if want := panelstest.PerMinute(docs, tag, 10*time.Minute, at); d.Status.TweetsPerMinute != want {
			t.Errorf("tweetsPerMinute = %d, want %d", d.Status.TweetsPerMinute, want)
		}
		if d.Status.TopHashtags != nil {
			t.Errorf("hashtag view has topHashtags: %v", d.Status.TopHashtags)
		}
	})

	t.Run("kubectl get dashboards prints them", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl := filepath.Join(repoRoot(t), "bin", "k8s", "1.37.2", "kubectl")
		// Both dashboards are refreshed by now; read the status before and
		// after kubectl, so the printed row is compared with the status it
		// printed: a refresh in between can change the rate.
		var d *v1alpha1.LiveDashboard
		var out []byte
		for try := 1; ; try++ {
			d = waitDashboard(t, c, ns, "all", "Ready", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool { return isTrue(d, v1alpha1.ConditionReady) })
			var err error
			out, err = exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "dashboards", "-n", ns, "all", "tag").CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl: %v\n%s", err, out)
			}
			var after v1alpha1.LiveDashboard
			if err := c.Get(ctx, client.ObjectKeyFromObject(d), &after); err != nil {
				t.Fatal(err)
			}
			if after.ResourceVersion == d.ResourceVersion {
				break
			}
			if try == 3 {
				t.Fatalf("the dashboard was written during each of %d kubectl runs", try)
			}
		}
		t.Logf("kubectl get dashboards:\n%s", out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 3 {
			t.Fatalf("want a header and 2 rows, got:\n%s", out)
		}
		if h := strings.Fields(lines[0]); strings.Join(h, " ") != "NAME PIPELINE HASHTAG TOP HASHTAG TWEETS/MIN READY AGE" {
			t.Errorf("header = %q", lines[0])
		}
		row := strings.Fields(lines[1])
		if len(row) != 6 || row[0] != "all" || row[1] != "late" || row[2] != d.Status.TopHashtags[0].Hashtag || row[3] != fmt.Sprint(d.Status.TweetsPerMinute) || row[4] != "True" {
			t.Errorf("row for all = %q; status top %s, rate %d", lines[1], d.Status.TopHashtags[0].Hashtag, d.Status.TweetsPerMinute)
		}
		tag := strings.Fields(lines[2])
		if len(tag) < 3 || tag[0] != "tag" || tag[2] != strings.ToUpper(panelstest.TopHashtags(docs, now.Add(-time.Hour), 1)[0].Hashtag) {
			t.Errorf("row for tag = %q", lines[2])
		}
	})

	t.Run("one status write per refresh interval", func(t *testing.T) {
		// Beside the next subtest: that one's dashboard has a pipeline of
		// its own, and this one counts the writes to "all" alone.
		t.Parallel()
		if tweetsView == nil {
			t.Skip("the tweets view did not become Ready")
		}
		// The window runs from one read of the dashboard to the next, and the
		// watch starts at the first read's resourceVersion, so it delivers
		// every write in between however long the apiserver keeps it from
		// opening ("Too large resource version" can take seconds): a watch
		// that opens late must not shorten the window.
		const window = 35 * time.Second
		key := client.ObjectKey{Namespace: ns, Name: "all"}
		var first, last v1alpha1.LiveDashboard
		if err := c.Get(ctx, key, &first); err != nil {
			t.Fatal(err)
		}
		if first.Status.LastRefreshTime == nil {
			t.Fatalf("the tweets view has no refresh: %+v", first.Status)
		}
		start := time.Now()
		wctx, cancel := context.WithCancel(ctx)
		written := make(chan *v1alpha1.LiveDashboard, 16)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			watchDashboards(wctx, t, c, ns, first.ResourceVersion, func(d *v1alpha1.LiveDashboard) {
				select {
				case written <- d:
				case <-wctx.Done():
				}
			}, client.MatchingFields{"metadata.name": "all"})
		}()
		defer func() { cancel(); <-watched }()

		var writes []*v1alpha1.LiveDashboard
		end := time.After(window) // the measurement window itself, not a wait for a condition
	measure:
		for {
			select {
			case d := <-written:
				writes = append(writes, d)
			case <-end:
				break measure
			}
		}
		if err := c.Get(ctx, key, &last); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		// Every write up to the second read, which the watch may not have
		// delivered yet.
		behind := time.After(30 * time.Second)
		for last.ResourceVersion != first.ResourceVersion &&
			(len(writes) == 0 || writes[len(writes)-1].ResourceVersion != last.ResourceVersion) {
			select {
			case d := <-written:
				writes = append(writes, d)
			case <-behind:
				t.Fatalf("the watch did not deliver the write at resourceVersion %s (%d writes seen)", last.ResourceVersion, len(writes))
			}
		}

		t.Logf("status writes in %s with refreshInterval 10s: %d", elapsed.Round(time.Millisecond), len(writes))
		if len(writes) < 3 || len(writes) > 4 {
			t.Errorf("%d status writes in %s, want 3 or 4 (one per 10s interval)", len(writes), elapsed.Round(time.Millisecond))
		}
		// Each write is a refresh, at least an interval after the one before.
		prev := first.Status.LastRefreshTime.Time
		for i, d := range writes {
			at := d.Status.LastRefreshTime
			if at == nil || !at.After(prev) {
				t.Errorf("write %d (resourceVersion %s) is not a refresh: lastRefreshTime %v, the previous %v", i, d.ResourceVersion, at, prev)
				continue
			}
			if gap := at.Sub(prev); gap < 10*time.Second {
				t.Errorf("refreshes at %v and %v only %s apart", prev, at.Time, gap)
			}
			prev = at.Time
		}
	})

	t.Run("failing queries keep the old results", func(t *testing.T) {
		t.Parallel()
		target, _ := url.Parse(f.Endpoint)
		fp := panelstest.NewFlakyProxy(target)
		ps := httptest.NewServer(fp)
		defer ps.Close()
		pipeline(t, c, ns, "flaky", ps.URL, "analytics-key", f.Collection, true)
		if err := c.Create(ctx, dashboardSpec(ns, "flaky", "flaky", "", topN, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		good := waitDashboard(t, c, ns, "flaky", "a refresh", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return d.Status.LastRefreshTime != nil && isTrue(d, v1alpha1.ConditionQueriesHealthy)
		})
		fp.SetDown(true)
		bad := waitDashboard(t, c, ns, "flaky", "QueriesHealthy=False", 40*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			q := condition(d, v1alpha1.ConditionQueriesHealthy)
			return q != nil && q.Status == "False"
		})
		q := condition(bad, v1alpha1.ConditionQueriesHealthy)
		if q.Reason != "AnalyticsUnreachable" || strings.Contains(q.Message, "SELECT") || strings.Contains(q.Message, f.APIKey) {
			t.Errorf("QueriesHealthy = %s: %s", q.Reason, q.Message)
		}
		if isTrue(bad, v1alpha1.ConditionReady) {
			t.Errorf("Ready while queries fail: %s", describe(bad))
		}
		if fmt.Sprint(bad.Status.TopHashtags) != fmt.Sprint(good.Status.TopHashtags) || !bad.Status.LastRefreshTime.Equal(good.Status.LastRefreshTime) {
			t.Errorf("old results not kept: before %v at %v, after %v at %v", good.Status.TopHashtags, good.Status.LastRefreshTime, bad.Status.TopHashtags, bad.Status.LastRefreshTime)
		}
		fp.SetDown(false)
		waitDashboard(t, c, ns, "flaky", "recovery", 40*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return isTrue(d, v1alpha1.ConditionQueriesHealthy) && d.Status.LastRefreshTime.After(good.Status.LastRefreshTime.Time)
		})
	})
}

func statusCounts(in []panelstest.HashtagCount) []v1alpha1.HashtagCount {
	out := make([]v1alpha1.HashtagCount, len(in))
	for i, h := range in {
		out[i] = v1alpha1.HashtagCount{Hashtag: h.Hashtag, TweetCount: h.Tweets}
	}
	return out
}

// checkDeployment: owned, hardened as the contract says, pointed at the
// pipeline's collection with its own key from the mounted Secret.
func checkDeployment(t *testing.T, c client.Client, d *v1alpha1.LiveDashboard, f *panelstest.Fixture) {
	t.Helper()
	var dep appsv1.Deployment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: d.Namespace, Name: d.Name + "-dashboard"}, &dep); err != nil {
		t.Fatal(err)
	}
	if len(dep.OwnerReferences) != 1 || dep.OwnerReferences[0].UID != d.UID || dep.OwnerReferences[0].Controller == nil || !*dep.OwnerReferences[0].Controller {
		t.Errorf("owner references = %+v", dep.OwnerReferences)
	}
	pod := dep.Spec.Template.Spec
	ctr := pod.Containers[0]
	sc := ctr.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context not hardened: %+v", sc)
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v", ctr.Resources)
	}
	args := strings.Join(ctr.Args, " ")
	for _, want := range []string{"--listen=$(POD_IP):8080", "--analytics-endpoint=" + f.Endpoint, "--api-key-file=/etc/streamdash/apikey/apikey",
		"--workspace=commons", "--collection=" + f.Collection, "--window=1h0m0s", "--top-n=5"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, f.APIKey) || len(ctr.Env) != 1 || ctr.Env[0].Name != "POD_IP" {
		t.Errorf("the key reaches the pod other than through the mounted Secret: args %q env %+v", args, ctr.Env)
	}
	// The dashboard's own key (apikey_test.go proves what it can do), never
	// the pipeline's.
	if v := pod.Volumes[0].Secret; v == nil || v.SecretName != livedashboard.KeySecretName(d) || v.Items[0].Key != "apikey" {
		t.Errorf("key volume = %+v, want the dashboard's own Secret %s", pod.Volumes, livedashboard.KeySecretName(d))
	}
	if ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet.Path != "/healthz" || ctr.ReadinessProbe.HTTPGet.Port.StrVal != "http" {
		t.Errorf("readiness probe = %+v", ctr.ReadinessProbe)
	}
	var svc corev1.Service
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: d.Namespace, Name: d.Name + "-dashboard"}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != "http" || len(svc.OwnerReferences) != 1 {
		t.Errorf("service = %+v", svc.Spec)
	}
}

// setDashboardDeploymentAvailable writes the status of d's Deployment as
// the Deployment controller would, its pods ready or not.
func setDashboardDeploymentAvailable(t *testing.T, c client.Client, d *v1alpha1.LiveDashboard, available bool) {
	t.Helper()
	var dep appsv1.Deployment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: d.Namespace, Name: d.Name + "-dashboard"}, &dep); err != nil {
		t.Fatal(err)
	}
	if err := apitest.SetDeploymentAvailable(context.Background(), c, &dep, available); err != nil {
		t.Fatalf("deployment status: %v", err)
	}
}
