package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/streamdash/streamdash/test/apitest"
)

// TestManagerRSS measures the manager's resident memory in a cluster with
// STREAMDASH_RSS_SECRETS (10000) unrelated Secrets of 2 KiB each, for this
// tree's manager and, when STREAMDASH_RSS_BASELINE names one, another
// manager binary (an older build) in the same run. It reports figures and
// asserts nothing about them.
//
//	STREAMDASH_RSS=1 STREAMDASH_RSS_BASELINE=/tmp/manager-before go test ./cmd/manager -run TestManagerRSS -v -timeout 20m
func TestManagerRSS(t *testing.T) {
	if os.Getenv("STREAMDASH_RSS") == "" {
		t.Skip("memory measurement: set STREAMDASH_RSS=1")
	}
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Setenv("KUBEBUILDER_ASSETS", filepath.Join(root, "bin", "k8s", "1.37.2"))
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"streamdash-system", "unrelated"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("STREAMDASH_RSS_SECRETS")); err == nil && v > 0 {
		n = v
	}
	payload := []byte(strings.Repeat("x", 2048))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "unrelated", Name: fmt.Sprintf("s%05d", i)},
					Data: map[string][]byte{"data": payload}}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d Secrets of %d bytes created", n, len(payload))

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	binaries := [][2]string{{"this tree", bin}}
	if b := os.Getenv("STREAMDASH_RSS_BASELINE"); b != "" {
		binaries = append([][2]string{{"baseline " + b, b}}, binaries...)
	}
	for _, b := range binaries {
		rss := managerRSS(t, b[1], kubeconfig)
		t.Logf("%s: manager RSS %.1f MiB with %d unrelated Secrets", b[0], float64(rss)/(1<<20), n)
	}
}

// managerRSS runs a manager until both controllers have started their
// workers (their caches are synced), then returns its peak resident memory
// (VmHWM) after 15 s more.
func managerRSS(t *testing.T, bin, kubeconfig string) int64 {
	t.Helper()
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--image=streamdash:test", "--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0", "--aws-region=us-east-1", "--rockset-api-server=http://127.0.0.1:1")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		workers := 0
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Starting workers") {
				if workers++; workers == 2 {
					close(started)
				}
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Minute):
		t.Fatalf("%s: controllers did not start within 5m", bin)
	}
	time.Sleep(15 * time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
