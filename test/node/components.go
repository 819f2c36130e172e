package node

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/streamdash/streamdash/test/image"
)

// The node's own images, built from local binaries and imported; nothing
// is ever pulled.
const (
	PauseImage   = "streamdash.local/pause:1"
	CoreDNSImage = "streamdash.local/coredns:" + CoreDNSVersion
)

//go:embed coredns.yaml
var coreDNSManifest string

func (n *Node) startStorage(ctx context.Context) error {
	if err := n.startProcess("etcd", n.tools.etcd,
		"--name", Name, "--data-dir", filepath.Join(Root, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort+1),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort+1),
		"--initial-cluster", fmt.Sprintf("%s=http://127.0.0.1:%d", Name, etcdPort+1),
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort+2)); err != nil {
		return err
	}
	if err := n.startProcess("containerd", filepath.Join(n.tools.containerdDir, "containerd"),
		"--config", filepath.Join(configDir, "containerd.toml")); err != nil {
		return err
	}
	if err := n.waitFor(ctx, "etcd", 30*time.Second, func() error {
		return httpOK(fmt.Sprintf("http://127.0.0.1:%d/health", etcdPort))
	}); err != nil {
		return err
	}
	return n.waitFor(ctx, "containerd", 30*time.Second, func() error {
		_, err := n.ctr(ctx, "version")
		return err
	})
}

func (n *Node) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(n.tools.containerdDir, "ctr"),
		append([]string{"--address", containerdSocket, "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// importImages builds the pause and CoreDNS images and imports them with
// the caller's.
func (n *Node) importImages(ctx context.Context) error {
	dir := filepath.Join(Root, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	own := []image.Spec{
		{Ref: PauseImage, Files: []image.File{{Src: n.tools.pause, Dst: "/pause", Mode: 0o755}},
			Entrypoint: []string{"/pause"}, User: "65535:65535"},
		{Ref: CoreDNSImage, Files: []image.File{{Src: n.tools.coredns, Dst: "/coredns", Mode: 0o755}},
			Entrypoint: []string{"/coredns"}, User: "65532:65532"},
	}
	tarballs := []string{}
	for i, s := range own {
		p := filepath.Join(dir, strconv.Itoa(i)+".tar")
		if err := image.WriteArchive(p, s); err != nil {
			return err
		}
		tarballs = append(tarballs, p)
	}
	for _, t := range append(tarballs, n.opts.Images...) {
		if err := n.ImportImage(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// ImportImage imports a docker-archive tarball into the node's containerd,
// where the kubelet finds it.
func (n *Node) ImportImage(ctx context.Context, tarball string) error {
	_, err := n.ctr(ctx, "images", "import", "--local", tarball)
	return err
}

// startControlPlaneAndImages imports the images while the control plane
// starts: neither needs the other, both mostly wait on another process
// (kube-apiserver's start, containerd's unpacking), and the kubelet, next,
// needs both.
func (n *Node) startControlPlaneAndImages(ctx context.Context) error {
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	var took time.Duration
	images := make(chan error, 1)
	go func() {
		err := n.importImages(ictx)
		took = time.Since(begin)
		images <- err
	}()
	err := n.startControlPlane(ctx)
	if err != nil {
		cancel()
	}
	imagesErr := <-images
	if imagesErr == nil {
		n.progress("node: images imported in %s, alongside the control plane", took.Round(10*time.Millisecond))
	} else {
		imagesErr = fmt.Errorf("images: %w", imagesErr)
	}
	return errors.Join(err, imagesErr)
}

func (n *Node) startControlPlane(ctx context.Context) error {
	p := func(f string) string { return filepath.Join(pkiDir, f) }
	if err := n.startProcess("kube-apiserver", filepath.Join(n.tools.k8sDir, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--bind-address", IP, "--secure-port", strconv.Itoa(APIServerPort), "--advertise-address", IP,
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--client-ca-file", p("ca.crt"),
		"--kubelet-client-certificate", p("apiserver-kubelet-client.crt"), "--kubelet-client-key", p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority", p("ca.crt"), "--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc."+ClusterDomain,
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--service-cluster-ip-range", ServiceCIDR,
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=false", "--profiling=false", "--event-ttl", "30m"); err != nil {
		return err
	}
	cfg, err := loadConfig(n.Kubeconfig)
	if err != nil {
		return err
	}
	n.Config = cfg
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "kube-apiserver /readyz", 60*time.Second, func() error {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := n.startProcess("kube-controller-manager", filepath.Join(n.tools.k8sDir, "kube-controller-manager"),
		"--kubeconfig", p("controller-manager.kubeconfig"),
		"--authentication-kubeconfig", p("controller-manager.kubeconfig"), "--authorization-kubeconfig", p("controller-manager.kubeconfig"),
		"--bind-address", "127.0.0.1", "--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--use-service-account-credentials", "--cluster-signing-cert-file", p("ca.crt"), "--cluster-signing-key-file", p("ca.key"),
		"--service-cluster-ip-range", ServiceCIDR, "--allocate-node-cidrs=false", "--leader-elect=false",
		"--profiling=false"); err != nil {
		return err
	}
	return n.startProcess("kube-scheduler", filepath.Join(n.tools.k8sDir, "kube-scheduler"),
		"--kubeconfig", p("scheduler.kubeconfig"),
		"--authentication-kubeconfig", p("scheduler.kubeconfig"), "--authorization-kubeconfig", p("scheduler.kubeconfig"),
		"--bind-address", "127.0.0.1", "--leader-elect=false", "--profiling=false")
}

func (n *Node) startNodeComponents(ctx context.Context) error {
	if err := n.startProcess("kubelet", filepath.Join(n.tools.k8sDir, "kubelet"),
		"--config", filepath.Join(configDir, "kubelet.yaml"),
		"--kubeconfig", filepath.Join(pkiDir, "kubelet.kubeconfig"),
		"--hostname-override", Name, "--node-ip", IP,
		"--root-dir", filepath.Join(Root, "kubelet"), "--cert-dir", filepath.Join(Root, "kubelet-pki"), "-v", "1"); err != nil {
		return err
	}
	if err := n.startProcess("kube-proxy", filepath.Join(n.tools.k8sDir, "kube-proxy"),
		"--config", filepath.Join(configDir, "kube-proxy.yaml")); err != nil {
		return err
	}
	cs, err := n.Clientset()
	if err != nil {
		return err
	}
	return n.waitFor(ctx, "node "+Name+" Ready", 90*time.Second, func() error {
		node, err := cs.CoreV1().Nodes().Get(ctx, Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return fmt.Errorf("no Ready condition yet")
	})
}

func (n *Node) startDNS(ctx context.Context) error {
	manifest := strings.NewReplacer("@IMAGE@", CoreDNSImage, "@DNS_IP@", DNSServiceIP, "@DOMAIN@", ClusterDomain).Replace(coreDNSManifest)
	if _, err := n.RunKubectl(ctx, strings.NewReader(manifest), "apply", "--server-side", "--field-manager=streamdash-node", "-f", "-"); err != nil {
		return err
	}
	cs, err := n.Clientset()
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "CoreDNS available", 90*time.Second, func() error {
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return deploymentAvailable(d)
	}); err != nil {
		return err
	}
	// Through kube-proxy's rules too, which follow the endpoints a moment later.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(DNSServiceIP, "53"))
	}}
	return n.waitFor(ctx, "cluster DNS at "+DNSServiceIP, 60*time.Second, func() error {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := r.LookupHost(lctx, "kubernetes.default.svc."+ClusterDomain)
		return err
	})
}

func deploymentAvailable(d *appsv1.Deployment) error {
	if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas > 0 && d.Status.UpdatedReplicas == d.Status.Replicas {
		return nil
	}
	return fmt.Errorf("%d/%d available", d.Status.AvailableReplicas, d.Status.Replicas)
}

// waitFor polls check until it succeeds, a component it depends on has
// died, or the timeout ends.
func (n *Node) waitFor(ctx context.Context, what string, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, c := range []string{"etcd", "containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
			if _, err := os.Stat(filepath.Join(runDir, c+".pid")); err != nil {
				continue
			}
			if _, ok := running(c); !ok {
				return fmt.Errorf("waiting for %s: %s exited; its log %s ends:\n%s", what, c,
					filepath.Join(n.LogDir, c+".log"), tail(filepath.Join(n.LogDir, c+".log"), 15))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(url string) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
