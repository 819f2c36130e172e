package panelstest

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// FlakyProxy forwards to the analytics server at target, or, while down,
// drops every connection: a server that vanishes mid-run, for the
// failures a real server cannot be made to produce on demand.
type FlakyProxy struct {
	down  atomic.Bool
	proxy *httputil.ReverseProxy
}

// NewFlakyProxy returns a proxy to target that starts up.
func NewFlakyProxy(target *url.URL) *FlakyProxy {
	return &FlakyProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
}

// SetDown makes the proxy drop connections (true) or forward them (false).
func (p *FlakyProxy) SetDown(down bool) { p.down.Store(down) }

func (p *FlakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	p.proxy.ServeHTTP(w, r)
}
