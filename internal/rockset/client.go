// Package rockset is streamdash's seam to a Rockset-API server: the bundled
// analytics server or any endpoint that speaks the same REST API. Everything
// goes through github.com/rockset/rockset-go-client; this package only builds
// the client, because the stock constructor insists on HTTPS.
package rockset

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	rs "github.com/rockset/rockset-go-client"
)

// NewClient returns a rockset-go-client for apiServer, which may be a bare
// host[:port] (HTTPS, as the stock client assumes), an https:// URL or an
// http:// URL. httpClient may be nil.
//
// rockset.NewClient keeps only the host and always speaks HTTPS. The bundled
// analytics server often runs on plain HTTP (on a laptop, or behind a
// cluster-internal Service), so for http:// the client is built as usual and
// its transport sends the requests for that one host over plain HTTP. Every
// call, Ping included, then behaves exactly as the stock client's.
func NewClient(apiServer, apiKey string, httpClient *http.Client) (*rs.RockClient, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("rockset: no API key")
	}
	scheme, host, err := splitServer(apiServer)
	if err != nil {
		return nil, err
	}
	var hc http.Client
	if httpClient != nil {
		hc = *httpClient
	} else {
		hc.Timeout = 30 * time.Second
	}
	if scheme == "http" {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = plainHTTP{host: host, base: base}
	}
	return rs.NewClient(rs.WithAPIServer("https://"+host), rs.WithAPIKey(apiKey), rs.WithHTTPClient(&hc))
}

// plainHTTP sends requests for host over http instead of https.
type plainHTTP struct {
	host string
	base http.RoundTripper
}

func (p plainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && req.URL.Host == p.host {
		req = req.Clone(req.Context())
		req.URL.Scheme = "http"
	}
	return p.base.RoundTrip(req)
}

func splitServer(apiServer string) (scheme, host string, err error) {
	s := strings.TrimSpace(apiServer)
	if s == "" {
		return "", "", fmt.Errorf("rockset: no API server")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("rockset: API server %q: %w", apiServer, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", fmt.Errorf("rockset: API server %q: want host, http://host or https://host", apiServer)
	}
	return u.Scheme, u.Host, nil
}
