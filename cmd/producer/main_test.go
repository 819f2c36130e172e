package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/producer/kinesiswriter"
	"github.com/streamdash/streamdash/internal/producer/replay"
	"github.com/streamdash/streamdash/internal/producer/xstream/xstreamtest"
	"github.com/streamdash/streamdash/internal/tweet"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

// build compiles the producer once per test binary.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "producer-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "producer")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func start(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stderr
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLine finds the JSON log record with msg.
func logLine(logs, msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

func TestSIGTERMFlushes(t *testing.T) {
	e := kinesislocal.Start(t)
	c := e.Client()
	ctx := context.Background()
	if err := kinesiswriter.CreateStream(ctx, c, "cmd", 1); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := start(t, e.Env(), "--stream", "cmd", "--listen", "127.0.0.1:0", "--source", "replay",
		"--synthetic-seed", "9", "--rate", "300", "--rewrite-timestamps=false", "--batch-size", "50", "--flush-interval", "1h")
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, err := kinesiswriter.ReadAll(ctx, c, "cmd")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d records; logs:\n%s", len(recs), stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
	}
	flushed := logLine(stderr.String(), "producer flushed")
	if flushed == nil {
		t.Fatalf("no flush log:\n%s", stderr)
	}
	recs, err := kinesiswriter.ReadAll(ctx, c, "cmd")
	if err != nil {
		t.Fatal(err)
	}
	n := len(recs)
	if flushed["read"] != float64(n) || flushed["written"] != float64(n) {
		t.Errorf("stream holds %d records; log says read %v written %v", n, flushed["read"], flushed["written"])
	}
	var got, want []tweet.Document
	g := tweet.NewGenerator(9)
	rate := 300.0 // as --rate: the source spaces synthetic timestamps by 1s/rate
	step := time.Duration(float64(time.Second) / rate)
	for i, r := range recs {
		d, err := tweet.DecodeCanonical(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
		want = append(want, g.Next(replay.SyntheticEpoch.Add(time.Duration(i)*step)))
	}
	sort.Slice(got, func(i, j int) bool { return got[i].IDStr < got[j].IDStr })
	sort.Slice(want, func(i, j int) bool { return want[i].IDStr < want[j].IDStr })
	if !reflect.DeepEqual(got, want) {
		t.Error("the stream is not the first n documents of seed 9")
	}
}

func TestBearerTokenNeverLogged(t *testing.T) {
	const token = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBChTYbJcE3F"
	_, srv := xstreamtest.Start(t, "the-right-token")
	cmd, stderr := start(t, append(kinesisEnvNowhere(), "X_BEARER_TOKEN="+token),
		"--stream", "s", "--listen", "127.0.0.1:0", "--source", "x", "--x-endpoint", srv.URL,
		"--x-rules", `[{"value":"music","tag":"m"}]`, "--rules-tag-prefix", "sd/")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "syncing filtered stream rules failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no rules failure logged:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	logs := stderr.String()
	if strings.Contains(logs, token) || strings.Contains(logs, "MLheAAAA") {
		t.Errorf("the bearer token is in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "401") {
		t.Errorf("the 401 is not reported:\n%s", logs)
	}
}

func kinesisEnvNowhere() []string {
	return []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:1"}
}

func TestBadFlagsExit(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no stream", []string{}, "--stream is required"},
		{"bad format", []string{"--stream", "s", "--replay-format", "csv"}, "unknown format"},
		{"bad rules", []string{"--stream", "s", "--x-rules", "{"}, "rules must be a JSON list"},
		{"x without token", []string{"--stream", "s", "--source", "x"}, "X_BEARER_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, stderr := start(t, append(kinesisEnvNowhere(), "X_BEARER_TOKEN="), append(tc.args, "--listen", "127.0.0.1:0")...)
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1", err)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
		})
	}
}
