package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// machineState is what the node may touch on the machine, by aspect:
// iptables rules, links, addresses, routes, mount points, kernel settings,
// host paths, cgroups and the node's processes. Start records it (with
// Options.CheckStop) once it holds the node, so that Stop can prove it left
// the machine as it found it.
type machineState map[string]string

func captureMachine() machineState {
	state := machineState{}
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
		state["sysctl "+s] = string(b)
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

// ErrLeftBehind says a stopped node did not leave the machine as Start
// found it.
var ErrLeftBehind = errors.New("the stopped node left the machine changed")

// leftBehind compares the machine after a stop with before; nil when every
// aspect is as it was.
func leftBehind(before, after machineState) error {
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var diffs []string
	for _, k := range keys {
		if before[k] != after[k] {
			diffs = append(diffs, fmt.Sprintf("%s:\nbefore:\n%s\nafter:\n%s", k, before[k], after[k]))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrLeftBehind, strings.Join(diffs, "\n"))
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
