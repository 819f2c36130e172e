package xstream

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
		s.t.Fatalf("stream reader emitted an invalid document: %v", err)
	}
	return nil
}
func (s checkingSink) Malformed(error) {}
func (s checkingSink) Reconnected()    {}

// FuzzStreamBody feeds arbitrary bytes to the line framing and message
// handling of one stream connection: it must never panic and only emit
// valid documents.
func FuzzStreamBody(f *testing.F) {
	samples, err := os.ReadFile("../../tweet/testdata/xv2.ndjson")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.ReplaceAll(samples, []byte("\n"), []byte("\r\n\r\n")))
	f.Add([]byte("\r\n\r\n{\"errors\":[{\"title\":\"operational-disconnect\",\"disconnect_type\":\"UpstreamOperationalDisconnect\"}]}\r\n"))
	f.Add([]byte("{\"data\":{\"id\":\"1\""))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := New(Config{BearerToken: "t"})
		if err != nil {
			t.Fatal(err)
		}
		c.read(context.Background(), bufio.NewReaderSize(bytes.NewReader(body), 4096), checkingSink{t})
	})
}
