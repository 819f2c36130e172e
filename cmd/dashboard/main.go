// Command dashboard serves the live web dashboard of one collection.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamdash/streamdash/internal/dashboard"
	"github.com/streamdash/streamdash/internal/keyfile"
	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/rockset"
)

func main() {
	var (
		listen     = flag.String("listen", ":8080", "address to serve on")
		endpoint   = flag.String("analytics-endpoint", "http://streamdash-analytics.streamdash-system.svc:8080", "Rockset-API endpoint (http://host:port or https://host)")
		keyFile    = flag.String("api-key-file", "", "file holding the API key (default: env STREAMDASH_API_KEY)")
		workspace  = flag.String("workspace", "commons", "workspace of the collection")
		collection = flag.String("collection", "", "collection to query (required)")
		hashtag    = flag.String("hashtag", "", "hashtag whose view / shows (default: the Tweets view)")
		window     = flag.Duration("window", time.Hour, "how far back Top Hashtags and the Hashtag view look")
		topN       = flag.Int("top-n", 8, "rows in the hashtag lists")
	)
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log, *listen, *endpoint, *keyFile, dashboard.Config{
		Workspace: *workspace, Collection: *collection, DefaultHashtag: *hashtag, Window: *window, TopN: *topN,
	}); err != nil {
		log.Error("dashboard stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, listen, endpoint, keyFile string, cfg dashboard.Config) error {
	key, err := dashboard.APIKey(keyFile, os.Getenv("STREAMDASH_API_KEY"))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	client, err := dashboard.NewRotatingQuerier(key, func(key string) (panels.Querier, error) {
		return rockset.NewClient(endpoint, key, hc)
	})
	if err != nil {
		return err
	}
	srv, err := dashboard.New(cfg, client, log)
	if err != nil {
		return err
	}
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if keyFile != "" {
		// A rotated Secret reaches the mounted file without a restart; the
		// browsers' event streams stay open across the switch.
		go client.Follow(ctx, keyFile, keyfile.DefaultInterval, key, log)
	}
	// No WriteTimeout: event streams stay open for as long as a browser watches.
	hs := &http.Server{Addr: listen, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("dashboard serving", "listen", listen, "workspace", cfg.Workspace, "collection", cfg.Collection, "hashtag", cfg.DefaultHashtag)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close() // ends the event streams' pollers before waiting for handlers
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
