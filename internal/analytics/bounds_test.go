package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics"
)

// apiCall is one raw API request: status, ErrorModel type and message. Raw,
// because the Rockset client retries 429 on its own.
type apiCall struct {
	status   int
	typ, msg string
	body     []byte
}

func rawQuery(t testing.TB, hc *http.Client, url, key, sql string, timeoutMs int) apiCall {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sql": map[string]any{"query": sql}, "timeout_ms": timeoutMs})
	req, err := http.NewRequest(http.MethodPost, url+"/v1/orgs/self/queries", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "ApiKey "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var em struct{ Type, Message string }
	_ = json.Unmarshal(b, &em)
	return apiCall{status: resp.StatusCode, typ: em.Type, msg: em.Message, body: b}
}

// TestQueryBounds: the per-server limits answer with a clear error, and the
// server goes on answering.
func TestQueryBounds(t *testing.T) {
	ts := startServer(t, analytics.Config{MaxSQLBytes: 1000, MaxResponseBytes: 4000, MaxAuthFailures: 3})
	hc := &http.Client{}
	tests := []struct {
		name, sql  string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"query text over the limit", `SELECT 1 AS x WHERE '` + strings.Repeat("a", 2000) + `' <> ''`, 400, "QUERY_ERROR", "limit of 1000"},
		{"response over the byte cap", `SELECT repeat('x', 100) AS s FROM range(1000)`, 400, "QUERY_ERROR", "larger than the server's limit"},
		{"small result", `SELECT repeat('x', 100) AS s FROM range(10)`, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rawQuery(t, hc, ts.url, testKey, tc.sql, 10000)
			if got.status != tc.wantStatus || got.typ != tc.wantType || !strings.Contains(got.msg, tc.wantMsg) {
				t.Errorf("= %d %s %q, want %d %s containing %q", got.status, got.typ, got.msg, tc.wantStatus, tc.wantType, tc.wantMsg)
			}
		})
	}
	t.Run("failed authentications", func(t *testing.T) {
		for i := range 3 {
			if got := rawQuery(t, hc, ts.url, "wrong", `SELECT 1`, 1000); got.status != 401 {
				t.Fatalf("bad key #%d = %d, want 401", i+1, got.status)
			}
		}
		// Blocked now: even the right key is refused, with the reason.
		for _, key := range []string{"wrong", testKey} {
			got := rawQuery(t, hc, ts.url, key, `SELECT 1`, 1000)
			if got.status != 401 || got.typ != "AUTHEXCEPTION" || !strings.Contains(got.msg, "too many failed authentications") {
				t.Errorf("after 3 failures, key %q = %d %s %q, want 401 about too many failures", key, got.status, got.typ, got.msg)
			}
		}
	})
}

// TestConcurrencyLimit: with one query running and one waiting, the rest are
// refused at once with 429 rather than piling up.
func TestConcurrencyLimit(t *testing.T) {
	ts := startServer(t, analytics.Config{MaxConcurrentQueries: 1, MaxQueuedQueries: 1})
	const n = 6
	var wg sync.WaitGroup
	var refused, timedOut atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Runs until its 1.5 s timeout: every request arrives while the first still runs.
			got := rawQuery(t, &http.Client{}, ts.url, testKey, `SELECT count(*) FROM range(1000000000000) AS r(x) WHERE x % 7 = 3`, 1500)
			switch {
			case got.status == 429 && got.typ == "RESOURCEEXCEEDED" && strings.Contains(got.msg, "too many queries"):
				refused.Add(1)
			case got.typ == "QUERY_TIMEOUT":
				timedOut.Add(1)
			default:
				t.Errorf("= %d %s", got.status, got.body)
			}
		}()
	}
	wg.Wait()
	if refused.Load() < n-2 {
		t.Errorf("%d of %d refused with 429 (%d ran to their timeout), want at least %d", refused.Load(), n, timedOut.Load(), n-2)
	}
	if got := rawQuery(t, &http.Client{}, ts.url, testKey, `SELECT 1 AS x`, 5000); got.status != 200 {
		t.Errorf("after the burst: %d %s", got.status, got.body)
	}
}

// TestAPIKeyFileRotation: the key file is a mounted Secret, updated the
// kubelet's way (a new directory, then an atomic rename of the ..data
// symlink). The server takes the new key without a restart, the old one
// stops working, and the client's open connection keeps serving.
func TestAPIKeyFileRotation(t *testing.T) {
	file, mount := mountedKeyFile(t, "first-key-0123")
	ts := startServer(t, analytics.Config{APIKeys: []string{}, APIKeyFile: file, MaxAuthFailures: 10000})
	testKeyFileRotation(t, ts, mount)
}

// mountedKeyFile lays out a key file holding key as the kubelet mounts a
// Secret, and returns its path and a function that updates it the kubelet's
// way: a new directory, then an atomic rename of the ..data symlink.
func mountedKeyFile(t *testing.T, key string) (path string, mount func(version, key string)) {
	dir := t.TempDir()
	mount = func(version, key string) {
		v := filepath.Join(dir, version)
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v, "apikey"), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(version, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mount("..2026_11_30_01", key)
	path = filepath.Join(dir, "apikey")
	if err := os.Symlink("..data/apikey", path); err != nil {
		t.Fatal(err)
	}
	return path, mount
}

// testKeyFileRotation rotates the key of a running server and checks the
// new key serves on the client's open connection and the old one stops.
func testKeyFileRotation(t *testing.T, ts *testServer, mount func(version, key string)) {
	t.Helper()
	var dials atomic.Int32
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	if got := rawQuery(t, hc, ts.url, "first-key-0123", `SELECT 1 AS x`, 5000); got.status != 200 {
		t.Fatalf("first key = %d %s", got.status, got.body)
	}
	mount("..2026_11_30_02", "second-key-4567")
	waitFor(t, 30*time.Second, "the rotated key to be accepted", func() (bool, error) {
		got := rawQuery(t, hc, ts.url, "second-key-4567", `SELECT 1 AS x`, 5000)
		return got.status == 200, fmt.Errorf("%d", got.status)
	})
	if got := rawQuery(t, hc, ts.url, "first-key-0123", `SELECT 1 AS x`, 5000); got.status != 401 {
		t.Errorf("the old key after rotation = %d, want 401", got.status)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the client dialled %d times, want its one connection kept through the rotation", n)
	}
}

// TestAPIKeyFileRotatedBeforeRun: a rotation between New (which reads the
// key file) and Run (which starts following it) is taken too. The server
// once compared the file with a fresh read at Run, saw no change, and kept
// the old key for good.
func TestAPIKeyFileRotatedBeforeRun(t *testing.T) {
	file, mount := mountedKeyFile(t, "first-key-0123")
	srv := newServer(t, analytics.Config{APIKeys: []string{}, APIKeyFile: file, MaxAuthFailures: 10000})
	mount("..2026_11_30_02", "second-key-4567")
	url := runServer(t, srv).url
	waitFor(t, 30*time.Second, "the key rotated before Run to be accepted", func() (bool, error) {
		got := rawQuery(t, &http.Client{}, url, "second-key-4567", `SELECT 1 AS x`, 5000)
		return got.status == 200, fmt.Errorf("%d", got.status)
	})
	if got := rawQuery(t, &http.Client{}, url, "first-key-0123", `SELECT 1 AS x`, 5000); got.status != 401 {
		t.Errorf("the old key = %d, want 401", got.status)
	}
}

// memoryCgroup makes a cgroup v1 memory cgroup limited to limit bytes, or
// skips the test where there is none to make (no v1 memory controller, not
// root).
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		t.Skip("no cgroup v1 memory controller here")
	}
	dir := filepath.Join(root, fmt.Sprintf("streamdash-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		t.Skipf("cannot limit the cgroup: %v", err)
	}
	return dir
}

// TestMemoryHungryQueryFailsAlone runs the server in a 1 GiB memory cgroup
// (as a pod with a memory limit would) and sends a query that wants far more:
// the query fails with a clear error, the process lives, and the next query
// is answered.
func TestMemoryHungryQueryFailsAlone(t *testing.T) {
	cg := memoryCgroup(t, 1<<30)
	addr := freeAddr(t)
	// Join the cgroup before the server starts, so it reads its limits there.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$1" -test.run='^$'`, cg, os.Args[0])
	cmd.Env = append(os.Environ(), "ANALYTICS_CHILD=1", "ANALYTICS_LISTEN="+addr, "ANALYTICS_DATA="+t.TempDir())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := "http://" + addr
	waitFor(t, 60*time.Second, "the server in the cgroup", func() (bool, error) {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})
	hc := &http.Client{}
	for _, q := range []string{`SELECT len(range(4000000000)) AS n`, `SELECT list_sort(range(300000000)) AS l`} {
		got := rawQuery(t, hc, url, testKey, q, 60000)
		if got.status != 400 || got.typ != "QUERY_ERROR" || !strings.Contains(got.msg, "memory") {
			t.Errorf("%s = %d %s, want 400 QUERY_ERROR about memory", q, got.status, got.body)
		}
		select {
		case err := <-exited:
			t.Fatalf("the server died on %s: %v", q, err)
		default:
		}
	}
	if got := rawQuery(t, hc, url, testKey, `SELECT 41 + 1 AS x`, 5000); got.status != 200 || !strings.Contains(string(got.body), `"x":42`) {
		t.Errorf("after the memory-hungry queries: %d %s", got.status, got.body)
	}
}
