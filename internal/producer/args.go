package producer

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/streamdash/streamdash/internal/producer/jetstream"
	"github.com/streamdash/streamdash/internal/producer/replay"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/tweet"
)

// This file is the one contract between the operator and the producer: the
// operator builds a Config and runs the producer with Config.Args(); the
// producer reads them back with ParseArgs. A round-trip test keeps the two
// directions one list.

// BearerTokenEnv is the variable that carries the X bearer token: a secret,
// so it reaches the pod as a Secret reference, never as an argument.
const BearerTokenEnv = "X_BEARER_TOKEN"

// Defaults of the flags; Args leaves out a field equal to its default.
const (
	DefaultListen        = ":8081"
	DefaultRate          = 10
	DefaultSeed          = 1
	DefaultBatchSize     = 500
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultShutdownGrace = 20 * time.Second
)

// Defaults returns the Config that an empty command line gives.
func Defaults() Config {
	return Config{
		Listen: DefaultListen,
		Source: SourceReplay,
		Replay: defaultReplay(),

		XEndpoint:     xstream.DefaultEndpoint,
		JetstreamURL:  jetstream.DefaultURL,
		ProfileAPI:    jetstream.DefaultProfileAPI,
		BatchSize:     DefaultBatchSize,
		FlushInterval: DefaultFlushInterval,
		ShutdownGrace: DefaultShutdownGrace,
	}
}

// RulesTagPrefix is the tag prefix of the X rules a pipeline owns:
// streamdash/<namespace>/<name>: . The producer deletes only rules whose tag
// starts with it, so it never touches another application's rules, nor
// another pipeline's (a name cannot hold '/' or ':').
func RulesTagPrefix(namespace, name string) string {
	return "streamdash/" + namespace + "/" + name + ":"
}

// flagSet binds every flag to cfg. The string-typed forms (rules, lists,
// format) go through the holders in parsed and are converted after Parse.
func flagSet(cfg *Config, parsed *textFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.StringVar(&cfg.Stream, "stream", "", "Kinesis stream name (required)")
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "address of /metrics and /healthz")
	fs.StringVar(&cfg.Source, "source", SourceReplay, "replay, x or bluesky")

	fs.StringVar(&cfg.Replay.File, "replay-file", "", "NDJSON file to replay (empty: the synthetic generator)")
	fs.StringVar(&parsed.format, "replay-format", string(tweet.FormatAuto), "format of --replay-file: auto, canonical, x-v2 or v1.1")
	fs.Int64Var(&cfg.Replay.Seed, "synthetic-seed", DefaultSeed, "seed of the synthetic generator")
	fs.Float64Var(&cfg.Replay.Rate, "rate", DefaultRate, "documents per second (0: as fast as Kinesis takes them)")
	fs.IntVar(&cfg.Replay.Count, "count", 0, "documents to write (0: forever, or once through --replay-file)")
	fs.BoolVar(&cfg.Replay.RewriteTimestamps, "rewrite-timestamps", true, "stamp replayed documents with the current time")
	fs.BoolVar(&cfg.Replay.Loop, "loop", false, "replay --replay-file again at its end")
	fs.BoolVar(&cfg.ExitWhenDone, "exit-when-done", false, "exit once a finite replay is written (default: keep serving metrics)")

	fs.StringVar(&cfg.XEndpoint, "x-endpoint", xstream.DefaultEndpoint, "X API base URL")
	fs.StringVar(&parsed.rules, "x-rules", "", `filtered-stream rules as JSON: [{"value":"...","tag":"..."}]`)
	fs.StringVar(&cfg.RulesTagPrefix, "rules-tag-prefix", "", "tag prefix marking this pipeline's rules; only rules with it are deleted")

	fs.StringVar(&cfg.JetstreamURL, "jetstream-url", jetstream.DefaultURL, "Jetstream subscribe URL")
	fs.StringVar(&parsed.langs, "bluesky-langs", "", "comma-separated languages to keep (empty: all)")
	fs.StringVar(&parsed.keywords, "bluesky-keywords", "", "comma-separated keywords to keep (empty: all)")
	fs.StringVar(&cfg.ProfileAPI, "bluesky-profile-api", jetstream.DefaultProfileAPI, "Bluesky AppView for profile look-ups")

	fs.IntVar(&cfg.BatchSize, "batch-size", DefaultBatchSize, "records per PutRecords (at most 500)")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", DefaultFlushInterval, "longest a partial batch waits")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", DefaultShutdownGrace, "time allowed to flush on SIGTERM")
	return fs
}

type textFlags struct{ format, rules, langs, keywords string }

// ParseArgs reads the producer's command line into a Config, and the X
// bearer token from the environment. Usage goes to usage (nil: stderr).
func ParseArgs(args []string, usage io.Writer) (Config, error) {
	var cfg Config
	var t textFlags
	fs := flagSet(&cfg, &t)
	if usage == nil {
		usage = os.Stderr
	}
	fs.SetOutput(usage)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.Replay.Format, err = tweet.ParseFormat(t.format); err != nil {
		return Config{}, fmt.Errorf("--replay-format: %w", err)
	}
	if cfg.XRules, err = xstream.ParseRules(t.rules); err != nil {
		return Config{}, fmt.Errorf("--x-rules: %w", err)
	}
	cfg.BlueskyLangs = SplitList(t.langs)
	cfg.BlueskyKeywords = SplitList(t.keywords)
	cfg.XBearerToken = os.Getenv(BearerTokenEnv)
	return cfg, nil
}

// Args is cfg as the producer's command line: every flag whose value differs
// from its default, in a fixed order, so equal Configs give equal arguments
// (and an unchanged pipeline does not roll its producer). Fields that are not
// flags (the bearer token, clients, the logger) are not encoded.
func (c Config) Args() ([]string, error) {
	var t textFlags
	t.format = string(c.Replay.Format)
	if t.format == "" {
		t.format = string(tweet.FormatAuto)
	}
	if len(c.XRules) > 0 {
		b, err := json.Marshal(c.XRules)
		if err != nil {
			return nil, err
		}
		t.rules = string(b)
	}
	for _, l := range [][]string{c.BlueskyLangs, c.BlueskyKeywords} {
		for _, v := range l {
			if strings.Contains(v, ",") || strings.TrimSpace(v) != v || v == "" {
				return nil, fmt.Errorf("list item %q cannot travel in a comma-separated flag", v)
			}
		}
	}
	t.langs = strings.Join(c.BlueskyLangs, ",")
	t.keywords = strings.Join(c.BlueskyKeywords, ",")

	// Bind a scratch Config to learn each flag's default, then write the
	// flags whose value in c differs from it.
	var scratch Config
	var st textFlags
	defaults := flagSet(&scratch, &st)
	var args []string
	var firstErr error
	defaults.VisitAll(func(f *flag.Flag) {
		v, err := c.flagValue(f.Name, t)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if v != f.DefValue {
			args = append(args, "--"+f.Name+"="+v)
		}
	})
	return args, firstErr
}

// flagValue is the text of flag name in c, as flag.Value.String gives it.
func (c Config) flagValue(name string, t textFlags) (string, error) {
	switch name {
	case "stream":
		return c.Stream, nil
	case "listen":
		return c.Listen, nil
	case "source":
		return c.Source, nil
	case "replay-file":
		return c.Replay.File, nil
	case "replay-format":
		return t.format, nil
	case "synthetic-seed":
		return strconv.FormatInt(c.Replay.Seed, 10), nil
	case "rate":
		return strconv.FormatFloat(c.Replay.Rate, 'g', -1, 64), nil
	case "count":
		return strconv.Itoa(c.Replay.Count), nil
	case "rewrite-timestamps":
		return strconv.FormatBool(c.Replay.RewriteTimestamps), nil
	case "loop":
		return strconv.FormatBool(c.Replay.Loop), nil
	case "exit-when-done":
		return strconv.FormatBool(c.ExitWhenDone), nil
	case "x-endpoint":
		return c.XEndpoint, nil
	case "x-rules":
		return t.rules, nil
	case "rules-tag-prefix":
		return c.RulesTagPrefix, nil
	case "jetstream-url":
		return c.JetstreamURL, nil
	case "bluesky-langs":
		return t.langs, nil
	case "bluesky-keywords":
		return t.keywords, nil
	case "bluesky-profile-api":
		return c.ProfileAPI, nil
	case "batch-size":
		return strconv.Itoa(c.BatchSize), nil
	case "flush-interval":
		return c.FlushInterval.String(), nil
	case "shutdown-grace":
		return c.ShutdownGrace.String(), nil
	}
	return "", errors.New("producer: flag --" + name + " has no Config field in Args: add it to flagValue")
}

func defaultReplay() replay.Config {
	return replay.Config{Format: tweet.FormatAuto, Seed: DefaultSeed, Rate: DefaultRate, RewriteTimestamps: true}
}
