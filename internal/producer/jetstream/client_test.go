package jetstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamdash/streamdash/internal/producer/jetstream/jetstreamtest"
	"github.com/streamdash/streamdash/internal/tweet"
)

type recordingSink struct {
	mu         sync.Mutex
	docs       []tweet.Document
	malformed  []string
	reconnects int
}

func (s *recordingSink) Emit(_ context.Context, d tweet.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs = append(s.docs, d)
	return nil
}
func (s *recordingSink) Malformed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed = append(s.malformed, tweet.MalformedReason(err))
}
func (s *recordingSink) Reconnected() { s.mu.Lock(); s.reconnects++; s.mu.Unlock() }
func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.docs {
		out = append(out, d.IDStr)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantIDs(evs []jetstreamtest.Event, keep func(i int) bool) []string {
	var out []string
	n := 0
	for _, e := range evs {
		if e.PostID != "" {
			if keep == nil || keep(n) {
				out = append(out, e.PostID)
			}
			n++
		}
	}
	return out
}

func TestResumeFromCursorWithoutLossOrDuplicates(t *testing.T) {
	evs := jetstreamtest.Log(30)
	f := &jetstreamtest.Server{Events: evs, Cuts: []int{11, 7, 0}}
	c, err := New(Config{URL: jetstreamtest.Start(t, f), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	want := wantIDs(evs, nil)
	waitFor(t, "every post", func() bool { return len(sink.ids()) >= len(want) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sink.ids(); !reflect.DeepEqual(got, want) {
		t.Errorf("posts\n%v\nwant\n%v", got, want)
	}
	cursors := f.Cursors()
	// Connection 1 ends after event 10 (index 10 in the log: post 9 or 10
	// share its time_us); connection 2 resumes at that time_us; connection
	// 3 sent nothing, so connection 4 resumes where 2 stopped.
	if cursors[0] != "" || cursors[1] != strconv.FormatInt(evs[10].TimeUS, 10) || cursors[2] != cursors[3] {
		t.Errorf("cursors %v", cursors)
	}
	for _, q := range f.Queries() {
		if q != tweet.BlueskyPostCollection {
			t.Errorf("wantedCollections %q", q)
		}
	}
	if !reflect.DeepEqual(sink.malformed, []string{tweet.ReasonInvalidJSON}) {
		t.Errorf("malformed %v", sink.malformed)
	}
	if sink.reconnects != 3 {
		t.Errorf("reconnects %d, want 3", sink.reconnects)
	}
	if c.Cursor() != evs[len(evs)-1].TimeUS {
		t.Errorf("cursor %d, want %d", c.Cursor(), evs[len(evs)-1].TimeUS)
	}
}

func TestFilters(t *testing.T) {
	evs := jetstreamtest.Log(30)
	tests := []struct {
		name     string
		langs    []string
		keywords []string
		keep     func(i int) bool // by post number
	}{
		{name: "language", langs: []string{"ja"}, keep: func(i int) bool { return i%3 == 0 }},
		{name: "keyword in hashtag, any case", keywords: []string{"#TAG1"}, keep: func(i int) bool { return i%4 == 1 }},
		{name: "keyword in text", keywords: []string{"post 2"}, keep: func(i int) bool { return i == 2 || (i >= 20 && i < 30) }},
		{name: "both", langs: []string{"en"}, keywords: []string{"tag2", "tag3"}, keep: func(i int) bool { return i%3 != 0 && i%4 >= 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := New(Config{URL: jetstreamtest.Start(t, &jetstreamtest.Server{Events: evs}), Langs: tc.langs, Keywords: tc.keywords})
			ctx, cancel := context.WithCancel(context.Background())
			sink := &recordingSink{}
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx, sink) }()
			waitFor(t, "the whole log", func() bool { return c.Cursor() == evs[len(evs)-1].TimeUS })
			cancel()
			<-done
			if got, want := sink.ids(), wantIDs(evs, tc.keep); !reflect.DeepEqual(got, want) {
				t.Errorf("posts %v\nwant %v", got, want)
			}
		})
	}
}

func TestOversizedAndBinaryMessagesSkipped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte(jetstreamtest.PostEvent(1, "did:plc:a", "1", "one", "en").Raw))
		c.Write(ctx, websocket.MessageText, []byte(`{"did":"did:plc:a","time_us":2,"pad":"`+strings.Repeat("x", tweet.MaxMessageBytes)+`"}`))
		c.Write(ctx, websocket.MessageBinary, []byte{0x28, 0xb5, 0x2f, 0xfd})
		c.Write(ctx, websocket.MessageText, []byte(jetstreamtest.PostEvent(3, "did:plc:a", "3", "three", "en").Raw))
		<-ctx.Done()
	}))
	defer srv.Close()
	c, _ := New(Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http")})
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recordingSink{}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	waitFor(t, "post 3", func() bool { return len(sink.ids()) == 2 })
	cancel()
	<-done
	if want := []string{tweet.ReasonTooLarge, tweet.ReasonBadValue}; !reflect.DeepEqual(sink.malformed, want) {
		t.Errorf("malformed %v, want %v", sink.malformed, want)
	}
	if c.Connections() != 1 {
		t.Errorf("an oversized message must not cost the connection: %d connections", c.Connections())
	}
}
