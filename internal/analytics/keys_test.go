package analytics_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestKeyLimitedToOneCollection: a key whose role may only query
// commons.mine queries it and nothing else, changes nothing, is stored
// hashed, and stops working when suspended or deleted.
func TestKeyLimitedToOneCollection(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, analytics.Config{DataDir: dir})
	ctx := context.Background()
	admin := ts.rc
	for _, c := range []string{"mine", "other"} {
		if _, err := admin.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
		addDocs(t, admin, "commons", c, map[string]any{"x": 1})
	}
	if _, err := admin.CreateRole(ctx, "dash-mine", option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAPIKey(ctx, "dash", option.WithRole("dash-mine"))
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Key) < 32 {
		t.Fatalf("created key %q is too short", key.Key)
	}
	got, err := admin.GetAPIKey(ctx, "dash")
	if err != nil || len(got.Key) != 6 || !strings.HasSuffix(key.Key, got.Key) {
		t.Fatalf("stored key shows %q, %v", got.Key, err)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(meta), key.Key) {
		t.Fatal("the key is stored in plain text")
	}

	if _, err := admin.CreateAPIKey(ctx, "other", option.WithRole("admin")); err != nil {
		t.Fatal(err)
	}
	dash := client(t, ts.url, key.Key)
	if keys, err := dash.ListAPIKeys(ctx); err != nil || len(keys) != 1 || keys[0].Name != "dash" {
		t.Errorf("a limited key lists %+v, %v", keys, err)
	}
	if n := queryCount(t, dash, "SELECT COUNT(*) AS n FROM commons.mine"); n != 1 {
		t.Fatalf("own collection: %d", n)
	}
	denied := map[string]error{}
	_, denied["query another collection"] = dash.Query(ctx, "SELECT * FROM commons.other")
	_, denied["join another collection"] = dash.Query(ctx, "SELECT * FROM commons.mine m JOIN commons.other o ON true")
	_, denied["write"] = dash.AddDocuments(ctx, "commons", "mine", []any{map[string]any{"x": 2}})
	_, denied["create a collection"] = dash.CreateCollection(ctx, "commons", "new")
	denied["delete a collection"] = dash.DeleteCollection(ctx, "commons", "mine")
	_, denied["create an admin key"] = dash.CreateAPIKey(ctx, "escalate", option.WithRole("admin"))
	_, denied["create a role"] = dash.CreateRole(ctx, "r2")
	_, denied["read its owner's other keys"] = dash.GetAPIKey(ctx, "other")
	denied["delete its owner's other keys"] = dash.DeleteAPIKey(ctx, "other")
	for what, err := range denied {
		if err == nil {
			t.Errorf("%s: allowed", what)
		}
	}

	if _, err := admin.UpdateAPIKey(ctx, "dash", option.State(option.KeySuspended)); err != nil {
		t.Fatal(err)
	}
	if _, err := dash.Query(ctx, "SELECT * FROM commons.mine"); err == nil {
		t.Fatal("a suspended key works")
	}
	if _, err := admin.UpdateAPIKey(ctx, "dash", option.State(option.KeyActive)); err != nil {
		t.Fatal(err)
	}
	queryCount(t, dash, "SELECT COUNT(*) AS n FROM commons.mine")
	if err := admin.DeleteAPIKey(ctx, "dash"); err != nil {
		t.Fatal(err)
	}
	if _, err := dash.Query(ctx, "SELECT * FROM commons.mine"); err == nil {
		t.Fatal("a deleted key works")
	}
	if err := admin.DeleteRole(ctx, "dash-mine"); err != nil {
		t.Fatal(err)
	}
}
