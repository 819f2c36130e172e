package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSplitRule(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"FORWARD -j KUBE-FORWARD", []string{"FORWARD", "-j", "KUBE-FORWARD"}},
		{`FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
			[]string{"FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"}},
		{`FORWARD -s 10.244.0.0/24 ! -d 10.244.0.0/24 -m comment --comment streamdash-node -j DROP`,
			[]string{"FORWARD", "-s", "10.244.0.0/24", "!", "-d", "10.244.0.0/24", "-m", "comment", "--comment", "streamdash-node", "-j", "DROP"}},
		{`X --comment ""  -j Y`, []string{"X", "--comment", "", "-j", "Y"}},
	}
	for _, tc := range tests {
		if got := splitRule(tc.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitRule(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSignificantRules(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nothing", "", ""},
		{"an empty table is nothing", "# Generated\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [3:120]\nCOMMIT\n", ""},
		{"a rule counts", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n", "*filter\n:INPUT ACCEPT\n-A INPUT -j DROP\nCOMMIT"},
		{"a chain counts", "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n", "*nat\n:KUBE-SERVICES -\nCOMMIT"},
		{"a DROP policy counts", "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", "*filter\n:FORWARD DROP\nCOMMIT"},
	}
	for _, tc := range tests {
		if got := significantRules(tc.in); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/a`:          "/var/lib/a",
		`/var/lib/a\040b`:     "/var/lib/a b",
		`/x\134y`:             `/x\y`,
		`/trailing\04`:        `/trailing\04`,
		`/not\0octal\999here`: `/not\0octal\999here`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStartAndStopLeaveNothingBehind starts the node twice from nothing and
// checks each time that it is Ready, that a pod (CoreDNS) runs and serves
// cluster DNS through its ClusterIP, that a second claim is refused while
// the node runs, and that stopping restores the machine exactly: iptables,
// links, addresses, mounts, sysctls, cgroups, host paths and processes.
func TestStartAndStopLeaveNothingBehind(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skipf("the node cannot run here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for run := 1; run <= 2; run++ {
		// The e2e suite may hold the node: the machine's "before" is only
		// the machine once that node has gone.
		for {
			if _, alive := currentOwner(); !alive {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("run %d: the node stayed in use by another process", run)
			case <-time.After(time.Second):
			}
		}
		before := hostState(t)
		n, err := Start(ctx, Options{Owner: "test/node", LogDir: filepath.Join(t.TempDir(), "logs"), Wait: true})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		t.Logf("run %d: node Ready with CoreDNS in %s", run, n.Started.Round(100*time.Millisecond))
		checkRunning(ctx, t, n)
		if err := n.Stop(); err != nil {
			t.Fatalf("run %d: stop: %v", run, err)
		}
		after := hostState(t)
		for k, v := range before {
			if after[k] != v {
				t.Errorf("run %d: %s differs after stop:\nbefore:\n%s\nafter:\n%s", run, k, v, after[k])
			}
		}
		if _, err := os.Stat(Root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run %d: %s is still there (%v)", run, Root, err)
		}
		if _, err := os.Stat(ownerFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run %d: %s is still there (%v)", run, ownerFile, err)
		}
	}
}

func checkRunning(ctx context.Context, t *testing.T, n *Node) {
	t.Helper()
	cs, err := n.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := node.Status.NodeInfo.KubeletVersion; v != "v"+K8sVersion {
		t.Errorf("kubelet version %q, want v%s", v, K8sVersion)
	}
	if rt := node.Status.NodeInfo.ContainerRuntimeVersion; !strings.HasPrefix(rt, "containerd://") {
		t.Errorf("container runtime %q, want containerd", rt)
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("CoreDNS pods: %v, %v", pods, err)
	}
	_, podNet, _ := net.ParseCIDR(PodCIDR)
	if ip := net.ParseIP(pods.Items[0].Status.PodIP); !podNet.Contains(ip) {
		t.Errorf("CoreDNS pod IP %s is outside %s", pods.Items[0].Status.PodIP, PodCIDR)
	}
	// From the host through the Service's ClusterIP (kube-proxy) to the pod.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(DNSServiceIP, "53"))
	}}
	addrs, err := r.LookupHost(ctx, "kubernetes.default.svc."+ClusterDomain)
	if err != nil || len(addrs) != 1 || addrs[0] != "10.96.0.1" {
		t.Errorf("kubernetes.default.svc through CoreDNS = %v, %v; want [10.96.0.1]", addrs, err)
	}
	// No upstream: a name outside the cluster does not resolve.
	if addrs, err := r.LookupHost(ctx, "example.com"); err == nil {
		t.Errorf("example.com resolves through the cluster DNS to %v: pods could find the outside", addrs)
	}
	if out, err := n.RunKubectl(ctx, nil, "logs", "-n", "kube-system", "deploy/coredns"); err != nil || !strings.Contains(out, "CoreDNS") {
		t.Errorf("kubectl logs (kube-apiserver to the kubelet): %v\n%s", err, out)
	}
	// The owner file names this process: a second claim must wait or fail.
	if err := claimOnce("another user"); err == nil {
		t.Error("a second claim succeeded while the node runs")
	}
}

// significantRules is iptables-save's output without comments, counters
// and tables that hold nothing: iptables-nft creates a table on first use
// and cannot delete it, and an empty table with ACCEPT policies is the same
// as none.
func significantRules(save string) string {
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	var out, table []string
	empty := true
	for _, l := range strings.Split(save, "\n") {
		l = strings.TrimSpace(counters.ReplaceAllString(l, ""))
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "*"):
			table, empty = []string{l}, true
		case l == "COMMIT":
			if !empty {
				out = append(out, append(table, l)...)
			}
		default:
			table = append(table, l)
			if !(strings.HasPrefix(l, ":") && strings.HasSuffix(l, " ACCEPT")) {
				empty = false
			}
		}
	}
	return strings.Join(out, "\n")
}

// hostState captures what the node may touch on the machine.
func hostState(t *testing.T) map[string]string {
	t.Helper()
	state := map[string]string{}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s %v: %v", name, args, err)
		}
		return string(out)
	}
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		state[bin] = significantRules(run(bin))
	}
	state["links"] = run("ip", "-o", "link", "show")
	state["addresses"] = run("ip", "-o", "addr", "show")
	state["routes"] = run("ip", "route", "show")
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	var points []string
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			points = append(points, f[4])
		}
	}
	sort.Strings(points)
	state["mounts"] = strings.Join(points, "\n")
	for _, s := range touchedSysctls {
		b, _ := os.ReadFile("/proc/sys/" + s)
		state[s] = string(b)
	}
	var present []string
	for _, p := range append(hostPaths, "/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/var/log/containers", "/var/log/pods", "/run/netns", Root) {
		if _, err := os.Stat(p); err == nil {
			present = append(present, p)
		}
	}
	state["host paths"] = strings.Join(present, "\n")
	state["cgroups"] = strings.Join(cgroupRoots(), "\n")
	// Processes of a node: they run in Root or name it.
	var procs []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasPrefix(cwd, Root) || strings.Contains(string(cmdline), Root+"/") {
			procs = append(procs, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	state["processes"] = strings.Join(procs, "\n")
	return state
}
