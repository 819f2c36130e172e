package xstream

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
	"time"
)

// fakeX speaks the filtered-stream wire format: rules endpoints with X's
// answers (summaries, DuplicateRule, invalid rules), and a stream endpoint
// whose successive connections follow a script.
type fakeX struct {
	t     *testing.T
	token string

	mu       sync.Mutex
	rules    []PresentRule
	nextID   int
	scripts  []func(w http.ResponseWriter, r *http.Request)
	conns    int
	queries  []string
	rulePOST int
}

func newFakeX(t *testing.T, token string) (*fakeX, *httptest.Server) {
	f := &fakeX{t: t, token: token, nextID: 1000}
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

func (f *fakeX) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		var script func(http.ResponseWriter, *http.Request)
		if i < len(f.scripts) {
			script = f.scripts[i]
		}
		f.mu.Unlock()
		if script == nil {
			script = streamLines(nil, "hang")
		}
		script(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeX) serveRules(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	sent := time.Now().UTC().Format(time.RFC3339Nano)
	if r.Method == http.MethodGet {
		resp := map[string]any{"meta": map[string]any{"sent": sent, "result_count": len(f.rules)}}
		if len(f.rules) > 0 {
			resp["data"] = f.rules
		}
		json.NewEncoder(w).Encode(resp)
		return
	}
	f.rulePOST++
	var body struct {
		Add    []Rule `json:"add"`
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
			for i, p := range f.rules {
				if p.ID == id {
					f.rules = append(f.rules[:i], f.rules[i+1:]...)
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
	var data []PresentRule
	var errs []map[string]any
	created, notCreated, invalid := 0, 0, 0
	for _, a := range body.Add {
		if strings.Contains(a.Value, "INVALID(") {
			invalid++
			errs = append(errs, map[string]any{"value": a.Value, "details": []string{"Reference to invalid operator 'INVALID'."}, "title": "UnprocessableEntity", "detail": "Reference to invalid operator", "type": "https://api.twitter.com/2/problems/invalid-rules"})
			continue
		}
		dup := ""
		for _, p := range f.rules {
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
		p := PresentRule{ID: strconv.Itoa(f.nextID), Value: a.Value, Tag: a.Tag}
		f.rules = append(f.rules, p)
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

// hangup accepts the request and closes the TCP connection without an
// answer: a network error for the client.
func hangup(w http.ResponseWriter, r *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		c.Close()
	}
}

func status(code int, headers map[string]string, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// streamLines answers 200 and writes lines, each followed by \r\n and a
// keep-alive, then: "close" ends the response, "hang" sends keep-alives
// every 20 ms until the client leaves, "silent" sends nothing until the
// client leaves.
func streamLines(lines []string, then string) func(http.ResponseWriter, *http.Request) {
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

// post renders a v2 stream message with id n.
func post(n int, tags ...string) string {
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

const operationalDisconnect = `{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}`
