package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysctls the node sets to 1.
var sysctls = []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"}

// touchedSysctls are every kernel setting the node or its components may
// change: ours, the kubelet's kernel tunables (it sets them unless
// protectKernelDefaults, which would refuse to start instead), and
// kube-proxy's. Their values are saved under Root and restored by cleanUp.
var touchedSysctls = append(append([]string{}, sysctls...),
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/conf/all/route_localnet", "net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established", "net/netfilter/nf_conntrack_tcp_timeout_close_wait")

var savedSysctls = filepath.Join(Root, "saved-sysctls")

// setUpHost gives the node its addresses, lets the kernel route pod traffic
// through iptables, and guards the machine's network from the pods.
func (n *Node) setUpHost(context.Context) error {
	var saved strings.Builder
	for _, s := range touchedSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !contains(sysctls, s) {
				continue // a module that is not loaded: nothing to restore
			}
			return fmt.Errorf("sysctl %s: %w (is br_netfilter loaded?)", s, err)
		}
		fmt.Fprintf(&saved, "%s %s\n", s, strings.Join(strings.Fields(string(b)), " "))
	}
	if err := os.WriteFile(savedSysctls, []byte(saved.String()), 0o644); err != nil {
		return err
	}
	for _, s := range sysctls {
		if err := os.WriteFile("/proc/sys/"+s, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=1: %w", s, err)
		}
	}
	for _, args := range [][]string{
		{"link", "add", hostBridge, "type", "bridge"},
		{"addr", "add", IP + "/32", "dev", hostBridge},
		{"addr", "add", MetadataIP + "/32", "dev", hostBridge},
		{"link", "set", hostBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	// Pods reach other pods, Services (DNAT happens before FORWARD) and this
	// host's addresses; nothing beyond the machine.
	guard := []string{"-I", "FORWARD", "-s", PodCIDR, "!", "-d", PodCIDR, "-m", "comment", "--comment", guardTag, "-j", "DROP"}
	if out, err := exec.Command("iptables", guard...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(guard, " "), err, out)
	}
	return nil
}

// cleanUp stops every component and removes all the node put on the
// machine. It works from what is on the machine, not from a Node, so that
// it also cleans up after a process that died; each part is tried even
// when an earlier one fails.
func cleanUp(progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	begin := time.Now()
	var errs []error
	try := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	// The kubelet first, so it restarts nothing; then every container.
	try("kubelet", stopProcess("kubelet", 10*time.Second))
	try("containers", killPods())
	for _, c := range []string{"kube-proxy", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		try(c, stopProcess(c, 10*time.Second))
	}
	// Shims, and anything else still working in Root.
	try("leftover processes", killUsersOfRoot())
	try("iptables", cleanIPTables())
	try("mounts", unmountUnder(Root))
	for _, link := range []string{podBridge, hostBridge} {
		if _, err := os.Stat("/sys/class/net/" + link); err == nil {
			if out, err := exec.Command("ip", "link", "del", link).CombinedOutput(); err != nil {
				try("ip link del "+link, fmt.Errorf("%w: %s", err, out))
			}
		}
	}
	try("sysctls", restoreSysctls())
	try("cgroups", removeCgroups())
	try("host paths", removeHostPaths())
	if len(errs) == 0 {
		try("state", os.RemoveAll(Root))
		if _, alive := currentOwner(); !alive {
			_ = os.Remove(ownerFile)
		} else if o, _ := readOwner(); o.pid == os.Getpid() || isNodeComponent(o.pid) {
			_ = os.Remove(ownerFile)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(progress, "node: stopped and cleaned up in %s\n", time.Since(begin).Round(10*time.Millisecond))
	return nil
}

// isNodeComponent is true for a process started from Root (the etcd that
// owns a node started by hack/node up).
func isNodeComponent(pid int) bool {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil && strings.HasPrefix(cwd, Root)
}

// cgroupRoots are the kubelet's cgroup trees, one per cgroup v1 hierarchy
// plus the unified one.
func cgroupRoots() []string {
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		matches = append(matches, "/sys/fs/cgroup/kubepods")
	}
	return matches
}

// killPods kills every process in the pods' cgroups (containers and
// sandboxes) and waits until they are empty.
func killPods() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := map[int]bool{}
		for _, root := range cgroupRoots() {
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
					return nil
				}
				b, _ := os.ReadFile(p)
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids[pid] = true
					}
				}
				return nil
			})
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pod processes survive SIGKILL", len(pids))
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killUsersOfRoot kills processes that run from, or name, the node's state
// directory: containerd's shims (their command line holds its socket) and
// anything a crashed stop left.
func killUsersOfRoot() error {
	entries, _ := os.ReadDir("/proc")
	var victims []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if strings.Contains(string(cmdline), Root+"/") || strings.HasPrefix(cwd, Root) {
			victims = append(victims, pid)
		}
	}
	var errs []error
	for _, pid := range victims {
		if err := terminate(pid, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanIPTables removes the guard rule and every chain kube-proxy, the
// kubelet and the CNI plugins made (KUBE-*, CNI-*), for IPv4 and IPv6.
func cleanIPTables() error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.Command(bin, "-t", table, "-S").Output()
			if err != nil {
				continue // a table this kernel lacks
			}
			var chains []string
			var rules []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				switch {
				case f[0] == "-N" && ours(f[1]):
					chains = append(chains, f[1])
				case f[0] == "-A" && !ours(f[1]) && (jumpsToOurs(f) || strings.Contains(line, guardTag)):
					rules = append(rules, line)
				}
			}
			for _, r := range rules {
				args := append([]string{"-t", table, "-D"}, splitRule(strings.TrimPrefix(r, "-A "))...)
				if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, out))
				}
			}
			for _, op := range []string{"-F", "-X"} {
				for _, c := range chains {
					if out, err := exec.Command(bin, "-t", table, op, c).CombinedOutput(); err != nil {
						errs = append(errs, fmt.Errorf("%s -t %s %s %s: %w: %s", bin, table, op, c, err, out))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func ours(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "CNI-")
}

func jumpsToOurs(f []string) bool {
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && ours(f[i+1]) {
			return true
		}
	}
	return false
}

// splitRule splits an iptables -S line into arguments, keeping quoted
// comments whole.
func splitRule(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			have = true
		case r == ' ' && !quoted:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func restoreSysctls() error {
	b, err := os.ReadFile(savedSysctls)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+f[0], []byte(f[1]), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes the kubelet's (now empty) cgroup trees.
func removeCgroups() error {
	var errs []error
	for _, root := range cgroupRoots() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// hostPaths are the places outside Root that the kubelet, containerd and
// the CNI plugins write to whatever they are told; each is removed, and its
// parents too when they are left empty.
var hostPaths = []string{
	"/var/lib/kubelet/device-plugins",
	"/var/lib/kubelet/plugins_registry",
	"/var/lib/kubelet/plugins",
	"/var/lib/kubelet/pod-resources",
	"/var/lib/cni/results",
	"/var/lib/cni/networks",
	"/run/containerd/s",
	"/run/containerd/fifo",
	"/run/containerd/runc",
}

func removeHostPaths() error {
	var errs []error
	for _, p := range hostPaths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
		for d := filepath.Dir(p); d != "/" && d != "/var" && d != "/var/lib" && d != "/run" && d != "/var/run"; d = filepath.Dir(d) {
			if syscall.Rmdir(d) != nil {
				break
			}
		}
	}
	// The kubelet links each container's log into /var/log/containers.
	links, _ := filepath.Glob("/var/log/containers/*")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, Root) {
			if err := os.Remove(l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	_ = syscall.Rmdir("/var/log/containers")
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
