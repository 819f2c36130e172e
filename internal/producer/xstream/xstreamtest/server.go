// Package xstreamtest is a local server that speaks the X API v2
// filtered-stream wire format (rules endpoints, keep-alives, scripted
// disconnects, 429s with rate-limit headers, problem messages), for tests of
// anything that reads the stream.
package xstreamtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/streamdash/streamdash/internal/producer/xstream"
	"time"
)

// Script is what the server does on one stream connection.
type Script func(w http.ResponseWriter, r *http.Request)

// Server speaks the filtered-stream wire format: rules endpoints with X's
// answers (summaries, DuplicateRule, invalid rules), and a stream endpoint
// whose successive connections follow Scripts (then Lines(nil, "hang")).
type Server struct {
	token string

	mu sync.Mutex
	// Rules are the account's rules.
	Rules []xstream.PresentRule
	// Scripts are played one per stream connection.
	Scripts  []Script
	nextID   int
	conns    int
	queries  []string
	rulePOST int
}

// Start serves until the test ends. Keep-alives are off so that each
// request has its own connection: Go's transport silently retries a GET
// whose reused connection is hung up, which would hide scripted errors.
func Start(t testing.TB, token string, scripts ...Script) (*Server, *httptest.Server) {
	f := &Server{token: token, nextID: 1000, Scripts: scripts}
	srv := httptest.NewUnstartedServer(f)
	// One request per connection: Go's transport silently retries a GET
	// whose reused connection is hung up, which would hide scripted
	// network errors.
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"title":%q,"detail":%q,"type":"about:blank","status":%d}`, title, detail, status)
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-rate-limit-limit", "50")
	w.Header().Set("x-rate-limit-remaining", "49")
	w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(15*time.Minute).Unix(), 10))
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	switch r.URL.Path {
	case "/2/tweets/search/stream/rules":
		f.serveRules(w, r)
	case "/2/tweets/search/stream":
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		i := f.conns
		f.conns++
		var script Script
		if i < len(f.Scripts) {
			script = f.Scripts[i]
		}
		f.mu.Unlock()
		if script == nil {
			script = Lines(nil, "hang")
		}
		script(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *Server) serveRules(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	sent := time.Now().UTC().Format(time.RFC3339Nano)
	if r.Method == http.MethodGet {
		resp := map[string]any{"meta": map[string]any{"sent": sent, "result_count": len(f.Rules)}}
		if len(f.Rules) > 0 {
			resp["data"] = f.Rules
		}
		json.NewEncoder(w).Encode(resp)
		return
	}
	f.rulePOST++
	var body struct {
		Add    []xstream.Rule `json:"add"`
		Delete *struct {
			IDs []string `json:"ids"`
		} `json:"delete"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, "Invalid Request", "body is not JSON")
		return
	}
	if body.Delete != nil {
		deleted, notDeleted := 0, 0
		for _, id := range body.Delete.IDs {
			found := false
			for i, p := range f.Rules {
				if p.ID == id {
					f.Rules = append(f.Rules[:i], f.Rules[i+1:]...)
					found = true
					break
				}
			}
			if found {
				deleted++
			} else {
				notDeleted++
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"meta": map[string]any{"sent": sent, "summary": map[string]int{"deleted": deleted, "not_deleted": notDeleted}}})
		return
	}
	var data []xstream.PresentRule
	var errs []map[string]any
	created, notCreated, invalid := 0, 0, 0
	for _, a := range body.Add {
		if strings.Contains(a.Value, "INVALID(") {
			invalid++
			errs = append(errs, map[string]any{"value": a.Value, "details": []string{"Reference to invalid operator 'INVALID'."}, "title": "UnprocessableEntity", "detail": "Reference to invalid operator", "type": "https://api.twitter.com/2/problems/invalid-rules"})
			continue
		}
		dup := ""
		for _, p := range f.Rules {
			if p.Value == a.Value {
				dup = p.ID
			}
		}
		if dup != "" {
			notCreated++
			errs = append(errs, map[string]any{"value": a.Value, "id": dup, "title": "DuplicateRule", "type": "https://api.twitter.com/2/problems/duplicate-rules"})
			continue
		}
		f.nextID++
		p := xstream.PresentRule{ID: strconv.Itoa(f.nextID), Value: a.Value, Tag: a.Tag}
		f.Rules = append(f.Rules, p)
		data = append(data, p)
		created++
	}
	resp := map[string]any{"meta": map[string]any{"sent": sent, "summary": map[string]int{"created": created, "not_created": notCreated, "valid": created + notCreated, "invalid": invalid}}}
	if data != nil {
		resp["data"] = data
	}
	if errs != nil {
		resp["errors"] = errs
	}
	json.NewEncoder(w).Encode(resp)
}

// Hangup accepts the request and closes the TCP connection without an
// answer: a network error for the client.
func Hangup(w http.ResponseWriter, r *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		c.Close()
	}
}

// Status answers code with headers and body.
func Status(code int, headers map[string]string, body string) Script {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// Lines answers 200 and writes lines, each followed by \r\n and a
// keep-alive, then: "close" ends the response, "hang" sends keep-alives
// every 20 ms until the client leaves, "silent" sends nothing until the
// client leaves.
func Lines(lines []string, then string) Script {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		bw := bufio.NewWriter(w)
		fl := w.(http.Flusher)
		for _, l := range lines {
			bw.WriteString(l + "\r\n\r\n")
			bw.Flush()
			fl.Flush()
		}
		switch then {
		case "close":
			return
		case "hang":
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
					bw.WriteString("\r\n")
					bw.Flush()
					fl.Flush()
				}
			}
		case "silent":
			<-r.Context().Done()
		}
	}
}

// Post renders a v2 stream message with id n, author u<n%7> and the given hashtags.
func Post(n int, tags ...string) string {
	var hs []string
	text := fmt.Sprintf("post %d", n)
	for _, t := range tags {
		start := len([]rune(text)) + 1
		text += " #" + t
		hs = append(hs, fmt.Sprintf(`{"start":%d,"end":%d,"tag":%q}`, start, start+1+len([]rune(t)), t))
	}
	return fmt.Sprintf(`{"data":{"id":"%d","text":%q,"author_id":"u%d","created_at":"2026-11-26T04:00:%02d.000Z","lang":"en","entities":{"hashtags":[%s]}},"includes":{"users":[{"id":"u%d","username":"user%d","name":"User %d","public_metrics":{"followers_count":%d,"following_count":1,"tweet_count":2,"listed_count":0}}]},"matching_rules":[{"id":"1001","tag":"sd-a/music"}]}`,
		n, text, n%7, n%60, strings.Join(hs, ","), n%7, n%7, n%7, n*10)
}

// OperationalDisconnect is X's notice that it is closing the stream.
const OperationalDisconnect = `{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}`

// Connections is how many stream connections were made.
func (f *Server) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// Queries are the query strings of the stream connections.
func (f *Server) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// RulePOSTs is how many rule changes were posted.
func (f *Server) RulePOSTs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rulePOST
}

// SetRules replaces the account's rules (another application's, say).
func (f *Server) SetRules(rules []xstream.PresentRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Rules = append([]xstream.PresentRule(nil), rules...)
}

// PresentRules returns a copy of the account's rules.
func (f *Server) PresentRules() []xstream.PresentRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]xstream.PresentRule(nil), f.Rules...)
}
