package replay

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/tweet"
)

type recordingSink struct {
	docs      []tweet.Document
	malformed []string
}

func (s *recordingSink) Emit(_ context.Context, d tweet.Document) error {
	s.docs = append(s.docs, d)
	return nil
}
func (s *recordingSink) Malformed(err error) {
	s.malformed = append(s.malformed, tweet.MalformedReason(err))
}

func ids(docs []tweet.Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.IDStr)
	}
	return out
}

const (
	canonicalLine = `{"id_str":"c1","created_at":"Wed Oct 10 20:19:24 +0000 2018","timestamp_ms":"1539202764000","text":"hi #a","lang":"en","user":{"id_str":"u","screen_name":"s","name":"n","followers_count":3},"entities":{"hashtags":[{"text":"a","indices":[3,5]}],"urls":[]},"source":"x"}`
	xv2Line       = `{"data":{"id":"x1","text":"#b","author_id":"9","created_at":"2021-01-06T18:40:40.000Z","lang":"en","entities":{"hashtags":[{"start":0,"end":2,"tag":"b"}]}},"includes":{"users":[{"id":"9","username":"nine","name":"Nine","public_metrics":{"followers_count":9}}]}}`
	v11Line       = `{"id":5,"id_str":"v1","created_at":"Thu Apr 06 15:24:15 +0000 2017","text":"old","user":{"id_str":"2","screen_name":"two","name":"Two","followers_count":2},"entities":{"hashtags":[],"urls":[]},"lang":"en","source":"<a href=\"x\">web</a>"}`
)

func writeFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "replay.ndjson")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayFile(t *testing.T) {
	mixed := []string{canonicalLine, "", xv2Line, `{"not json`, v11Line, "\xff\xfe", `{"delete":{"status":{"id_str":"1"}}}`, `{"data":{"id":"x2"}}`, `{"id_str":"` + strings.Repeat("z", tweet.MaxMessageBytes) + `"}`, canonicalLine}
	now := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		lines         []string
		cfg           Config
		wantIDs       []string
		wantMalformed []string
		wantTime      string // timestamp_ms of every document, if set
	}{
		{
			name:          "auto-detected formats, bad lines counted and skipped",
			lines:         mixed,
			cfg:           Config{Format: tweet.FormatAuto},
			wantIDs:       []string{"c1", "x1", "v1", "c1"},
			wantMalformed: []string{tweet.ReasonInvalidJSON, tweet.ReasonInvalidUTF8, tweet.ReasonMissingField, tweet.ReasonTooLarge},
		},
		{
			name:          "forced format rejects the others",
			lines:         []string{xv2Line, canonicalLine},
			cfg:           Config{Format: tweet.FormatXV2},
			wantIDs:       []string{"x1"},
			wantMalformed: []string{tweet.ReasonMissingField},
		},
		{
			name:    "loop with a count",
			lines:   []string{canonicalLine, xv2Line},
			cfg:     Config{Loop: true, Count: 5},
			wantIDs: []string{"c1", "x1", "c1", "x1", "c1"},
		},
		{
			name:     "timestamps rewritten to now",
			lines:    []string{canonicalLine, v11Line},
			cfg:      Config{RewriteTimestamps: true, Now: func() time.Time { return now }},
			wantIDs:  []string{"c1", "v1"},
			wantTime: "1795669200000",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.File = writeFile(t, tc.lines...)
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			sink := &recordingSink{}
			if err := s.Run(context.Background(), sink); err != nil {
				t.Fatal(err)
			}
			if got := ids(sink.docs); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Errorf("ids %v, want %v", got, tc.wantIDs)
			}
			if !reflect.DeepEqual(sink.malformed, tc.wantMalformed) {
				t.Errorf("malformed %v, want %v", sink.malformed, tc.wantMalformed)
			}
			for _, d := range sink.docs {
				if tc.wantTime != "" && (d.TimestampMS != tc.wantTime || d.CreatedAt != "Thu Nov 26 05:00:00 +0000 2026") {
					t.Errorf("time %s %s", d.TimestampMS, d.CreatedAt)
				}
			}
		})
	}
}

func TestReplayCanonicalExact(t *testing.T) {
	s, _ := New(Config{File: writeFile(t, canonicalLine)})
	sink := &recordingSink{}
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	b, _ := sink.docs[0].Marshal()
	if string(b) != canonicalLine {
		t.Errorf("canonical document changed:\n%s\n%s", b, canonicalLine)
	}
}

func TestLoopOverNothingFails(t *testing.T) {
	s, _ := New(Config{File: writeFile(t, `{"bad`), Loop: true})
	if err := s.Run(context.Background(), &recordingSink{}); err == nil {
		t.Fatal("looping over a file without documents must fail, not spin")
	}
}

func TestSyntheticMatchesGenerator(t *testing.T) {
	s, _ := New(Config{Seed: 11, Count: 300, Rate: 0})
	sink := &recordingSink{}
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	g := tweet.NewGenerator(11)
	for i, d := range sink.docs {
		want := g.Next(SyntheticEpoch.Add(time.Duration(i) * time.Millisecond))
		if !reflect.DeepEqual(d, want) {
			t.Fatalf("document %d differs from the generator:\n%+v\n%+v", i, d, want)
		}
	}
	if len(sink.docs) != 300 {
		t.Errorf("%d documents, want 300", len(sink.docs))
	}
}

func TestRateStopsOnCancel(t *testing.T) {
	s, _ := New(Config{Seed: 1, Rate: 0.001}) // one document per 1000 s
	sink := &recordingSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sink.docs) > 1 {
		t.Errorf("%d documents at 0.001/s", len(sink.docs))
	}
}
