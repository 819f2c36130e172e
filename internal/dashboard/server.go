// Package dashboard is the live web dashboard: the Tweets view and the
// Hashtag view of panels.md, pushed to browsers with Server-Sent Events.
//
// Every query runs here, server-side, through the panels package; the browser
// only ever receives rendered results, never the API key or SQL. Each view
// polls each of its panels once per interval and shares the result with all
// its browsers, so the analytics load does not grow with the audience.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamdash/streamdash/internal/panels"
)

//go:embed assets
var assetFS embed.FS

// Config is the dashboard's view of one collection.
type Config struct {
	Workspace  string
	Collection string
	// DefaultHashtag makes / show that hashtag's view instead of the Tweets view.
	DefaultHashtag string
	// Window is how far back Top Hashtags and the Hashtag view look. Default 1h.
	Window time.Duration
	// TopN bounds Top Hashtags and Related Hashtags. Default 8.
	TopN int
	// Interval is how often each panel is queried and pushed. Default 2s.
	Interval time.Duration
	// QueryTimeout bounds one panel query. Default 10s.
	QueryTimeout time.Duration
	// MaxHashtagViews bounds the hashtag views polled at once. Default 64.
	MaxHashtagViews int
	// IdleTimeout is how long a view nobody watches keeps polling (so a page
	// reload finds it warm). Default 30s.
	IdleTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if c.TopN <= 0 {
		c.TopN = panels.TopHashtagsShown
	}
	c.TopN = min(c.TopN, 20)
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 10 * time.Second
	}
	if c.MaxHashtagViews <= 0 {
		c.MaxHashtagViews = 64
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.DefaultHashtag = panels.NormalizeHashtag(c.DefaultHashtag)
}

// staleAfter is how old a panel's last success may be before it is marked
// stale even though no query has failed yet.
func (c *Config) staleAfter() time.Duration { return 3 * c.Interval }

// maxHashtagRunes is the CRD's limit on spec.hashtag; longer URL hashtags get 400.
const maxHashtagRunes = 139

// Server is the dashboard's HTTP server and its pollers.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	hub     *hub
	page    *template.Template
	assets  http.Handler
	cancel  context.CancelFunc
}

// New returns a Server querying through q (a *rockset.RockClient from
// internal/rockset.NewClient). Close stops its pollers.
func New(cfg Config, q panels.Querier, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	r, err := panels.New(q, cfg.Workspace, cfg.Collection)
	if err != nil {
		return nil, err
	}
	page, err := template.ParseFS(assetFS, "assets/index.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := newMetrics()
	s := &Server{
		cfg: cfg, log: log, metrics: m, page: page, cancel: cancel,
		hub:    newHub(ctx, &cfg, m, log, r),
		assets: http.StripPrefix("/assets/", http.FileServerFS(static)),
	}
	go s.hub.reap()
	return s, nil
}

// Close stops every view's polling.
func (s *Server) Close() { s.cancel() }

// Handler serves the pages, the event streams, /healthz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage(func(*http.Request) (string, bool) { return s.cfg.DefaultHashtag, true }))
	mux.HandleFunc("GET /tweets", s.servePage(func(*http.Request) (string, bool) { return "", true }))
	mux.HandleFunc("GET /hashtag/{tag}", s.servePage(hashtagFromPath))
	mux.HandleFunc("GET /events/tweets", s.serveEvents(func(*http.Request) (string, bool) { return "", true }))
	mux.HandleFunc("GET /events/hashtag/{tag}", s.serveEvents(hashtagFromPath))
	mux.Handle("GET /assets/", s.cacheAssets(s.assets))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return securityHeaders(mux)
}

// hashtagFromPath reads /hashtag/{tag}: the tag is normalised, and one that
// is empty, longer than any real hashtag or holds control characters is
// refused. Spaces and quotes are kept: such a hashtag just has no tweets.
func hashtagFromPath(r *http.Request) (string, bool) {
	h := panels.NormalizeHashtag(r.PathValue("tag"))
	if h == "" || utf8.RuneCountInString(h) > maxHashtagRunes || !utf8.ValidString(h) ||
		strings.ContainsFunc(h, unicode.IsControl) {
		return "", false
	}
	return h, true
}

type pageData struct {
	View, Hashtag, Window, Collection string
	TopN                              int
}

func (s *Server) servePage(pick func(*http.Request) (string, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := pick(r)
		if !ok {
			http.Error(w, "not a hashtag", http.StatusBadRequest)
			return
		}
		d := pageData{View: "tweets", Hashtag: h, Window: shortDuration(s.cfg.Window), Collection: s.cfg.Collection, TopN: s.cfg.TopN}
		if h != "" {
			d.View = "hashtag"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if err := s.page.Execute(w, d); err != nil {
			s.log.Warn("rendering page", "err", err)
		}
	}
}

// serveEvents streams a view's snapshots as Server-Sent Events.
func (s *Server) serveEvents(pick func(*http.Request) (string, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := pick(r)
		if !ok {
			http.Error(w, "not a hashtag", http.StatusBadRequest)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		v, ch, err := s.hub.acquire(h)
		if errors.Is(err, errTooManyViews) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer s.hub.release(v, ch)
		s.metrics.clients.Inc()
		defer s.metrics.clients.Dec()

		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
		if _, err := fmt.Fprintf(w, "retry: %d\n\n", s.cfg.Interval.Milliseconds()); err != nil {
			return
		}
		flusher.Flush()

		keepalive := time.NewTicker(15 * time.Second)
		defer keepalive.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.hub.ctx.Done():
				return
			case b, ok := <-ch:
				if !ok {
					return
				}
				if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", b); err != nil {
					return
				}
			case <-keepalive.C:
				// A comment keeps proxies from closing an idle stream.
				if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
					return
				}
			}
			flusher.Flush()
		}
	}
}

func (s *Server) cacheAssets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/assets/vendor/") {
			w.Header().Set("Cache-Control", "public, max-age=86400")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

// shortDuration writes 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// securityHeaders: the page loads nothing from elsewhere, so it can say so.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
