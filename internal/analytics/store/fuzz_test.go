package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/hostile"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

// FuzzIngest feeds arbitrary bytes through the ingest path, each record
// between two good documents: the write must succeed, every record must be
// either stored or counted as malformed, the counters must add up, and the
// documents after it must be stored.
func FuzzIngest(f *testing.F) {
	for _, tc := range hostile.Records {
		f.Add([]byte(tc.Doc))
	}
	f.Add([]byte(`{"a":{"b":[1,"x",{"c":null}]},"A":{"B":2}}`))
	f.Add([]byte(`{"timestamp_ms":"x","_event_time":[],"_id":null}`))
	s, err := store.OpenWith("", store.Options{MaxColumns: 50})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_fuzz")
	if err != nil {
		f.Fatal(err)
	}
	c.Configure(store.EventTime{Field: "timestamp_ms", Format: "milliseconds_since_epoch"}, "")
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, doc []byte) {
		i := n.Add(1)
		goodID := fmt.Sprintf("good-%d-of-fuzz", i)
		before, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Write(ctx, store.Batch{Records: []store.Record{
			{Data: doc, RID: fmt.Sprintf("fuzz-%d", i), Arrival: time.Now()},
			{Data: []byte(`{"_id":"` + goodID + `","timestamp_ms":"1700000000000"}`), RID: fmt.Sprintf("good-%d", i), Arrival: time.Now()},
		}})
		if err != nil {
			t.Fatalf("ingest stopped on %q: %v", doc, err)
		}
		if res.Malformed > 1 || res.Inserted+res.Malformed < 1 || res.Inserted+res.Malformed > 2 {
			t.Fatalf("write of %q = %+v: each record must be stored or counted", doc, res)
		}
		after, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.Processed-before.Processed != 2 || after.Malformed-before.Malformed != int64(res.Malformed) {
			t.Fatalf("counters moved %d processed, %d malformed; want 2 and %d", after.Processed-before.Processed, after.Malformed-before.Malformed, res.Malformed)
		}
		var found int
		if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM c_fuzz WHERE _id = $1`, goodID).Scan(&found); err != nil || found != 1 {
			t.Fatalf("the good document after %q: %d stored (%v)", doc, found, err)
		}
		rows, err := s.Query(ctx, `SELECT * FROM c_fuzz`, nil, 0)
		if err != nil || len(rows.Rows) == 0 {
			t.Fatalf("the collection cannot be read after %q: %v", doc, err)
		}
	})
}
