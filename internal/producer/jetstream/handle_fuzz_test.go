package jetstream

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/streamdash/streamdash/internal/tweet"
)

type checkingSink struct{ t *testing.T }

func (s checkingSink) Emit(_ context.Context, d tweet.Document) error {
	if err := d.Validate(); err != nil {
		s.t.Fatalf("emitted an invalid document: %v", err)
	}
	return nil
}
func (s checkingSink) Malformed(error) {}
func (s checkingSink) Reconnected()    {}

// FuzzHandle feeds arbitrary messages through cursor tracking, filters and
// conversion: never a panic, only valid documents, and a cursor that never
// goes back.
func FuzzHandle(f *testing.F) {
	b, err := os.ReadFile("../../tweet/testdata/jetstream.ndjson")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f.Add(append([]byte(nil), sc.Bytes()...))
	}
	f.Add([]byte(`{"did":"did:plc:x","time_us":5,"kind":"identity"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := New(Config{Keywords: []string{"hello", "#bluesky"}, Langs: []string{"en"}, Cursor: 1})
		if err != nil {
			t.Fatal(err)
		}
		before := c.Cursor()
		if err := c.handle(context.Background(), raw, checkingSink{t}); err != nil {
			t.Fatal(err)
		}
		if c.Cursor() < before {
			t.Fatalf("cursor went back from %d to %d", before, c.Cursor())
		}
	})
}
