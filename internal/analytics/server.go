// Package analytics is streamdash's Rockset-API-compatible server: it wires
// the HTTP API (package api), Kinesis ingest (ingest), DuckDB storage (store),
// the SQL rewrite (rewrite) and the metadata file (meta) into one process.
package analytics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/ingest"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

// Config configures a Server.
type Config struct {
	Listen  string   // host:port; port 0 picks a free one
	DataDir string   // metadata, DuckDB database and checkpoints; "" keeps everything in memory
	APIKeys []string // accepted API keys
	TLSCert string   // optional PEM certificate and key: serve HTTPS
	TLSKey  string

	MaxQueryTimeout time.Duration // cap on (and default for) a query's timeout_ms
	MaxRowLimit     int           // cap on (and default for) a query's rows
	PollInterval    time.Duration // idle wait between GetRecords rounds
	PurgeInterval   time.Duration // how often retention runs
	Log             *slog.Logger
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.MaxQueryTimeout <= 0 {
		c.MaxQueryTimeout = 30 * time.Second
	}
	if c.MaxRowLimit <= 0 {
		c.MaxRowLimit = 100000
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Server is one analytics server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	meta  *meta.Store
	store *store.Store
	rw    *rewrite.Rewriter

	reg          *prometheus.Registry
	ingestM      *ingest.Metrics
	queryLatency prometheus.Histogram
	queryErrors  prometheus.Counter

	mu      sync.Mutex
	readers map[string]*ingest.Reader // by table
	runCtx  context.Context

	ln        net.Listener
	ready     atomic.Bool
	schemaGen atomic.Int64 // store generation the rewrite cache matches
}

// New opens the data directory (or memory) and prepares the server; Run
// serves it.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if len(cfg.APIKeys) == 0 {
		return nil, errors.New("analytics: at least one API key is required")
	}
	metaPath, dbPath := "", ""
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		metaPath = filepath.Join(cfg.DataDir, "meta.json")
		dbPath = filepath.Join(cfg.DataDir, "analytics.duckdb")
	}
	m, err := meta.Open(metaPath)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Log, meta: m, store: st, rw: rewrite.New(st.DB()),
		reg:     prometheus.NewRegistry(),
		readers: map[string]*ingest.Reader{},
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.ingestM = ingest.NewMetrics(s.reg)
	s.queryLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "analytics_query_duration_seconds", Help: "Query latency, from request to rows.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	s.queryErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "analytics_query_errors_total", Help: "Queries refused or failed."})
	s.reg.MustRegister(s.queryLatency, s.queryErrors)
	if err := s.restore(); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// restore makes the store match the metadata: commons exists, every
// collection has its table configured, and tables of deleted collections go.
func (s *Server) restore() error {
	ctx := context.Background()
	if err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces["commons"]; !ok {
			st.Workspaces["commons"] = &meta.Workspace{Name: "commons", Description: "the default workspace", CreatedAt: now(), CreatedBy: createdBy}
		}
		return nil
	}); err != nil {
		return err
	}
	var colls []meta.Collection
	s.meta.View(func(st *meta.State) {
		for _, c := range st.Collections {
			colls = append(colls, *c)
		}
	})
	known := map[string]bool{}
	for _, c := range colls {
		known[c.Table] = true
		if err := s.openCollection(ctx, &c); err != nil {
			var bad *badTransform
			if !errors.As(err, &bad) {
				return fmt.Errorf("collection %s.%s: %w", c.Workspace, c.Name, err)
			}
			// A stored transformation that today's checks refuse must not
			// keep the server down; its collection waits, in ERROR, for an
			// update, and every other collection runs.
			s.log.Warn("ingest transformation refused", "collection", c.Workspace+"."+c.Name, "error", bad.err)
		}
	}
	tables, err := s.store.Tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if !known[t] {
			if err := s.store.Drop(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) openCollection(ctx context.Context, c *meta.Collection) error {
	sc, err := s.store.Collection(ctx, c.Table)
	if err != nil {
		return err
	}
	tx := ""
	if c.Transform != "" {
		if tx, err = s.rw.Transformation(ctx, c.Transform); err != nil {
			sc.Refuse(eventTimeOf(c), fmt.Errorf("refused: %v; update the collection's field_mapping_query", err))
			return &badTransform{err: err}
		}
	}
	sc.Configure(eventTimeOf(c), tx)
	return nil
}

// badTransform is a stored ingest transformation that no longer passes the checks.
type badTransform struct{ err error }

func (b *badTransform) Error() string { return "ingest transformation: " + b.err.Error() }

func eventTimeOf(c *meta.Collection) store.EventTime {
	if c.EventTime == nil {
		return store.EventTime{}
	}
	return store.EventTime{Field: c.EventTime.Field, Format: c.EventTime.Format}
}

// Listen binds the listener (Run does it when not done yet) and returns its address.
func (s *Server) Listen() (net.Addr, error) {
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Handler is the whole HTTP surface: the API plus unauthenticated probes and metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", api.Handler(s, s.cfg.APIKeys, s.log))
	return mux
}

// Run starts ingest for every collection, the retention loop and the HTTP
// server, and stops them all when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if _, err := s.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	var colls []meta.Collection
	s.meta.View(func(st *meta.State) {
		for _, c := range st.Collections {
			colls = append(colls, *c)
		}
	})
	for i := range colls {
		s.startReader(&colls[i])
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.purgeLoop(ctx)
	}()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			errc <- srv.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey)
			return
		}
		errc <- srv.Serve(s.ln)
	}()
	s.ready.Store(true)
	s.log.Info("analytics serving", "addr", s.ln.Addr().String(), "tls", s.cfg.TLSCert != "")
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.ready.Store(false)
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	_ = srv.Shutdown(shutdown)
	cancel()
	s.stopReaders()
	wg.Wait()
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) stopReaders() {
	s.mu.Lock()
	readers := s.readers
	s.readers = map[string]*ingest.Reader{}
	s.mu.Unlock()
	for _, r := range readers {
		r.Stop()
	}
}

func (s *Server) startReader(c *meta.Collection) {
	if len(c.Sources) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return // Run starts it
	}
	if _, ok := s.readers[c.Table]; ok {
		return
	}
	src := c.Sources[0]
	var integ meta.Integration
	s.meta.View(func(st *meta.State) {
		if i, ok := st.Integrations[src.IntegrationName]; ok {
			integ = *i
		}
	})
	sc, ok := s.store.Get(c.Table)
	if !ok {
		s.log.Error("collection storage is not open", "collection", c.Workspace+"."+c.Name)
		return
	}
	client, err := ingest.NewClient(s.runCtx, ingest.Credentials{
		AccessKeyID: integ.AccessKeyID, SecretAccessKey: integ.SecretAccessKey,
		RoleARN: integ.RoleARN, ExternalID: integ.ExternalID,
	}, src.Region)
	if err != nil {
		s.log.Error("kinesis client", "collection", c.Workspace+"."+c.Name, "error", err)
		_ = sc.SetError(s.runCtx, err.Error())
		return
	}
	created, _ := time.Parse(time.RFC3339Nano, c.CreatedAt)
	s.readers[c.Table] = ingest.Start(s.runCtx, ingest.Spec{
		Name:         c.Workspace + "." + c.Name,
		Stream:       src.StreamName,
		Policy:       src.OffsetResetPolicy,
		StartTime:    created,
		Client:       client,
		Sink:         sc,
		PollInterval: s.cfg.PollInterval,
		Metrics:      s.ingestM,
		Log:          s.log,
	})
}

func (s *Server) stopReader(table string) {
	s.mu.Lock()
	r := s.readers[table]
	delete(s.readers, table)
	s.mu.Unlock()
	if r != nil {
		r.Stop()
	}
}

func (s *Server) reader(table string) *ingest.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readers[table]
}

func (s *Server) purgeLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var colls []meta.Collection
		s.meta.View(func(st *meta.State) {
			for _, c := range st.Collections {
				if c.RetentionSecs > 0 {
					colls = append(colls, *c)
				}
			}
		})
		for _, c := range colls {
			sc, ok := s.store.Get(c.Table)
			if !ok {
				continue
			}
			cutoff := time.Now().Add(-time.Duration(c.RetentionSecs) * time.Second)
			if n, err := sc.Purge(ctx, cutoff); err != nil {
				s.log.Warn("retention purge", "collection", c.Workspace+"."+c.Name, "error", err)
			} else if n > 0 {
				s.log.Info("retention purge", "collection", c.Workspace+"."+c.Name, "purged", n)
			}
		}
	}
}

const createdBy = "analytics"

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// CollectionStorage returns a collection's storage, for loading documents
// without a stream (benchmarks, tools) and for direct inspection.
func (s *Server) CollectionStorage(ws, name string) (*store.Collection, error) {
	c, err := s.findCollection(ws, name)
	if err != nil {
		return nil, err
	}
	sc, ok := s.store.Get(c.Table)
	if !ok {
		return nil, fmt.Errorf("collection %s.%s has no open storage", ws, name)
	}
	return sc, nil
}

// Store is the server's DuckDB store.
func (s *Server) Store() *store.Store { return s.store }

// RewriteSQL returns the DuckDB SQL a Rockset query runs as (for tools,
// benchmarks and debugging); the query is checked exactly as /queries does.
func (s *Server) RewriteSQL(ctx context.Context, q string) (string, error) {
	rq, err := s.rw.Rewrite(ctx, q, s.resolve)
	if err != nil {
		return "", err
	}
	return rq.SQL, nil
}
