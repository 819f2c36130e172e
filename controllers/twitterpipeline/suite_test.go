package twitterpipeline_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	rs "github.com/rockset/rockset-go-client"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

// The suite runs the controller in a manager against a real kube-apiserver
// (envtest), the Kinesis emulator and the real analytics server (in process).
// Assertions read through `direct`, a client without a cache.

const (
	operatorNamespace = "streamdash-system"
	operatorKeySecret = "streamdash-analytics-apikey"
	apiKey            = "suite-api-key-4f0c1d9e8b7a"
	testImage         = "streamdash:test"
)

var (
	restCfg  *rest.Config
	scheme   = runtime.NewScheme()
	direct   client.Client
	emulator *kinesislocal.Emulator
	kinesisC *awskinesis.Client
	analytic string // http://host:port of the analytics server
	rocksetC *rs.RockClient
	setupErr error
	defaults rocksetconn.Defaults
)

func repoRoot() string {
	root, _ := apitest.RepoRoot()
	return root
}

// envtestParallel is how many tests run at once unless -parallel says
// otherwise: every envtest test of the package. They spend their time
// waiting (resync periods, ingest checks, streams becoming ACTIVE), so go
// test's default, GOMAXPROCS (2 on CI), would leave the package's wall time
// near the sum of its tests instead of its longest one.
const envtestParallel = 16

// TestMain stops the servers that a test started; the table tests of the
// package need none of them.
func TestMain(m *testing.M) {
	flag.Parse()
	apitest.WaitBoundParallel(envtestParallel)
	code := m.Run()
	for i := len(teardown) - 1; i >= 0; i-- {
		teardown[i]()
	}
	os.Exit(code)
}

var (
	suiteOnce sync.Once
	teardown  []func()
)

// needSuite starts the three servers once, on first use; each test then
// starts its own manager.
func needSuite(t testing.TB) {
	t.Helper()
	suiteOnce.Do(func() { setupErr = startSuite() })
	if setupErr != nil {
		t.Fatalf("suite: %v", setupErr)
	}
}

func startSuite() error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		os.Setenv("KUBEBUILDER_ASSETS", filepath.Join(repoRoot(), "bin", "k8s", "1.37.2"))
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	// hack/envtest.sh may still be building the binaries.
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(2 * time.Second) {
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no kube-apiserver in %s: run hack/envtest.sh", assets)
		}
	}
	if os.Getenv("SUITE_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}

	var err error
	var emuLog *os.File
	if os.Getenv("SUITE_LOG") != "" {
		emuLog = os.Stderr
	}
	// kinesis-mock's account shard limit defaults to 50, as a real account's
	// quota might; the scale check needs one shard for each of 100 pipelines.
	os.Setenv("SHARD_LIMIT", "2000")
	emulator, err = kinesislocal.StartProcess(emuLog)
	if err != nil {
		return fmt.Errorf("kinesis emulator: %w", err)
	}
	teardown = append(teardown, emulator.Stop)
	kinesisC = emulator.Client()
	// The analytics server and the controller both take the SDK's default
	// chain: point it at the emulator as the manager's environment would.
	for _, kv := range emulator.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	srv, err := analytics.New(analytics.Config{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(os.TempDir(), fmt.Sprintf("tp-suite-%d", os.Getpid())),
		APIKeys: []string{apiKey}, PollInterval: analyticsPoll(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return fmt.Errorf("analytics server: %w", err)
	}
	teardown = append(teardown, func() { os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("tp-suite-%d", os.Getpid()))) })
	addr, err := srv.Listen()
	if err != nil {
		return fmt.Errorf("analytics listen: %w", err)
	}
	analytic = "http://" + addr.String()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	teardown = append(teardown, func() { cancel(); <-runDone })
	rocksetC, err = rockset.NewClient(analytic, apiKey, nil)
	if err != nil {
		return fmt.Errorf("rockset client: %w", err)
	}

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restCfg, err = env.Start()
	if err != nil {
		return fmt.Errorf("envtest: %w", err)
	}
	teardown = append(teardown, func() { _ = env.Stop() })
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	direct, err = client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := createNamespace(ctx, operatorNamespace); err != nil {
		return err
	}
	if err := direct.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: operatorKeySecret},
		Data:       map[string][]byte{"apikey": []byte(apiKey)},
	}); err != nil {
		return err
	}
	defaults = rocksetconn.Defaults{
		APIServer:       analytic,
		APIKeySecret:    types.NamespacedName{Namespace: operatorNamespace, Name: operatorKeySecret},
		APIKeySecretKey: "apikey",
	}
	return nil
}

// analyticsPoll is the analytics server's idle wait between Kinesis reads:
// short for quick tests, longer at scale so that 100 idle readers do not
// saturate the emulator.
func analyticsPoll() time.Duration {
	if os.Getenv("STREAMDASH_SCALE") != "" {
		return time.Second
	}
	return 100 * time.Millisecond
}

func createNamespace(ctx context.Context, name string) error {
	err := direct.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// writeCounter counts the manager's API writes, per pipeline where it can
// tell, and notes any write or pipeline read outside the manager's own
// namespace: tests run in parallel, and a manager that reaches another
// test's objects would make both tests' counts (and outcomes) meaningless.
type writeCounter struct {
	mu           sync.Mutex
	namespace    string
	writes       map[string]int // by "<verb> <kind>"
	statusWrites map[types.NamespacedName]int
	pipelineGets map[types.NamespacedName]int
	foreign      []string // "<verb> <kind> <namespace>/<name>" outside namespace
}

func newWriteCounter(namespace string) *writeCounter {
	return &writeCounter{namespace: namespace, writes: map[string]int{}, statusWrites: map[types.NamespacedName]int{}, pipelineGets: map[types.NamespacedName]int{}}
}

// touch notes a request about obj that is not in the manager's namespace.
// The caller holds w.mu.
func (w *writeCounter) touch(verb string, obj client.Object) {
	if obj.GetNamespace() != w.namespace {
		w.foreign = append(w.foreign, fmt.Sprintf("%s %T %s/%s", verb, obj, obj.GetNamespace(), obj.GetName()))
	}
}

func (w *writeCounter) write(verb string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	kind := fmt.Sprintf("%T", obj)
	w.writes[verb+" "+kind]++
	w.touch(verb, obj)
	if _, ok := obj.(*v1alpha1.TwitterPipeline); ok && strings.HasPrefix(verb, "status") {
		w.statusWrites[client.ObjectKeyFromObject(obj)]++
	}
}

func (w *writeCounter) snapshot() (total int, byVerb map[string]int, status map[types.NamespacedName]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	byVerb = map[string]int{}
	for k, v := range w.writes {
		byVerb[k] = v
		total += v
	}
	status = map[types.NamespacedName]int{}
	for k, v := range w.statusWrites {
		status[k] = v
	}
	return total, byVerb, status
}

func (w *writeCounter) gets(key types.NamespacedName) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pipelineGets[key]
}

// get notes a read of a pipeline.
func (w *writeCounter) get(key client.ObjectKey, obj client.Object) {
	if _, ok := obj.(*v1alpha1.TwitterPipeline); !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pipelineGets[key]++
	if key.Namespace != w.namespace {
		w.foreign = append(w.foreign, fmt.Sprintf("get TwitterPipeline %s", key))
	}
}

// startManager runs a manager with the controller until the test ends. Its
// cache, and so its controller and ingest check, see only the test's
// namespace and the operator's (where the default API key Secret is
// watched), so tests in other namespaces can run beside it. When the test
// ends, it fails if the manager read a pipeline or wrote anything outside
// the test's namespace.
func startManager(t testing.TB, namespace string, mutate func(*twitterpipeline.Options)) *writeCounter {
	t.Helper()
	needSuite(t)
	counter := newWriteCounter(namespace)
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: scheme,
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{
			namespace: {}, defaults.APIKeySecret.Namespace: {},
		}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptrTo(true)},
		NewClient:              apitest.Observer{Write: counter.write, Get: counter.get}.NewClient,
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	opts := twitterpipeline.Options{
		Rockset:      defaults,
		Image:        testImage,
		AWSRegion:    emulator.Region,
		ResyncPeriod: 2 * time.Second,
		ProducerEnv:  []corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_KINESIS", Value: emulator.Endpoint}},
	}
	if mutate != nil {
		mutate(&opts)
	}
	if err := twitterpipeline.SetupWithManager(mgr, opts); err != nil {
		t.Fatalf("SetupWithManager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		counter.mu.Lock()
		defer counter.mu.Unlock()
		if len(counter.foreign) > 0 {
			t.Errorf("the manager for namespace %s reached outside it (another test's objects?): %q", namespace, counter.foreign)
		}
	})
	return counter
}

func ptrTo[T any](v T) *T { return &v }

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = cond(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getPipeline(t testing.TB, key types.NamespacedName) *v1alpha1.TwitterPipeline {
	t.Helper()
	var p v1alpha1.TwitterPipeline
	if err := direct.Get(context.Background(), key, &p); err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return &p
}

func condition(p *v1alpha1.TwitterPipeline, t string) *metav1.Condition {
	return meta.FindStatusCondition(p.Status.Conditions, t)
}

// waitCondition waits for condType to have status (and reason when given).
func waitCondition(t testing.TB, key types.NamespacedName, condType string, status metav1.ConditionStatus, reason string, timeout time.Duration) *v1alpha1.TwitterPipeline {
	t.Helper()
	var p *v1alpha1.TwitterPipeline
	eventually(t, timeout, fmt.Sprintf("%s %s=%s %s", key, condType, status, reason), func() error {
		p = &v1alpha1.TwitterPipeline{}
		if err := direct.Get(context.Background(), key, p); err != nil {
			return err
		}
		c := condition(p, condType)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("conditions %s", describeConditions(p))
		}
		return nil
	})
	return p
}

func describeConditions(p *v1alpha1.TwitterPipeline) string {
	var b strings.Builder
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "[%s=%s %s: %s] ", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// markProducerAvailable plays the Deployment controller and kubelet, which
// envtest does not run: it reports the producer's rollout as complete.
func markProducerAvailable(t testing.TB, key types.NamespacedName) {
	t.Helper()
	eventually(t, 30*time.Second, "producer Deployment marked available", func() error {
		var d appsv1.Deployment
		if err := direct.Get(context.Background(), types.NamespacedName{Namespace: key.Namespace, Name: key.Name + "-producer"}, &d); err != nil {
			return err
		}
		return setAvailable(context.Background(), &d)
	})
}

func setAvailable(ctx context.Context, d *appsv1.Deployment) error {
	return apitest.SetDeploymentAvailable(ctx, direct, d, true)
}

// events lists the events recorded about a pipeline, by reason.
func events(t testing.TB, key types.NamespacedName) map[string][]string {
	t.Helper()
	return eventsOfType(t, key, "")
}

// eventsOfType lists the events of one type (Normal, Warning; "" for all) by reason.
func eventsOfType(t testing.TB, key types.NamespacedName, eventType string) map[string][]string {
	t.Helper()
	var list eventsv1.EventList
	if err := direct.List(context.Background(), &list, client.InNamespace(key.Namespace)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == key.Name && e.Regarding.Kind == "TwitterPipeline" && (eventType == "" || e.Type == eventType) {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

func waitEvent(t testing.TB, key types.NamespacedName, reason string) []string {
	t.Helper()
	var notes []string
	eventually(t, 30*time.Second, "event "+reason, func() error {
		notes = events(t, key)[reason]
		if len(notes) == 0 {
			return fmt.Errorf("no %s event yet", reason)
		}
		return nil
	})
	return notes
}

func describeStream(name string) (*awskinesis.DescribeStreamSummaryOutput, error) {
	return kinesisC.DescribeStreamSummary(context.Background(), &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
}

func awsSecret(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws"},
		Data:       map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("test"), "AWS_SECRET_ACCESS_KEY": []byte("test")},
	}
}

// newTestPipeline is a synthetic-replay pipeline reading the emulator with the "aws" Secret.
func newTestPipeline(ns, name string, mutate ...func(*v1alpha1.TwitterPipeline)) *v1alpha1.TwitterPipeline {
	p := &v1alpha1.TwitterPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TwitterPipelineSpec{
			Source: v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 42}, Rate: 50}},
			Stream: v1alpha1.StreamSpec{ShardCount: 1, CredentialsSecretRef: &v1alpha1.LocalObjectReference{Name: "aws"}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}
