package keyfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
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

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []string
		// wantEmpty: the file holds no key (ErrEmpty).
		wantEmpty bool
	}{
		{name: "one", content: "key-1", want: []string{"key-1"}},
		{name: "several trimmed", content: " key-1 \r\nkey-2\n", want: []string{"key-1", "key-2"}},
		{name: "comments and blank lines skipped", content: "# old key removed 2026-11-30\n\nkey-2\n  \n", want: []string{"key-2"}},
		{name: "empty", content: "", wantEmpty: true},
		{name: "only comments", content: "# nothing yet\n\n", wantEmpty: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Keys(p)
			if !slices.Equal(got, tc.want) || errors.Is(err, ErrEmpty) != tc.wantEmpty || (err != nil && !tc.wantEmpty) {
				t.Errorf("Keys() = %q, %v; want %q, empty %v", got, err, tc.want, tc.wantEmpty)
			}
		})
	}
	if _, err := Keys(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrEmpty) {
		t.Errorf("a missing file gave %v, want a read error", err)
	}
}

// secretMount imitates the kubelet's update of a mounted Secret: a new
// directory with the file, then an atomic rename of the ..data symlink. It
// returns the file's path (through the symlink) and the function that mounts
// a new content.
func secretMount(t *testing.T) (path string, mount func(content string)) {
	t.Helper()
	dir := t.TempDir()
	link := filepath.Join(dir, "..data")
	return filepath.Join(link, "apikey"), func(content string) {
		t.Helper()
		d, err := os.MkdirTemp(dir, "..2026")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "apikey"), []byte(content), 0o600); err != nil {
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
}

// receive returns the next value on c, failing the test after 5s.
func receive[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported within 5s")
		var zero T
		return zero
	}
}

// TestWatchFollowsASecretSwap: Watch reports each new key once, keeps the
// last key while the file is briefly missing or empty, and says so without
// quoting a key.
func TestWatchFollowsASecretSwap(t *testing.T) {
	path, mount := secretMount(t)
	mount("old")

	changes := make(chan string, 10)
	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, 10*time.Millisecond, "old", func(k string) { changes <- k }, func(err error) { errs <- err })
	}()
	defer func() { cancel(); <-done }()

	mount("new")
	if k := receive(t, changes); k != "new" {
		t.Errorf("first change = %q, want new", k)
	}
	mount("  \n") // an empty key mid-edit: ignored, reported
	if err := receive(t, errs); strings.Contains(err.Error(), "new") || !errors.Is(err, ErrEmpty) {
		t.Errorf("an empty key file reported as %v", err)
	}
	mount("newer")
	if k := receive(t, changes); k != "newer" {
		t.Errorf("second change = %q, want newer", k)
	}
	select {
	case k := <-changes:
		t.Errorf("extra change %q", k)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestWatchKeysFollowsASecretSwap: WatchKeys reports a changed list of keys
// once, not a rewrite that leaves the keys as they were (a comment added),
// and keeps the list while the file holds no key.
func TestWatchKeysFollowsASecretSwap(t *testing.T) {
	path, mount := secretMount(t)
	mount("a\nb\n")

	changes := make(chan []string, 10)
	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchKeys(ctx, path, 10*time.Millisecond, []string{"a", "b"}, func(k []string) { changes <- k }, func(err error) { errs <- err })
	}()
	defer func() { cancel(); <-done }()

	mount("# b retires tomorrow\na\nb\n") // the same keys: no change
	mount("a\nb\nc\n")
	if k := receive(t, changes); !slices.Equal(k, []string{"a", "b", "c"}) {
		t.Errorf("first change = %q, want [a b c]", k)
	}
	mount("\n# all gone\n")
	if err := receive(t, errs); !errors.Is(err, ErrEmpty) {
		t.Errorf("a file without keys reported as %v", err)
	}
	mount("c\n")
	if k := receive(t, changes); !slices.Equal(k, []string{"c"}) {
		t.Errorf("second change = %q, want [c]", k)
	}
	select {
	case k := <-changes:
		t.Errorf("extra change %q", k)
	case <-time.After(100 * time.Millisecond):
	}
}
