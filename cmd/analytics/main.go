// Command analytics is streamdash's Rockset-API-compatible server: Kinesis
// streams in, DuckDB storage, SQL out. See internal/analytics.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/streamdash/streamdash/internal/analytics"
)

func main() {
	var (
		listen        = flag.String("listen", "127.0.0.1:8080", "address to serve the API, /healthz, /readyz and /metrics on")
		dataDir       = flag.String("data-dir", "", "directory for the database, checkpoints and metadata (required)")
		keyFile       = flag.String("api-key-file", "", "file with the accepted API keys, one per line (required)")
		tlsCert       = flag.String("tls-cert", "", "PEM certificate: serve HTTPS (with --tls-key)")
		tlsKey        = flag.String("tls-key", "", "PEM private key for --tls-cert")
		queryTimeout  = flag.Duration("max-query-timeout", 30*time.Second, "cap on a query's timeout_ms, and the timeout when none is given")
		rowLimit      = flag.Int("max-row-limit", 100000, "cap on the rows a query returns, and the limit when default_row_limit is not given")
		pollInterval  = flag.Duration("poll-interval", 200*time.Millisecond, "wait between Kinesis reads when a stream is idle")
		purgeInterval = flag.Duration("purge-interval", time.Minute, "how often documents past their collection's retention are purged")
	)
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log, *listen, *dataDir, *keyFile, *tlsCert, *tlsKey, *queryTimeout, *rowLimit, *pollInterval, *purgeInterval); err != nil {
		log.Error("analytics", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, listen, dataDir, keyFile, tlsCert, tlsKey string, queryTimeout time.Duration, rowLimit int, poll, purge time.Duration) error {
	if dataDir == "" || keyFile == "" {
		return fmt.Errorf("--data-dir and --api-key-file are required")
	}
	if (tlsCert == "") != (tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	keys, err := readKeys(keyFile)
	if err != nil {
		return err
	}
	srv, err := analytics.New(analytics.Config{
		Listen: listen, DataDir: dataDir, APIKeys: keys, TLSCert: tlsCert, TLSKey: tlsKey,
		MaxQueryTimeout: queryTimeout, MaxRowLimit: rowLimit, PollInterval: poll, PurgeInterval: purge, Log: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" && !strings.HasPrefix(k, "#") {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no API key", path)
	}
	return keys, nil
}
