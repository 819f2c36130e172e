// Package rockset is streamdash's seam to a Rockset-API server: the bundled
// analytics server or any endpoint that speaks the same REST API. Everything
// goes through github.com/rockset/rockset-go-client; this package only builds
// the client (the stock constructor insists on HTTPS) and names the few
// operations the controllers need, so tests and callers depend on an interface.
package rockset

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/openapi"
)

// NewClient returns a rockset-go-client for apiServer, which may be a bare
// host (HTTPS, as the stock client assumes), an https:// URL or an http:// URL.
//
// rockset.NewClient drops the scheme and always speaks HTTPS. The bundled
// analytics server often runs on plain HTTP (on a laptop, or behind a
// cluster-internal Service), so for http:// the generated API client is
// configured directly and handed over with WithAPIClient; the wrappers and the
// retrier behave the same either way. httpClient may be nil.
func NewClient(apiServer, apiKey string, httpClient *http.Client) (*rs.RockClient, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("rockset: no API key")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	scheme, host, err := splitServer(apiServer)
	if err != nil {
		return nil, err
	}
	if scheme == "https" {
		return rs.NewClient(rs.WithAPIServer(host), rs.WithAPIKey(apiKey), rs.WithHTTPClient(httpClient))
	}
	cfg := openapi.NewConfiguration()
	cfg.Scheme = scheme
	cfg.Host = host
	cfg.HTTPClient = httpClient
	cfg.UserAgent = rs.DefaultUserAgent
	cfg.AddDefaultHeader(rs.HeaderVersionName, rs.Version)
	cfg.AddDefaultHeader("Authorization", "ApiKey "+apiKey)
	return rs.NewClient(rs.WithAPIClient(openapi.NewAPIClient(cfg)))
}

func splitServer(apiServer string) (scheme, host string, err error) {
	s := strings.TrimSpace(apiServer)
	if s == "" {
		return "", "", fmt.Errorf("rockset: no API server")
	}
	if !strings.Contains(s, "://") {
		return "https", strings.TrimSuffix(s, "/"), nil
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
