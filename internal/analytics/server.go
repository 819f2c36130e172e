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
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/cgroup"
	"github.com/streamdash/streamdash/internal/analytics/ingest"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
	"github.com/streamdash/streamdash/internal/keyfile"
)

// Config configures a Server.
type Config struct {
	Listen  string   // host:port; port 0 picks a free one
	DataDir string   // metadata, DuckDB database and checkpoints; "" keeps everything in memory
	APIKeys []string // accepted API keys
	TLSCert string   // optional PEM certificate and key: serve HTTPS
	TLSKey  string

	// APIKeyFile, when set, holds the accepted keys one per line (with
	// APIKeys or instead of them); it is read again when its content changes
	// (a rotated Kubernetes Secret), without a restart or dropped connections.
	APIKeyFile string
	// SecretKeyFile holds the key (32 bytes, hex) that seals integration
	// secrets in the metadata file; best mounted from a Secret. Empty:
	// <data-dir>/secret.key, created on first start.
	SecretKeyFile string
	// MetricsListen serves /metrics, without a key, on an address of its own;
	// when empty /metrics is on Listen and needs an API key like the API.
	MetricsListen string

	// KinesisEndpoint, when set, is where readers reach Kinesis instead of
	// the endpoint the SDK's configuration names (AWS_ENDPOINT_URL_KINESIS);
	// for servers embedded in tests, where the environment is the process's.
	KinesisEndpoint string

	MaxQueryTimeout time.Duration // cap on (and default for) a query's timeout_ms
	MaxRowLimit     int           // cap on (and default for) a query's rows
	PollInterval    time.Duration // idle wait between GetRecords rounds
	PurgeInterval   time.Duration // how often retention runs
	Log             *slog.Logger

	// Resource bounds; zero takes the default noted.
	MemoryLimit          int64         // DuckDB memory_limit: 3/4 of the cgroup's memory limit, else DuckDB's own default
	Threads              int           // DuckDB threads: the cgroup's CPU quota rounded up, else every core
	TempDir              string        // DuckDB spill directory: <data-dir>/tmp
	MaxTempBytes         int64         // cap on the spill directory: 4 GiB
	MaxConcurrentQueries int           // queries running at once: 2 x threads (at least 2)
	MaxQueuedQueries     int           // queries waiting for a slot before 429: 64
	MaxResponseBytes     int64         // JSON bytes of one query's rows: 32 MiB
	MaxSQLBytes          int           // length of a query text: 256 KiB
	RewriteCacheBytes    int           // rewrite cache: 16 MiB
	TransformTimeout     time.Duration // one run of an ingest transformation: 10s
	MaxColumns           int           // columns a collection's fields get: 1000
	MaxAuthFailures      int           // failed authentications per client address per minute: 20
	IdleTimeout          time.Duration // keep-alive connections idle this long are closed: 2m

	// Clock times scheduled lambdas and the pacing of ingest events; nil is
	// the real clock (tests pass a fake).
	Clock clock.WithDelayedExecution

	// LimitAddressSpace caps the process's address space at its size after
	// start-up plus the cgroup's memory limit (cgroup.LimitAddressSpace), so
	// an allocation DuckDB's memory_limit does not govern fails the query
	// that made it rather than bringing the OOM killer. For the analytics
	// program, not for servers embedded in other processes (tests).
	LimitAddressSpace bool
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
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	limits := cgroup.Self()
	if c.MemoryLimit <= 0 && limits.MemoryBytes > 0 {
		c.MemoryLimit = limits.MemoryBytes / 4 * 3
	}
	if c.Threads <= 0 && limits.CPUs > 0 {
		c.Threads = int(math.Ceil(limits.CPUs))
	}
	if c.TempDir == "" && c.DataDir != "" {
		c.TempDir = filepath.Join(c.DataDir, "tmp")
	}
	if c.MaxTempBytes <= 0 {
		c.MaxTempBytes = 4 << 30
	}
	if c.MaxConcurrentQueries <= 0 {
		threads := c.Threads
		if threads <= 0 {
			threads = runtime.NumCPU()
		}
		c.MaxConcurrentQueries = max(2, 2*threads)
	}
	if c.MaxQueuedQueries <= 0 {
		c.MaxQueuedQueries = 64
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 32 << 20
	}
	if c.MaxSQLBytes <= 0 {
		c.MaxSQLBytes = rewrite.DefaultMaxSQLBytes
	}
	if c.RewriteCacheBytes <= 0 {
		c.RewriteCacheBytes = rewrite.DefaultMaxCacheBytes
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
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

	keys     *api.Keys
	fileKeys []string      // the key file's keys when New read it; watchKeys compares with them
	running  chan struct{} // a slot per query running
	waiting  chan struct{} // a slot per query queued for a running slot

	mu      sync.Mutex
	readers map[string]*ingest.Reader // by table
	events  map[string]*ingestEvents  // by table; kept across a reader's restarts
	runCtx  context.Context

	queries queryLog // running and recently finished queries

	clock        clock.WithDelayedExecution
	scheduleWake chan struct{}            // a schedule was created, changed or deleted
	scheduleMu   sync.Mutex               // held by a round of scheduled runs
	unrecorded   map[string]unrecordedRun // by RRN; guarded by scheduleMu

	ln        net.Listener
	ready     atomic.Bool
	schemaGen atomic.Int64 // store generation the rewrite cache matches
}

// New opens the data directory (or memory) and prepares the server; Run
// serves it.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	fileKeys, err := readKeyFile(cfg.APIKeyFile)
	if err != nil {
		return nil, err
	}
	keys := append(append([]string{}, cfg.APIKeys...), fileKeys...)
	if len(keys) == 0 {
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
	keyFile := cfg.SecretKeyFile
	if keyFile == "" && cfg.DataDir != "" {
		keyFile = filepath.Join(cfg.DataDir, "secret.key")
	}
	m, err := meta.Open(metaPath, keyFile)
	if err != nil {
		return nil, err
	}
	opts := store.Options{
		MemoryLimit: cfg.MemoryLimit, Threads: cfg.Threads, MaxTempBytes: cfg.MaxTempBytes,
		TransformTimeout: cfg.TransformTimeout, MaxColumns: cfg.MaxColumns,
	}
	if dbPath != "" {
		opts.TempDir = cfg.TempDir
	}
	st, err := store.OpenWith(dbPath, opts)
	if err != nil {
		return nil, err
	}
	rw := rewrite.New(st.DB())
	rw.MaxSQLBytes, rw.MaxCacheBytes = cfg.MaxSQLBytes, cfg.RewriteCacheBytes
	s := &Server{
		cfg: cfg, log: cfg.Log, meta: m, store: st, rw: rw,
		reg:      prometheus.NewRegistry(),
		readers:  map[string]*ingest.Reader{},
		events:   map[string]*ingestEvents{},
		keys:     api.NewKeys(keys),
		fileKeys: fileKeys,
		running:  make(chan struct{}, cfg.MaxConcurrentQueries),
		waiting:  make(chan struct{}, cfg.MaxQueuedQueries),
		clock:    cfg.Clock, scheduleWake: make(chan struct{}, 1), unrecorded: map[string]unrecordedRun{},
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
	if err := s.ensureEvents(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	if budget := cgroup.Self().MemoryBytes; cfg.LimitAddressSpace && budget > 0 {
		if err := cgroup.LimitAddressSpace(budget); err != nil {
			s.log.Warn("address space limit not set", "error", err)
		}
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

// Handler is the whole HTTP surface: the API plus unauthenticated probes,
// and /metrics behind an API key unless it has an address of its own.
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
	if s.cfg.MetricsListen == "" {
		metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
		mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.keys.Authorized(r) {
				http.Error(w, "authentication failed: /metrics needs an API key (or --metrics-listen)", http.StatusUnauthorized)
				return
			}
			metrics.ServeHTTP(w, r)
		}))
	}
	mux.Handle("/", api.HandlerWith(s, s.keys, s.cfg.MaxAuthFailures, s.log))
	return mux
}

// MetricsHandler serves /metrics without a key, for MetricsListen.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// readKeyFile reads the key file's keys (none when there is no file).
func readKeyFile(file string) ([]string, error) {
	if file == "" {
		return nil, nil
	}
	return keyfile.Keys(file)
}

// watchKeys follows the key file (a mounted Secret, rotated in place): the
// accepted keys become the given ones plus the file's new ones. A file that
// is briefly empty or unreadable keeps the keys in force. It compares with
// the file's keys New read, not with a fresh read: a rotation between New
// and this goroutine's start would otherwise never be taken.
func (s *Server) watchKeys(ctx context.Context, every time.Duration) {
	var lastErr string
	keyfile.WatchKeys(ctx, s.cfg.APIKeyFile, every, s.fileKeys, func(fromFile []string) {
		s.keys.Set(append(append([]string{}, s.cfg.APIKeys...), fromFile...))
		s.log.Info("API keys reloaded", "file", s.cfg.APIKeyFile, "keys", len(fromFile)+len(s.cfg.APIKeys))
	}, func(err error) {
		// Said once per distinct error, not at every poll.
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			s.log.Warn("API key file unreadable; keeping the keys in force", "err", msg)
		}
	})
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runSchedules(ctx)
	}()
	if s.cfg.APIKeyFile != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watchKeys(ctx, keyFilePoll)
		}()
	}
	// A client must send its request within ReadTimeout and take the answer
	// within the query timeout plus a margin; idle keep-alive connections close.
	srv := &http.Server{
		Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: s.cfg.MaxQueryTimeout + 30*time.Second, IdleTimeout: s.cfg.IdleTimeout,
	}
	var metricsSrv *http.Server
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		metricsSrv = &http.Server{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
		go func() { _ = metricsSrv.Serve(mln) }()
	}
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
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdown)
	}
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
	events := s.events
	s.events = map[string]*ingestEvents{}
	s.mu.Unlock()
	for _, r := range readers {
		r.Stop()
	}
	for _, e := range events {
		e.stop()
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
	exists := false
	s.meta.View(func(st *meta.State) {
		// A collection deleted since the caller read it stays without a
		// reader: its deletion stops readers only after removing it here.
		if cur, ok := st.Collections[meta.Key(c.Workspace, c.Name)]; ok && cur.Table == c.Table {
			exists = true
		}
		if i, ok := st.Integrations[src.IntegrationName]; ok {
			integ = *i
		}
	})
	if !exists {
		return
	}
	sc, ok := s.store.Get(c.Table)
	if !ok {
		s.log.Error("collection storage is not open", "collection", c.Workspace+"."+c.Name)
		return
	}
	ev, ok := s.events[c.Table]
	if !ok {
		ev = s.newIngestEvents(c.Workspace+"."+c.Name, sc.LastMalformed)
		s.events[c.Table] = ev
	}
	client, err := ingest.NewClient(s.runCtx, ingest.Credentials{
		AccessKeyID: integ.AccessKeyID, SecretAccessKey: integ.SecretAccessKey,
		RoleARN: integ.RoleARN, ExternalID: integ.ExternalID,
	}, src.Region, s.cfg.KinesisEndpoint)
	if err != nil {
		s.log.Error("kinesis client", "collection", c.Workspace+"."+c.Name, "error", err)
		_ = sc.SetError(s.runCtx, err.Error())
		ev.IngestError(err.Error())
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
		Events:       ev,
	})
}

// restartReaders starts the readers of the collections reading through
// integration again, so they pick up its current credentials. A reader
// resumes from its committed checkpoints; what it had read but not
// committed is read again, once.
func (s *Server) restartReaders(integration string) {
	var colls []meta.Collection
	s.meta.View(func(st *meta.State) {
		for _, c := range st.Collections {
			for _, src := range c.Sources {
				if src.IntegrationName == integration {
					colls = append(colls, *c)
					break
				}
			}
		}
	})
	for i := range colls {
		s.stopReader(colls[i].Table)
		s.startReader(&colls[i])
	}
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

// dropIngestEvents stops and forgets a deleted collection's ingest-event
// pacer: what it still held is about a collection that no longer exists.
// (A reader's restart keeps the pacer, so its pace holds across restarts.)
func (s *Server) dropIngestEvents(table string) {
	s.mu.Lock()
	e := s.events[table]
	delete(s.events, table)
	s.mu.Unlock()
	if e != nil {
		e.stop()
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

// keyFilePoll is how often the API key file is read for a rotation; the
// kubelet itself takes up to a minute to update a mounted Secret.
const keyFilePoll = 2 * time.Second

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
