// Package cgroup reads the memory limit and CPU quota of the cgroup this
// process runs in (v1 or v2), so the database's own limits can default to
// what the container is actually given rather than the whole machine.
package cgroup

import (
	"bufio"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Limits are a cgroup's bounds; zero means unlimited (or unknown).
type Limits struct {
	MemoryBytes int64
	CPUs        float64
}

// Self returns the limits of this process's cgroup.
func Self() Limits { return read("/proc/self/cgroup", "/sys/fs/cgroup") }

func read(procCgroup, root string) Limits {
	var l Limits
	f, err := os.Open(procCgroup)
	if err != nil {
		return l
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		path := parts[2]
		for _, ctl := range strings.Split(parts[1], ",") {
			switch ctl {
			case "memory":
				l.MemoryBytes = minPositive(l.MemoryBytes, number(filepath.Join(root, "memory", path, "memory.limit_in_bytes")))
			case "cpu":
				q, p := number(filepath.Join(root, "cpu", path, "cpu.cfs_quota_us")), number(filepath.Join(root, "cpu", path, "cpu.cfs_period_us"))
				if q > 0 && p > 0 {
					l.CPUs = float64(q) / float64(p)
				}
			}
		}
		if parts[0] == "0" && parts[1] == "" { // the v2 unified hierarchy
			l.MemoryBytes = minPositive(l.MemoryBytes, number(filepath.Join(root, path, "memory.max")))
			if b, err := os.ReadFile(filepath.Join(root, path, "cpu.max")); err == nil {
				if f := strings.Fields(string(b)); len(f) == 2 {
					q, _ := strconv.ParseFloat(f[0], 64)
					p, _ := strconv.ParseFloat(f[1], 64)
					if q > 0 && p > 0 {
						l.CPUs = q / p
					}
				}
			}
		}
	}
	return l
}

// number reads a one-number file; "max", absent or absurd values are 0.
func number(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 { // v1 writes "no limit" as a huge number
		return 0
	}
	return n
}

func minPositive(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// LimitAddressSpace caps this process's address space at what it has
// reserved now plus budget bytes. DuckDB's memory_limit governs its buffer
// pool, but not every allocation: a list of four billion elements is one
// malloc outside it, and in a memory cgroup touching it brings the kernel's
// OOM killer. Under this cap the malloc fails instead, DuckDB turns that into
// an "Out of Memory Error", and only the query that asked for it fails.
func LimitAddressSpace(budget int64) error {
	vsz, err := virtualSize("/proc/self/status")
	if err != nil {
		return err
	}
	limit := uint64(vsz + budget)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
}

// virtualSize reads VmSize from a /proc status file, in bytes.
func virtualSize(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, err
				}
				return kb << 10, nil
			}
		}
	}
	return 0, errors.New("no VmSize in " + path)
}
