package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

// hostileRecords are records a producer with stream access can send. Each is
// either stored (and reads back as wanted) or counted as malformed; none may
// stop the records after it. They are shared with the server's hostile-input
// suite through HostileRecords in hostile.go's test twin.
var hostileRecords = []struct {
	name string
	doc  string
	// stored: the record becomes a document; its fields read back with read.
	stored bool
	// read is a query over tweets for this document's _id (:id), and want its one row.
	read string
	want map[string]any
}{
	{"empty key", `{"_id":"empty","":1,"ok":"a"}`, true,
		`SELECT ok, _overflow FROM tweets WHERE _id = :id`, map[string]any{"ok": "a", "_overflow": map[string]any{"": float64(1)}}},
	{"case variants inside an object", `{"_id":"case","u":{"a":1,"A":2}}`, true,
		`SELECT u FROM tweets WHERE _id = :id`, map[string]any{"u": map[string]any{"a": float64(1), "A": float64(2)}}},
	{"NUL in a key", `{"_id":"nul","a\u0000b":1}`, true,
		`SELECT _overflow->>'$."a\u0000b"' AS v FROM tweets WHERE _id = :id`, nil},
	{"control character in a key", `{"_id":"ctl","a\u0001b":"x"}`, true,
		`SELECT _overflow FROM tweets WHERE _id = :id`, map[string]any{"_overflow": map[string]any{"a\x01b": "x"}}},
	{"top-level case variant of a column", `{"_id":"OK","OK":"b"}`, true,
		`SELECT ok, _overflow FROM tweets WHERE _id = :id`, map[string]any{"ok": nil, "_overflow": map[string]any{"OK": "b"}}},
	{"case variants at the top level", `{"_id":"both","x":1,"X":2}`, true,
		`SELECT "X" AS big, _overflow FROM tweets WHERE _id = :id`, map[string]any{"big": int64(2), "_overflow": map[string]any{"x": float64(1)}}},
	{"key of 300 bytes", `{"_id":"long","` + strings.Repeat("k", 300) + `":true}`, true,
		`SELECT _overflow FROM tweets WHERE _id = :id`, map[string]any{"_overflow": map[string]any{strings.Repeat("k", 300): true}}},
	{"server field in another case", `{"_id":"res","_ID":"x","_Overflow":1}`, true,
		`SELECT _overflow FROM tweets WHERE _id = :id`, map[string]any{"_overflow": map[string]any{"_ID": "x", "_Overflow": float64(1)}}},
	{"empty key nested", `{"_id":"nest","v":{"":{"":[]}}}`, true,
		`SELECT v FROM tweets WHERE _id = :id`, map[string]any{"v": map[string]any{"": map[string]any{"": []any{}}}}},
	{"case variants across array elements", `{"_id":"arr","l":[{"a":1},{"A":2}]}`, true,
		`SELECT len(l) AS n FROM tweets WHERE _id = :id`, map[string]any{"n": int64(2)}},
	{"nesting 100 deep", `{"_id":"deep","d":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}`, true,
		`SELECT d.a.a.a IS NOT NULL AS ok FROM tweets WHERE _id = :id`, nil},
	{"number beyond double", `{"_id":"inf","f":1e400}`, true,
		`SELECT f FROM tweets WHERE _id = :id`, map[string]any{"f": nil}},
	{"integer beyond int64", `{"_id":"big","g":123456789012345678901234567890}`, true,
		`SELECT g > 1e29 AS ok FROM tweets WHERE _id = :id`, map[string]any{"ok": true}},
	{"quote and backslash in a key", `{"_id":"quote","a\"b\\c":1}`, true,
		`SELECT "a""b\c" AS v FROM tweets WHERE _id = :id`, map[string]any{"v": int64(1)}},
	{"duplicate key", `{"_id":"dup","h":1,"h":"two"}`, true, "", nil},
	{"empty object", `{}`, true, "", nil},
	{"object as _id", `{"_id":{"a":1}}`, true, "", nil},
	{"lone surrogate", `{"_id":"sur","s":"\ud800"}`, false, "", nil},
	{"not an object", `[1,2]`, false, "", nil},
	{"a string", `"x"`, false, "", nil},
	{"not JSON", `{"broken":`, false, "", nil},
	{"empty record", ``, false, "", nil},
	{"invalid UTF-8 in a value", "{\"_id\":\"utf\",\"s\":\"\xff\xfe\"}", true, "", nil},
}

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
	for i, tc := range hostileRecords {
		t.Run(tc.name, func(t *testing.T) {
			before, err := c.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Write(ctx, store.Batch{
				Records:     []store.Record{good(2 * i), {Data: []byte(tc.doc), RID: fmt.Sprintf("h%d", i), Arrival: time.Now()}, good(2*i + 1)},
				Checkpoints: []store.Checkpoint{{Shard: "s", Seq: fmt.Sprint(i)}},
			})
			if err != nil {
				t.Fatalf("write stopped on %s: %v", tc.doc, err)
			}
			wantMalformed := 0
			if !tc.stored {
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
			if !tc.stored && after.LastMalformed == "" {
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
			if tc.read == "" {
				return
			}
			var id map[string]any
			_ = json.Unmarshal([]byte(tc.doc), &id)
			got := query(t, s, rw, "c_hostile", tc.read, rewrite.Param{Name: "id", Value: fmt.Sprint(id["_id"])})
			if len(got.Rows) != 1 {
				t.Fatalf("%s: rows = %v, want one", tc.read, got.Rows)
			}
			for k, v := range tc.want {
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
