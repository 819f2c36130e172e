package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"
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

func TestLeftBehind(t *testing.T) {
	tests := []struct {
		name          string
		before, after machineState
		// want lists the aspects the error names; none: no error.
		want []string
	}{
		{"same", machineState{"links": "lo", "mounts": "/"}, machineState{"links": "lo", "mounts": "/"}, nil},
		{"both empty", machineState{}, machineState{}, nil},
		{"one aspect changed", machineState{"links": "lo", "mounts": "/"}, machineState{"links": "lo sdnode0", "mounts": "/"}, []string{"links"}},
		{"an aspect appeared", machineState{"links": "lo"}, machineState{"links": "lo", "processes": "1 etcd"}, []string{"processes"}},
		{"an aspect vanished", machineState{"links": "lo", "cgroups": "/sys/fs/cgroup/cpu/kubepods"}, machineState{"links": "lo"}, []string{"cgroups"}},
	}
	for _, tc := range tests {
		err := leftBehind(tc.before, tc.after)
		if (err == nil) != (len(tc.want) == 0) {
			t.Errorf("%s: err = %v, want differences in %v", tc.name, err, tc.want)
			continue
		}
		if err != nil && !errors.Is(err, ErrLeftBehind) {
			t.Errorf("%s: %v is not ErrLeftBehind", tc.name, err)
		}
		for _, k := range tc.want {
			if !strings.Contains(err.Error(), k+":\nbefore:") {
				t.Errorf("%s: %v does not name %s", tc.name, err, k)
			}
		}
	}
}
