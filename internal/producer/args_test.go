package producer

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/tweet"
)

// TestArgsRoundTrip: what the operator encodes is exactly what the producer
// decodes, for every source and for values at their edges.
func TestArgsRoundTrip(t *testing.T) {
	with := func(mut func(*Config)) Config {
		c := Defaults()
		mut(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		// wantArgs: the encoding is exactly these, in flag-name order (nil: not checked).
		wantArgs []string
	}{
		{name: "defaults encode to nothing", cfg: Defaults(), wantArgs: []string{}},
		{name: "synthetic replay", cfg: with(func(c *Config) {
			c.Stream, c.Listen = "streamdash-team-demo", "$(POD_IP):8081"
			c.Replay.Seed, c.Replay.Rate, c.Replay.Count = 42, 50, 500
		}), wantArgs: []string{"--count=500", "--listen=$(POD_IP):8081", "--rate=50", "--stream=streamdash-team-demo", "--synthetic-seed=42"}},
		{name: "file replay, looped, own timestamps", cfg: with(func(c *Config) {
			c.Stream = "s"
			c.Replay.File, c.Replay.Format, c.Replay.Loop, c.Replay.RewriteTimestamps = "/etc/streamdash/replay/t.ndjson", tweet.FormatV11, true, false
			c.Replay.Rate = 0.5
		})},
		{name: "x with rules and a tag prefix", cfg: with(func(c *Config) {
			c.Stream, c.Source, c.XEndpoint = "s", SourceX, "http://127.0.0.1:9999"
			c.XRules = []xstream.Rule{{Value: "music has:hashtags", Tag: "music"}, {Value: `"quoted, text" -is:retweet`}, {Value: "ünïcode #tag", Tag: "a=b"}}
			c.RulesTagPrefix = RulesTagPrefix("team", "demo")
		})},
		{name: "bluesky with filters", cfg: with(func(c *Config) {
			c.Stream, c.Source, c.JetstreamURL = "s", SourceBluesky, "ws://127.0.0.1:1/subscribe"
			c.BlueskyLangs, c.BlueskyKeywords = []string{"en", "fr"}, []string{"music", "k-pop"}
		})},
		{name: "writer settings", cfg: with(func(c *Config) {
			c.Stream, c.BatchSize, c.FlushInterval, c.ShutdownGrace, c.ExitWhenDone = "s", 1, time.Millisecond, time.Minute+time.Second, true
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, err := tc.cfg.Args()
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantArgs != nil && !reflect.DeepEqual(args, tc.wantArgs) && !(len(args) == 0 && len(tc.wantArgs) == 0) {
				t.Errorf("Args() = %q, want %q", args, tc.wantArgs)
			}
			got, err := ParseArgs(args, io.Discard)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", args, err)
			}
			if !reflect.DeepEqual(got, tc.cfg) {
				t.Errorf("round trip changed the config:\n got  %+v\n want %+v\n args %q", got, tc.cfg, args)
			}
		})
	}
}

func TestParseArgsRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: "no-such-flag"},
		{name: "bad format", args: []string{"--replay-format=xml"}, want: "--replay-format"},
		{name: "rules not JSON", args: []string{"--x-rules=music"}, want: "--x-rules"},
		{name: "rule with empty value", args: []string{`--x-rules=[{"value":" "}]`}, want: "empty value"},
		{name: "stray argument", args: []string{"--stream=s", "extra"}, want: "unexpected arguments"},
		{name: "bad number", args: []string{"--rate=fast"}, want: "rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseArgs(%q) = %v, want an error about %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestArgsRefusesListItemsThatCannotTravel(t *testing.T) {
	c := Defaults()
	c.BlueskyKeywords = []string{"a,b"}
	if _, err := c.Args(); err == nil {
		t.Error("Args() accepted a keyword holding a comma, which would come back as two")
	}
}

func TestRulesTagPrefixIsPerPipeline(t *testing.T) {
	a, b := RulesTagPrefix("team", "demo"), RulesTagPrefix("team", "demo2")
	if strings.HasPrefix(b, a) || strings.HasPrefix(a, b) {
		t.Errorf("prefixes %q and %q overlap: one pipeline would delete the other's rules", a, b)
	}
	if RulesTagPrefix("a", "b-c") == RulesTagPrefix("a-b", "c") {
		t.Error("different pipelines share a prefix")
	}
}
