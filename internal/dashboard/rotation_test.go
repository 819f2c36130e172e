package dashboard_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/dashboard"
	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/rockset"
)

// TestAPIKeyRotation: the dashboard starts with a key the analytics server
// refuses (a Secret about to be rotated); once the mounted key file holds
// the server's key, the same browser event stream, never reconnected,
// starts carrying fresh panels.
func TestAPIKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Kinesis emulator and the analytics server")
	}
	f := panelstest.Start(t, "dash-rotate")
	docs := dataset(time.Now())
	f.Put(t, docs, len(docs))

	keyPath := filepath.Join(t.TempDir(), "apikey")
	if err := os.WriteFile(keyPath, []byte("revoked-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := dashboard.NewRotatingQuerier("revoked-key", func(key string) (panels.Querier, error) {
		return rockset.NewClient(f.Endpoint, key, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{Workspace: f.Workspace, Collection: f.Collection, Window: time.Hour, TopN: 8}, q, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go q.Follow(ctx, keyPath, 50*time.Millisecond, "revoked-key", slog.New(slog.DiscardHandler))

	var failed, rotated bool
	snapshots := 0
	err = sseClient(ctx, ts.URL+"/events/tweets", func(s wireSnapshot) bool {
		snapshots++
		if !failed {
			for _, p := range s.Panels {
				if p.Error != "" {
					failed = true
				}
			}
			if failed {
				// The refused key is visible to the viewer; now rotate it.
				if err := os.WriteFile(keyPath, []byte(f.APIKey+"\n"), 0o600); err != nil {
					t.Error(err)
					return false
				}
				rotated = true
			}
			return true
		}
		return !allFresh(s)
	})
	if err != nil {
		t.Fatalf("event stream after %d snapshots: %v", snapshots, err)
	}
	if !failed || !rotated {
		t.Fatalf("the refused key never showed as a panel error (%d snapshots)", snapshots)
	}
	if ctx.Err() != nil {
		t.Fatalf("no fresh snapshot on the same stream within 60s of rotating the key (%d snapshots)", snapshots)
	}
	t.Logf("fresh panels on the same event stream after the key rotated (%d snapshots)", snapshots)
}
