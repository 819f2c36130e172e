// Command producer reads a tweet source and writes canonical tweet
// documents to a Kinesis stream. The operator runs one per TwitterPipeline.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamdash/streamdash/internal/producer"
	"github.com/streamdash/streamdash/internal/producer/jetstream"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/tweet"
)

func main() {
	var (
		cfg                        producer.Config
		format, rules, langs, keys string
	)
	flag.StringVar(&cfg.Stream, "stream", "", "Kinesis stream name (required)")
	flag.StringVar(&cfg.Listen, "listen", ":8081", "address of /metrics and /healthz")
	flag.StringVar(&cfg.Source, "source", "replay", "replay, x or bluesky")

	flag.StringVar(&cfg.Replay.File, "replay-file", "", "NDJSON file to replay (empty: the synthetic generator)")
	flag.StringVar(&format, "replay-format", "auto", "format of --replay-file: auto, canonical, x-v2 or v1.1")
	flag.Int64Var(&cfg.Replay.Seed, "synthetic-seed", 1, "seed of the synthetic generator")
	flag.Float64Var(&cfg.Replay.Rate, "rate", 10, "documents per second (0: as fast as Kinesis takes them)")
	flag.IntVar(&cfg.Replay.Count, "count", 0, "documents to write (0: forever, or once through --replay-file)")
	flag.BoolVar(&cfg.Replay.RewriteTimestamps, "rewrite-timestamps", true, "stamp replayed documents with the current time")
	flag.BoolVar(&cfg.Replay.Loop, "loop", false, "replay --replay-file again at its end")
	flag.BoolVar(&cfg.ExitWhenDone, "exit-when-done", false, "exit once a finite replay is written (default: keep serving metrics)")

	flag.StringVar(&cfg.XEndpoint, "x-endpoint", xstream.DefaultEndpoint, "X API base URL")
	flag.StringVar(&rules, "x-rules", "", `filtered-stream rules as JSON: [{"value":"...","tag":"..."}]`)
	flag.StringVar(&cfg.RulesTagPrefix, "rules-tag-prefix", "", "tag prefix marking this pipeline's rules; only rules with it are deleted")

	flag.StringVar(&cfg.JetstreamURL, "jetstream-url", jetstream.DefaultURL, "Jetstream subscribe URL")
	flag.StringVar(&langs, "bluesky-langs", "", "comma-separated languages to keep (empty: all)")
	flag.StringVar(&keys, "bluesky-keywords", "", "comma-separated keywords to keep (empty: all)")
	flag.StringVar(&cfg.ProfileAPI, "bluesky-profile-api", jetstream.DefaultProfileAPI, "Bluesky AppView for profile look-ups")

	flag.IntVar(&cfg.BatchSize, "batch-size", 500, "records per PutRecords (at most 500)")
	flag.DurationVar(&cfg.FlushInterval, "flush-interval", 200*time.Millisecond, "longest a partial batch waits")
	flag.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 20*time.Second, "time allowed to flush on SIGTERM")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg.Log = log
	var err error
	if cfg.Replay.Format, err = tweet.ParseFormat(format); err != nil {
		fail(log, err)
	}
	if cfg.XRules, err = xstream.ParseRules(rules); err != nil {
		fail(log, err)
	}
	cfg.BlueskyLangs = producer.SplitList(langs)
	cfg.BlueskyKeywords = producer.SplitList(keys)
	cfg.XBearerToken = os.Getenv("X_BEARER_TOKEN")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := producer.Run(ctx, cfg); err != nil {
		fail(log, err)
	}
}

func fail(log *slog.Logger, err error) {
	log.Error("producer failed", "error", err.Error())
	os.Exit(1)
}
