package localkubelet

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podMeta is what the downward API can tell a container about its pod.
type podMeta struct {
	Name, Namespace, UID string
	IP, HostIP, NodeName string
	ServiceAccount       string
	Labels, Annotations  map[string]string
}

// envVar is one resolved variable; fromLiteral marks plain `value` entries,
// the only ones whose text may name a mount path worth rewriting.
type envVar struct {
	Name, Value string
	fromLiteral bool
}

// resolver reads what env and volumes refer to, straight from the API server.
type resolver struct {
	reader client.Reader
	pod    podMeta
	spec   *corev1.PodSpec
}

// containerEnv resolves envFrom then env in order, as the kubelet does: later
// entries win, and $(VAR) in a value refers to variables defined before it.
func (r *resolver) containerEnv(ctx context.Context, c *corev1.Container) ([]envVar, error) {
	var out []envVar
	index := map[string]int{}
	set := func(v envVar) {
		if i, ok := index[v.Name]; ok {
			out[i] = v
			return
		}
		index[v.Name] = len(out)
		out = append(out, v)
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}
	for _, from := range c.EnvFrom {
		data, err := r.envFromSource(ctx, from)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(data) {
			set(envVar{Name: from.Prefix + k, Value: data[k]})
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(envVar{Name: e.Name, Value: expand(e.Value, lookup), fromLiteral: true})
			continue
		}
		v, ok, err := r.valueFrom(ctx, c, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(envVar{Name: e.Name, Value: v})
		}
	}
	return out, nil
}

func (r *resolver) envFromSource(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.SecretRef != nil:
		data, err := r.secretData(ctx, from.SecretRef.Name)
		if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
			return nil, nil
		}
		return data, err
	case from.ConfigMapRef != nil:
		data, err := r.configMapData(ctx, from.ConfigMapRef.Name)
		if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
			return nil, nil
		}
		return data, err
	}
	return nil, nil
}

// valueFrom returns the value and whether the variable is set at all (an
// optional reference to a missing key leaves it unset).
func (r *resolver) valueFrom(ctx context.Context, c *corev1.Container, src *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		data, err := r.secretData(ctx, ref.Name)
		return pickKey("Secret", ref.Name, ref.Key, data, err, isTrue(ref.Optional))
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		data, err := r.configMapData(ctx, ref.Name)
		return pickKey("ConfigMap", ref.Name, ref.Key, data, err, isTrue(ref.Optional))
	case src.FieldRef != nil:
		v, err := r.fieldValue(src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := r.resourceValue(c, src.ResourceFieldRef)
		return v, err == nil, err
	}
	return "", false, fmt.Errorf("unsupported valueFrom source")
}

func pickKey(kind, name, key string, data map[string]string, err error, optional bool) (string, bool, error) {
	if apierrors.IsNotFound(err) && optional {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	v, ok := data[key]
	if !ok {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %q has no key %q", kind, name, key)
	}
	return v, true, nil
}

func (r *resolver) secretData(ctx context.Context, name string) (map[string]string, error) {
	var s corev1.Secret
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: r.pod.Namespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("Secret %q: %w", name, err)
	}
	out := make(map[string]string, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out, nil
}

func (r *resolver) configMapData(ctx context.Context, name string) (map[string]string, error) {
	var cm corev1.ConfigMap
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: r.pod.Namespace, Name: name}, &cm); err != nil {
		return nil, fmt.Errorf("ConfigMap %q: %w", name, err)
	}
	out := make(map[string]string, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		out[k] = v
	}
	for k, v := range cm.BinaryData {
		out[k] = string(v)
	}
	return out, nil
}

func (r *resolver) fieldValue(path string) (string, error) {
	switch path {
	case "metadata.name":
		return r.pod.Name, nil
	case "metadata.namespace":
		return r.pod.Namespace, nil
	case "metadata.uid":
		return r.pod.UID, nil
	case "spec.nodeName":
		return r.pod.NodeName, nil
	case "spec.serviceAccountName":
		return r.pod.ServiceAccount, nil
	case "status.podIP", "status.podIPs":
		return r.pod.IP, nil
	case "status.hostIP", "status.hostIPs":
		return r.pod.HostIP, nil
	case "metadata.labels":
		return formatMap(r.pod.Labels), nil
	case "metadata.annotations":
		return formatMap(r.pod.Annotations), nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": r.pod.Labels, "metadata.annotations": r.pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// formatMap renders labels or annotations as the downward API's volume files do.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (r *resolver) resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for i := range r.spec.Containers {
			if r.spec.Containers[i].Name == ref.ContainerName {
				target = &r.spec.Containers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	list := target.Resources.Limits
	if kind == "requests" {
		list = target.Resources.Requests
	}
	q, set := list[corev1.ResourceName(name)]
	if !set && kind == "limits" {
		// The kubelet reports the node's allocatable amount for an unset limit.
		switch name {
		case "cpu":
			q = *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)
		case "memory":
			q = *resource.NewQuantity(machineMemory(), resource.BinarySI)
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == "cpu" {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func machineMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func isTrue(b *bool) bool { return b != nil && *b }
