// Package localcluster starts the whole streamdash system on one machine, for
// the demo (hack/demo) and the end-to-end suite: a real kube-apiserver and
// etcd (envtest, binaries from hack/envtest.sh) with the CRDs installed, the
// Kinesis emulator (test/kinesislocal), the analytics server and the manager
// as child processes from bin/, and the local kubelet stand-in
// (test/localkubelet) in-process, which runs the producer and dashboard
// Deployments the manager creates.
//
// Programs missing from bin/ are skipped and listed in Cluster.Missing, so
// the control plane still comes up while parts of the system are unbuilt.
package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/kinesislocal"
	"github.com/streamdash/streamdash/test/localkubelet"
)

// K8sVersion is the envtest control plane hack/envtest.sh builds.
const K8sVersion = "1.37.2"

// Programs are the four programs of the image, looked up in BinDir.
var Programs = []string{"manager", "analytics", "producer", "dashboard"}

// Options configure Start. Zero values pick the defaults noted.
type Options struct {
	// RepoRoot is the repository (default: the directory holding go.mod
	// above the working directory).
	RepoRoot string
	// BinDir holds the built programs (default RepoRoot/bin).
	BinDir string
	// AssetsDir holds etcd, kube-apiserver and kubectl (default
	// $KUBEBUILDER_ASSETS, else RepoRoot/bin/k8s/<K8sVersion>).
	AssetsDir string
	// StateDir receives the kubeconfig, logs/, the analytics data and the
	// pods' directories; it is emptied first (default RepoRoot/bin/demo).
	StateDir string
	// OperatorNamespace holds the analytics API-key Secret (default
	// streamdash-system, the manager's default).
	OperatorNamespace string
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
	// SkipManager leaves the manager out (a test may run its own).
	SkipManager bool
	// ManagerArgs are appended to the manager's flags.
	ManagerArgs []string
	// SetGlobalLogger points controller-runtime's global logger at
	// logs/controller-runtime.log; for programs (the demo), not for tests
	// that set their own.
	SetGlobalLogger bool
}

// Cluster is a running local system. Stop it with Stop.
type Cluster struct {
	// Config reaches the API server as cluster admin.
	Config *rest.Config
	// Client reads and writes the API server directly (no cache).
	Client client.Client
	// Kubeconfig is the path of the written kubeconfig.
	Kubeconfig string
	// Kubectl is the path of the kubectl binary.
	Kubectl string
	// Kinesis is the emulator.
	Kinesis *kinesislocal.Emulator
	// AnalyticsURL is the analytics server's base URL ("" when not built).
	AnalyticsURL string
	// Kubelet runs the operator's Deployments.
	Kubelet *localkubelet.Kubelet
	// StateDir and LogDir are where state and logs go.
	StateDir, LogDir string
	// Missing lists the programs not found in BinDir.
	Missing []string

	opts           Options
	env            *envtest.Environment
	apiKey         string
	analyticsArgs  []string
	analyticsEnv   []string
	mu             sync.Mutex
	analytics      *process
	manager        *process
	stopKubelet    context.CancelFunc
	kubeletDone    chan error
	stopOnce       sync.Once
	controlPlaneUp bool
}

// Start brings the system up. On error it stops whatever it started.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, StateDir: opts.StateDir, LogDir: filepath.Join(opts.StateDir, "logs")}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	// A fresh state per run: old data would make a second run see the first
	// run's streams and collections, which the new emulator no longer has.
	if err := os.RemoveAll(opts.StateDir); err != nil {
		return nil, err
	}
	for _, d := range []string{c.LogDir, filepath.Join(opts.StateDir, "secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if opts.SetGlobalLogger {
		f, err := os.Create(c.logFile("controller-runtime"))
		if err != nil {
			return nil, err
		}
		ctrllog.SetLogger(zap.New(zap.WriteTo(f)))
	}
	for _, p := range Programs {
		if _, err := os.Stat(filepath.Join(opts.BinDir, p)); err != nil {
			c.Missing = append(c.Missing, p)
		}
	}
	if err := c.startControlPlane(ctx); err != nil {
		return nil, err
	}
	if err := c.startKinesis(); err != nil {
		return nil, err
	}
	if err := c.createAPIKey(ctx); err != nil {
		return nil, err
	}
	if !c.missing("analytics") {
		if err := c.StartAnalytics(ctx); err != nil {
			return nil, err
		}
	}
	if !opts.SkipManager && !c.missing("manager") {
		if err := c.startManager(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.startKubelet(); err != nil {
		return nil, err
	}
	return c, nil
}

func (o *Options) defaults() error {
	if o.RepoRoot == "" {
		root, err := apitest.RepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.BinDir == "" {
		o.BinDir = filepath.Join(o.RepoRoot, "bin")
	}
	if o.AssetsDir == "" {
		o.AssetsDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if o.AssetsDir == "" {
		o.AssetsDir = filepath.Join(o.RepoRoot, "bin", "k8s", K8sVersion)
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.BinDir, "demo")
	}
	if o.OperatorNamespace == "" {
		o.OperatorNamespace = "streamdash-system"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for _, p := range []*string{&o.BinDir, &o.AssetsDir, &o.StateDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(o.AssetsDir, b)); err != nil {
			return fmt.Errorf("%s is missing from %s: run hack/envtest.sh (make envtest)", b, o.AssetsDir)
		}
	}
	return nil
}

func (c *Cluster) missing(program string) bool {
	for _, m := range c.Missing {
		if m == program {
			return true
		}
	}
	return false
}

func (c *Cluster) progress(format string, args ...any) {
	fmt.Fprintf(c.opts.Progress, format+"\n", args...)
}

func (c *Cluster) logFile(name string) string { return filepath.Join(c.LogDir, name+".log") }

func (c *Cluster) startControlPlane(ctx context.Context) error {
	logf, err := os.Create(c.logFile("control-plane"))
	if err != nil {
		return err
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: c.opts.AssetsDir,
		CRDDirectoryPaths:     []string{filepath.Join(c.opts.RepoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	c.env.ControlPlane.APIServer = &envtest.APIServer{Out: logf, Err: logf}
	c.env.ControlPlane.Etcd = &envtest.Etcd{Out: logf, Err: logf}
	cfg, err := c.env.Start()
	if err != nil {
		return fmt.Errorf("start etcd and kube-apiserver (log %s): %w", c.logFile("control-plane"), err)
	}
	c.controlPlaneUp = true
	admin, err := c.env.AddUser(envtest.User{Name: "streamdash-demo-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return err
	}
	c.Config = admin.Config()
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.StateDir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	c.Kubectl = filepath.Join(c.opts.AssetsDir, "kubectl")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	c.progress("control plane: kube-apiserver %s with the streamdash CRDs; kubeconfig %s", c.Config.Host, c.Kubeconfig)
	return nil
}

func (c *Cluster) startKinesis() error {
	logf, err := os.Create(c.logFile("kinesis"))
	if err != nil {
		return err
	}
	e, err := kinesislocal.StartProcess(logf)
	if err != nil {
		logf.Close()
		return fmt.Errorf("kinesis emulator (run hack/kinesis-local.sh install): %w", err)
	}
	c.Kinesis = e
	c.progress("kinesis emulator: %s", e.Endpoint)
	return nil
}

// createAPIKey makes the analytics API key: a file for the server and the
// Secret the manager reads by default. The key itself is never printed.
func (c *Cluster) createAPIKey(ctx context.Context) error {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	c.apiKey = hex.EncodeToString(b)
	if err := os.WriteFile(filepath.Join(c.StateDir, "secrets", "analytics-apikey"), []byte(c.apiKey+"\n"), 0o600); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.opts.OperatorNamespace}}
	if err := c.Client.Create(ctx, ns); err != nil {
		return err
	}
	return c.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.opts.OperatorNamespace, Name: "streamdash-analytics-apikey"},
		Data:       map[string][]byte{"apikey": []byte(c.apiKey)},
	})
}

// APIKey is the analytics server's key, for tests that query it directly.
func (c *Cluster) APIKey() string { return c.apiKey }

// StartAnalytics starts the analytics server (again, after KillAnalytics or
// StopAnalytics: same address, same data directory).
func (c *Cluster) StartAnalytics(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.analytics != nil {
		return errors.New("analytics is already running")
	}
	if c.analyticsArgs == nil {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		c.AnalyticsURL = "http://" + addr
		c.analyticsArgs = []string{
			"--listen=" + addr,
			"--data-dir=" + filepath.Join(c.StateDir, "analytics-data"),
			"--api-key-file=" + filepath.Join(c.StateDir, "secrets", "analytics-apikey"),
		}
		c.analyticsEnv = append(baseEnv(), c.Kinesis.Env()...)
	}
	p, err := startProcess("analytics", filepath.Join(c.opts.BinDir, "analytics"), c.analyticsArgs, c.analyticsEnv, c.logFile("analytics"))
	if err != nil {
		return err
	}
	if err := p.waitHTTP(ctx, c.AnalyticsURL+"/readyz", 60*time.Second); err != nil {
		p.kill()
		return err
	}
	c.analytics = p
	c.progress("analytics server: %s (log %s)", c.AnalyticsURL, p.logPath)
	return nil
}

// KillAnalytics kills the analytics server at once, as a crash would.
func (c *Cluster) KillAnalytics() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.analytics.kill()
	c.analytics = nil
}

// StopAnalytics stops the analytics server gracefully.
func (c *Cluster) StopAnalytics() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.analytics.stop(15 * time.Second)
	c.analytics = nil
}

func (c *Cluster) startManager(ctx context.Context) error {
	probe, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + probe,
		"--image=streamdash:local",
		"--zap-devel=false",
	}
	if c.AnalyticsURL != "" {
		args = append(args, "--rockset-api-server="+c.AnalyticsURL)
	}
	args = append(args, c.opts.ManagerArgs...)
	env := append(baseEnv(), "KUBECONFIG="+c.Kubeconfig)
	env = append(env, c.Kinesis.Env()...)
	p, err := startProcess("manager", filepath.Join(c.opts.BinDir, "manager"), args, env, c.logFile("manager"))
	if err != nil {
		return err
	}
	c.manager = p
	if err := p.waitHTTP(ctx, "http://"+probe+"/readyz", 60*time.Second); err != nil {
		return err
	}
	c.progress("manager: running (log %s)", p.logPath)
	return nil
}

func (c *Cluster) startKubelet() error {
	logf, err := os.Create(c.logFile("localkubelet"))
	if err != nil {
		return err
	}
	podEnv := baseEnv()
	// What a node would provide: credentials from an instance profile (the
	// emulator accepts any), and no metadata service to wait for.
	podEnv = append(podEnv, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	k, err := localkubelet.New(c.Config, localkubelet.Options{
		BinDir:   c.opts.BinDir,
		WorkDir:  filepath.Join(c.StateDir, "pods"),
		LogDir:   filepath.Join(c.LogDir, "pods"),
		Selector: localkubelet.ManagedBySelector,
		BaseEnv:  podEnv,
		Logger:   zap.New(zap.WriteTo(logf)),
		// kubectl get pods shows what runs, as on a cluster.
		PublishPods: true,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Kubelet, c.stopKubelet, c.kubeletDone = k, cancel, make(chan error, 1)
	go func() { c.kubeletDone <- k.Run(ctx) }()
	c.progress("local kubelet: running Deployments labelled app.kubernetes.io/managed-by=streamdash (pod logs in %s)", filepath.Join(c.LogDir, "pods"))
	return nil
}

// Stop stops everything Start started, in reverse order, and waits for it.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		if c.stopKubelet != nil {
			c.stopKubelet()
			<-c.kubeletDone
		}
		c.mu.Lock()
		c.manager.stop(15 * time.Second)
		c.analytics.stop(15 * time.Second)
		c.manager, c.analytics = nil, nil
		c.mu.Unlock()
		if c.Kinesis != nil {
			c.Kinesis.Stop()
		}
		if c.controlPlaneUp {
			_ = c.env.Stop()
		}
	})
}

// RunKubectl runs the cluster's kubectl with its kubeconfig and returns the
// combined output.
func (c *Cluster) RunKubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Dir = c.opts.RepoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Apply applies a file, a directory, or a kustomization (a directory with
// kustomization.yaml) with server-side apply.
func (c *Cluster) Apply(ctx context.Context, path string) (string, error) {
	flag := "-f"
	if _, err := os.Stat(filepath.Join(path, "kustomization.yaml")); err == nil {
		flag = "-k"
	}
	return c.RunKubectl(ctx, "apply", "--server-side", "--field-manager=streamdash-demo", flag, path)
}

// ApplyYAML applies manifests given as text with server-side apply.
func (c *Cluster) ApplyYAML(ctx context.Context, manifests string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.Kubeconfig,
		"apply", "--server-side", "--field-manager=streamdash-demo", "-f", "-")
	cmd.Stdin = strings.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl apply: %w\n%s", err, out)
	}
	return string(out), nil
}

// baseEnv is what child processes inherit: enough to run, no more.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if h := os.Getenv("HOME"); h != "" {
		env = append(env, "HOME="+h)
	}
	return env
}
