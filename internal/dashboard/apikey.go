package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/keyfile"
	"github.com/streamdash/streamdash/internal/panels"
)

// APIKey returns the analytics API key from file (a mounted Secret) or,
// when file is empty, from the environment value env. Errors never quote the key.
func APIKey(file, env string) (string, error) {
	if file != "" {
		return keyfile.Read(file)
	}
	if k := strings.TrimSpace(env); k != "" {
		return k, nil
	}
	return "", errors.New("no API key: set --api-key-file or STREAMDASH_API_KEY")
}

// RotatingQuerier is a panels.Querier whose API key can change while it
// serves: Rotate builds a client with the new key and swaps it in, so the
// event streams of connected browsers carry on with the next poll.
type RotatingQuerier struct {
	build func(key string) (panels.Querier, error)

	mu sync.RWMutex
	q  panels.Querier
}

// NewRotatingQuerier builds the first client with key.
func NewRotatingQuerier(key string, build func(key string) (panels.Querier, error)) (*RotatingQuerier, error) {
	q, err := build(key)
	if err != nil {
		return nil, err
	}
	return &RotatingQuerier{build: build, q: q}, nil
}

// Rotate switches to a client with key; on error the old client stays.
func (r *RotatingQuerier) Rotate(key string) error {
	q, err := r.build(key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.q = q
	r.mu.Unlock()
	return nil
}

// Query runs on the current client.
func (r *RotatingQuerier) Query(ctx context.Context, sql string, options ...option.QueryOption) (openapi.QueryResponse, error) {
	r.mu.RLock()
	q := r.q
	r.mu.RUnlock()
	return q.Query(ctx, sql, options...)
}

// Follow keeps the querier on the key in path (a mounted Secret) until ctx
// ends: each new key is swapped in, an unusable one is logged and skipped.
func (r *RotatingQuerier) Follow(ctx context.Context, path string, interval time.Duration, current string, log *slog.Logger) {
	keyfile.Watch(ctx, path, interval, current, func(k string) {
		if err := r.Rotate(k); err != nil {
			log.Warn("API key file changed but the new key cannot be used", "err", err.Error())
			return
		}
		log.Info("API key rotated from the key file")
	}, func(err error) { log.Warn("API key file unreadable; keeping the current key", "err", err.Error()) })
}
