package localkubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// ManagedBySelector selects what the streamdash operator creates.
var ManagedBySelector = labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": "streamdash"})

// Options configure a Kubelet. BinDir is required.
type Options struct {
	// BinDir holds the programs that bare command names map to.
	BinDir string
	// WorkDir holds one directory per pod (its volumes); default a fresh
	// temporary directory, removed when Run returns.
	WorkDir string
	// LogDir receives <namespace>_<pod>_<container>.log; default WorkDir/logs.
	LogDir string
	// Selector restricts the Deployments run (nil: all), e.g. ManagedBySelector.
	Selector labels.Selector
	// Namespace restricts the Deployments run to one namespace ("" : all).
	Namespace string
	// NodeName is spec.nodeName for the downward API; default "localkubelet".
	NodeName string
	// BaseEnv starts every process's environment; the process does not
	// inherit the caller's. Default: PATH only.
	BaseEnv []string
	// ProbeInterval is how often readiness probes run (default 250ms).
	ProbeInterval time.Duration
	// RestartBackoff is the first restart delay, doubling up to
	// MaxRestartBackoff (defaults 500ms and 10s; Kubernetes uses 10s and 5m).
	RestartBackoff, MaxRestartBackoff time.Duration
	// MaxGracePeriod caps terminationGracePeriodSeconds (default 5s).
	MaxGracePeriod time.Duration
	// Logger receives the stand-in's own messages.
	Logger logr.Logger
	// PublishPods also creates a Pod object per local pod (spec.nodeName
	// NodeName, status from the processes) so `kubectl get pods` shows them,
	// and deletes them when the pods stop. Pod objects on NodeName left by an
	// earlier run are deleted when Run starts.
	PublishPods bool
}

// Kubelet runs Deployments as local processes. Create it with New and start
// it with Run.
type Kubelet struct {
	opts    Options
	mgr     ctrl.Manager
	client  client.Client
	reader  client.Reader
	ips     *ipPool
	events  chan event.GenericEvent
	tempDir bool

	mu      sync.Mutex
	runCtx  context.Context
	stopped bool
	pods    map[types.NamespacedName][]*pod
}

// New prepares a Kubelet against the API server at cfg.
func New(cfg *rest.Config, opts Options) (*Kubelet, error) {
	if opts.BinDir == "" {
		return nil, errors.New("localkubelet: Options.BinDir is required")
	}
	k := &Kubelet{opts: opts, ips: newIPPool(), events: make(chan event.GenericEvent, 1024),
		pods: map[types.NamespacedName][]*pod{}}
	if err := k.defaults(); err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	byObject := cache.ByObject{Label: opts.Selector}
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{&appsv1.Deployment{}: byObject}}
	if opts.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 k.opts.Logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
	})
	if err != nil {
		return nil, fmt.Errorf("localkubelet: %w", err)
	}
	k.mgr, k.client, k.reader = mgr, mgr.GetClient(), mgr.GetAPIReader()
	err = ctrl.NewControllerManagedBy(mgr).
		Named("localkubelet").
		For(&appsv1.Deployment{}).
		WatchesRawSource(source.Channel(k.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: 4}).
		Complete(reconcile.Func(k.reconcile))
	if err != nil {
		return nil, fmt.Errorf("localkubelet: %w", err)
	}
	return k, nil
}

func (k *Kubelet) defaults() error {
	o := &k.opts
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "localkubelet-")
		if err != nil {
			return err
		}
		o.WorkDir, k.tempDir = d, true
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(o.WorkDir, "logs")
	}
	for _, d := range []string{o.WorkDir, o.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if o.Selector == nil {
		o.Selector = labels.Everything()
	}
	if o.NodeName == "" {
		o.NodeName = "localkubelet"
	}
	if o.BaseEnv == nil {
		o.BaseEnv = []string{"PATH=" + os.Getenv("PATH")}
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 250 * time.Millisecond
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = 500 * time.Millisecond
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = max(10*time.Second, o.RestartBackoff)
	}
	if o.MaxGracePeriod <= 0 {
		o.MaxGracePeriod = 5 * time.Second
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return nil
}

// Run runs Deployments until ctx ends, then stops every process it started
// and waits for them to exit.
func (k *Kubelet) Run(ctx context.Context) error {
	k.mu.Lock()
	k.runCtx = ctx
	k.mu.Unlock()
	if err := k.removeLeftoverPods(ctx); err != nil {
		return fmt.Errorf("localkubelet: remove leftover pods: %w", err)
	}
	err := k.mgr.Start(ctx)
	k.stopAll()
	if k.tempDir {
		_ = os.RemoveAll(k.opts.WorkDir)
	}
	return err
}

func (k *Kubelet) stopAll() {
	k.mu.Lock()
	k.stopped = true
	var all []*pod
	for key, pods := range k.pods {
		all = append(all, pods...)
		delete(k.pods, key)
	}
	k.mu.Unlock()
	stopPods(all)
	k.unpublishPods(all)
}

func stopPods(pods []*pod) {
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop()
		}()
	}
	wg.Wait()
}

func (k *Kubelet) notify(key types.NamespacedName) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	k.mu.Lock()
	ctx := k.runCtx
	k.mu.Unlock()
	if ctx == nil {
		return // nothing runs before Run
	}
	select {
	case k.events <- event.GenericEvent{Object: d}:
	case <-ctx.Done():
	}
}

// reconcile makes the local pods of one Deployment match its spec and writes
// its status from what those pods do.
func (k *Kubelet) reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d appsv1.Deployment
	err := k.client.Get(ctx, req.NamespacedName, &d)
	if apierrors.IsNotFound(err) || (err == nil && (d.DeletionTimestamp != nil || !k.opts.Selector.Matches(labels.Set(d.Labels)))) {
		k.mu.Lock()
		gone := k.pods[req.NamespacedName]
		delete(k.pods, req.NamespacedName)
		k.mu.Unlock()
		stopPods(gone)
		k.unpublishPods(gone)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}

	desired := int(ptr.Deref(d.Spec.Replicas, 1))
	hash := templateHash(&d.Spec.Template)
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return reconcile.Result{}, nil
	}
	var keep, stale []*pod
	for _, p := range k.pods[req.NamespacedName] {
		if p.hash == hash && len(keep) < desired {
			keep = append(keep, p)
		} else {
			stale = append(stale, p)
		}
	}
	k.pods[req.NamespacedName] = keep
	k.mu.Unlock()
	// Old pods go before new ones start: the Recreate strategy, so a roll
	// never runs two producers on one stream.
	stopPods(stale)
	k.unpublishPods(stale)

	var started []*pod
	for len(keep)+len(started) < desired {
		p, err := k.newPod(&d, hash)
		if err != nil {
			for _, p := range started {
				k.discard(p)
			}
			return reconcile.Result{}, err
		}
		started = append(started, p)
	}
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		for _, p := range started {
			k.discard(p)
		}
		return reconcile.Result{}, nil
	}
	for _, p := range started {
		p.start(k.runCtx)
	}
	k.pods[req.NamespacedName] = append(keep, started...)
	pods := slices.Clone(k.pods[req.NamespacedName])
	k.mu.Unlock()
	if len(started) > 0 {
		k.opts.Logger.Info("started pods", "deployment", req.NamespacedName, "count", len(started))
	}
	for _, p := range pods {
		k.publishPod(ctx, p)
	}
	return reconcile.Result{}, k.writeStatus(ctx, &d, hash, desired, pods)
}

func (k *Kubelet) newPod(d *appsv1.Deployment, hash string) (*pod, error) {
	var ports []int32
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
				ports = append(ports, p.ContainerPort)
			}
		}
	}
	ip, err := k.ips.allocate(ports)
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("%s-%s-%s", d.Name, hash, hex.EncodeToString(suffix)[:5])
	lbls := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Template.Labels {
		lbls[k] = v
	}
	uid := make([]byte, 16)
	_, _ = rand.Read(uid)
	p := &pod{
		k:      k,
		deploy: types.NamespacedName{Namespace: d.Namespace, Name: d.Name},
		hash:   hash,
		spec:   *d.Spec.Template.Spec.DeepCopy(),
		dir:    filepath.Join(k.opts.WorkDir, d.Namespace+"_"+name),
		meta: podMeta{
			Name: name, Namespace: d.Namespace, UID: hex.EncodeToString(uid),
			IP: ip, HostIP: "127.0.0.1", NodeName: k.opts.NodeName,
			ServiceAccount: d.Spec.Template.Spec.ServiceAccountName,
			Labels:         lbls, Annotations: d.Spec.Template.Annotations,
		},
		containers: map[string]*containerState{},
		startTime:  metav1.Now(),
	}
	for _, c := range p.spec.Containers {
		p.containers[c.Name] = &containerState{reason: "ContainerCreating",
			logPath: filepath.Join(k.opts.LogDir, fmt.Sprintf("%s_%s_%s.log", d.Namespace, name, c.Name))}
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		k.ips.release(ip)
		return nil, err
	}
	return p, nil
}

// discard gives back what newPod took for a pod that never started.
func (k *Kubelet) discard(p *pod) {
	k.ips.release(p.meta.IP)
	_ = os.RemoveAll(p.dir)
}

// templateHash names a pod template, like the pod-template-hash label.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// writeStatus reports what the local pods really do, the way the Deployment
// controller would; it writes only when something changed.
func (k *Kubelet) writeStatus(ctx context.Context, d *appsv1.Deployment, hash string, desired int, pods []*pod) error {
	var updated, ready int32
	var notReady string
	for _, p := range pods {
		if p.hash == hash {
			updated++
		}
		if p.ready() {
			ready++
		} else if notReady == "" {
			if m := p.status().Message; m != "" {
				notReady = p.meta.Name + ": " + m
			}
		}
	}
	st := d.Status.DeepCopy()
	st.ObservedGeneration = d.Generation
	st.Replicas = int32(len(pods))
	st.UpdatedReplicas = updated
	st.ReadyReplicas = ready
	st.AvailableReplicas = ready
	st.UnavailableReplicas = max(int32(desired)-ready, 0)
	st.TerminatingReplicas = nil

	available := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
		Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}
	if int(ready) < desired {
		available.Status, available.Reason = corev1.ConditionFalse, "MinimumReplicasUnavailable"
		available.Message = "Deployment does not have minimum availability."
		if notReady != "" {
			available.Message += " " + notReady
		}
	}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("local pods with template %s are available", hash)}
	if int(updated) < desired || int(ready) < desired {
		progressing.Reason, progressing.Message = "ReplicaSetUpdated", fmt.Sprintf("local pods with template %s are progressing", hash)
	}
	setCondition(st, available)
	setCondition(st, progressing)
	if equalStatus(&d.Status, st) {
		return nil
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Status = *st
	return client.IgnoreNotFound(k.client.Status().Patch(ctx, d, patch))
}

func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	now := metav1.Now()
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return
		}
		c.LastUpdateTime = now
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = now
		}
		*old = c
		return
	}
	c.LastUpdateTime, c.LastTransitionTime = now, now
	st.Conditions = append(st.Conditions, c)
}

func equalStatus(a, b *appsv1.DeploymentStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func (k *Kubelet) programPath(name string) (string, error) {
	candidates := []string{filepath.Join(k.opts.BinDir, filepath.Base(name))}
	if strings.Contains(name, "/") {
		candidates = append([]string{name}, candidates...)
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("program %q not found (looked for %s)", name, strings.Join(candidates, ", "))
}

// Pods returns a snapshot of every local pod, sorted by namespace and name.
func (k *Kubelet) Pods() []PodStatus {
	k.mu.Lock()
	var all []*pod
	for _, pods := range k.pods {
		all = append(all, pods...)
	}
	k.mu.Unlock()
	out := make([]PodStatus, 0, len(all))
	for _, p := range all {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b PodStatus) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

// ServiceURL returns http://<pod IP>:<target port> of a ready pod behind the
// Service: the port named port, or the Service's first port when port is "".
// It fails when no ready local pod matches the Service's selector.
func (k *Kubelet) ServiceURL(ctx context.Context, namespace, name, port string) (string, error) {
	var svc corev1.Service
	if err := k.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &svc); err != nil {
		return "", err
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if port == "" || p.Name == port || strconv.Itoa(int(p.Port)) == port {
			sp = p
			break
		}
	}
	if sp == nil {
		return "", fmt.Errorf("service %s/%s has no port %q", namespace, name, port)
	}
	if len(svc.Spec.Selector) == 0 {
		return "", fmt.Errorf("service %s/%s has no selector", namespace, name)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	k.mu.Lock()
	var candidates []*pod
	for _, pods := range k.pods {
		for _, p := range pods {
			if p.meta.Namespace == namespace && sel.Matches(labels.Set(p.meta.Labels)) {
				candidates = append(candidates, p)
			}
		}
	}
	k.mu.Unlock()
	for _, p := range candidates {
		if !p.ready() {
			continue
		}
		target, ok := targetPort(p, sp)
		if !ok {
			continue
		}
		return "http://" + net.JoinHostPort(p.meta.IP, strconv.Itoa(target)), nil
	}
	return "", fmt.Errorf("service %s/%s: no ready local pod (%d match the selector)", namespace, name, len(candidates))
}

func targetPort(p *pod, sp *corev1.ServicePort) (int, bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return int(tp.IntVal), true
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range p.spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal {
					return int(cp.ContainerPort), true
				}
			}
		}
		return 0, false
	}
	return int(sp.Port), true
}

// ResolveURL turns an in-cluster Service URL such as
// http://demo-dashboard.default.svc:8080/path (what LiveDashboard status.url
// holds) into the local URL of a ready pod behind it.
func (k *Kubelet) ResolveURL(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host := strings.TrimSuffix(u.Hostname(), ".cluster.local")
	parts := strings.Split(strings.TrimSuffix(host, ".svc"), ".")
	if len(parts) != 2 {
		return "", fmt.Errorf("%q is not a <service>.<namespace>.svc URL", raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	base, err := k.ServiceURL(ctx, parts[1], parts[0], port)
	if err != nil {
		return "", err
	}
	local, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	local.Path, local.RawPath, local.RawQuery = u.Path, u.RawPath, u.RawQuery
	return local.String(), nil
}
