package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/hostile"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

// hostileRecords are records a producer with stream access can send. Each is
// either stored (and reads back as wanted) or counted as malformed; none may
// stop the records after it. They are shared with the server's hostile-input
// suite through HostileRecords in hostile.go's test twin.
// TestHostileRecordsNeverStopIngest writes each hostile record in a batch
// between good ones, as a stream would deliver it, and checks that the batch
// is committed, the good documents are stored, and the record is stored or
// counted as its case says.
func TestHostileRecordsNeverStopIngest(t *testing.T) {
	s, err := store.OpenWith("", store.Options{MaxColumns: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_hostile")
	if err != nil {
		t.Fatal(err)
	}
	rw := rewrite.New(s.DB())
	good := func(i int) store.Record {
		return store.Record{Data: []byte(fmt.Sprintf(`{"_id":"good%d","ok":"g"}`, i)), RID: fmt.Sprintf("g%d", i), Arrival: time.Now()}
	}
	for i, tc := range hostile.Records {
		t.Run(tc.Name, func(t *testing.T) {
			before, err := c.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Write(ctx, store.Batch{
				Records:     []store.Record{good(2 * i), {Data: []byte(tc.Doc), RID: fmt.Sprintf("h%d", i), Arrival: time.Now()}, good(2*i + 1)},
				Checkpoints: []store.Checkpoint{{Shard: "s", Seq: fmt.Sprint(i)}},
			})
			if err != nil {
				t.Fatalf("write stopped on %s: %v", tc.Doc, err)
			}
			wantMalformed := 0
			if !tc.Stored {
				wantMalformed = 1
			}
			if res.Malformed != wantMalformed || res.Inserted != 3-wantMalformed {
				t.Errorf("write = %+v, want %d inserted and %d malformed", res, 3-wantMalformed, wantMalformed)
			}
			after, err := c.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Processed-before.Processed != 3 || after.Malformed-before.Malformed != int64(wantMalformed) {
				t.Errorf("counters moved by %d processed and %d malformed, want 3 and %d", after.Processed-before.Processed, after.Malformed-before.Malformed, wantMalformed)
			}
			if !tc.Stored && after.LastMalformed == "" {
				t.Error("a skipped record has no reason")
			}
			cps, err := c.Checkpoints(ctx)
			if err != nil || cps["s"].Seq != fmt.Sprint(i) {
				t.Errorf("checkpoint = %+v (%v), want it moved to %d", cps["s"], err, i)
			}
			for _, id := range []string{fmt.Sprintf("good%d", 2*i), fmt.Sprintf("good%d", 2*i+1)} {
				got := query(t, s, rw, "c_hostile", `SELECT ok FROM tweets WHERE _id = :id`, rewrite.Param{Name: "id", Value: id})
				if len(got.Rows) != 1 || got.Rows[0]["ok"] != "g" {
					t.Errorf("good document %s after it = %v", id, got.Rows)
				}
			}
			if tc.Read == "" {
				return
			}
			var id map[string]any
			_ = json.Unmarshal([]byte(tc.Doc), &id)
			got := query(t, s, rw, "c_hostile", tc.Read, rewrite.Param{Name: "id", Value: fmt.Sprint(id["_id"])})
			if len(got.Rows) != 1 {
				t.Fatalf("%s: rows = %v, want one", tc.Read, got.Rows)
			}
			for k, v := range tc.Want {
				if !reflect.DeepEqual(got.Rows[0][k], v) {
					t.Errorf("%s = %#v, want %#v", k, got.Rows[0][k], v)
				}
			}
		})
	}
	// Every query over the collection still works: nothing stored breaks a read.
	all := query(t, s, rw, "c_hostile", `SELECT * FROM tweets`)
	if _, err := json.Marshal(all.Rows); err != nil {
		t.Errorf("the collection does not encode as JSON: %v", err)
	}
}

// TestColumnCap: keys from many documents widen the table only up to the
// cap; later fields are kept, queryable, in the overflow column.
func TestColumnCap(t *testing.T) {
	s, err := store.OpenWith("", store.Options{MaxColumns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_wide")
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i := range 50 {
		b.Records = append(b.Records, store.Record{Data: []byte(fmt.Sprintf(`{"_id":"%d","f%02d":%d}`, i, i, i)), RID: fmt.Sprint(i), Arrival: time.Now()})
	}
	if _, err := c.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Columns()); n != 10+3 {
		t.Errorf("%d columns (%v), want 10 plus _id, _event_time and _overflow", n, c.Columns())
	}
	rw := rewrite.New(s.DB())
	got := query(t, s, rw, "c_wide", `SELECT count(*) AS n FROM tweets WHERE CAST(_overflow->>'$.f42' AS INT) = 42`)
	if got.Rows[0]["n"] != int64(1) {
		t.Errorf("a field past the cap is not queryable in _overflow: %v", got.Rows)
	}
	st, _ := c.Stats(ctx)
	if st.DocCount != 50 {
		t.Errorf("%d documents, want 50", st.DocCount)
	}
}
