package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"text/template"
)

// Paths under Root.
var (
	containerdSocket = filepath.Join(runDir, "containerd", "containerd.sock")
	cniConfDir       = filepath.Join(Root, "cni")
	configDir        = filepath.Join(Root, "etc")
)

// configs are the components' configuration files, rendered with
// configValues. Each setting that is not a default says why.
var configs = map[string]string{
	// containerd 2.x reads its socket addresses from the server plugins; a
	// top-level [grpc] section is silently ignored.
	"containerd.toml": `version = 4
root = '{{.Root}}/containerd'
state = '{{.Run}}/containerd/state'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{{.PauseImage}}'

  [plugins.'io.containerd.cri.v1.runtime']
    # Root here lacks CAP_SYS_RESOURCE, so runc cannot give the pause
    # container the negative oom_score_adj the kubelet asks for.
    restrict_oom_score_adj = true
    # Pod network namespaces under the state directory, not /var/run/netns.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          Root = '{{.Run}}/runc'
          # cgroup v1 without systemd: the kubelet uses cgroupfs too.
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '{{.CNIConfDir}}'

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'

  [plugins.'io.containerd.server.v1.grpc']
    address = '{{.ContainerdSocket}}'

  [plugins.'io.containerd.server.v1.ttrpc']
    address = '{{.ContainerdSocket}}.ttrpc'
`,
	"kubelet.yaml": `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host is cgroup v1 (hybrid); 1.35 and later refuse it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://{{.ContainerdSocket}}
# kube-apiserver reaches the kubelet (logs, exec) at the node's address.
address: {{.IP}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
staticPodPath: {{.Root}}/manifests
podLogsDir: {{.Root}}/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{.PKI}}/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: {{.PKI}}/kubelet-serving.crt
tlsPrivateKeyFile: {{.PKI}}/kubelet-serving.key
clusterDomain: {{.ClusterDomain}}
clusterDNS: [{{.DNSServiceIP}}]
# Pods resolve cluster names only: no upstream servers.
resolvConf: {{.Etc}}/resolv.conf
podCIDR: {{.PodCIDR}}
maxPods: 60
serializeImagePulls: false
# A busy shared machine: evict only when really out of room, and never
# collect the imported images (they cannot be pulled again).
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
makeIPTablesUtilChains: false
`,
	"kube-proxy.yaml": `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: {{.PodCIDR}}
hostnameOverride: {{.Name}}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection: {kubeconfig: {{.PKI}}/kube-proxy.kubeconfig}
# Leave the host's conntrack settings and route_localnet alone (no NodePort
# on 127.0.0.1): stopping restores them anyway, but unchanged is simpler.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
`,
	"10-pods.conflist": `{
  "cniVersion": "1.0.0",
  "name": "streamdash-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{.PodBridge}}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "{{.Root}}/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`,
}

type configValues struct {
	Root, Run, PKI, Etc, CNIConfDir, ContainerdSocket string
	Name, IP, PodCIDR, DNSServiceIP, ClusterDomain    string
	PodBridge, PauseImage                             string
}

func values() configValues {
	return configValues{
		Root: Root, Run: runDir, PKI: pkiDir, Etc: configDir, CNIConfDir: cniConfDir, ContainerdSocket: containerdSocket,
		Name: Name, IP: IP, PodCIDR: PodCIDR, DNSServiceIP: DNSServiceIP, ClusterDomain: ClusterDomain,
		PodBridge: podBridge, PauseImage: PauseImage,
	}
}

// writeFiles makes Root: certificates, kubeconfigs and configuration.
func (n *Node) writeFiles(context.Context) error {
	for _, d := range []string{runDir, configDir, cniConfDir, filepath.Join(Root, "manifests"), filepath.Join(runDir, "containerd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writePKI(); err != nil {
		return err
	}
	v := values()
	for name, text := range configs {
		var b bytes.Buffer
		if err := template.Must(template.New(name).Option("missingkey=error").Parse(text)).Execute(&b, v); err != nil {
			return err
		}
		dir := configDir
		if filepath.Ext(name) == ".conflist" {
			dir = cniConfDir
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	// An empty resolv.conf: pods get only the cluster DNS server.
	return os.WriteFile(filepath.Join(configDir, "resolv.conf"), nil, 0o644)
}
