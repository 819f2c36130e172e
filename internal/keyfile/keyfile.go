// Package keyfile reads an API key from a file, as a mounted Secret
// provides it, and notices when the file changes: the kubelet updates a
// mounted Secret in place (an atomic symlink swap), so a server that reads
// its key once at start keeps the old key until it is restarted.
package keyfile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// Read returns the key in path, trimmed of surrounding whitespace. An
// empty file is an error; errors never quote the file's content.
func Read(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading API key file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("API key file %s is empty", path)
	}
	return k, nil
}

// DefaultInterval is how often Watch reads the file. The kubelet itself
// refreshes mounted Secrets about once a minute, so a few seconds add little.
const DefaultInterval = 5 * time.Second

// Watch reads path every interval until ctx ends and calls onChange with the
// new key each time it differs from the last one seen (starting from
// current). A read that fails or finds the file empty (a swap in progress, a
// Secret being edited) keeps the last key and is reported to onError, if set.
func Watch(ctx context.Context, path string, interval time.Duration, current string, onChange func(key string), onError func(error)) {
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
		k, err := Read(path)
		if err != nil {
			if onError != nil {
				onError(err)
			}
			continue
		}
		if k != current {
			current = k
			onChange(k)
		}
	}
}
