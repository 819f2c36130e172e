package image

import (
	_ "embed"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Ref is the streamdash image's name in config/default, so that
// dist/install.yaml runs the imported image as it is.
const Ref = "ghcr.io/streamdash/streamdash:dev"

// Programs are the four programs of the image, in /usr/local/bin.
var Programs = []string{"manager", "producer", "analytics", "dashboard"}

// User is the image's non-root user, the one the restricted pod security
// contexts name.
const User = "65532:65532"

// CACertificates is where the image, like Debian, keeps its CA bundle.
const CACertificates = "/etc/ssl/certs/ca-certificates.crt"

// The image's users: root and nonroot (65532), as in distroless.
var (
	//go:embed rootfs/etc/passwd
	passwd []byte
	//go:embed rootfs/etc/group
	group []byte
)

// Streamdash is the streamdash image: the four programs from binDir, the
// shared libraries they link (analytics links DuckDB through cgo), the CA
// certificates, and a non-root user. The Dockerfile builds the same
// contents; TestDockerfileAgrees checks that.
func Streamdash(ref, binDir string) (Spec, error) {
	s := Spec{Ref: ref, User: User, Entrypoint: []string{"/usr/local/bin/manager"}}
	libs := map[string]bool{}
	for _, p := range Programs {
		bin := filepath.Join(binDir, p)
		s.Files = append(s.Files, File{Src: bin, Dst: "/usr/local/bin/" + p, Mode: 0o755})
		l, err := SharedLibraries(bin)
		if err != nil {
			return Spec{}, err
		}
		for _, lib := range l {
			libs[lib] = true
		}
	}
	for lib := range libs {
		s.Files = append(s.Files, File{Src: lib, Dst: lib, Mode: 0o755})
	}
	s.Files = append(s.Files,
		File{Src: CACertificates, Dst: CACertificates, Mode: 0o644},
		File{Data: passwd, Dst: "/etc/passwd", Mode: 0o644},
		File{Data: group, Dst: "/etc/group", Mode: 0o644})
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Dst < s.Files[j].Dst })
	return s, nil
}

// SharedLibraries lists the libraries a binary loads, with the dynamic
// loader, at the paths ldd reports: the image keeps them at the same paths.
// A static binary has none.
func SharedLibraries(binary string) ([]string, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	text := string(out)
	if err != nil {
		if strings.Contains(text, "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", binary, err, text)
	}
	var libs []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"): // the loader
			libs = append(libs, f[0])
		case len(f) >= 2 && f[1] == "=>" && (len(f) < 3 || f[2] == "not"):
			return nil, fmt.Errorf("ldd %s: %s is not found", binary, f[0])
		}
	}
	sort.Strings(libs)
	return libs, nil
}

// BuildPrograms builds the four programs of the image from the tree at root
// into dir, with cgo (analytics links DuckDB). Each goes through
// hack/go-build-cached.sh: a tree built before links nothing again.
func BuildPrograms(root, dir string) error {
	errs := make(chan error, len(Programs))
	for _, p := range Programs {
		go func() {
			cmd := exec.Command(filepath.Join(root, "hack", "go-build-cached.sh"), filepath.Join(dir, p), "./cmd/"+p)
			cmd.Dir = root
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("building %s: %w\n%s", p, err, out)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range Programs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
