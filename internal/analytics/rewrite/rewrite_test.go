package rewrite_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/streamdash/streamdash/internal/analytics/rewrite"
)

func newRewriter(t *testing.T) *rewrite.Rewriter {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return rewrite.New(db)
}

func resolve(ws, coll string) (rewrite.Table, error) {
	if ws == "" {
		ws = "commons"
	}
	if ws == "commons" && (coll == "tweets" || coll == "demo-tweets") {
		return rewrite.Table{Name: "c_" + strings.ReplaceAll(coll, "-", "_"), Path: ws + "." + coll}, nil
	}
	return rewrite.Table{}, errors.New("collection " + ws + "." + coll + " not found")
}

func TestRefused(t *testing.T) {
	rw := newRewriter(t)
	tests := []struct{ name, sql string }{
		{"copy", `COPY (SELECT 1) TO '/tmp/x.csv'`},
		{"attach", `ATTACH '/tmp/x.db' AS x`},
		{"install", `INSTALL httpfs`},
		{"load", `LOAD httpfs`},
		{"pragma", `PRAGMA database_list`},
		{"set", `SET enable_external_access = true`},
		{"reset", `RESET lock_configuration`},
		{"create", `CREATE TABLE x AS SELECT 1`},
		{"insert", `INSERT INTO tweets VALUES (1)`},
		{"delete", `DELETE FROM tweets`},
		{"drop", `DROP TABLE tweets`},
		{"update", `UPDATE tweets SET x = 1`},
		{"call", `CALL duckdb_settings()`},
		{"export", `EXPORT DATABASE '/tmp/x'`},
		{"checkpoint", `CHECKPOINT`},
		{"second statement", `SELECT 1; DROP TABLE tweets`},
		{"second statement after comment", `SELECT 1; -- x
DELETE FROM tweets`},
		{"read_csv", `SELECT * FROM read_csv('/etc/passwd')`},
		{"read_csv_auto", `SELECT * FROM read_csv_auto('/etc/passwd')`},
		{"read_json", `SELECT * FROM read_json('/etc/x.json')`},
		{"read_json_auto", `SELECT * FROM read_json_auto('/etc/x.json')`},
		{"read_parquet", `SELECT * FROM read_parquet('x.parquet')`},
		{"parquet_scan", `SELECT * FROM parquet_scan('x.parquet')`},
		{"glob", `SELECT * FROM glob('/etc/*')`},
		{"read_text", `SELECT * FROM read_text('/etc/passwd')`},
		{"read_blob", `SELECT * FROM read_blob('/etc/passwd')`},
		{"read_text scalar in subquery", `SELECT (SELECT content FROM read_text('/etc/passwd'))`},
		{"replacement scan of a file", `SELECT * FROM '/etc/passwd'`},
		{"query_table", `SELECT * FROM query_table('c_tweets')`},
		{"query", `SELECT * FROM query('SELECT 1')`},
		{"json_execute_serialized_sql", `SELECT * FROM json_execute_serialized_sql('{}')`},
		{"internal table", `SELECT * FROM _sd_checkpoints`},
		{"information_schema", `SELECT * FROM information_schema.tables`},
		{"duckdb_tables", `SELECT * FROM duckdb_tables()`},
		{"getenv", `SELECT getenv('HOME')`},
		{"current_setting", `SELECT current_setting('enable_external_access')`},
		{"unknown collection", `SELECT * FROM commons.nope`},
		{"three-part name", `SELECT * FROM memory.commons.tweets`},
		{"positional parameter", `SELECT * FROM tweets WHERE x = $1`},
		// A CTE hides a system view only where it is in scope.
		{"cte named pg_settings in a subquery", `SELECT name, setting FROM pg_settings WHERE EXISTS (WITH pg_settings AS (SELECT 1) SELECT 1)`},
		{"cte named duckdb_databases in a subquery", `SELECT * FROM duckdb_databases WHERE EXISTS (WITH duckdb_databases AS (SELECT 1) SELECT 1)`},
		{"cte in a FROM subquery", `SELECT * FROM pg_settings, (WITH pg_settings AS (SELECT 1 AS a) SELECT a FROM pg_settings)`},
		{"cte used before it is defined", `WITH a AS (SELECT * FROM pg_settings), pg_settings AS (SELECT 1) SELECT * FROM a`},
		{"non-recursive cte reading its own name", `WITH duckdb_settings AS (SELECT * FROM duckdb_settings) SELECT * FROM duckdb_settings`},
		{"cte of a union branch", `SELECT * FROM pg_settings UNION ALL (WITH pg_settings AS (SELECT 1, 2) SELECT * FROM pg_settings)`},
		{"show all tables as a subquery", `SELECT * FROM (SHOW ALL TABLES)`},
		{"show tables", `SHOW TABLES`},
		{"describe as a subquery", `SELECT * FROM (DESCRIBE tweets)`},
		{"summarize as a subquery", `SELECT * FROM (SUMMARIZE tweets)`},
		{"pg_catalog view", `SELECT * FROM pg_catalog.pg_settings`},
		{"duckdb_settings", `SELECT * FROM duckdb_settings()`},
		{"the internal table name", `SELECT * FROM c_tweets`},
		{"version", `SELECT version()`},
		{"pg_sleep", `SELECT pg_sleep(100)`},
		{"sleep_ms", `SELECT sleep_ms(100000)`},
		{"getvariable", `SELECT getvariable('x')`},
		{"nextval", `SELECT nextval('s')`},
		{"schema-qualified function", `SELECT pg_catalog.lower('x')`},
		{"catalog-qualified function", `SELECT system.main.current_setting('memory_limit')`},
		{"current_database", `SELECT current_database()`},
		{"current_query", `SELECT current_query()`},
		{"json_serialize_plan", `SELECT json_serialize_plan('SELECT 1')`},
		{"function in a lambda", `SELECT list_transform([1], x -> current_setting('threads'))`},
		{"function in an ORDER BY of a window", `SELECT row_number() OVER (ORDER BY getenv('HOME')) FROM tweets`},
		{"pivot", `SELECT * FROM tweets PIVOT (count(*) FOR lang IN ('en'))`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := rw.Rewrite(context.Background(), tc.sql, resolve)
			if err == nil {
				t.Fatalf("accepted as %q", q.SQL)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	rw := newRewriter(t)
	tests := []struct {
		name, sql  string
		wantIn     []string
		wantParams []string
	}{
		{"quoted workspace and collection", `SELECT t.text FROM "commons"."demo-tweets" AS t`, []string{"FROM c_demo_tweets AS t"}, nil},
		{"bare collection keeps its name as alias", `SELECT tweets.text FROM tweets`, []string{"FROM c_tweets AS tweets"}, nil},
		{"unnest alias becomes a column alias", `SELECT h.text FROM tweets AS t, UNNEST(t.a) AS h, tweets AS u`, []string{"AS _u_h(h)"}, nil},
		{"lateral unnest becomes a projection", `SELECT h.text FROM tweets AS t, UNNEST(t.entities.hashtags) AS h WHERE t.x > 1 AND h.text = 'a'`,
			[]string{"FROM (SELECT t.*, unnest(t.entities.hashtags) AS h FROM c_tweets AS t WHERE (t.x > 1)) AS t"}, nil},
		{"exists over unnest becomes list_filter", `SELECT 1 FROM tweets AS t WHERE EXISTS (SELECT 1 FROM UNNEST(t.tags) AS h WHERE lower(h.text) = :tag)`,
			[]string{"list_filter(t.tags, (h -> (lower(h.\"text\") = $tag)))"}, []string{"tag"}},
		{"parameters", `SELECT * FROM tweets WHERE x = :since AND y::INT = :n LIMIT :limit`, []string{"$since", "$n", "$limit", "CAST(y AS INTEGER)"}, []string{"limit", "n", "since"}},
		{"colon in a string is text", `SELECT ':since' AS s, 'a '':b' AS u FROM tweets`, []string{"':since'"}, nil},
		{"colon in a quoted identifier", `SELECT 1 AS ":x" FROM tweets`, []string{`":x"`}, nil},
		{"slice is not a parameter", `SELECT [1,2,3][a:b] FROM tweets`, []string{"[a:b]"}, nil},
		{"struct key is not a parameter", `SELECT {'k':v} AS s FROM tweets`, []string{"struct_pack"}, nil},
		{"count(*) is named ?count", `SELECT count(*), max(x) FROM tweets`, []string{`AS "?count"`, `AS "?max"`}, nil},
		{"cte is not a collection", `WITH tags AS (SELECT 1 AS a FROM tweets) SELECT a FROM tags`, []string{"FROM tags"}, nil},
		{"cte in a subquery", `SELECT (WITH t AS (SELECT 1 AS a) SELECT a FROM t) AS x FROM tweets`, []string{"FROM t)"}, nil},
		{"later cte reads an earlier one", `WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT x FROM b`, []string{"FROM b"}, nil},
		{"recursive cte", `WITH RECURSIVE r AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM r WHERE x < 3) SELECT x FROM r`, []string{"FROM r"}, nil},
		{"everyday functions", `SELECT lower(t.text), date_trunc('minute', t._event_time), list_filter(t.a, x -> x > 1), coalesce(t.x, 0), t.text LIKE '%a%', now(), current_timestamp, count(DISTINCT t.y) FILTER (WHERE t.y > 1), row_number() OVER (ORDER BY t.x) FROM tweets AS t`, []string{"lower("}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := rw.Rewrite(context.Background(), tc.sql, resolve)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(q.SQL, w) {
					t.Errorf("rewritten %q lacks %q", q.SQL, w)
				}
			}
			if strings.Join(q.Params, ",") != strings.Join(tc.wantParams, ",") {
				t.Errorf("params = %v, want %v", q.Params, tc.wantParams)
			}
		})
	}
}

func TestBindTypes(t *testing.T) {
	q := &rewrite.Query{Params: []string{"p"}}
	tests := []struct {
		typ, value string
		ok         bool
	}{
		{"string", "x' OR '1'='1", true},
		{"int", "7", true},
		{"int", "7; DROP TABLE x", false},
		{"float", "1.5", true},
		{"bool", "true", true},
		{"timestamp", "2026-11-26T04:00:00Z", true},
		{"timestamp", "yesterday", false},
		{"geometry", "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.value, func(t *testing.T) {
			_, err := rewrite.Bind(q, []rewrite.Param{{Name: "p", Type: tc.typ, Value: tc.value}})
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := rewrite.Bind(q, nil); err == nil {
		t.Error("a missing parameter was accepted")
	}
}

func TestUnnestCarriesOnlyUsedColumns(t *testing.T) {
	rw := newRewriter(t)
	withColumns := func(ws, coll string) (rewrite.Table, error) {
		return rewrite.Table{Name: "c_1", Path: "commons.tweets", Columns: []string{"_id", "_event_time", "entities", "text", "user"}}, nil
	}
	tests := []struct{ name, sql, want string }{
		{"only what is used", `SELECT DISTINCT t._id, lower(h.text) FROM tweets AS t, UNNEST(t.entities.hashtags) AS h WHERE t._event_time >= :s ORDER BY t.text`,
			`(SELECT t._id, t._event_time, t."text", unnest(t.entities.hashtags) AS h FROM c_1 AS t WHERE (t._event_time >= $s)) AS t`},
		{"unqualified column", `SELECT user.screen_name FROM tweets AS t, UNNEST(t.entities.hashtags) AS h`,
			`(SELECT t."user", unnest(t.entities.hashtags) AS h FROM c_1 AS t) AS t`},
		{"star keeps every column", `SELECT * FROM tweets AS t, UNNEST(t.entities.hashtags) AS h`,
			`(SELECT t.*, unnest(t.entities.hashtags) AS h FROM c_1 AS t) AS t`},
		{"a field no document has brought reads NULL", `SELECT t.geo, t.text AS x FROM tweets AS t WHERE t.geo.lat IS NULL`,
			`SELECT NULL AS geo, t."text" AS x FROM c_1 AS t WHERE (NULL IS NULL)`},
		{"correlated subquery counts", `SELECT h.text FROM tweets AS t, UNNEST(t.entities.hashtags) AS h WHERE EXISTS (SELECT 1 FROM tweets AS x WHERE x._id = t.user.id_str)`,
			`(SELECT t."user", unnest(t.entities.hashtags) AS h FROM c_1 AS t) AS t`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := rw.Rewrite(context.Background(), tc.sql, withColumns)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(q.SQL, tc.want) {
				t.Errorf("rewritten %q lacks %q", q.SQL, tc.want)
			}
		})
	}
}

// TestBounds: a query text over the limit is refused before it is parsed,
// and the cache holds at most its byte budget however large the texts.
func TestBounds(t *testing.T) {
	rw := newRewriter(t)
	rw.MaxSQLBytes = 1 << 10
	rw.MaxCacheBytes = 8 << 10
	long := `SELECT 1 AS x FROM tweets WHERE 'x' <> '` + strings.Repeat("a", 2<<10) + `'`
	if _, err := rw.Rewrite(context.Background(), long, resolve); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("a %d-byte query: err = %v, want the length limit", len(long), err)
	}
	for i := range 200 {
		q := `SELECT ` + strings.Repeat(" ", 500) + `1 AS x` + strings.Repeat(" ", i) + ` FROM tweets`
		if _, err := rw.Rewrite(context.Background(), q, resolve); err != nil {
			t.Fatal(err)
		}
		if n := rw.CacheBytes(); n > rw.MaxCacheBytes {
			t.Fatalf("cache holds %d bytes, over its %d budget", n, rw.MaxCacheBytes)
		}
	}
	if rw.CacheBytes() == 0 {
		t.Error("nothing was cached")
	}
}
