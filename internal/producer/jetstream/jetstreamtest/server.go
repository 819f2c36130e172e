// Package jetstreamtest is a local Jetstream: it serves an event log over
// WebSocket in Jetstream's message format, honours wantedCollections'
// cursor (inclusive, as Jetstream does), and cuts connections on a script,
// for tests of anything that subscribes.
package jetstreamtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// Event is one message of the log.
type Event struct {
	TimeUS int64
	Raw    string
	PostID string // id_str of the document it yields, "" if none
}

// PostEvent renders a post create with tag facets for each tag (which must
// appear in text as #tag).
func PostEvent(timeUS int64, did, rkey, text, lang string, tags ...string) Event {
	var facets []string
	for _, tg := range tags {
		i := strings.Index(text, "#"+tg)
		facets = append(facets, fmt.Sprintf(`{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":%q}]}`, i, i+1+len(tg), tg))
	}
	raw := fmt.Sprintf(`{"did":%q,"time_us":%d,"kind":"commit","commit":{"rev":"r%d","operation":"create","collection":"app.bsky.feed.post","rkey":%q,"record":{"$type":"app.bsky.feed.post","createdAt":"2026-11-26T04:00:00.000Z","langs":[%q],"text":%q,"facets":[%s]},"cid":"bafy%d"}}`,
		did, timeUS, timeUS, rkey, lang, text, strings.Join(facets, ","), timeUS)
	return Event{TimeUS: timeUS, Raw: raw, PostID: did + "/" + rkey}
}

// Server serves Events at /subscribe. Connection i is cut (no close frame)
// after Cuts[i] events; connections past Cuts stay open after the log.
type Server struct {
	Events []Event
	Cuts   []int

	mu      sync.Mutex
	conns   int
	cursors []string
	queries []string
}

// Start serves s until the test ends and returns its ws:// subscribe URL.
func Start(t testing.TB, s *Server) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/subscribe"
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		for start < len(f.Events) && f.Events[start].TimeUS < n {
			start++
		}
	}
	limit := len(f.Events)
	if i < len(f.Cuts) {
		limit = min(start+f.Cuts[i], len(f.Events))
	}
	for _, e := range f.Events[start:limit] {
		if err := c.Write(r.Context(), websocket.MessageText, []byte(e.Raw)); err != nil {
			return
		}
	}
	if i < len(f.Cuts) {
		return
	}
	<-r.Context().Done()
}

// Cursors are the cursor parameters of the connections ("" for none).
func (f *Server) Cursors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cursors...)
}

// Queries are the wantedCollections parameters of the connections.
func (f *Server) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// Log builds a realistic event log of posts from three authors with
// identity and delete events, one malformed message, and two posts that
// share a time_us (events 10 and 11 in the log).
func Log(posts int) []Event {
	dids := []string{"did:plc:aaaa", "did:plc:bbbb", "did:plc:cccc"}
	var evs []Event
	ts := int64(1764129600000000)
	for i := 0; i < posts; i++ {
		ts += 1000
		if i == 10 {
			ts -= 1000
		}
		lang := "en"
		if i%3 == 0 {
			lang = "ja"
		}
		text := fmt.Sprintf("post %d é #tag%d", i, i%4)
		evs = append(evs, PostEvent(ts, dids[i%3], fmt.Sprintf("rk%03d", i), text, lang, fmt.Sprintf("tag%d", i%4)))
		switch i {
		case 4:
			ts++
			evs = append(evs, Event{TimeUS: ts, Raw: fmt.Sprintf(`{"did":"did:plc:aaaa","time_us":%d,"kind":"identity","identity":{"did":"did:plc:aaaa","handle":"a.bsky.social","seq":1,"time":"2026-11-26T04:00:00Z"}}`, ts)})
		case 14:
			ts++
			evs = append(evs, Event{TimeUS: ts, Raw: fmt.Sprintf(`{"did":"did:plc:bbbb","time_us":%d,"kind":"commit","commit":{"rev":"x","operation":"delete","collection":"app.bsky.feed.post","rkey":"rk001"}}`, ts)})
		case 20:
			evs = append(evs, Event{Raw: `{"did":"did:plc:cccc","time_us":`})
		}
	}
	return evs
}
