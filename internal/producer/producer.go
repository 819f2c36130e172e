// Package producer is the program the operator runs for each
// TwitterPipeline: one source (replay, X filtered stream or Bluesky
// Jetstream) feeding a bounded queue that a Kinesis writer drains, with
// Prometheus metrics and a health endpoint.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamdash/streamdash/internal/producer/jetstream"
	"github.com/streamdash/streamdash/internal/producer/kinesiswriter"
	"github.com/streamdash/streamdash/internal/producer/postqueue"
	"github.com/streamdash/streamdash/internal/producer/replay"
	"github.com/streamdash/streamdash/internal/producer/xstream"
)

// Source names for Config.Source.
const (
	SourceReplay  = "replay"
	SourceX       = "x"
	SourceBluesky = "bluesky"
)

// Config is everything the producer's flags and environment set.
type Config struct {
	Stream string // Kinesis stream name (required)
	Listen string // address of /metrics and /healthz; empty: none
	Source string // replay, x or bluesky

	Replay replay.Config // File, Format, Seed, Rate, Count, RewriteTimestamps, Loop

	XEndpoint       string
	XRules          []xstream.Rule
	RulesTagPrefix  string
	XBearerToken    string // from X_BEARER_TOKEN; never logged
	XBackoff        xstream.Backoff
	JetstreamURL    string
	BlueskyLangs    []string
	BlueskyKeywords []string
	ProfileAPI      string

	BatchSize     int
	FlushInterval time.Duration
	QueueSize     int           // posts between reader and writer [10000]
	ShutdownGrace time.Duration // how long a shutdown may spend flushing [20s]
	// ExitWhenDone makes Run return once a finite replay is written.
	// Without it the producer keeps serving metrics until it is stopped, so
	// that a Deployment does not restart it and send the data again.
	ExitWhenDone bool

	// Kinesis overrides the client built from the SDK's default
	// configuration (AWS_REGION, AWS_ENDPOINT_URL_KINESIS, credentials).
	Kinesis  kinesiswriter.PutRecordsAPI
	Log      *slog.Logger
	Registry *prometheus.Registry // [a new one]
	// Ready, if set, receives the metrics listener's address once serving.
	Ready func(addr string)
}

// source reads posts into sink until ctx ends or, for a finite replay, it is done.
type source func(ctx context.Context, sink *postqueue.Sink) error

// Run runs the producer until ctx ends (SIGTERM), then stops reading,
// writes everything already read, and returns. It returns an error when
// the configuration is invalid or the source fails for good.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Stream == "" {
		return errors.New("--stream is required")
	}
	if cfg.Source == "" {
		cfg.Source = SourceReplay
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 20 * time.Second
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := postqueue.NewMetrics(reg)
	q := postqueue.NewQueue(cfg.QueueSize, reg)

	src, block, err := newSource(cfg)
	if err != nil {
		return err
	}
	api := cfg.Kinesis
	if api == nil {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("aws configuration: %w", err)
		}
		api = kinesis.NewFromConfig(awsCfg)
	}
	w, err := kinesiswriter.New(api, kinesiswriter.Config{Stream: cfg.Stream, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval}, m, cfg.Log)
	if err != nil {
		return err
	}

	if cfg.Listen != "" {
		stop, err := serve(cfg, reg)
		if err != nil {
			return err
		}
		defer stop()
	}

	// The writer's context outlives ctx by the shutdown grace: a SIGTERM
	// first stops the source, then the writer drains the queue.
	writerCtx, cancelWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWriter()
	stopGrace := context.AfterFunc(ctx, func() {
		time.AfterFunc(cfg.ShutdownGrace, cancelWriter)
	})
	defer stopGrace()
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.Run(writerCtx, q.C()) }()

	sink := postqueue.NewSink(q, m, cfg.Log, cfg.Source, block)
	cfg.Log.Info("producer started", "source", cfg.Source, "writer", w.String())
	srcErr := src(ctx, sink)
	q.Close()
	werr := <-writerDone
	cfg.Log.Info("producer flushed", "read", counter(m.Read.WithLabelValues(cfg.Source)), "written", counter(m.Written),
		"failed", counter(m.Failed), "dropped", counter(m.Dropped.WithLabelValues(cfg.Source)),
		"source_error", errString(srcErr), "writer_error", errString(werr))
	if srcErr != nil {
		return fmt.Errorf("%s source: %w", cfg.Source, srcErr)
	}
	if werr != nil && ctx.Err() == nil {
		return fmt.Errorf("kinesis writer: %w", werr)
	}
	if ctx.Err() == nil && !cfg.ExitWhenDone {
		cfg.Log.Info("replay finished; idle until stopped")
		<-ctx.Done()
	}
	return nil
}

func counter(c prometheus.Counter) int64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return -1
	}
	return int64(m.GetCounter().GetValue())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// newSource builds the configured source and says whether its sink may
// block: replay and Jetstream can wait for the writer (Jetstream resumes
// from its cursor if the server drops a slow reader); X cannot, it
// disconnects slow readers, so its sink drops and counts when full.
func newSource(cfg Config) (source, bool, error) {
	switch cfg.Source {
	case SourceReplay:
		rc := cfg.Replay
		rc.Log = cfg.Log
		s, err := replay.New(rc)
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context, sink *postqueue.Sink) error { return s.Run(ctx, sink) }, true, nil
	case SourceX:
		c, err := xstream.New(xstream.Config{
			Endpoint: cfg.XEndpoint, BearerToken: cfg.XBearerToken, Rules: cfg.XRules,
			TagPrefix: cfg.RulesTagPrefix, Backoff: cfg.XBackoff, Log: cfg.Log,
		})
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context, sink *postqueue.Sink) error { return c.Run(ctx, sink) }, false, nil
	case SourceBluesky:
		p := jetstream.NewProfiles(jetstream.ProfilesConfig{API: cfg.ProfileAPI, Log: cfg.Log})
		c, err := jetstream.New(jetstream.Config{
			URL: cfg.JetstreamURL, Langs: cfg.BlueskyLangs, Keywords: cfg.BlueskyKeywords, Profiles: p, Log: cfg.Log,
		})
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context, sink *postqueue.Sink) error { return c.Run(ctx, sink) }, true, nil
	}
	return nil, false, fmt.Errorf("unknown source %q (want replay, x or bluesky)", cfg.Source)
}

func serve(cfg Config, reg *prometheus.Registry) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	if cfg.Ready != nil {
		cfg.Ready(l.Addr().String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
