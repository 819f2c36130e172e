package localkubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod is one replica of a Deployment: a pod directory, a loopback address
// and one supervised process per container.
type pod struct {
	k      *Kubelet
	meta   podMeta
	deploy types.NamespacedName
	hash   string
	spec   corev1.PodSpec
	dir    string
	cancel context.CancelFunc
	done   chan struct{}

	startTime metav1.Time

	mu              sync.Mutex
	message         string // why the pod cannot start, when it cannot
	containers      map[string]*containerState
	publishedStatus string // the Pod status last written, as JSON
}

type containerState struct {
	running, ready bool
	restarts       int
	reason         string // waiting or terminated reason, as kubectl would show it
	message        string
	logPath        string
}

func (p *pod) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(ctx)
}

// stop ends every process of the pod and waits until they are gone.
func (p *pod) stop() {
	p.cancel()
	<-p.done
}

func (p *pod) run(ctx context.Context) {
	defer close(p.done)
	defer func() {
		p.k.ips.release(p.meta.IP)
		_ = os.RemoveAll(p.dir)
	}()
	if len(p.spec.InitContainers) > 0 {
		p.setMessage("init containers are not supported by the local kubelet")
		<-ctx.Done()
		return
	}
	res := &resolver{reader: p.k.reader, pod: p.meta, spec: &p.spec}
	var volumes map[string]string
	for backoff := p.k.opts.RestartBackoff; ; backoff = min(2*backoff, p.k.opts.MaxRestartBackoff) {
		var err error
		if volumes, err = res.materialiseVolumes(ctx, p.dir); err == nil {
			break
		}
		p.setMessage("FailedMount: " + err.Error())
		if !sleepCtx(ctx, backoff) {
			return
		}
	}
	p.setMessage("")
	var wg sync.WaitGroup
	for i := range p.spec.Containers {
		c := &p.spec.Containers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.superviseContainer(ctx, res, c, volumes)
		}()
	}
	wg.Wait()
}

// superviseContainer runs the container's process again and again, with the
// kubelet's doubling backoff, until the pod stops.
func (p *pod) superviseContainer(ctx context.Context, res *resolver, c *corev1.Container, volumes map[string]string) {
	base, maxBackoff := p.k.opts.RestartBackoff, p.k.opts.MaxRestartBackoff
	backoff := base
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, backoff) {
			return
		}
		started := time.Now()
		ran := p.runOnce(ctx, res, c, volumes)
		if ctx.Err() != nil {
			return
		}
		if ran {
			p.update(c.Name, func(s *containerState) { s.restarts++ })
		}
		// A process that stayed up for a while earns a fresh backoff, as the
		// kubelet resets it after a quiet period.
		if ran && time.Since(started) > 2*maxBackoff {
			backoff = base
		} else if attempt > 0 {
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// runOnce prepares and runs one process of the container until it exits or
// ctx ends; it reports whether a process was started.
func (p *pod) runOnce(ctx context.Context, res *resolver, c *corev1.Container, volumes map[string]string) bool {
	cmd, procEnv, err := p.command(ctx, res, c, volumes)
	if err != nil {
		p.update(c.Name, func(s *containerState) {
			s.running, s.ready, s.reason, s.message = false, false, "CreateContainerConfigError", err.Error()
		})
		return false
	}
	logPath := filepath.Join(p.k.opts.LogDir, fmt.Sprintf("%s_%s_%s.log", p.meta.Namespace, p.meta.Name, c.Name))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.update(c.Name, func(s *containerState) { s.reason, s.message = "StartError", err.Error() })
		return false
	}
	defer logf.Close()
	// The header shows the template's command, not the expanded one, which may
	// hold values read from Secrets.
	fmt.Fprintf(logf, "--- %s localkubelet: starting %s in pod %s/%s (IP %s)\n",
		time.Now().UTC().Format(time.RFC3339), strings.Join(append(append([]string{}, c.Command...), c.Args...), " "),
		p.meta.Namespace, p.meta.Name, p.meta.IP)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logf, "--- localkubelet: start failed: %v\n", err)
		p.update(c.Name, func(s *containerState) { s.reason, s.message, s.logPath = "StartError", err.Error(), logPath })
		return false
	}
	p.update(c.Name, func(s *containerState) { s.running, s.reason, s.message, s.logPath = true, "", "", logPath })

	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		p.probeLoop(probeCtx, c, procEnv)
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		p.terminate(cmd, exited)
		waitErr = context.Canceled
	}
	// Children the process left behind share its group; take them too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	stopProbe()
	<-probeDone

	reason, msg := "Completed", "exit code 0"
	var exitErr *exec.ExitError
	switch {
	case errors.Is(waitErr, context.Canceled):
		reason, msg = "Stopped", "stopped by the local kubelet"
	case errors.As(waitErr, &exitErr):
		reason, msg = "Error", exitErr.Error()
	case waitErr != nil:
		reason, msg = "Error", waitErr.Error()
	}
	fmt.Fprintf(logf, "--- %s localkubelet: process %s (%s)\n", time.Now().UTC().Format(time.RFC3339), strings.ToLower(reason), msg)
	p.update(c.Name, func(s *containerState) { s.running, s.ready, s.reason, s.message = false, false, reason, msg })
	return true
}

// terminate sends SIGTERM to the process group and SIGKILL once the grace
// period (capped by Options.MaxGracePeriod) is over.
func (p *pod) terminate(cmd *exec.Cmd, exited <-chan error) {
	grace := p.k.opts.MaxGracePeriod
	if s := p.spec.TerminationGracePeriodSeconds; s != nil && time.Duration(*s)*time.Second < grace {
		grace = time.Duration(*s) * time.Second
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// command builds the process for a container: program, expanded and
// rewritten arguments, environment and working directory.
func (p *pod) command(ctx context.Context, res *resolver, c *corev1.Container, volumes map[string]string) (*exec.Cmd, []string, error) {
	if len(c.Command) == 0 {
		return nil, nil, fmt.Errorf("container %q has no command: the local kubelet cannot know the image's entrypoint", c.Name)
	}
	env, err := res.containerEnv(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	rw, err := newPathRewriter(c, volumes)
	if err != nil {
		return nil, nil, err
	}
	vars := make(map[string]string, len(env))
	for i := range env {
		if env[i].fromLiteral {
			env[i].Value = rw.rewrite(env[i].Value)
		}
		vars[env[i].Name] = env[i].Value
	}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	argv := make([]string, 0, len(c.Command)+len(c.Args))
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, rw.rewrite(expand(a, lookup)))
	}
	program, err := p.k.programPath(argv[0])
	if err != nil {
		return nil, nil, err
	}
	procEnv := append([]string{}, p.k.opts.BaseEnv...)
	procEnv = append(procEnv, "HOSTNAME="+p.meta.Name)
	for _, e := range env {
		procEnv = append(procEnv, e.Name+"="+e.Value)
	}
	cmd := exec.Command(program, argv[1:]...)
	cmd.Env = procEnv
	cmd.Dir = p.dir
	if c.WorkingDir != "" {
		if w := rw.rewrite(c.WorkingDir); w != c.WorkingDir {
			cmd.Dir = w
		}
	}
	return cmd, procEnv, nil
}

// probeLoop keeps the container's ready flag in line with its readiness
// probe, with the probe's success and failure thresholds.
func (p *pod) probeLoop(ctx context.Context, c *corev1.Container, env []string) {
	pr := newProber(c.ReadinessProbe, p.meta.IP, c, env)
	success, failure := int32(1), int32(3)
	if rp := c.ReadinessProbe; rp != nil {
		if rp.SuccessThreshold > 0 {
			success = rp.SuccessThreshold
		}
		if rp.FailureThreshold > 0 {
			failure = rp.FailureThreshold
		}
	}
	var oks, fails int32
	t := time.NewTicker(p.k.opts.ProbeInterval)
	defer t.Stop()
	for {
		err := pr.check(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			oks, fails = oks+1, 0
			if oks >= success {
				p.update(c.Name, func(s *containerState) { s.ready, s.message = true, "" })
			}
		} else {
			oks, fails = 0, fails+1
			if fails >= failure {
				p.update(c.Name, func(s *containerState) { s.ready, s.message = false, "readiness probe failed: "+err.Error() })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// update changes a container's state and tells the Deployment's reconciler
// when anything that shows in status changed.
func (p *pod) update(container string, f func(*containerState)) {
	p.mu.Lock()
	s := p.containers[container]
	before := *s
	f(s)
	changed := before.ready != s.ready || before.running != s.running || before.restarts != s.restarts ||
		before.reason != s.reason || before.message != s.message
	p.mu.Unlock()
	if changed {
		p.k.notify(p.deploy)
	}
}

func (p *pod) setMessage(m string) {
	p.mu.Lock()
	changed := p.message != m
	p.message = m
	p.mu.Unlock()
	if changed {
		p.k.notify(p.deploy)
	}
}

func (p *pod) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.containers) == 0 {
		return false
	}
	for _, s := range p.containers {
		if !s.ready || !s.running {
			return false
		}
	}
	return true
}

// PodStatus is a snapshot of one local pod, for people and tests.
type PodStatus struct {
	Namespace, Name string
	Deployment      string
	IP              string
	Labels          map[string]string
	Ready           bool
	Restarts        int
	// Message says why the pod or a container is not running or not ready.
	Message string
	// Logs are the log files of the pod's containers, by container name.
	Logs map[string]string
}

func (p *pod) status() PodStatus {
	ready := p.ready()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PodStatus{Namespace: p.meta.Namespace, Name: p.meta.Name, Deployment: p.deploy.Name, IP: p.meta.IP,
		Labels: p.meta.Labels, Ready: ready, Message: p.message, Logs: map[string]string{}}
	for _, name := range sortedKeys(p.containers) {
		s := p.containers[name]
		st.Restarts += s.restarts
		st.Logs[name] = s.logPath
		if st.Message == "" && (s.reason != "" || s.message != "") {
			st.Message = strings.TrimSpace(name + ": " + s.reason + " " + s.message)
		}
	}
	return st
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
