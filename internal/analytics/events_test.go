package analytics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"
	testingclock "k8s.io/utils/clock/testing"

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

// TestIngestEvents: a source going into ERROR and records skipped as
// malformed appear in commons._events with Rockset's labels and fields
// (INGEST_ERROR, INGEST_WARNING; kind INGEST; collections; details), and a
// flood of bad records makes one warning per minute that counts them all.
func TestIngestEvents(t *testing.T) {
	e := emulator(t)
	clock := testingclock.NewFakeClock(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	ts := startServer(t, analytics.Config{Clock: clock})
	ctx := context.Background()
	rc := ts.rc

	// A stream that does not exist yet: the source goes into ERROR.
	setupTweets(t, rc, e.Region, "late", "events-late", "EARLIEST")
	var errRows []map[string]any
	waitFor(t, 30*time.Second, "an INGEST_ERROR event", func() (bool, error) {
		res, err := rc.Query(ctx, `SELECT kind, type, collections, details.message AS message FROM commons._events WHERE label = 'INGEST_ERROR'`)
		if err != nil {
			return false, err
		}
		errRows = res.Results
		return len(errRows) > 0, nil
	})
	r := errRows[0]
	if r["kind"] != "INGEST" || r["type"] != "ERROR" || fmt.Sprint(r["collections"]) != "[commons.late]" || !strings.Contains(fmt.Sprint(r["message"]), "events-late") {
		t.Fatalf("INGEST_ERROR event: %+v", r)
	}

	// Bad records among good ones.
	createStream(t, e, "events-bad", 1)
	setupTweets(t, rc, e.Region, "bad", "events-bad", "EARLIEST")
	good := 0
	putBad := func(n int) {
		var data [][]byte
		for i := range n {
			data = append(data, []byte(fmt.Sprintf("not json %d", i)))
		}
		good++
		data = append(data, []byte(fmt.Sprintf(`{"n": %d, "timestamp_ms": "1764496800000"}`, good)))
		putRecords(t, e.Client(), "events-bad", data)
		// The good record comes after the bad ones in the shard: once it
		// is queryable, every bad one has been skipped.
		waitFor(t, 30*time.Second, "the good record", func() (bool, error) {
			res, err := rc.Query(ctx, `SELECT COUNT(*) AS n FROM commons.bad`)
			return err == nil && len(res.Results) == 1 && res.Results[0]["n"] == float64(good), err
		})
	}
	warnings := func() (events int, skipped float64, last map[string]any) {
		res, err := rc.Query(ctx, `SELECT kind, type, collections, details FROM commons._events WHERE label = 'INGEST_WARNING' ORDER BY _event_time`)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range res.Results {
			d, _ := row["details"].(map[string]any)
			n, _ := d["malformed_records"].(float64)
			skipped += n
			last = row
		}
		return len(res.Results), skipped, last
	}

	putBad(20)
	n, first, last := warnings()
	if n != 1 || first < 1 || first > 20 {
		t.Fatalf("after 20 bad records: %d warnings for %v records, want 1", n, first)
	}
	d, _ := last["details"].(map[string]any)
	if last["kind"] != "INGEST" || last["type"] != "WARNING" || fmt.Sprint(last["collections"]) != "[commons.bad]" ||
		!strings.Contains(fmt.Sprint(d["message"]), "skipped as malformed") || d["last_reason"] == "" {
		t.Fatalf("INGEST_WARNING event: %+v", last)
	}

	// Within the minute, more bad records are counted, not reported.
	putBad(40)
	if n, skipped, _ := warnings(); n != 1 || skipped != first {
		t.Fatalf("within the minute: %d warnings for %v records, want 1 for %v", n, skipped, first)
	}
	// A minute on, the held-back ones are reported together.
	clock.Step(time.Minute) // ingestEventEvery
	waitFor(t, 10*time.Second, "the held-back count", func() (bool, error) {
		_, skipped, _ := warnings()
		return skipped == 60, nil
	})
	if n, _, _ := warnings(); n != 2 {
		t.Fatalf("%d warnings for 60 records, want 2", n)
	}
}

// TestIngestEventsEndWithCollection: deleting a collection stops and drops
// its ingest-event pacer, so the server keeps none per deleted collection
// and a warning it held (records skipped within the minute) is never
// written about a collection that no longer exists.
func TestIngestEventsEndWithCollection(t *testing.T) {
	e := emulator(t)
	clock := testingclock.NewFakeClock(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	ts := startServer(t, analytics.Config{Clock: clock})
	ctx := context.Background()
	rc := ts.rc

	createStream(t, e, "events-gone", 1)
	setupTweets(t, rc, e.Region, "gone", "events-gone", "EARLIEST")
	for round := 1; round <= 2; round++ {
		// Bad records then a good one: once the good one is queryable,
		// every bad one has been skipped. The first round is reported at
		// once, the second is held for the rest of the minute.
		putRecords(t, e.Client(), "events-gone", [][]byte{[]byte("not json"), []byte(fmt.Sprintf(`{"n": %d, "timestamp_ms": "1764496800000"}`, round))})
		waitFor(t, 30*time.Second, "the good record", func() (bool, error) {
			res, err := rc.Query(ctx, `SELECT COUNT(*) AS n FROM commons.gone`)
			return err == nil && len(res.Results) == 1 && res.Results[0]["n"] == float64(round), err
		})
	}
	watch := analytics.WatchIngestEvents(ts.srv, "commons", "gone")
	if held, stopped := watch(); !held || stopped {
		t.Fatalf("before the deletion: pacer held %v, stopped %v; want held and running", held, stopped)
	}
	if err := rc.DeleteCollection(ctx, "commons", "gone"); err != nil {
		t.Fatal(err)
	}
	if held, stopped := watch(); held || !stopped {
		t.Fatalf("after the deletion: pacer held %v, stopped %v; want dropped and stopped", held, stopped)
	}
}
