// Command analytics is streamdash's Rockset-API-compatible server: Kinesis
// streams in, DuckDB storage, SQL out. See internal/analytics.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamdash/streamdash/internal/analytics"
)

func main() {
	var cfg analytics.Config
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve the API, /healthz, /readyz and (with an API key) /metrics on")
	flag.StringVar(&cfg.MetricsListen, "metrics-listen", "", "address to serve /metrics on without a key; empty: /metrics is on --listen and needs an API key")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "directory for the database, checkpoints and metadata (required)")
	flag.StringVar(&cfg.APIKeyFile, "api-key-file", "", "file with the accepted API keys, one per line (required); read again when it changes")
	flag.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "key (32 bytes in hex) that seals integration secrets in the metadata file; empty: <data-dir>/secret.key, created on first start")
	flag.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate: serve HTTPS (with --tls-key)")
	flag.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	flag.DurationVar(&cfg.MaxQueryTimeout, "max-query-timeout", 30*time.Second, "cap on a query's timeout_ms, and the timeout when none is given")
	flag.IntVar(&cfg.MaxRowLimit, "max-row-limit", 100000, "cap on the rows a query returns, and the limit when default_row_limit is not given")
	flag.DurationVar(&cfg.PollInterval, "poll-interval", 200*time.Millisecond, "wait between Kinesis reads when a stream is idle")
	flag.DurationVar(&cfg.PurgeInterval, "purge-interval", time.Minute, "how often documents past their collection's retention are purged")
	flag.Int64Var(&cfg.MemoryLimit, "memory-limit", 0, "DuckDB memory limit in bytes; 0: 3/4 of the cgroup's memory limit, or DuckDB's default without one")
	flag.IntVar(&cfg.Threads, "threads", 0, "DuckDB threads; 0: the cgroup's CPU quota rounded up, or every core")
	flag.StringVar(&cfg.TempDir, "temp-dir", "", "where DuckDB spills to disk; empty: <data-dir>/tmp")
	flag.Int64Var(&cfg.MaxTempBytes, "max-temp-bytes", 4<<30, "cap on the spill directory")
	flag.IntVar(&cfg.MaxConcurrentQueries, "max-concurrent-queries", 0, "queries running at once; 0: twice the threads")
	flag.IntVar(&cfg.MaxQueuedQueries, "max-queued-queries", 64, "queries waiting for a slot; beyond it a query gets 429")
	flag.Int64Var(&cfg.MaxResponseBytes, "max-response-bytes", 32<<20, "cap on the JSON size of one query's rows")
	flag.IntVar(&cfg.MaxSQLBytes, "max-sql-bytes", 256<<10, "cap on the length of a query text")
	flag.IntVar(&cfg.RewriteCacheBytes, "rewrite-cache-bytes", 16<<20, "cap on the cache of rewritten queries")
	flag.DurationVar(&cfg.TransformTimeout, "transform-timeout", 10*time.Second, "deadline for one run of an ingest transformation")
	flag.IntVar(&cfg.MaxColumns, "max-columns", 1000, "columns a collection's fields get; further fields are kept in its _overflow JSON column")
	flag.IntVar(&cfg.MaxAuthFailures, "max-auth-failures", 20, "failed authentications per client address per minute before it gets 429")
	flag.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "close keep-alive connections idle this long")
	flag.Parse()
	cfg.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg.LimitAddressSpace = true
	if err := run(cfg); err != nil {
		cfg.Log.Error("analytics", "error", err)
		os.Exit(1)
	}
}

func run(cfg analytics.Config) error {
	if cfg.DataDir == "" || cfg.APIKeyFile == "" {
		return fmt.Errorf("--data-dir and --api-key-file are required")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	srv, err := analytics.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}
