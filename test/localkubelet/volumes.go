package localkubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// materialiseVolumes writes every volume of the pod under dir/volumes and
// returns the local directory of each volume by name.
func (r *resolver) materialiseVolumes(ctx context.Context, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range r.spec.Volumes {
		local := filepath.Join(dir, "volumes", v.Name)
		if v.HostPath != nil {
			out[v.Name] = v.HostPath.Path
			continue
		}
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, err
		}
		files, err := r.volumeFiles(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		for _, f := range files {
			if err := writeVolumeFile(local, f); err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
		}
		out[v.Name] = local
	}
	return out, nil
}

type volumeFile struct {
	path string
	data []byte
	mode os.FileMode
}

func writeVolumeFile(root string, f volumeFile) error {
	clean := filepath.Clean("/" + f.path)[1:]
	if clean == "" || strings.HasPrefix(clean, "..") {
		return fmt.Errorf("bad path %q", f.path)
	}
	p := filepath.Join(root, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// The owner always keeps read access: the process runs as our user, not as
	// the fsGroup a real kubelet would chown the files to.
	return os.WriteFile(p, f.data, f.mode|0o400)
}

func (r *resolver) volumeFiles(ctx context.Context, v corev1.Volume) ([]volumeFile, error) {
	switch {
	case v.EmptyDir != nil:
		return nil, nil
	case v.Secret != nil:
		data, err := r.secretData(ctx, v.Secret.SecretName)
		if apierrors.IsNotFound(err) && isTrue(v.Secret.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return keyFiles(data, v.Secret.Items, v.Secret.DefaultMode, isTrue(v.Secret.Optional))
	case v.ConfigMap != nil:
		data, err := r.configMapData(ctx, v.ConfigMap.Name)
		if apierrors.IsNotFound(err) && isTrue(v.ConfigMap.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return keyFiles(data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, isTrue(v.ConfigMap.Optional))
	case v.DownwardAPI != nil:
		return r.downwardFiles(v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		var all []volumeFile
		for _, src := range v.Projected.Sources {
			var files []volumeFile
			var err error
			switch {
			case src.Secret != nil:
				var data map[string]string
				data, err = r.secretData(ctx, src.Secret.Name)
				if apierrors.IsNotFound(err) && isTrue(src.Secret.Optional) {
					continue
				}
				if err == nil {
					files, err = keyFiles(data, src.Secret.Items, v.Projected.DefaultMode, isTrue(src.Secret.Optional))
				}
			case src.ConfigMap != nil:
				var data map[string]string
				data, err = r.configMapData(ctx, src.ConfigMap.Name)
				if apierrors.IsNotFound(err) && isTrue(src.ConfigMap.Optional) {
					continue
				}
				if err == nil {
					files, err = keyFiles(data, src.ConfigMap.Items, v.Projected.DefaultMode, isTrue(src.ConfigMap.Optional))
				}
			case src.DownwardAPI != nil:
				files, err = r.downwardFiles(src.DownwardAPI.Items, v.Projected.DefaultMode)
			default:
				err = fmt.Errorf("unsupported projected source (only secret, configMap, downwardAPI)")
			}
			if err != nil {
				return nil, err
			}
			all = append(all, files...)
		}
		return all, nil
	}
	return nil, fmt.Errorf("unsupported volume type (the local kubelet knows secret, configMap, projected, downwardAPI, emptyDir, hostPath)")
}

func keyFiles(data map[string]string, items []corev1.KeyToPath, defaultMode *int32, optional bool) ([]volumeFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	var out []volumeFile
	if len(items) == 0 {
		for _, k := range sortedKeys(data) {
			out = append(out, volumeFile{path: k, data: []byte(data[k]), mode: mode})
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("no key %q", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out = append(out, volumeFile{path: it.Path, data: []byte(v), mode: m})
	}
	return out, nil
}

func (r *resolver) downwardFiles(items []corev1.DownwardAPIVolumeFile, defaultMode *int32) ([]volumeFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	var out []volumeFile
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI item %q: only fieldRef is supported", it.Path)
		}
		v, err := r.fieldValue(it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out = append(out, volumeFile{path: it.Path, data: []byte(v), mode: m})
	}
	return out, nil
}

// pathRewriter maps a container's mount paths to the local directories that
// stand in for them.
type pathRewriter struct {
	mounts []mountMap // longest mountPath first, so nested mounts win
}

type mountMap struct{ from, to string }

func newPathRewriter(c *corev1.Container, volumes map[string]string) (*pathRewriter, error) {
	var r pathRewriter
	for _, m := range c.VolumeMounts {
		local, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no such volume", m.Name)
		}
		if m.SubPath != "" {
			local = filepath.Join(local, m.SubPath)
		}
		r.mounts = append(r.mounts, mountMap{from: strings.TrimSuffix(m.MountPath, "/"), to: local})
	}
	sort.Slice(r.mounts, func(i, j int) bool { return len(r.mounts[i].from) > len(r.mounts[j].from) })
	return &r, nil
}

// rewrite replaces, in one pass, every mount path in s that sits on path
// boundaries: not preceded by a file-name character and followed by the end,
// a slash or a character that cannot be part of a file name. One pass keeps
// a replacement from being rewritten again by a shorter mount.
func (r *pathRewriter) rewrite(s string) string {
	if len(r.mounts) == 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i == 0 || !isNameChar(s[i-1]) {
			if m, ok := r.matchAt(s, i); ok {
				b.WriteString(m.to)
				i += len(m.from)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func (r *pathRewriter) matchAt(s string, i int) (mountMap, bool) {
	for _, m := range r.mounts {
		if m.from == "" || !strings.HasPrefix(s[i:], m.from) {
			continue
		}
		end := i + len(m.from)
		if end == len(s) || s[end] == '/' || !isNameChar(s[end]) {
			return m, true
		}
	}
	return mountMap{}, false
}

func isNameChar(c byte) bool {
	return c == '.' || c == '_' || c == '-' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
