// Package analyticsserver runs the project's own analytics server inside a
// test, so tests against the Rockset API use the real server rather than a
// mock, and every one of them starts and stops it the same way.
package analyticsserver

import (
	"context"
	"testing"

	"github.com/streamdash/streamdash/internal/analytics"
)

// Start runs an analytics server with cfg (on a free loopback port unless
// cfg.Listen says otherwise) until the test ends, and returns its endpoint:
// https when cfg carries a TLS certificate. A server that stops with an
// error fails the test.
func Start(t testing.TB, cfg analytics.Config) string {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := analytics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("analytics server: %v", err)
		}
	})
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	return scheme + addr.String()
}
