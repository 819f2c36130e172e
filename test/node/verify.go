package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Verify checks that the running node is the real thing and works end to
// end: the kubelet of K8sVersion on containerd, CoreDNS in a pod on the pod
// network serving cluster DNS through its ClusterIP (kube-proxy), no DNS
// beyond the cluster, kube-apiserver reaching the kubelet (logs), and the
// node refusing a second user. It returns every failure found.
func (n *Node) Verify(ctx context.Context) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cs, err := n.Clientset()
	if err != nil {
		return err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if v := node.Status.NodeInfo.KubeletVersion; v != "v"+K8sVersion {
		fail("kubelet version %q, want v%s", v, K8sVersion)
	}
	if rt := node.Status.NodeInfo.ContainerRuntimeVersion; !strings.HasPrefix(rt, "containerd://") {
		fail("container runtime %q, want containerd", rt)
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	switch {
	case err != nil:
		fail("CoreDNS pods: %w", err)
	case len(pods.Items) != 1:
		fail("%d CoreDNS pods, want 1", len(pods.Items))
	default:
		_, podNet, _ := net.ParseCIDR(PodCIDR)
		if ip := net.ParseIP(pods.Items[0].Status.PodIP); !podNet.Contains(ip) {
			fail("CoreDNS pod IP %s is outside %s", pods.Items[0].Status.PodIP, PodCIDR)
		}
	}
	// From the host through the Service's ClusterIP (kube-proxy) to the pod.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(DNSServiceIP, "53"))
	}}
	addrs, err := r.LookupHost(ctx, "kubernetes.default.svc."+ClusterDomain)
	if err != nil || len(addrs) != 1 || addrs[0] != "10.96.0.1" {
		fail("kubernetes.default.svc through CoreDNS = %v, %v; want [10.96.0.1]", addrs, err)
	}
	// No upstream: a name outside the cluster does not resolve.
	if addrs, err := r.LookupHost(ctx, "example.com"); err == nil {
		fail("example.com resolves through the cluster DNS to %v: pods could find the outside", addrs)
	}
	if out, err := n.RunKubectl(ctx, nil, "logs", "-n", "kube-system", "deploy/coredns"); err != nil || !strings.Contains(out, "CoreDNS") {
		fail("kubectl logs (kube-apiserver to the kubelet): %v\n%s", err, out)
	}
	// The owner file names this process: a second claim must wait or fail.
	if err := claimOnce("another user"); err == nil {
		fail("a second claim succeeded while the node runs")
	}
	return errors.Join(errs...)
}
