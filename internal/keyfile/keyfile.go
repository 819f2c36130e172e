// Package keyfile reads API keys from a file, as a mounted Secret provides
// them, and notices when the file changes: the kubelet updates a mounted
// Secret in place (an atomic symlink swap), so a server that reads its key
// once at start keeps the old key until it is restarted. The dashboard reads
// one key (Read, Watch); the analytics server accepts several, one a line
// (Keys, WatchKeys).
package keyfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// ErrEmpty says the file holds no key: a Secret being edited, or a mistake.
var ErrEmpty = errors.New("API key file is empty")

// Read returns the key in path, trimmed of surrounding whitespace. An
// empty file is an error; errors never quote the file's content.
func Read(path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", err
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("%w: %s", ErrEmpty, path)
	}
	return k, nil
}

// Keys returns the keys in path, one a line; blank lines and lines starting
// with # are skipped. A file without a key is an error (ErrEmpty).
func Keys(path string) ([]string, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		if k := strings.TrimSpace(line); k != "" && !strings.HasPrefix(k, "#") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrEmpty, path)
	}
	return keys, nil
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path, not the content: os errors never carry the content.
		return nil, fmt.Errorf("reading API key file: %w", err)
	}
	return b, nil
}

// DefaultInterval is how often Watch reads the file. The kubelet itself
// refreshes mounted Secrets about once a minute, so a few seconds add little.
const DefaultInterval = 5 * time.Second

// Watch reads path every interval until ctx ends and calls onChange with the
// new key each time it differs from the last one seen (starting from
// current). A read that fails or finds the file empty (a swap in progress, a
// Secret being edited) keeps the last key and is reported to onError, if set.
func Watch(ctx context.Context, path string, interval time.Duration, current string, onChange func(key string), onError func(error)) {
	watch(ctx, interval, current, func() (string, error) { return Read(path) }, func(a, b string) bool { return a == b }, onChange, onError)
}

// WatchKeys is Watch for a file of several keys (Keys): onChange gets the
// whole new list whenever it differs from the last one seen.
func WatchKeys(ctx context.Context, path string, interval time.Duration, current []string, onChange func(keys []string), onError func(error)) {
	watch(ctx, interval, current, func() ([]string, error) { return Keys(path) }, slices.Equal[[]string], onChange, onError)
}

// watch is the one polling loop behind Watch and WatchKeys. The path is read
// afresh each time rather than watched as one inode, because a mounted
// Secret changes by swapping the ..data symlink.
func watch[T any](ctx context.Context, interval time.Duration, current T, read func() (T, error), same func(a, b T) bool,
	onChange func(T), onError func(error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := read()
		if err != nil {
			if onError != nil {
				onError(err)
			}
			continue
		}
		if !same(v, current) {
			current = v
			onChange(v)
		}
	}
}
