package localkubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	cfg    *rest.Config
	binDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets, _ = filepath.Abs("../../bin/k8s/1.37.2")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "envtest (run hack/envtest.sh, or set KUBEBUILDER_ASSETS): %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	dir, err := os.MkdirTemp("", "localkubelet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "podprog"), "./testdata/podprog")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build podprog: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// startKubelet runs a stand-in for the test, stopped (and checked stopped)
// when the test ends.
func startKubelet(t *testing.T) (*Kubelet, client.Client) {
	k, c, _ := startStoppableKubelet(t)
	return k, c
}

// startStoppableKubelet also returns a function that stops the stand-in and
// waits for Run to return; calling it more than once is harmless.
func startStoppableKubelet(t *testing.T, tune ...func(*Options)) (*Kubelet, client.Client, func()) {
	t.Helper()
	opts := Options{
		BinDir:            binDir,
		Selector:          ManagedBySelector,
		ProbeInterval:     50 * time.Millisecond,
		RestartBackoff:    100 * time.Millisecond,
		MaxRestartBackoff: time.Second,
		MaxGracePeriod:    2 * time.Second,
	}
	for _, f := range tune {
		f(&opts)
	}
	k, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return k, c, stop
}

func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "lk-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

var managed = map[string]string{"app.kubernetes.io/managed-by": "streamdash", "app.kubernetes.io/name": "podprog"}

func deployment(ns, name string, replicas int32, c corev1.Container, volumes ...corev1.Volume) *appsv1.Deployment {
	lbls := map[string]string{"app.kubernetes.io/instance": name}
	for k, v := range managed {
		lbls[k] = v
	}
	c.Name = "main"
	c.Image = "streamdash:test"
	if c.Command == nil {
		c.Command = []string{"podprog"}
	}
	c.Ports = append(c.Ports, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	if c.ReadinessProbe == nil {
		c.ReadinessProbe = &corev1.Probe{FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	}
	c.Env = append([]corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}, c.Env...)
	if len(c.Args) == 0 || !strings.HasPrefix(c.Args[0], "--exit-now") {
		c.Args = append([]string{"--listen=$(POD_IP):8080"}, c.Args...)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: volumes},
			},
		},
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %s", what, last)
}

func waitStatus(t *testing.T, c client.Client, key types.NamespacedName, ready, replicas int32) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	eventually(t, fmt.Sprintf("%s ready %d of %d", key, ready, replicas), func() (bool, string) {
		if err := c.Get(context.Background(), key, &d); err != nil {
			return false, err.Error()
		}
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.ReadyReplicas == ready && s.AvailableReplicas == ready &&
				s.Replicas == replicas && s.UpdatedReplicas == replicas,
			fmt.Sprintf("status %+v generation %d", s, d.Generation)
	})
	return &d
}

func condition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func podsOf(k *Kubelet, ns, deploy string) []PodStatus {
	var out []PodStatus
	for _, p := range k.Pods() {
		if p.Namespace == ns && p.Deployment == deploy {
			out = append(out, p)
		}
	}
	return out
}

type info struct {
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	Files    map[string]string `json:"files"`
	PID      int               `json:"pid"`
	ChildPID int               `json:"childPid"`
	Cwd      string            `json:"cwd"`
}

func getInfo(t *testing.T, base string) info {
	t.Helper()
	resp, err := http.Get(base + "/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in
}

// processGone reports whether pid no longer runs: absent, or a zombie that
// init has not reaped yet (an orphaned child is reaped asynchronously).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func TestRunsThePodTemplate(t *testing.T) {
	k, c := startKubelet(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "apikey"}, Data: map[string][]byte{"apikey": []byte("s3cret-key")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"mode": "fast", "settings.yaml": "window: 1h\n"}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	container := corev1.Container{
		Args: []string{"--read=/etc/streamdash/apikey/apikey", "--read=/etc/conf/settings.yaml", "--read=$(KEY_FILE)"},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "INSTANCE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app.kubernetes.io/instance']"}}},
			{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "apikey"}, Key: "apikey"}}},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode"}}},
			{Name: "MISSING_OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "apikey"}, Key: "nope", Optional: ptr.To(true)}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "MEM_REQUEST_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "KEY_FILE", Value: "/etc/streamdash/apikey/apikey"},
			{Name: "LISTEN", Value: "$(POD_IP):8080"},
			{Name: "ESCAPED", Value: "$$(POD_IP)"},
		},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "apikey", MountPath: "/etc/streamdash/apikey", ReadOnly: true},
			{Name: "conf", MountPath: "/etc/conf"},
		},
	}
	d := deployment(ns, "dash", 2, container,
		corev1.Volume{Name: "apikey", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "apikey"}}},
		corev1.Volume{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"},
			Items:                []corev1.KeyToPath{{Key: "settings.yaml", Path: "settings.yaml"}}}}},
	)
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	unmanaged := deployment(ns, "unmanaged", 1, corev1.Container{})
	unmanaged.Labels = map[string]string{"app": "other"}
	if err := c.Create(ctx, unmanaged); err != nil {
		t.Fatal(err)
	}

	got := waitStatus(t, c, client.ObjectKeyFromObject(d), 2, 2)
	if a := condition(got, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionTrue {
		t.Fatalf("Available = %+v, want True", a)
	}
	if p := condition(got, appsv1.DeploymentProgressing); p == nil || p.Status != corev1.ConditionTrue || p.Reason != "NewReplicaSetAvailable" {
		t.Fatalf("Progressing = %+v, want True/NewReplicaSetAvailable", p)
	}

	pods := podsOf(k, ns, "dash")
	if len(pods) != 2 || pods[0].IP == pods[1].IP {
		t.Fatalf("want two pods with their own addresses, got %+v", pods)
	}
	for _, p := range pods {
		in := getInfo(t, "http://"+p.IP+":8080")
		keyFile := in.Args[1][len("--read="):]
		wantEnv := map[string]string{
			"POD_IP": p.IP, "POD_NAME": p.Name, "POD_NAMESPACE": ns, "NODE_NAME": "localkubelet", "INSTANCE": "dash",
			"API_KEY": "s3cret-key", "MODE": "fast", "CPU_LIMIT": "2", "MEM_REQUEST_MI": "64",
			"KEY_FILE": keyFile, "LISTEN": p.IP + ":8080", "ESCAPED": "$(POD_IP)", "HOSTNAME": p.Name,
		}
		for name, want := range wantEnv {
			if in.Env[name] != want {
				t.Errorf("pod %s: env %s = %q, want %q", p.Name, name, in.Env[name], want)
			}
		}
		if _, set := in.Env["MISSING_OPTIONAL"]; set {
			t.Errorf("pod %s: an optional reference to a missing key set MISSING_OPTIONAL", p.Name)
		}
		if _, set := in.Env["HOME"]; set && os.Getenv("HOME") != "" && in.Env["HOME"] == os.Getenv("HOME") {
			t.Errorf("pod %s inherited the caller's environment (HOME)", p.Name)
		}
		if in.Args[0] != "--listen="+p.IP+":8080" {
			t.Errorf("pod %s: args[0] = %q, want the pod IP expanded", p.Name, in.Args[0])
		}
		if strings.HasPrefix(keyFile, "/etc/") || in.Args[3] != "--read="+keyFile {
			t.Errorf("pod %s: mount path not rewritten in args %q", p.Name, in.Args)
		}
		for path, content := range in.Files {
			want := map[bool]string{true: "s3cret-key", false: "window: 1h\n"}[strings.HasSuffix(path, "/apikey")]
			if content != want {
				t.Errorf("pod %s: file %s = %q, want %q", p.Name, path, content, want)
			}
		}
		if len(in.Files) != 2 {
			t.Errorf("pod %s: files %v, want the key and the settings", p.Name, in.Files)
		}
		logs, err := os.ReadFile(p.Logs["main"])
		if err != nil || !strings.Contains(string(logs), "listening on "+p.IP+":8080") {
			t.Errorf("pod %s: log %s = %q (%v), want the program's output", p.Name, p.Logs["main"], logs, err)
		}
		if strings.Contains(string(logs), "s3cret-key") {
			t.Errorf("pod %s: the log holds the secret", p.Name)
		}
	}
	if n := len(podsOf(k, ns, "unmanaged")); n != 0 {
		t.Fatalf("%d pods of a Deployment outside the selector run", n)
	}
	var um appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKeyFromObject(unmanaged), &um); err != nil || um.Status.ObservedGeneration != 0 {
		t.Fatalf("status of an unselected Deployment was written: %+v (%v)", um.Status, err)
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dash-dashboard"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app.kubernetes.io/instance": "dash"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
	}}
	if err := c.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	u, err := k.ResolveURL(ctx, "http://dash-dashboard."+ns+".svc:80/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pods, func(p PodStatus) bool { return u == "http://"+p.IP+":8080/healthz" }) {
		t.Fatalf("ResolveURL = %s, want a pod's address on port 8080", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("GET %s = %d %q", u, resp.StatusCode, body)
	}
	if _, err := k.ServiceURL(ctx, ns, "dash-dashboard", "9999"); err == nil {
		t.Fatal("ServiceURL accepted a port the Service does not have")
	}
}

func TestReadinessGatesStatus(t *testing.T) {
	k, c := startKubelet(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	gate := filepath.Join(t.TempDir(), "open")
	d := deployment(ns, "gated", 1, corev1.Container{Args: []string{"--gate=" + gate}})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(d)
	// The process serves, but its probe says not ready: status must say 0.
	var ip string
	eventually(t, "the gated process to serve", func() (bool, string) {
		pods := podsOf(k, ns, "gated")
		if len(pods) != 1 {
			return false, fmt.Sprintf("%d pods", len(pods))
		}
		ip = pods[0].IP
		resp, err := http.Get("http://" + ip + ":8080/info")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
	waitStatus(t, c, key, 0, 1)
	eventually(t, "Available=False naming the failed probe", func() (bool, string) {
		var d appsv1.Deployment
		if err := c.Get(ctx, key, &d); err != nil {
			return false, err.Error()
		}
		a := condition(&d, appsv1.DeploymentAvailable)
		return a != nil && a.Status == corev1.ConditionFalse && strings.Contains(a.Message, "readiness probe failed"), fmt.Sprintf("%+v", a)
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, key, 1, 1)
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, key, 0, 1)
}

func TestRestartsAProcessThatExits(t *testing.T) {
	k, c := startKubelet(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	d := deployment(ns, "flaky", 1, corev1.Container{})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, client.ObjectKeyFromObject(d), 1, 1)
	p := podsOf(k, ns, "flaky")[0]
	before := getInfo(t, "http://"+p.IP+":8080")
	resp, err := http.Get("http://" + p.IP + ":8080/exit?code=3")
	if err == nil {
		resp.Body.Close()
	}
	eventually(t, "a restarted process", func() (bool, string) {
		pods := podsOf(k, ns, "flaky")
		if len(pods) != 1 || pods[0].Restarts != 1 || !pods[0].Ready {
			return false, fmt.Sprintf("%+v", pods)
		}
		return true, ""
	})
	after := getInfo(t, "http://"+p.IP+":8080")
	if after.PID == before.PID || !processGone(before.PID) {
		t.Fatalf("pid %d -> %d: want a new process and the old one gone", before.PID, after.PID)
	}
	logs, _ := os.ReadFile(p.Logs["main"])
	if !strings.Contains(string(logs), "exit status 3") {
		t.Fatalf("log does not record the exit: %s", logs)
	}

	crash := deployment(ns, "crashloop", 1, corev1.Container{Args: []string{"--exit-now=1"}})
	if err := c.Create(ctx, crash); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a crash-looping pod", func() (bool, string) {
		pods := podsOf(k, ns, "crashloop")
		return len(pods) == 1 && pods[0].Restarts >= 3 && !pods[0].Ready, fmt.Sprintf("%+v", pods)
	})
	got := waitStatus(t, c, client.ObjectKeyFromObject(crash), 0, 1)
	if a := condition(got, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionFalse {
		t.Fatalf("Available = %+v, want False", a)
	}
}

func TestRollScaleDeleteAndStop(t *testing.T) {
	k, c, stop := startStoppableKubelet(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	d := deployment(ns, "roll", 1, corev1.Container{Args: []string{"--child"}, Env: []corev1.EnvVar{{Name: "VERSION", Value: "1"}}})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(d)
	waitStatus(t, c, key, 1, 1)
	first := podsOf(k, ns, "roll")[0]
	v1 := getInfo(t, "http://"+first.IP+":8080")
	if v1.Env["VERSION"] != "1" || v1.ChildPID == 0 {
		t.Fatalf("first pod: %+v", v1)
	}

	if err := c.Get(ctx, key, d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{d.Spec.Template.Spec.Containers[0].Env[0], {Name: "VERSION", Value: "2"}}
	if err := c.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the roll to the new template", func() (bool, string) {
		pods := podsOf(k, ns, "roll")
		return len(pods) == 1 && pods[0].Name != first.Name && pods[0].Ready, fmt.Sprintf("%+v", pods)
	})
	waitStatus(t, c, key, 1, 1)
	second := podsOf(k, ns, "roll")[0]
	v2 := getInfo(t, "http://"+second.IP+":8080")
	if v2.Env["VERSION"] != "2" {
		t.Fatalf("rolled pod VERSION = %q, want 2", v2.Env["VERSION"])
	}
	if !processGone(v1.PID) {
		t.Fatalf("old pod's process %d survived the roll", v1.PID)
	}
	eventually(t, "the old pod's child process to go", func() (bool, string) { return processGone(v1.ChildPID), "" })

	if err := c.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":0}}`))); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, key, 0, 0)
	eventually(t, "scale to zero to stop the process", func() (bool, string) {
		return processGone(v2.PID) && processGone(v2.ChildPID) && len(podsOf(k, ns, "roll")) == 0, ""
	})

	if err := c.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":1}}`))); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, key, 1, 1)
	third := getInfo(t, "http://"+podsOf(k, ns, "roll")[0].IP+":8080")
	if err := c.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion to stop the process", func() (bool, string) {
		return processGone(third.PID) && processGone(third.ChildPID) && len(podsOf(k, ns, "roll")) == 0, ""
	})

	// Cancelling Run stops whatever still runs.
	last := deployment(ns, "last", 1, corev1.Container{Args: []string{"--child"}})
	if err := c.Create(ctx, last); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, client.ObjectKeyFromObject(last), 1, 1)
	lastInfo := getInfo(t, "http://"+podsOf(k, ns, "last")[0].IP+":8080")
	stop()
	if !processGone(lastInfo.PID) {
		t.Fatalf("process %d outlived the stand-in", lastInfo.PID)
	}
	eventually(t, "the child process to go with the stand-in", func() (bool, string) { return processGone(lastInfo.ChildPID), "" })
}

func TestMissingSecretIsReportedThenRecovers(t *testing.T) {
	k, c := startKubelet(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	d := deployment(ns, "needs-secret", 1, corev1.Container{Env: []corev1.EnvVar{
		{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "token"}, Key: "token"}}},
	}})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing Secret to be reported", func() (bool, string) {
		pods := podsOf(k, ns, "needs-secret")
		return len(pods) == 1 && strings.Contains(pods[0].Message, "CreateContainerConfigError") &&
			strings.Contains(pods[0].Message, `Secret "token"`), fmt.Sprintf("%+v", pods)
	})
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, StringData: map[string]string{"token": "t0ken"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, client.ObjectKeyFromObject(d), 1, 1)
	if got := getInfo(t, "http://"+podsOf(k, ns, "needs-secret")[0].IP+":8080").Env["TOKEN"]; got != "t0ken" {
		t.Fatalf("TOKEN = %q after the Secret appeared", got)
	}
}

func TestPublishesPodObjects(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, c)
	// A Pod object a killed earlier run left on this node.
	leftover := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leftover"}, Spec: corev1.PodSpec{
		NodeName: "publisher", Containers: []corev1.Container{{Name: "main", Image: "streamdash:test"}}}}
	if err := c.Create(ctx, leftover); err != nil {
		t.Fatal(err)
	}
	k, _, _ := startStoppableKubelet(t, func(o *Options) { o.PublishPods, o.NodeName, o.Logger = true, "publisher", testr.New(t) })
	gate := filepath.Join(t.TempDir(), "open")
	d := deployment(ns, "published", 2, corev1.Container{Args: []string{"--gate=" + gate}})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	podObjects := func() map[string]corev1.Pod {
		var list corev1.PodList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		out := map[string]corev1.Pod{}
		for _, p := range list.Items {
			out[p.Name] = p
		}
		return out
	}
	isReady := func(p corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	match := func(wantReady bool) func() (bool, string) {
		return func() (bool, string) {
			objs := podObjects()
			local := podsOf(k, ns, "published")
			if len(objs) != 2 || len(local) != 2 {
				return false, fmt.Sprintf("%d objects, %d local pods", len(objs), len(local))
			}
			for _, lp := range local {
				o, ok := objs[lp.Name]
				if !ok || o.Spec.NodeName != "publisher" || o.Status.PodIP != lp.IP || o.Status.Phase != corev1.PodRunning ||
					isReady(o) != wantReady || o.Labels["pod-template-hash"] == "" {
					return false, fmt.Sprintf("object %+v for local pod %+v", o.Status, lp)
				}
			}
			return true, ""
		}
	}
	eventually(t, "running, not ready Pod objects (the leftover gone)", match(false))
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready Pod objects", match(true))

	if err := c.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":0}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Pod objects to go with the pods", func() (bool, string) {
		n := len(podObjects())
		return n == 0, fmt.Sprintf("%d Pod objects", n)
	})
}
