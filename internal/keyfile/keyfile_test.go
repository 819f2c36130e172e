package keyfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          string
		wantErr       string
	}{
		{name: "trimmed", content: "  key-1\n", want: "key-1"},
		{name: "empty", content: " \n", wantErr: "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p)
			if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Read() = %q, %v; want %q, error containing %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}

// TestWatchFollowsASecretSwap: the kubelet updates a mounted Secret by
// pointing a symlink at a new directory; Watch reports each new key once,
// keeps the last key while the file is briefly missing or empty, and says so.
func TestWatchFollowsASecretSwap(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "..data")
	mount := func(key string) {
		t.Helper()
		d, err := os.MkdirTemp(dir, "..2026")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "apikey"), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := link + ".tmp"
		_ = os.Remove(tmp)
		if err := os.Symlink(d, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, link); err != nil {
			t.Fatal(err)
		}
	}
	mount("old")
	path := filepath.Join(link, "apikey")

	changes := make(chan string, 10)
	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, 10*time.Millisecond, "old", func(k string) { changes <- k }, func(err error) { errs <- err })
	}()
	defer func() { cancel(); <-done }()

	next := func() string {
		t.Helper()
		select {
		case k := <-changes:
			return k
		case <-time.After(5 * time.Second):
			t.Fatal("no change reported within 5s")
			return ""
		}
	}
	mount("new")
	if k := next(); k != "new" {
		t.Errorf("first change = %q, want new", k)
	}
	mount("  \n") // an empty key mid-edit: ignored, reported
	select {
	case err := <-errs:
		if strings.Contains(err.Error(), "new") {
			t.Errorf("error quotes a key: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an empty key file was not reported")
	}
	mount("newer")
	if k := next(); k != "newer" {
		t.Errorf("second change = %q, want newer", k)
	}
	select {
	case k := <-changes:
		t.Errorf("extra change %q", k)
	case <-time.After(100 * time.Millisecond):
	}
}
