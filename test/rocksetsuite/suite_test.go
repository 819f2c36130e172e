package rocksetsuite_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/analyticsserver"
	"github.com/streamdash/streamdash/test/apitest"
	"github.com/streamdash/streamdash/test/rocksetsuite"
	"github.com/streamdash/streamdash/test/tlscert"
)

const (
	expectedFile = "expected.txt"
	adminKey     = "rocksetsuite-admin-key-0123456789"
	// ROCKSETSUITE_UPDATE=1 rewrites expected.txt from this run (reasons of
	// changed tests become DRAFTs that a person must replace).
	updateEnv = "ROCKSETSUITE_UPDATE"
)

// TestClientSuite runs rockset-go-client v0.24.2's own tests (VCR_MODE=disabled:
// live calls) against the analytics server over TLS on loopback, and checks
// each test's outcome against expected.txt.
func TestClientSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the client's suite (about a minute warm)")
	}
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin := goCommand(t)
	src, err := rocksetsuite.ModuleDir(goBin, root)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	modDir := filepath.Join(cache, "streamdash", "rocksetsuite", "rockset-go-client@"+rocksetsuite.ClientVersion)
	if err := rocksetsuite.PrepareModule(src, modDir, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")); err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	cert, err := tlscert.Write(tmp)
	if err != nil {
		t.Fatal(err)
	}
	server := analyticsserver.Start(t, analytics.Config{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(tmp, "data"), APIKeys: []string{adminKey},
		TLSCert: cert.CertFile, TLSKey: cert.KeyFile,
		MaxQueryTimeout: 30 * time.Second,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx := t.Context()
	rc, err := rockset.NewClient(server, adminKey, &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The listener is bound before Run: calls queue in its backlog until
	// the server accepts them, so there is nothing to wait for.
	failed := rocksetsuite.CreateFixtures(ctx, rc)
	for _, f := range rocksetsuite.Fixtures {
		if err := failed[f.Name]; err != nil {
			t.Logf("fixture %s: not created: %v", f.Name, err)
		}
	}

	// A fresh machine's module cache lacks the modules only the client's
	// tests import (clientdeps.go names them; go test ./... fetches none of
	// them): fetch them through the proxy now, so the build below can stay
	// offline.
	download := exec.Command(goBin, "mod", "download")
	download.Dir, download.Env = modDir, append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("go mod download in %s: %v\n%s", modDir, err, out)
	}
	env := suiteEnv(server, cert.CertFile)
	got := map[string]*rocksetsuite.Result{}
	start := time.Now()
	pkgs := buildTestBinaries(t, goBin, modDir, env)
	t.Logf("built %d test binaries in %s", len(pkgs), time.Since(start).Round(time.Second))
	start = time.Now()
	for _, p := range pkgs {
		// The tests of a package in one process; then each example in a
		// process of its own, because a failing example calls log.Fatal
		// and would take the examples after it down with it.
		runBinary(t, goBin, env, got, p, "^Test", 8*time.Minute)
		for _, ex := range p.examples {
			runBinary(t, goBin, env, got, p, "^"+ex+"$", 2*time.Minute)
		}
	}
	t.Logf("ran in %s", time.Since(start).Round(time.Second))

	counts := rocksetsuite.Counts(got)
	t.Logf("rockset-go-client %s suite against analytics: %d tests, %d passed, %d failed, %d skipped, %d did not run",
		rocksetsuite.ClientVersion, len(got), counts[rocksetsuite.Pass], counts[rocksetsuite.Fail], counts[rocksetsuite.Skip], counts[rocksetsuite.Missing])

	path := filepath.Join(root, "test", "rocksetsuite", expectedFile)
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if os.Getenv(updateEnv) == "1" {
		old, _ := rocksetsuite.ParseExpected(bytes.NewReader(data))
		var b bytes.Buffer
		if err := rocksetsuite.Format(&b, header(data), old, got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: replace every DRAFT reason", path)
	}
	exp, err := rocksetsuite.ParseExpected(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", expectedFile, err)
	}
	pass := 0
	for _, e := range exp {
		if e.Outcome == rocksetsuite.Pass {
			pass++
		}
	}
	t.Logf("%s: %d tests listed, %d expected to pass", expectedFile, len(exp), pass)
	for _, p := range rocksetsuite.Compare(exp, got) {
		t.Error(p)
	}
}

// header keeps the comment block that opens the list.
func header(data []byte) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		b.WriteString(l)
	}
	return b.String()
}

func goCommand(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or in GOROOT: %v", err)
	}
	return p
}

// suiteEnv is the environment the client's tests see: the live server,
// the throw-away CA, and the module cache only (no network). Variables
// that would point its optional tests at other services are dropped.
func suiteEnv(server, caFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "ROCKSET_"), strings.HasPrefix(k, "CC_"), strings.HasPrefix(k, "AZURE_"),
			strings.HasPrefix(k, "GCP_"), k == "VCR_MODE", k == "SSL_CERT_FILE", k == "SSL_CERT_DIR",
			k == "GOFLAGS", k == "GOPROXY", k == "GOWORK":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"VCR_MODE=disabled",
		"ROCKSET_APIKEY="+adminKey,
		"ROCKSET_APISERVER="+server,
		"SSL_CERT_FILE="+caFile,
		"GOFLAGS=-mod=mod",
		"GOPROXY=off",
		"GOWORK=off",
		"CGO_ENABLED=1",
	)
}

type testPackage struct {
	importPath, dir, bin string
	examples             []string
}

var exampleFunc = regexp.MustCompile(`(?m)^func (Example\w*)\(\)`)

// buildTestBinaries compiles every package's tests once (go test -c), so
// that running them again costs no link.
func buildTestBinaries(t *testing.T, goBin, dir string, env []string) []testPackage {
	t.Helper()
	cmd := exec.Command(goBin, "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}\t{{.Dir}}{{end}}", "./...")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), "\t", "\x00"))
	binDir := t.TempDir()
	args := []string{"test", "-c", "-vet=off", "-o", binDir + string(filepath.Separator)}
	for _, l := range lines {
		importPath, _, _ := strings.Cut(l, "\x00")
		args = append(args, importPath)
	}
	cmd = exec.Command(goBin, args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	var pkgs []testPackage
	for _, l := range lines {
		importPath, pkgDir, _ := strings.Cut(l, "\x00")
		bin := filepath.Join(binDir, importPath[strings.LastIndex(importPath, "/")+1:]+".test")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("go test -c wrote no %s", bin)
		}
		p := testPackage{importPath: importPath, dir: pkgDir, bin: bin}
		files, _ := filepath.Glob(filepath.Join(pkgDir, "*_test.go"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range exampleFunc.FindAllSubmatch(src, -1) {
				p.examples = append(p.examples, string(m[1]))
			}
		}
		sort.Strings(p.examples)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// runBinary runs a package's test binary in its directory, as go test
// would, with test2json making the events.
func runBinary(t *testing.T, goBin string, env []string, got map[string]*rocksetsuite.Result, p testPackage, run string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "tool", "test2json", "-p", p.importPath, p.bin,
		"-test.v=test2json", "-test.count=1", "-test.timeout="+timeout.String(), "-test.run="+run)
	cmd.Dir, cmd.Env = p.dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if perr := rocksetsuite.ParseJSON(bytes.NewReader(stdout.Bytes()), got); perr != nil {
		t.Fatalf("%s -test.run=%s: %v\n%s", p.importPath, run, perr, stderr.String())
	}
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatalf("%s -test.run=%s: %v", p.importPath, run, err)
	}
}
