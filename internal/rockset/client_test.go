package rockset

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A server that answers the two calls used here the way the Rockset API
// does, and records what it was sent.
type recorder struct {
	mu   sync.Mutex
	auth []string
}

func (r *recorder) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"message":"GO ROCKSET!"}`))
	})
	mux.HandleFunc("GET /v1/orgs/self", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"id":"self","display_name":"streamdash"}}`))
	})
	return mux
}

func TestNewClientSpeaksToPlainAndTLSServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(http.Handler) *httptest.Server
		// server turns the test server's URL into what a user would configure.
		server func(u string) string
	}{
		{"http URL", httptest.NewServer, func(u string) string { return u }},
		{"https URL with IP and port", httptest.NewTLSServer, func(u string) string { return u }},
		{"bare host:port means https", httptest.NewTLSServer, func(u string) string { return strings.TrimPrefix(u, "https://") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := tc.start(rec.handler())
			defer srv.Close()
			c, err := NewClient(tc.server(srv.URL), "k3y", srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			org, err := c.GetOrganization(ctx)
			if err != nil {
				t.Fatalf("GetOrganization: %v", err)
			}
			if org.GetDisplayName() != "streamdash" {
				t.Errorf("organization = %+v", org)
			}
			if len(rec.auth) != 1 || !strings.EqualFold(rec.auth[0], "apikey k3y") {
				t.Errorf("Authorization headers = %q, want one `ApiKey k3y`", rec.auth)
			}
		})
	}
}

func TestNewClientRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct{ server, key, want string }{
		{"", "k", "no API server"},
		{"http://h", "", "no API key"},
		{"ftp://h", "k", "want host, http://host or https://host"},
	} {
		if _, err := NewClient(tc.server, tc.key, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%q, %q) = %v, want an error containing %q", tc.server, tc.key, err, tc.want)
		}
	}
}
