package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var runDir = filepath.Join(Root, "run")

// startProcess starts a component in its own session, so that it outlives
// the process that started it (hack/node up returns) and never receives the
// terminal's Ctrl-C before the orderly stop. Its pid goes to run/<name>.pid.
func (n *Node) startProcess(name, program string, args ...string) error {
	logf, err := os.OpenFile(filepath.Join(n.opts.LogDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = Root
	cmd.Env = []string{"PATH=" + n.tools.containerdDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + Root}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	// Reap it when it exits while we still run; otherwise init does.
	go func() { _ = cmd.Wait() }()
	return os.WriteFile(filepath.Join(runDir, name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// running reports whether the component from run/<name>.pid is alive.
func running(name string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(runDir, name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return pid, alive(pid)
}

// alive is true for a process that exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// startTime is a process's start time in clock ticks since boot, which
// tells a process from a later one with the same pid.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// stopProcess sends SIGTERM to the component from run/<name>.pid, SIGKILL
// after grace, and waits until it is gone.
func stopProcess(name string, grace time.Duration) error {
	pid, ok := running(name)
	if ok {
		if err := terminate(pid, grace); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	err := os.Remove(filepath.Join(runDir, name+".pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func terminate(pid int, grace time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !alive(pid) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		return fmt.Errorf("pid %d survives SIGKILL", pid)
	}
	return nil
}

// processesRunning lists live processes whose executable is one of paths.
func processesRunning(paths ...string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		for _, p := range paths {
			if exe == p && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
