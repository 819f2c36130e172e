package analytics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/kinesislocal"
)

const testKey = "test-key-0123456789"

var (
	emuOnce sync.Once
	emu     *kinesislocal.Emulator
	emuErr  error
)

// TestMain runs the server as a child process when asked to (the
// kill-and-restart test needs a process it can SIGKILL), and otherwise runs
// the tests with one shared Kinesis emulator.
func TestMain(m *testing.M) {
	if os.Getenv("ANALYTICS_CHILD") == "1" {
		childServer()
		return
	}
	code := m.Run()
	if emu != nil {
		emu.Stop()
	}
	os.Exit(code)
}

func childServer() {
	srv, err := analytics.New(analytics.Config{
		Listen: os.Getenv("ANALYTICS_LISTEN"), DataDir: os.Getenv("ANALYTICS_DATA"), APIKeys: []string{testKey},
		PollInterval: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LimitAddressSpace: true, // as cmd/analytics runs it
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	if err := srv.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
}

func emulator(t testing.TB) *kinesislocal.Emulator {
	t.Helper()
	emuOnce.Do(func() { emu, emuErr = kinesislocal.StartProcess(nil) })
	if emuErr != nil {
		t.Fatalf("kinesis emulator: %v", emuErr)
	}
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", emu.Endpoint)
	t.Setenv("AWS_REGION", emu.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	return emu
}

type testServer struct {
	srv  *analytics.Server
	url  string
	rc   *rs.RockClient
	stop func()
}

func startServer(t testing.TB, cfg analytics.Config) *testServer {
	t.Helper()
	return runServer(t, newServer(t, cfg))
}

// newServer makes a server with the tests' defaults without running it.
func newServer(t testing.TB, cfg analytics.Config) *analytics.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.APIKeys == nil {
		cfg.APIKeys = []string{testKey}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := analytics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// runServer runs srv until the test ends.
func runServer(t testing.TB, srv *analytics.Server) *testServer {
	t.Helper()
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := &testServer{srv: srv, url: "http://" + addr.String()}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server stopped with %v", err)
			}
		})
	}
	t.Cleanup(ts.stop)
	ts.rc = client(t, ts.url, testKey)
	return ts
}

func client(t testing.TB, url, key string) *rs.RockClient {
	t.Helper()
	rc, err := rockset.NewClient(url, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func ptr[T any](v T) *T { return &v }

func kinesisSource(integration, stream, region, policy string) option.CollectionOption {
	return func(o *openapi.CreateCollectionRequest) {
		o.Sources = append(o.Sources, openapi.Source{
			IntegrationName: ptr(integration),
			Kinesis:         &openapi.SourceKinesis{StreamName: stream, AwsRegion: ptr(region), OffsetResetPolicy: ptr(policy)},
			FormatParams:    &openapi.FormatParams{Json: ptr(true)},
		})
	}
}

func createStream(t testing.TB, e *kinesislocal.Emulator, name string, shards int32) {
	t.Helper()
	ctx := context.Background()
	kc := e.Client()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "stream active", func() (bool, error) {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return false, err
		}
		return out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive, nil
	})
}

// putRecords writes records in PutRecords batches, retrying the ones the
// emulator refuses, and returns once all are in.
func putRecords(t testing.TB, kc *kinesis.Client, stream string, data [][]byte) {
	t.Helper()
	ctx := context.Background()
	pending := make([]types.PutRecordsRequestEntry, len(data))
	for i, d := range data {
		pending[i] = types.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(strconv.Itoa(i))}
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("put records: %d still refused", len(pending))
		}
		n := min(len(pending), 500)
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: pending[:n]})
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the emulator throttles; retry the batch
			continue
		}
		var retry []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, pending[i])
			}
		}
		pending = append(retry, pending[n:]...)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func docCount(t testing.TB, rc *rs.RockClient, ws, name string) int64 {
	t.Helper()
	c, err := rc.GetCollection(context.Background(), ws, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.Stats.GetDocCount()
}

func waitDocs(t testing.TB, rc *rs.RockClient, ws, name string, want int64, timeout time.Duration) {
	t.Helper()
	var got int64
	waitFor(t, timeout, fmt.Sprintf("%s.%s to hold %d documents", ws, name, want), func() (bool, error) {
		c, err := rc.GetCollection(context.Background(), ws, name)
		if err != nil {
			return false, err
		}
		got = c.Stats.GetDocCount()
		if got > want {
			return false, fmt.Errorf("%d documents, more than the %d written", got, want)
		}
		return got == want, fmt.Errorf("%d documents", got)
	})
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// child is the server as a separate process.
type child struct {
	cmd *exec.Cmd
}

func startChild(t testing.TB, addr, dataDir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ANALYTICS_CHILD=1", "ANALYTICS_LISTEN="+addr, "ANALYTICS_DATA="+dataDir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(c.kill)
	waitFor(t, 30*time.Second, "child server", func() (bool, error) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return c
}

func (c *child) kill() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
}
