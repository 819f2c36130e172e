// Command producer reads a tweet source and writes canonical tweet
// documents to a Kinesis stream. The operator runs one per TwitterPipeline;
// its command line is producer.Config's (internal/producer/args.go).
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/streamdash/streamdash/internal/producer"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := producer.ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fail(log, err)
	}
	cfg.Log = log

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
