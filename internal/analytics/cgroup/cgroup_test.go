package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	write := func(root, rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		proc  string
		files map[string]string
		want  Limits
	}{
		{"v1 limited", "12:memory:/pod/a\n4:cpu,cpuacct:/pod/a\n", map[string]string{
			"memory/pod/a/memory.limit_in_bytes": "3221225472\n", "cpu/pod/a/cpu.cfs_quota_us": "150000\n", "cpu/pod/a/cpu.cfs_period_us": "100000\n",
		}, Limits{MemoryBytes: 3 << 30, CPUs: 1.5}},
		{"v1 unlimited", "12:memory:/\n4:cpu,cpuacct:/\n", map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n", "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
		}, Limits{}},
		{"v2 limited", "0::/kubepods/x\n", map[string]string{
			"kubepods/x/memory.max": "1073741824\n", "kubepods/x/cpu.max": "200000 100000\n",
		}, Limits{MemoryBytes: 1 << 30, CPUs: 2}},
		{"v2 unlimited", "0::/\n", map[string]string{"memory.max": "max\n", "cpu.max": "max 100000\n"}, Limits{}},
		{"no cgroup file", "", nil, Limits{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, c := range tc.files {
				write(root, rel, c)
			}
			proc := filepath.Join(root, "proc-cgroup")
			if tc.proc != "" {
				write(root, "proc-cgroup", tc.proc)
			}
			if got := read(proc, root); got != tc.want {
				t.Errorf("read = %+v, want %+v", got, tc.want)
			}
		})
	}
}
