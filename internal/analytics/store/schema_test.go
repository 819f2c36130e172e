package store_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

func TestSchemaEvolutionUpsertAndMalformed(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_evo")
	if err != nil {
		t.Fatal(err)
	}
	rw := rewrite.New(s.DB())
	write := func(docs ...string) store.WriteResult {
		var b store.Batch
		for i, d := range docs {
			b.Records = append(b.Records, store.Record{Data: []byte(d), RID: "rid" + d, Arrival: time.Now()})
			_ = i
		}
		res, err := c.Write(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	write(`{"_id":"a","n":1,"tags":[],"user":{"name":"x"}}`)
	write(`{"_id":"b","n":2.5,"tags":[{"text":"go"}],"user":{"name":"y","followers":10}}`, `{"_id":"c","n":"three","extra":true}`)
	res := write(`not json`, `[1,2]`, `{"_id":"a","n":4,"user":{"name":"x2"}}`, `{"broken":`)
	if res.Malformed != 3 || res.Inserted != 1 {
		t.Fatalf("write = %+v, want 3 malformed and 1 inserted", res)
	}
	tests := []struct {
		name, sql string
		want      []map[string]any
	}{
		{"upsert replaced a", `SELECT user.name AS name FROM tweets WHERE _id = 'a'`, []map[string]any{{"name": "x2"}}},
		{"new field null in older rows", `SELECT _id, user.followers AS f FROM tweets ORDER BY _id`,
			[]map[string]any{{"_id": "a", "f": nil}, {"_id": "b", "f": int64(10)}, {"_id": "c", "f": nil}}},
		{"type conflict keeps every value", `SELECT _id, CAST(n AS VARCHAR) AS n FROM tweets ORDER BY _id`,
			[]map[string]any{{"_id": "a", "n": "4"}, {"_id": "b", "n": "2.5"}, {"_id": "c", "n": `"three"`}}},
		{"empty array then structs", `SELECT h.text AS t FROM tweets AS x, UNNEST(x.tags) AS h`, []map[string]any{{"t": "go"}}},
		{"new top-level field", `SELECT count(*) FROM tweets WHERE extra`, []map[string]any{{"?count": int64(1)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := query(t, s, rw, "c_evo", tc.sql)
			if len(got.Rows) != len(tc.want) {
				t.Fatalf("rows = %v, want %v", got.Rows, tc.want)
			}
			for i := range tc.want {
				for k, v := range tc.want[i] {
					if got.Rows[i][k] != v {
						t.Errorf("row %d %s = %#v, want %#v", i, k, got.Rows[i][k], v)
					}
				}
			}
		})
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.DocCount != 3 || st.Malformed != 3 || st.Processed != 7 {
		t.Errorf("stats = %+v, want 3 docs, 3 malformed, 7 processed", st)
	}
}

func TestTransformationAndRetention(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_tx")
	if err != nil {
		t.Fatal(err)
	}
	rw := rewrite.New(s.DB())
	tx, err := rw.Transformation(ctx, `SELECT id_str AS _id, upper(text) AS text, CAST(n AS INTEGER) AS n, timestamp_ms FROM _input WHERE keep`)
	if err != nil {
		t.Fatal(err)
	}
	c.Configure(store.EventTime{Field: "timestamp_ms", Format: "milliseconds_since_epoch"}, tx)
	old := time.Now().Add(-3 * time.Hour).UnixMilli()
	recent := time.Now().UnixMilli()
	docs := []string{
		`{"id_str":"1","text":"a","n":"1","keep":true,"timestamp_ms":"` + itoa(old) + `"}`,
		`{"id_str":"2","text":"b","n":"2","keep":true,"timestamp_ms":"` + itoa(recent) + `"}`,
		`{"id_str":"3","text":"c","n":"x","keep":true,"timestamp_ms":"` + itoa(recent) + `"}`,
		`{"id_str":"4","text":"d","n":"4","keep":false,"timestamp_ms":"` + itoa(recent) + `"}`,
	}
	var b store.Batch
	for _, d := range docs {
		b.Records = append(b.Records, store.Record{Data: []byte(d), RID: d[:12], Arrival: time.Now()})
	}
	res, err := c.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || res.Malformed != 1 {
		t.Fatalf("write = %+v, want 2 inserted (1 filtered out) and 1 rejected (bad cast)", res)
	}
	got := query(t, s, rw, "c_tx", `SELECT _id, text, n FROM tweets ORDER BY _id`)
	if len(got.Rows) != 2 || got.Rows[0]["text"] != "A" || got.Rows[1]["_id"] != "2" {
		t.Fatalf("rows = %v", got.Rows)
	}
	n, err := c.Purge(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1", n, err)
	}
	st, _ := c.Stats(ctx)
	if st.DocCount != 1 || st.Purged != 1 {
		t.Errorf("stats = %+v, want 1 doc and 1 purged", st)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestOptimizedFormsAgree: the UNNEST rewrites in package rewrite must give
// what DuckDB gives for the literal form, including empty and NULL lists.
func TestOptimizedFormsAgree(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	c, err := s.Collection(ctx, "c_opt")
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i, d := range []string{
		`{"n":1,"tags":[{"text":"A"},{"text":"b"}]}`,
		`{"n":2,"tags":[]}`,
		`{"n":3}`,
		`{"n":4,"tags":[{"text":"a"},{"text":"a"}]}`,
		`{"n":5,"tags":[{"text":null}]}`,
	} {
		b.Records = append(b.Records, store.Record{Data: []byte(d), RID: strconv.Itoa(i), Arrival: time.Now()})
	}
	if _, err := c.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	rw := rewrite.New(s.DB())
	tests := []struct{ name, rockset, plain string }{
		{"exists", `SELECT t.n FROM tweets AS t WHERE EXISTS (SELECT 1 FROM UNNEST(t.tags) AS h WHERE lower(h.text) = 'a') ORDER BY 1`,
			`SELECT t.n FROM c_opt AS t WHERE EXISTS (SELECT 1 FROM UNNEST(t.tags) AS u(h) WHERE lower(h.text) = 'a') ORDER BY 1`},
		{"not exists", `SELECT t.n FROM tweets AS t WHERE NOT EXISTS (SELECT 1 FROM UNNEST(t.tags) AS h WHERE lower(h.text) = 'a') ORDER BY 1`,
			`SELECT t.n FROM c_opt AS t WHERE NOT EXISTS (SELECT 1 FROM UNNEST(t.tags) AS u(h) WHERE lower(h.text) = 'a') ORDER BY 1`},
		{"exists without where", `SELECT t.n FROM tweets AS t WHERE EXISTS (SELECT 1 FROM UNNEST(t.tags) AS h) ORDER BY 1`,
			`SELECT t.n FROM c_opt AS t WHERE EXISTS (SELECT 1 FROM UNNEST(t.tags) AS u(h)) ORDER BY 1`},
		{"lateral with pushed filter", `SELECT t.n, h.text AS x FROM tweets AS t, UNNEST(t.tags) AS h WHERE t.n > 1 AND h.text IS NOT NULL ORDER BY 1, 2`,
			`SELECT t.n, h.text AS x FROM c_opt AS t, UNNEST(t.tags) AS u(h) WHERE t.n > 1 AND h.text IS NOT NULL ORDER BY 1, 2`},
		{"lateral count", `SELECT count(*) AS n FROM tweets AS t, UNNEST(t.tags) AS h`,
			`SELECT count(*) AS n FROM c_opt AS t, UNNEST(t.tags) AS u(h)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := query(t, s, rw, "c_opt", tc.rockset)
			want, err := s.Query(ctx, tc.plain, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
				t.Fatalf("rewritten gives %v, DuckDB's literal form %v", got.Rows, want.Rows)
			}
		})
	}
}

// TestDatabaseIsLockedDown: even SQL that got past the rewriter's checks
// cannot touch files or turn the lock off.
func TestDatabaseIsLockedDown(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	for _, q := range []string{
		`SELECT * FROM read_csv('/etc/passwd')`,
		`SELECT * FROM read_text('/etc/hostname')`,
		`COPY (SELECT 1) TO '` + t.TempDir() + `/x.csv'`,
		`SET enable_external_access = true`,
		`SET lock_configuration = false`,
		`ATTACH '` + t.TempDir() + `/x.duckdb' AS x`,
		// Queries run in a read-only transaction.
		`CREATE TABLE ro_x AS SELECT 1`,
		`DELETE FROM _sd_stats`,
		`UPDATE _sd_collections SET schema = '{}'`,
		`INSERT INTO _sd_checkpoints VALUES ('t', 's', '1', false)`,
	} {
		if _, err := s.Query(ctx, q, nil, 0); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
}
