package jetstream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// event is one message of the fake Jetstream's log.
type event struct {
	timeUS int64
	raw    string
	postID string // id_str of the document it yields, "" if none
}

func postEvent(timeUS int64, did, rkey, text, lang string, tags ...string) event {
	var facets []string
	for _, tg := range tags {
		i := strings.Index(text, "#"+tg)
		facets = append(facets, fmt.Sprintf(`{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":%q}]}`, i, i+1+len(tg), tg))
	}
	raw := fmt.Sprintf(`{"did":%q,"time_us":%d,"kind":"commit","commit":{"rev":"r%d","operation":"create","collection":"app.bsky.feed.post","rkey":%q,"record":{"$type":"app.bsky.feed.post","createdAt":"2026-11-26T04:00:00.000Z","langs":[%q],"text":%q,"facets":[%s]},"cid":"bafy%d"}}`,
		did, timeUS, timeUS, rkey, lang, text, strings.Join(facets, ","), timeUS)
	return event{timeUS: timeUS, raw: raw, postID: did + "/" + rkey}
}

// fakeJetstream serves an event log over WebSocket, honouring cursor
// (inclusive, as Jetstream does) and cutting connection i after cuts[i]
// events; the last connection stays open.
type fakeJetstream struct {
	events []event
	cuts   []int

	mu      sync.Mutex
	conns   int
	cursors []string
	queries []string
}

func (f *fakeJetstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/subscribe" {
		http.NotFound(w, r)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	f.mu.Lock()
	i := f.conns
	f.conns++
	f.cursors = append(f.cursors, r.URL.Query().Get("cursor"))
	f.queries = append(f.queries, r.URL.Query().Get("wantedCollections"))
	f.mu.Unlock()
	start := 0
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		n, _ := strconv.ParseInt(cur, 10, 64)
		for start < len(f.events) && f.events[start].timeUS < n {
			start++
		}
	}
	limit := len(f.events)
	if i < len(f.cuts) {
		limit = min(start+f.cuts[i], len(f.events))
	}
	for _, e := range f.events[start:limit] {
		if err := c.Write(r.Context(), websocket.MessageText, []byte(e.raw)); err != nil {
			return
		}
	}
	if i < len(f.cuts) {
		return // abrupt: no close frame
	}
	<-r.Context().Done()
}

func eventLog() []event {
	dids := []string{"did:plc:aaaa", "did:plc:bbbb", "did:plc:cccc"}
	var evs []event
	ts := int64(1764129600000000)
	for i := 0; i < 30; i++ {
		ts += 1000
		if i == 10 {
			ts -= 1000 // events 9 and 10 share a time_us, across the first cut
		}
		lang := "en"
		if i%3 == 0 {
			lang = "ja"
		}
		text := fmt.Sprintf("post %d é #tag%d", i, i%4)
		evs = append(evs, postEvent(ts, dids[i%3], fmt.Sprintf("rk%03d", i), text, lang, fmt.Sprintf("tag%d", i%4)))
		switch i {
		case 4:
			ts++
			evs = append(evs, event{timeUS: ts, raw: fmt.Sprintf(`{"did":"did:plc:aaaa","time_us":%d,"kind":"identity","identity":{"did":"did:plc:aaaa","handle":"a.bsky.social","seq":1,"time":"2026-11-26T04:00:00Z"}}`, ts)})
		case 14:
			ts++
			evs = append(evs, event{timeUS: ts, raw: fmt.Sprintf(`{"did":"did:plc:bbbb","time_us":%d,"kind":"commit","commit":{"rev":"x","operation":"delete","collection":"app.bsky.feed.post","rkey":"rk001"}}`, ts)})
		case 20:
			evs = append(evs, event{raw: `{"did":"did:plc:cccc","time_us":`}) // malformed
		}
	}
	return evs
}

func wantIDs(evs []event, keep func(i int) bool) []string {
	var out []string
	n := 0
	for _, e := range evs {
		if e.postID != "" {
			if keep == nil || keep(n) {
				out = append(out, e.postID)
			}
			n++
		}
	}
	return out
}

func TestResumeFromCursorWithoutLossOrDuplicates(t *testing.T) {
	evs := eventLog()
	f := &fakeJetstream{events: evs, cuts: []int{11, 7, 0}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/subscribe", MinBackoff: time.Millisecond})
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
	f.mu.Lock()
	defer f.mu.Unlock()
	// Connection 1 ends after event 10 (index 10 in the log: post 9 or 10
	// share its time_us); connection 2 resumes at that time_us; connection
	// 3 sent nothing, so connection 4 resumes where 2 stopped.
	if f.cursors[0] != "" || f.cursors[1] != strconv.FormatInt(evs[10].timeUS, 10) || f.cursors[2] != f.cursors[3] {
		t.Errorf("cursors %v", f.cursors)
	}
	for _, q := range f.queries {
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
	if c.Cursor() != evs[len(evs)-1].timeUS {
		t.Errorf("cursor %d, want %d", c.Cursor(), evs[len(evs)-1].timeUS)
	}
}

func TestFilters(t *testing.T) {
	evs := eventLog()
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
			f := &fakeJetstream{events: evs}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c, _ := New(Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/subscribe", Langs: tc.langs, Keywords: tc.keywords})
			ctx, cancel := context.WithCancel(context.Background())
			sink := &recordingSink{}
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx, sink) }()
			waitFor(t, "the whole log", func() bool { return c.Cursor() == evs[len(evs)-1].timeUS })
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
		c.Write(ctx, websocket.MessageText, []byte(postEvent(1, "did:plc:a", "1", "one", "en").raw))
		c.Write(ctx, websocket.MessageText, []byte(`{"did":"did:plc:a","time_us":2,"pad":"`+strings.Repeat("x", tweet.MaxMessageBytes)+`"}`))
		c.Write(ctx, websocket.MessageBinary, []byte{0x28, 0xb5, 0x2f, 0xfd})
		c.Write(ctx, websocket.MessageText, []byte(postEvent(3, "did:plc:a", "3", "three", "en").raw))
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
