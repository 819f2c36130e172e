package livedashboard_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/test/apitest"
)

func repoRoot(t testing.TB) string {
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func newScheme(t testing.TB) *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// envtestParallel is how many tests run at once unless -parallel says
// otherwise: every envtest test and the subtests that run side by side.
// They spend their time waiting on refresh intervals, not computing, so
// the default (GOMAXPROCS, 2 on CI) would run them two at a time for no
// gain.
const envtestParallel = 8

// TestMain sets controller-runtime's logger once, before any test (the
// envtest tests run in parallel, and setting it from each is a data race),
// and stops the shared API server after the last.
func TestMain(m *testing.M) {
	flag.Parse()
	apitest.WaitBoundParallel(envtestParallel)
	if os.Getenv("SUITE_LOG") != "" {
		// The controller's own log, "next check in" lines included.
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(-1)),
			func(o *zap.Options) { o.TimeEncoder = zapcore.ISO8601TimeEncoder }))
	} else {
		ctrl.SetLogger(logr.Discard()) // the tests print what they check
	}
	code := m.Run()
	if apiServer.env != nil {
		_ = apiServer.env.Stop()
	}
	os.Exit(code)
}

// apiServer is the one envtest control plane the tests share, started by
// the first test that asks. One, not one per test: five kube-apiservers
// starting at once on two loaded cores time out.
var apiServer struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

// startAPIServer returns the shared envtest (a real kube-apiserver and etcd)
// with the CRDs, starting it on first use. Tests share it, so each works in
// namespaces of its own and its manager watches only those (startManager).
func startAPIServer(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	root := repoRoot(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s", "1.37.2")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no envtest binaries in %s (hack/envtest.sh builds them): %v", assets, err)
	}
	apiServer.once.Do(func() {
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			BinaryAssetsDirectory: assets,
		}
		apiServer.cfg, apiServer.err = env.Start()
		apiServer.env = env
	})
	if apiServer.err != nil {
		t.Fatalf("envtest: %v", apiServer.err)
	}
	return apiServer.env, apiServer.cfg
}

// startManager runs a manager with only the LiveDashboard controller, whose
// cache and so whose controller see only namespaces: the other tests'
// managers run beside it on the same API server, and none may reconcile
// another's dashboards. When the test ends, it fails if the manager wrote
// anything outside namespaces (a second writer of a dashboard would also
// show in the status-write counts of TestLiveDashboard and
// TestManyDashboards). Secrets, the operator's key included, are read
// uncached, from any namespace.
func startManager(t testing.TB, cfg *rest.Config, opts livedashboard.Options, namespaces ...string) {
	t.Helper()
	startManagerLogging(t, cfg, opts, logr.Logger{}, namespaces...)
}

// startManagerLogging is startManager with the manager's logger (the zero
// Logger: controller-runtime's default).
func startManagerLogging(t testing.TB, cfg *rest.Config, opts livedashboard.Options, logger logr.Logger, namespaces ...string) {
	t.Helper()
	if len(namespaces) == 0 {
		t.Fatal("a manager on the shared API server must be given its test's namespaces")
	}
	watched := map[string]cache.Config{}
	g := &namespaceGuard{allowed: map[string]bool{}}
	for _, ns := range namespaces {
		watched[ns] = cache.Config{}
		g.allowed[ns] = true
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 newScheme(t),
		Cache:                  cache.Options{DefaultNamespaces: watched},
		NewClient:              apitest.Observer{Write: g.check}.NewClient,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test runs its own manager in one process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := livedashboard.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		if foreign := g.outside(); len(foreign) > 0 {
			t.Errorf("the manager for namespaces %v wrote outside them (another test's objects): %q", namespaces, foreign)
		}
	})
}

// namespaceGuard notes the writes of a manager's client outside the
// namespaces its test gave it.
type namespaceGuard struct {
	allowed map[string]bool
	mu      sync.Mutex
	foreign []string
}

func (g *namespaceGuard) check(verb string, obj client.Object) {
	if g.allowed[obj.GetNamespace()] {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.foreign = append(g.foreign, fmt.Sprintf("%s %T %s/%s", verb, obj, obj.GetNamespace(), obj.GetName()))
}

func (g *namespaceGuard) outside() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.foreign
}

func newNamespace(t testing.TB, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// pipeline creates a TwitterPipeline reading collection at endpoint, with the
// key in Secret keySecret, and marks it Ready as its controller would.
func pipeline(t testing.TB, c client.Client, ns, name, endpoint, keySecret, collection string, ready bool) *v1alpha1.TwitterPipeline {
	t.Helper()
	ctx := context.Background()
	p := &v1alpha1.TwitterPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TwitterPipelineSpec{
			Source: v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 1}}},
			Rockset: v1alpha1.RocksetSpec{
				APIServer:       endpoint,
				APIKeySecretRef: &v1alpha1.SecretKeyReference{Name: keySecret, Key: "apikey"},
				Collection:      collection,
			},
		},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("creating pipeline %s: %v", name, err)
	}
	if ready {
		setPipelineReady(t, c, p)
	}
	return p
}

func setPipelineReady(t testing.TB, c client.Client, p *v1alpha1.TwitterPipeline) {
	t.Helper()
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "test", ObservedGeneration: p.Generation})
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionCollectionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "test", ObservedGeneration: p.Generation})
	if err := c.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("marking pipeline %s Ready: %v", p.Name, err)
	}
}

func keySecret(t testing.TB, c client.Client, ns, name, key string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"apikey": key}}
	if err := c.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func dashboardSpec(ns, name, pipelineName, hashtag string, topN int32, refresh time.Duration) *v1alpha1.LiveDashboard {
	return &v1alpha1.LiveDashboard{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.LiveDashboardSpec{
			PipelineRef:     v1alpha1.LocalObjectReference{Name: pipelineName},
			Hashtag:         hashtag,
			TopN:            topN,
			RefreshInterval: &metav1.Duration{Duration: refresh},
		},
	}
}

// waitDashboard polls the API server (not a cache) until cond holds.
func waitDashboard(t testing.TB, c client.Client, ns, name, what string, timeout time.Duration, cond func(*v1alpha1.LiveDashboard) bool) *v1alpha1.LiveDashboard {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var d v1alpha1.LiveDashboard
	for {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d)
		if err == nil && cond(&d) {
			return &d
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard %s/%s: timed out waiting for %s; status: %+v (err %v)", ns, name, what, d.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func condition(d *v1alpha1.LiveDashboard, t string) *metav1.Condition {
	return meta.FindStatusCondition(d.Status.Conditions, t)
}

func isTrue(d *v1alpha1.LiveDashboard, t string) bool {
	c := condition(d, t)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == d.Generation
}

func describe(d *v1alpha1.LiveDashboard) string {
	s := ""
	for _, c := range d.Status.Conditions {
		s += fmt.Sprintf("%s=%s(%s) ", c.Type, c.Status, c.Reason)
	}
	return s
}

// watchDashboards calls fn for every MODIFIED LiveDashboard in ns (matching
// opts) after resourceVersion from ("": from when the watch opens) until ctx
// ends. A fresh apiserver's watch cache can refuse a watch for seconds ("Too
// large resource version"); the watch is then opened again from the last
// event it delivered, so no write after from is missed or seen twice.
func watchDashboards(ctx context.Context, t testing.TB, c client.WithWatch, ns, from string, fn func(*v1alpha1.LiveDashboard), opts ...client.ListOption) {
	rv := from
	for ctx.Err() == nil {
		o := append([]client.ListOption{client.InNamespace(ns)}, opts...)
		o = append(o, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		w, err := c.Watch(ctx, &v1alpha1.LiveDashboardList{}, o...)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Modified:
				d := ev.Object.(*v1alpha1.LiveDashboard)
				rv = d.ResourceVersion
				fn(d)
			case watch.Added, watch.Deleted, watch.Bookmark:
				if obj, ok := ev.Object.(client.Object); ok {
					rv = obj.GetResourceVersion()
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					// The events after rv are gone: what fn was to see is lost.
					t.Errorf("watch from resourceVersion %s: %v", rv, err)
					w.Stop()
					return
				}
				if ctx.Err() == nil {
					t.Logf("watch error, reopening from resourceVersion %s: %v", rv, err)
				}
				w.Stop()
			}
		}
		w.Stop()
		if ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
}
