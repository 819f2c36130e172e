// Package localcluster installs the whole streamdash system on the local
// Kubernetes node (test/node), as a user would install it, for the demo
// (hack/demo) and the end-to-end suite: the streamdash image built from
// bin/ (test/image) and imported into containerd, dist/install.yaml applied
// as make build-installer writes it, a hostPath PersistentVolume for the
// analytics server's claim, and, on the host, the Kinesis emulator and an
// instance metadata service that gives pods AWS credentials as an EC2
// instance profile would. Every streamdash program runs in a container.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/image"
	"github.com/streamdash/streamdash/test/kinesislocal"
	"github.com/streamdash/streamdash/test/node"
)

// What dist/install.yaml creates (config/default: namespace and name prefix).
const (
	Namespace         = "streamdash-system"
	ManagerDeployment = "streamdash-controller-manager"
	AnalyticsName     = "streamdash-analytics"
	AnalyticsClaim    = "streamdash-analytics-data"
	APIKeySecret      = "streamdash-analytics-apikey"
)

// Options configure Start. Zero values pick the defaults noted.
type Options struct {
	// RepoRoot is the repository (default: the directory holding go.mod
	// above the working directory).
	RepoRoot string
	// BinDir holds the four programs the image is built from (default
	// RepoRoot/bin).
	BinDir string
	// InstallYAML is what to install (default RepoRoot/dist/install.yaml,
	// from make build-installer).
	InstallYAML string
	// StateDir receives logs/ (the node's components, the emulator) and the
	// image tarball; it is emptied first (default RepoRoot/bin/demo).
	StateDir string
	// Owner says who uses the node, for anyone else who tries (default
	// "localcluster").
	Owner string
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
	// WaitForNode waits (within Start's context) while another process
	// uses the node, instead of failing at once.
	WaitForNode bool
	// ManagerArgs are appended to the manager container's arguments.
	ManagerArgs []string
	// CheckStop makes Stop prove that the node left the machine as it
	// found it (node.Options.CheckStop).
	CheckStop bool
}

// Cluster is the running system. Stop it with Stop.
type Cluster struct {
	// Node is the local Kubernetes node.
	Node *node.Node
	// Config reaches the API server as cluster admin; Client reads and
	// writes it directly (no cache).
	Config *rest.Config
	Client client.Client
	// Kubeconfig and Kubectl are for kubectl.
	Kubeconfig, Kubectl string
	// Kinesis is the emulator on the host; pods reach it at KinesisURL.
	Kinesis    *kinesislocal.Emulator
	KinesisURL string
	// AnalyticsURL is the analytics Service's ClusterIP URL, which the host
	// reaches through kube-proxy.
	AnalyticsURL string
	// StateDir and LogDir are where state and logs go.
	StateDir, LogDir string

	opts     Options
	metadata *http.Server
	apiKey   string
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
	if err := os.RemoveAll(opts.StateDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	tarball := filepath.Join(opts.StateDir, "streamdash-image.tar")
	if err := c.step("image "+image.Ref+" from "+opts.BinDir, func() error { return buildImage(opts.BinDir, tarball) }); err != nil {
		return nil, err
	}
	n, err := node.Start(ctx, node.Options{RepoRoot: opts.RepoRoot, LogDir: filepath.Join(c.LogDir, "node"),
		Owner: opts.Owner, Images: []string{tarball}, Progress: opts.Progress, Wait: opts.WaitForNode, CheckStop: opts.CheckStop})
	if err != nil {
		return nil, err
	}
	c.Node, c.Config, c.Kubeconfig, c.Kubectl = n, n.Config, n.Kubeconfig, n.Kubectl
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		what string
		run  func() error
	}{
		{"Kinesis emulator on the host", c.startKinesis},
		{"instance metadata service at " + node.MetadataIP, c.startMetadata},
		{"hostPath PersistentVolume for " + AnalyticsClaim, func() error { return c.createVolume(ctx) }},
		{"kubectl apply " + opts.InstallYAML, func() error { return c.install(ctx) }},
		{"manager and analytics available", func() error { return c.waitInstalled(ctx) }},
	} {
		if err := c.step(s.what, s.run); err != nil {
			return nil, err
		}
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
	if o.InstallYAML == "" {
		o.InstallYAML = filepath.Join(o.RepoRoot, "dist", "install.yaml")
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.RepoRoot, "bin", "demo")
	}
	if o.Owner == "" {
		o.Owner = "localcluster"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for _, p := range []*string{&o.BinDir, &o.StateDir, &o.InstallYAML} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	for _, p := range image.Programs {
		if _, err := os.Stat(filepath.Join(o.BinDir, p)); err != nil {
			return fmt.Errorf("%s is not built in %s (make build)", p, o.BinDir)
		}
	}
	if _, err := os.Stat(o.InstallYAML); err != nil {
		return fmt.Errorf("%s is missing (make build-installer)", o.InstallYAML)
	}
	return nil
}

func (c *Cluster) step(what string, run func() error) error {
	begin := time.Now()
	if err := run(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.progress("%s: done in %s", what, time.Since(begin).Round(10*time.Millisecond))
	return nil
}

func (c *Cluster) progress(format string, args ...any) {
	fmt.Fprintf(c.opts.Progress, format+"\n", args...)
}

func buildImage(binDir, tarball string) error {
	spec, err := image.Streamdash(image.Ref, binDir)
	if err != nil {
		return err
	}
	return image.WriteArchive(tarball, spec)
}

func (c *Cluster) startKinesis() error {
	logf, err := os.Create(filepath.Join(c.LogDir, "kinesis.log"))
	if err != nil {
		return err
	}
	e, err := kinesislocal.StartProcess(logf)
	if err != nil {
		logf.Close()
		return fmt.Errorf("(run hack/kinesis-local.sh install): %w", err)
	}
	c.Kinesis = e
	_, port, err := net.SplitHostPort(strings.TrimPrefix(e.Endpoint, "http://"))
	if err != nil {
		return err
	}
	c.KinesisURL = "http://" + net.JoinHostPort(node.IP, port)
	return httpReachable(c.KinesisURL)
}

func httpReachable(url string) error {
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
	if err != nil {
		return fmt.Errorf("the emulator does not answer at the node's address: %w", err)
	}
	resp.Body.Close()
	return nil
}

// createVolume pre-binds a hostPath PersistentVolume to the analytics
// server's claim: a single node needs no provisioner. The directory belongs
// to the image's user, since hostPath volumes ignore fsGroup.
func (c *Cluster) createVolume(ctx context.Context) error {
	dir := filepath.Join(node.Root, "volumes", "analytics")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := os.Chown(dir, 65532, 65532); err != nil {
		return err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "streamdash-analytics-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: Namespace, Name: AnalyticsClaim},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr(corev1.HostPathDirectory)},
			},
		},
	}
	return c.Client.Create(ctx, pv)
}

func ptr[T any](v T) *T { return &v }

// install applies dist/install.yaml as it is, then points the manager and
// the analytics server at the emulator, as the README tells users of a
// local or private Kinesis endpoint to do.
func (c *Cluster) install(ctx context.Context) error {
	if _, err := c.RunKubectl(ctx, "apply", "--server-side", "--field-manager=streamdash-install", "-f", c.opts.InstallYAML); err != nil {
		return err
	}
	env := []string{"AWS_ENDPOINT_URL_KINESIS=" + c.KinesisURL, "AWS_REGION=" + c.Kinesis.Region}
	for _, d := range []string{ManagerDeployment, AnalyticsName} {
		if _, err := c.RunKubectl(ctx, append([]string{"set", "env", "-n", Namespace, "deployment/" + d}, env...)...); err != nil {
			return err
		}
	}
	for _, a := range c.opts.ManagerArgs {
		patch := fmt.Sprintf(`[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":%s}]`, strconv.Quote(a))
		if _, err := c.RunKubectl(ctx, "patch", "-n", Namespace, "deployment/"+ManagerDeployment, "--type=json", "-p", patch); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) waitInstalled(ctx context.Context) error {
	for _, d := range []string{ManagerDeployment, AnalyticsName} {
		if err := c.WaitDeployment(ctx, Namespace, d, 3*time.Minute); err != nil {
			return err
		}
	}
	var svc corev1.Service
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: AnalyticsName}, &svc); err != nil {
		return err
	}
	c.AnalyticsURL = fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	var key corev1.Secret
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: APIKeySecret}, &key); err != nil {
		return err
	}
	c.apiKey = strings.TrimSpace(string(key.Data["apikey"]))
	return nil
}

// APIKey is the analytics server's key (from the Secret the manager made),
// for tests that query it directly.
func (c *Cluster) APIKey() string { return c.apiKey }

// WaitDeployment waits until a Deployment has rolled out: every replica
// updated and available for its current generation.
func (c *Cluster) WaitDeployment(ctx context.Context, ns, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "not found"
	for {
		var d appsv1.Deployment
		err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d)
		if err == nil {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
				d.Status.AvailableReplicas == want && d.Status.Replicas == want {
				return nil
			}
			last = fmt.Sprintf("%d/%d updated, %d available, %d in all", d.Status.UpdatedReplicas, want, d.Status.AvailableReplicas, d.Status.Replicas)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			pods, _ := c.RunKubectl(context.Background(), "get", "pods", "-n", ns, "-o", "wide")
			return fmt.Errorf("deployment %s/%s did not roll out (%s):\n%s", ns, name, last, pods)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop stops everything Start started: the node (leaving nothing behind),
// the metadata service and the emulator. Its error is the node's.
func (c *Cluster) Stop() error {
	var err error
	if c.Node != nil {
		// Keep what the pods said, for a look after the run.
		if out, err := c.RunKubectl(context.Background(), "get", "pods", "-A", "-o", "wide"); err == nil {
			_ = os.WriteFile(filepath.Join(c.LogDir, "pods.txt"), []byte(out), 0o644)
		}
		c.savePodLogs()
		if err = c.Node.Stop(); err != nil {
			c.progress("stopping the node: %v", err)
		}
		c.Node = nil
	}
	if c.metadata != nil {
		_ = c.metadata.Close()
		c.metadata = nil
	}
	if c.Kinesis != nil {
		c.Kinesis.Stop()
		c.Kinesis = nil
	}
	return err
}

// savePodLogs copies every container's log into logs/pods before the node
// and its log directory go.
func (c *Cluster) savePodLogs() {
	dir := filepath.Join(c.LogDir, "pods")
	src := filepath.Join(node.Root, "pod-logs")
	_ = filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, strings.ReplaceAll(rel, string(filepath.Separator), "_"))
		if b, err := os.ReadFile(p); err == nil {
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(dst, b, 0o644)
		}
		return nil
	})
}

// RunKubectl runs kubectl with the admin kubeconfig and returns the
// combined output.
func (c *Cluster) RunKubectl(ctx context.Context, args ...string) (string, error) {
	if c.Node == nil {
		return "", errors.New("the node is not running")
	}
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

// RestartAnalytics deletes the analytics pod at once (no grace period, as a
// crash would end it) and waits until its Deployment has a new pod ready on
// the same volume. It returns the deleted pod's name.
func (c *Cluster) RestartAnalytics(ctx context.Context) (string, error) {
	sel := client.MatchingLabels{"app.kubernetes.io/name": "streamdash", "app.kubernetes.io/component": "analytics"}
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace(Namespace), sel); err != nil {
		return "", err
	}
	if len(pods.Items) != 1 {
		return "", fmt.Errorf("%d analytics pods, want 1", len(pods.Items))
	}
	old := pods.Items[0]
	if err := c.Client.Delete(ctx, &old, client.GracePeriodSeconds(0)); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		if err := c.Client.List(ctx, &pods, client.InNamespace(Namespace), sel); err == nil {
			for _, p := range pods.Items {
				if p.UID != old.UID && podReady(&p) {
					if err := c.WaitDeployment(ctx, Namespace, AnalyticsName, time.Minute); err != nil {
						return old.Name, err
					}
					return old.Name, c.waitAnalyticsAPI(ctx)
				}
			}
		}
		select {
		case <-ctx.Done():
			return old.Name, fmt.Errorf("no new analytics pod became ready after deleting %s", old.Name)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitAnalyticsAPI waits until the analytics API answers an authenticated
// request through its Service, which follows a new pod a moment after it is
// ready (kube-proxy's rules).
func (c *Cluster) waitAnalyticsAPI(ctx context.Context) error {
	last := ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.AnalyticsURL+"/v1/orgs/self", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "ApiKey "+c.apiKey)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the analytics API at %s does not answer: %s", c.AnalyticsURL, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
