package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/streamdash/streamdash/internal/panels"
)

// errTooManyViews: every hashtag view slot is watched by someone right now.
var errTooManyViews = errors.New("too many hashtag views open; try again later")

const tweetsKey = "tweets"

// hub keeps one view per key (the Tweets view, and one per lower-cased
// hashtag) while browsers watch it, and stops views nobody has watched for
// IdleTimeout. At most MaxHashtagViews hashtag views exist at once, so a
// crawler walking hashtag URLs cannot multiply the query load without bound.
type hub struct {
	ctx     context.Context
	cfg     *Config
	metrics *metrics
	log     *slog.Logger
	runner  *panels.Runner

	mu    sync.Mutex
	views map[string]*view
}

func newHub(ctx context.Context, cfg *Config, m *metrics, log *slog.Logger, r *panels.Runner) *hub {
	return &hub{ctx: ctx, cfg: cfg, metrics: m, log: log, runner: r, views: map[string]*view{}}
}

func viewKey(hashtag string) string {
	if hashtag == "" {
		return tweetsKey
	}
	return "hashtag:" + hashtag
}

// acquire subscribes to the view of hashtag ("" is the Tweets view), starting
// it if needed. hashtag must already be normalised.
func (h *hub) acquire(hashtag string) (*view, chan []byte, error) {
	key := viewKey(hashtag)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return nil, nil, h.ctx.Err()
	}
	v, ok := h.views[key]
	if !ok {
		if hashtag != "" && h.hashtagViewsLocked() >= h.cfg.MaxHashtagViews && !h.evictIdleLocked() {
			return nil, nil, errTooManyViews
		}
		v = newView(key, hashtag, h.cfg, h.metrics, h.log, h.runner)
		v.start(h.ctx)
		h.views[key] = v
		h.metrics.views.Set(float64(len(h.views)))
	}
	return v, v.subscribe(), nil
}

func (h *hub) release(v *view, ch chan []byte) {
	v.unsubscribe(ch)
}

func (h *hub) hashtagViewsLocked() int {
	n := 0
	for k := range h.views {
		if k != tweetsKey {
			n++
		}
	}
	return n
}

// evictIdleLocked stops the hashtag view idle the longest, if any is idle.
func (h *hub) evictIdleLocked() bool {
	var (
		oldestKey string
		oldestAt  time.Time
	)
	for k, v := range h.views {
		if k == tweetsKey {
			continue
		}
		if at, idle := v.idleSince(); idle && (oldestKey == "" || at.Before(oldestAt)) {
			oldestKey, oldestAt = k, at
		}
	}
	if oldestKey == "" {
		return false
	}
	h.views[oldestKey].stop()
	delete(h.views, oldestKey)
	return true
}

// reap stops views idle for longer than IdleTimeout; it runs until ctx ends.
func (h *hub) reap() {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			h.mu.Lock()
			for k, v := range h.views {
				v.stop()
				delete(h.views, k)
			}
			h.mu.Unlock()
			return
		case <-t.C:
		}
		now := h.cfg.Now()
		h.mu.Lock()
		for k, v := range h.views {
			if at, idle := v.idleSince(); idle && now.Sub(at) >= h.cfg.IdleTimeout {
				v.stop()
				delete(h.views, k)
			}
		}
		h.metrics.views.Set(float64(len(h.views)))
		h.mu.Unlock()
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.views)
}
