// Command image builds the streamdash image from the four programs in
// bin/ (make build) without a container engine, and writes it as a
// docker-archive tarball that containerd imports (make image). The
// Dockerfile builds the same contents where a container engine exists.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/streamdash/streamdash/test/image"
)

func main() {
	binDir := flag.String("bin-dir", "bin", "where the four programs are")
	out := flag.String("o", "bin/images/streamdash.tar", "the docker-archive tarball to write")
	ref := flag.String("ref", image.Ref, "the image's name")
	flag.Parse()
	if err := run(*binDir, *out, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binDir, out, ref string) error {
	spec, err := image.Streamdash(ref, binDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := image.WriteArchive(out, spec); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%d files, %.1f MB)\n", out, ref, len(spec.Files), float64(st.Size())/1e6)
	return nil
}
