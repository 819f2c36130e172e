package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/streamdash/streamdash/test/apitest"
)

func TestWriteArchive(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "prog")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		spec      Spec
		wantFiles map[string]int64 // path in the layer -> mode
		wantErr   string
	}{
		{
			name: "files with parents, modes and configuration",
			spec: Spec{Ref: "example.test/app:1", User: "65532:65532", Entrypoint: []string{"/usr/local/bin/prog"}, Env: []string{"A=b"},
				Files: []File{{Src: src, Dst: "/usr/local/bin/prog", Mode: 0o755}, {Data: []byte("x"), Dst: "/etc/x"}, {Src: src, Dst: "/keep-mode"}}},
			wantFiles: map[string]int64{"usr/": 0o755, "usr/local/": 0o755, "usr/local/bin/": 0o755, "usr/local/bin/prog": 0o755,
				"etc/": 0o755, "etc/x": 0o644, "keep-mode": 0o700},
		},
		{name: "a relative path is refused", spec: Spec{Ref: "example.test/app:1", Files: []File{{Data: []byte("x"), Dst: "etc/x"}}}, wantErr: "must be absolute"},
		{name: "a missing source is an error", spec: Spec{Ref: "example.test/app:1", Files: []File{{Src: filepath.Join(dir, "nope"), Dst: "/x"}}}, wantErr: "no such file"},
		{name: "a bad reference is an error", spec: Spec{Ref: "Not A Ref", Files: []File{{Data: []byte("x"), Dst: "/x"}}}, wantErr: "Not A Ref"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "img.tar")
			err := WriteArchive(out, tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(out, nil)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != tc.spec.User || strings.Join(cf.Config.Entrypoint, " ") != strings.Join(tc.spec.Entrypoint, " ") ||
				cf.OS != "linux" || cf.Architecture != "amd64" || !contains(cf.Config.Env, "A=b") {
				t.Errorf("config = %+v (os %s/%s)", cf.Config, cf.OS, cf.Architecture)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers = %d, %v; want one", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got[h.Name] = h.Mode
			}
			if j1, j2 := mustJSON(got), mustJSON(tc.wantFiles); j1 != j2 {
				t.Errorf("layer holds %s, want %s", j1, j2)
			}
			// Equal inputs, equal image: nothing depends on time.
			again := filepath.Join(t.TempDir(), "again.tar")
			if err := WriteArchive(again, tc.spec); err != nil {
				t.Fatal(err)
			}
			img2, _ := tarball.ImageFromPath(again, nil)
			d1, _ := img.Digest()
			d2, _ := img2.Digest()
			if d1 != d2 {
				t.Errorf("two builds of the same spec differ: %s, %s", d1, d2)
			}
		})
	}
}

// TestDockerfileAgrees builds the four programs and checks that the
// Dockerfile's runtime stage copies exactly the files Streamdash puts in the
// image (programs, the libraries ldd reports, CA certificates, passwd and
// group), with the same user and entrypoint.
func TestDockerfileAgrees(t *testing.T) {
	root, err := apitest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := BuildPrograms(root, bin); err != nil {
		t.Fatal(err)
	}
	spec, err := Streamdash(Ref, bin)
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	files, user, entrypoint := runtimeStage(string(df))
	if got, want := strings.Join(files, "\n"), strings.Join(spec.Paths(), "\n"); got != want {
		t.Errorf("the Dockerfile's runtime stage copies\n%s\n\nhack/image's image holds\n%s", got, want)
	}
	if user != spec.User {
		t.Errorf("Dockerfile USER %q, image user %q", user, spec.User)
	}
	if want := mustJSON(spec.Entrypoint); entrypoint != want {
		t.Errorf("Dockerfile ENTRYPOINT %s, image entrypoint %s", entrypoint, want)
	}
	var analyticsLibs int
	for _, f := range spec.Files {
		if strings.Contains(f.Dst, "libstdc++") {
			analyticsLibs++
		}
	}
	if analyticsLibs != 1 {
		t.Errorf("the image has no libstdc++ for DuckDB: %v", spec.Paths())
	}
}

// runtimeStage reads the last stage of a Dockerfile: the paths its COPY
// lines create, its USER and its ENTRYPOINT.
func runtimeStage(dockerfile string) (files []string, user, entrypoint string) {
	text := strings.ReplaceAll(dockerfile, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			files, user, entrypoint = nil, "", ""
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entrypoint = strings.Join(f[1:], " ")
		case "COPY":
			args := []string{}
			for _, a := range f[1:] {
				if !strings.HasPrefix(a, "--") {
					args = append(args, a)
				}
			}
			dst := args[len(args)-1]
			for _, src := range args[:len(args)-1] {
				if strings.HasSuffix(dst, "/") {
					files = append(files, dst+path.Base(src))
				} else {
					files = append(files, dst)
				}
			}
		}
	}
	sort.Strings(files)
	return files, user, entrypoint
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return strings.ReplaceAll(string(b), ",", ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
