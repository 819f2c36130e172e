package analytics_test

import (
	"context"
	"testing"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestEvents: commons._events records collection and integration changes
// with Rockset's field names, is queryable like any collection, survives a
// restart, and cannot be written or dropped by clients.
func TestEvents(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, analytics.Config{DataDir: dir})
	ctx := context.Background()
	rc := ts.rc
	if _, err := rc.CreateCollection(ctx, "commons", "audited"); err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteCollection(ctx, "commons", "audited"); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateKinesisIntegration(ctx, "audited-int", option.AWSRole("arn:aws:iam::000000000000:role/x")); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT label, kind, type, user_email FROM commons._events
		WHERE _events.kind IN ('COLLECTION', 'INTEGRATION') ORDER BY _event_time, label`
	res, err := rc.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"COLLECTION_CREATED", "COLLECTION_DROPPED", "INTEGRATION_CREATED"}
	if len(res.Results) != len(want) {
		t.Fatalf("events %+v, want %v", res.Results, want)
	}
	for i, w := range want {
		r := res.Results[i]
		if r["label"] != w || r["type"] != "INFO" || r["user_email"] == nil {
			t.Errorf("event %d: %+v, want %s", i, r, w)
		}
	}
	coll, err := rc.Query(ctx, `SELECT e.collections[1] AS c FROM commons._events e WHERE label = 'COLLECTION_DROPPED'`)
	if err != nil || len(coll.Results) != 1 || coll.Results[0]["c"] != "commons.audited" {
		t.Fatalf("collections field: %+v %v", coll.Results, err)
	}

	if _, err := rc.AddDocuments(ctx, "commons", "_events", []any{map[string]any{"label": "FORGED"}}); err == nil {
		t.Error("a client wrote into _events")
	}
	if err := rc.DeleteCollection(ctx, "commons", "_events"); err == nil {
		t.Error("a client dropped _events")
	}

	ts.stop()
	ts = startServer(t, analytics.Config{DataDir: dir})
	res, err = ts.rc.Query(ctx, q)
	if err != nil || len(res.Results) != len(want) {
		t.Fatalf("after a restart: %+v %v", res.Results, err)
	}
}
