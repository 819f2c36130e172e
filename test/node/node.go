// Package node runs a real single-node Kubernetes cluster on this machine, as
// root, with no container engine: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy, containerd
// with runc and the CNI plugins, and CoreDNS, each a process of its own.
// hack/node-tools.sh builds or installs the parts; hack/node starts and stops
// the node by hand, and the demo and the end-to-end suite use this package.
//
// Only one node can run on a machine: it owns fixed addresses, a bridge, host
// paths and iptables rules. Start refuses while another live process uses the
// node, and first cleans up whatever a dead one left behind. Stop leaves
// nothing behind: no process, mount, iptables rule, bridge, cgroup or host
// path, and net.ipv4.ip_forward as it was.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/streamdash/streamdash/test/apitest"
)

// Versions of the parts hack/node-tools.sh builds.
const (
	K8sVersion        = "1.37.2"
	ContainerdVersion = "2.4.2"
	CoreDNSVersion    = "1.15.0"
)

// The node's fixed names and addresses.
const (
	// Root holds all of the node's state; Stop removes it.
	Root = "/var/lib/streamdash-node"
	// Name is the Node object's name.
	Name = "streamdash"
	// IP is the node's address: kube-apiserver, the kubelet and anything the
	// host serves to pods (the Kinesis emulator) listen on it.
	IP = "10.250.0.1"
	// MetadataIP is where EC2 pods find the instance metadata service; the
	// node owns it so that a local stand-in for it can listen there.
	MetadataIP = "169.254.169.254"
	// APIServerPort is kube-apiserver's port on IP; away from the ephemeral
	// range that envtest picks its ports from.
	APIServerPort = 16443
	// PodCIDR and ServiceCIDR are the pod and Service address ranges.
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/16"
	// DNSServiceIP is CoreDNS's ClusterIP.
	DNSServiceIP = "10.96.0.10"
	// ClusterDomain is the DNS suffix of Services.
	ClusterDomain = "cluster.local"

	hostBridge = "sdnode0" // carries IP and MetadataIP (this kernel has no dummy module)
	podBridge  = "sdnode1" // the CNI bridge the pods hang off
	guardTag   = "streamdash-node"
	etcdPort   = 12379 // also below the ephemeral range
)

// Options configure Start. Zero values pick the defaults noted.
type Options struct {
	// RepoRoot is the repository, whose bin/ holds the binaries (default:
	// the directory holding go.mod above the working directory).
	RepoRoot string
	// LogDir receives one log per component; it is emptied first (default
	// RepoRoot/bin/node/logs). It stays after Stop.
	LogDir string
	// Owner says who uses the node, for whoever else tries to start it
	// meanwhile (default "a node user").
	Owner string
	// Wait makes Start wait (within its context) while another process
	// uses the node, instead of failing at once: for test suites that go
	// test runs in parallel.
	Wait bool
	// Images are docker-archive tarballs to import besides the node's own
	// (pause and CoreDNS, which Start builds).
	Images []string
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
	// CheckStop makes Start record the machine's state once it holds the
	// node, and Stop compare the machine with it afterwards: Stop then
	// fails with ErrLeftBehind on any difference (for the test suites).
	CheckStop bool
}

// Node is a running node. Stop it with Stop.
type Node struct {
	// Kubeconfig is an admin kubeconfig; Kubectl the matching kubectl.
	Kubeconfig, Kubectl string
	// Config reaches kube-apiserver as cluster admin.
	Config *rest.Config
	// LogDir holds the components' logs.
	LogDir string
	// Started is how long Start took.
	Started time.Duration

	opts  Options
	tools tools
	// before is the machine as Start found it (with Options.CheckStop).
	before machineState
}

// tools are the binaries the node runs.
type tools struct {
	k8sDir, containerdDir, coredns, pause, etcd, runc string
}

func (o *Options) defaults() error {
	if o.RepoRoot == "" {
		root, err := apitest.RepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(o.RepoRoot, "bin", "node", "logs")
	}
	if o.Owner == "" {
		o.Owner = "a node user"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// ErrUnsupported says the node cannot run here at all: it needs Linux and root.
var ErrUnsupported = errors.New("the local node needs Linux and root")

// Supported returns ErrUnsupported (wrapped with the reason) when this
// machine cannot run the node, nil otherwise.
func Supported() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: this is %s", ErrUnsupported, runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", ErrUnsupported, os.Geteuid())
	}
	return nil
}

func findTools(repo string) (tools, error) {
	t := tools{
		k8sDir:        filepath.Join(repo, "bin", "k8s", K8sVersion),
		containerdDir: filepath.Join(repo, "bin", "containerd", ContainerdVersion),
		coredns:       filepath.Join(repo, "bin", "coredns", CoreDNSVersion, "coredns"),
		pause:         filepath.Join(repo, "bin", "node", "pause"),
		runc:          "/usr/sbin/runc",
	}
	var missing []string
	need := []string{t.coredns, t.pause, t.runc, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap"}
	for _, c := range []string{"kube-apiserver", "kubectl", "kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		need = append(need, filepath.Join(t.k8sDir, c))
	}
	for _, c := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		need = append(need, filepath.Join(t.containerdDir, c))
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	for _, c := range []string{"iptables", "ip6tables", "ip", "conntrack"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		t.etcd = p
	} else {
		missing = append(missing, "etcd")
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("the node's parts are missing (build and install them with make node-tools, which runs hack/node-tools.sh and hack/envtest.sh): %s",
			strings.Join(missing, ", "))
	}
	return t, nil
}

// Start brings a fresh node up and waits until it is Ready with CoreDNS
// answering. On error it stops whatever it started.
func Start(ctx context.Context, opts Options) (n *Node, err error) {
	begin := time.Now()
	if err := Supported(); err != nil {
		return nil, err
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	t, err := findTools(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	if err := claim(ctx, opts.Owner, opts.Wait); err != nil {
		return nil, err
	}
	n = &Node{opts: opts, tools: t, LogDir: opts.LogDir, Kubectl: filepath.Join(t.k8sDir, "kubectl"),
		Kubeconfig: filepath.Join(Root, "pki", "admin.kubeconfig")}
	if opts.CheckStop {
		// After the claim, which cleaned up whatever a dead node left.
		n.before = captureMachine()
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (component logs in %s)", err, opts.LogDir)
			if serr := n.Stop(); serr != nil {
				err = fmt.Errorf("%w; and stopping: %v", err, serr)
			}
			n = nil
		}
	}()
	if err := os.RemoveAll(opts.LogDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, err
	}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"files", n.writeFiles},
		{"host network", n.setUpHost},
		{"etcd and containerd", n.startStorage},
		{"control plane", n.startControlPlaneAndImages},
		{"kubelet and kube-proxy", n.startNodeComponents},
		{"CoreDNS", n.startDNS},
	} {
		s := time.Now()
		if err := step.run(ctx); err != nil {
			return nil, fmt.Errorf("node: %s: %w", step.name, err)
		}
		n.progress("node: %s done in %s", step.name, time.Since(s).Round(10*time.Millisecond))
	}
	n.Started = time.Since(begin)
	n.progress("node: %s Ready with CoreDNS in %s; kubeconfig %s", Name, n.Started.Round(100*time.Millisecond), n.Kubeconfig)
	return n, nil
}

func (n *Node) progress(format string, args ...any) {
	fmt.Fprintf(n.opts.Progress, format+"\n", args...)
}

// Clientset returns a client for the node's API server.
func (n *Node) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(n.Config)
}

func loadConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// Stop stops the node and removes everything it put on the machine; with
// Options.CheckStop it then proves that the machine is as Start found it.
func (n *Node) Stop() error {
	if err := cleanUp(n.opts.Progress); err != nil {
		return err
	}
	if n.before == nil {
		return nil
	}
	err := leftBehind(n.before, captureMachine())
	if _, statErr := os.Stat(ownerFile); !errors.Is(statErr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("%w: %s is still there (%v)", ErrLeftBehind, ownerFile, statErr))
	}
	return err
}

// Down stops a node whoever started it (hack/node down). It refuses while
// a live process uses the node, unless force is set.
func Down(progress io.Writer, force bool) error {
	if err := Supported(); err != nil {
		return err
	}
	if o, alive := currentOwner(); alive && !force && !isNodeComponent(o.pid) {
		return fmt.Errorf("the node is in use by %s; stop that first (or force)", o)
	}
	return cleanUp(progress)
}

// RunKubectl runs kubectl with the admin kubeconfig and returns its
// combined output.
func (n *Node) RunKubectl(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.Kubectl, append([]string{"--kubeconfig", n.Kubeconfig}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
