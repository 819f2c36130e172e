// Package image builds container images from files on this machine, with
// no container engine and no registry (go-containerregistry), and writes
// them as docker-archive tarballs that containerd imports
// (`ctr images import`). hack/image builds the streamdash image with it;
// the local node (test/node) builds its pause and CoreDNS images.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one regular file of an image.
type File struct {
	// Src is the file on this machine (symbolic links followed); Data, when
	// set, is the content instead.
	Src  string
	Data []byte
	// Dst is the absolute path in the image.
	Dst string
	// Mode is the permission bits (default: the source's, or 0644).
	Mode fs.FileMode
}

// Spec describes a single-layer image.
type Spec struct {
	// Ref names the image, e.g. ghcr.io/streamdash/streamdash:dev.
	Ref   string
	Files []File
	// Entrypoint, User ("uid:gid") and Env are the image configuration.
	Entrypoint []string
	User       string
	Env        []string
}

// Paths returns the image's file paths, sorted.
func (s Spec) Paths() []string {
	var out []string
	for _, f := range s.Files {
		out = append(out, f.Dst)
	}
	sort.Strings(out)
	return out
}

// Build makes the image: one layer holding the files and their parent
// directories, with fixed timestamps so that equal inputs give equal digests.
func Build(s Spec) (v1.Image, error) {
	layer, err := layerTar(s.Files)
	if err != nil {
		return nil, err
	}
	// The fastest gzip: the archive goes straight into a local containerd.
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil },
		tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.User = s.User
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, s.Env...)
	return mutate.ConfigFile(img, cf)
}

// WriteArchive builds the image and writes it as a docker-archive tarball.
func WriteArchive(file string, s Spec) error {
	img, err := Build(s)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	ref, err := name.NewTag(s.Ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	return nil
}

func layerTar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	var addDir func(string) error
	addDir = func(d string) error {
		if d == "/" || dirs[d] {
			return nil
		}
		if err := addDir(path.Dir(d)); err != nil {
			return err
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch})
	}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Dst < sorted[j].Dst })
	for _, f := range sorted {
		if !path.IsAbs(f.Dst) {
			return nil, fmt.Errorf("%s: the path in the image must be absolute", f.Dst)
		}
		data, mode := f.Data, f.Mode
		if f.Src != "" {
			b, err := os.ReadFile(f.Src)
			if err != nil {
				return nil, err
			}
			data = b
			if mode == 0 {
				st, err := os.Stat(f.Src)
				if err != nil {
					return nil, err
				}
				mode = st.Mode().Perm()
			}
		}
		if mode == 0 {
			mode = 0o644
		}
		if err := addDir(path.Dir(f.Dst)); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Dst, "/"),
			Mode: int64(mode), Size: int64(len(data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
