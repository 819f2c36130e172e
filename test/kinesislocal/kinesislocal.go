// Package kinesislocal starts the Kinesis emulator (kinesis-mock's npm build,
// installed by hack/kinesis-local.sh) for tests: a real Kinesis API on a free
// loopback port, one per caller, stopped when the test ends.
package kinesislocal

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/streamdash/streamdash/test/apitest"
)

// Version is the kinesis-local npm version hack/kinesis-local.sh installs.
const Version = "0.6.2"

// Emulator is a running kinesis-local process.
type Emulator struct {
	// Endpoint is the plain-HTTP base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	// Region is the region the emulator's default account answers in.
	Region string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
}

// Dir returns the installed package directory: $KINESIS_LOCAL_DIR, or
// bin/kinesis-local/<Version>/node_modules/kinesis-local at the repository root.
func Dir() (string, error) {
	if d := os.Getenv("KINESIS_LOCAL_DIR"); d != "" {
		return d, nil
	}
	root, err := apitest.RepoRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "bin", "kinesis-local", Version, "node_modules", "kinesis-local")
	if _, err := os.Stat(filepath.Join(d, "main.js")); err != nil {
		return "", fmt.Errorf("kinesis-local is not installed at %s: run hack/kinesis-local.sh install (make test does)", d)
	}
	return d, nil
}

// Start runs a fresh emulator for t and stops it in t.Cleanup. It fails the
// test when the emulator is not installed: a skipped integration test would
// hide a broken toolchain.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e, err := StartProcess(os.Stderr)
	if err != nil {
		t.Fatalf("kinesis emulator: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// StartProcess runs a fresh emulator and waits until it answers. The caller
// must call Stop. Its logs go to logw (nil discards them).
//
// The ports are chosen free but bound only when node starts, so another
// process can take one in between; the emulator then exits, and whatever
// answers on the port is not ours. So an emulator that exits before it
// answers is started again on new ports.
func StartProcess(logw *os.File) (*Emulator, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var e *Emulator
		if e, err = startOnce(logw); err == nil {
			return e, nil
		}
	}
	return nil, err
}

func startOnce(logw *os.File) (*Emulator, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	plain, err := freePort()
	if err != nil {
		return nil, err
	}
	tls, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "main.js")
	cmd.Dir = dir // it reads its TLS certificate from the working directory
	cmd.Env = append(os.Environ(),
		"KINESIS_MOCK_PLAIN_PORT="+strconv.Itoa(plain),
		"KINESIS_MOCK_TLS_PORT="+strconv.Itoa(tls),
		"LOG_LEVEL=WARN",
		"CREATE_STREAM_DURATION=100ms",
		"DELETE_STREAM_DURATION=100ms",
		"UPDATE_STREAM_DURATION=100ms",
		"REGISTER_STREAM_CONSUMER_DURATION=100ms",
	)
	if logw != nil {
		cmd.Stdout, cmd.Stderr = logw, logw
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kinesis-local: %w", err)
	}
	e := &Emulator{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", plain), Region: "us-east-1", cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.exited) }()
	if err := e.waitReady(30 * time.Second); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop kills the emulator and waits for it to exit.
func (e *Emulator) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

// Client returns a Kinesis client for the emulator with static test credentials.
func (e *Emulator) Client() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Env returns the AWS_* variables that point a program using the SDK's
// standard configuration at the emulator.
func (e *Emulator) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_KINESIS=" + e.Endpoint,
		"AWS_REGION=" + e.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	}
}

func (e *Emulator) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := e.Client()
	for {
		select {
		case <-e.exited:
			return fmt.Errorf("kinesis-local exited before answering on %s (port taken?)", e.Endpoint)
		default:
		}
		_, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		if err == nil {
			// Answered, but by us? Our process must still be alive.
			select {
			case <-e.exited:
				return fmt.Errorf("kinesis-local exited; another process answers on %s", e.Endpoint)
			case <-time.After(200 * time.Millisecond):
			}
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("kinesis-local exited before answering on %s (port taken?)", e.Endpoint)
		case <-ctx.Done():
			return fmt.Errorf("kinesis-local did not answer at %s within %s: %w", e.Endpoint, timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
