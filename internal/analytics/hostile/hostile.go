// Package hostile is the hostile-input suite's table: records a producer
// with stream access can send and queries a client with a key can send, each
// with the outcome the analytics server must give. The store's tests and the
// server's suite (run against the real server and the Kinesis emulator) both
// read it, and the README reports its size.
package hostile

import "strings"

// Record is a hostile record.
type Record struct {
	Name string
	Doc  string
	// Stored: the record becomes a document (else it is counted as malformed
	// and skipped); Read, a query over tweets for its _id (:id), returns one
	// row holding Want.
	Stored bool
	Read   string
	Want   map[string]any
}

// Records: every one either stored or counted; none stops ingest.
var Records = []Record{
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

// Query is a hostile query and the refusal it must get: an ErrorModel of
// Type whose message holds Msg. Refused queries read nothing and change nothing.
type Query struct {
	Name, SQL string
	Type, Msg string
}

// Queries reach, or try to reach, past the caller's collections.
var Queries = []Query{
	{"system view shadowed by a CTE in a subquery", `SELECT name, setting FROM pg_settings WHERE EXISTS (WITH pg_settings AS (SELECT 1) SELECT 1)`, "QUERY_ERROR", "pg_settings"},
	{"duckdb_databases shadowed by a CTE", `SELECT * FROM duckdb_databases WHERE EXISTS (WITH duckdb_databases AS (SELECT 1) SELECT 1)`, "QUERY_ERROR", "duckdb_databases"},
	{"CTE used before it is defined", `WITH a AS (SELECT * FROM duckdb_settings), duckdb_settings AS (SELECT 1) SELECT * FROM a`, "QUERY_ERROR", "duckdb_settings"},
	{"SHOW ALL TABLES as a subquery", `SELECT * FROM (SHOW ALL TABLES)`, "QUERY_ERROR", "SHOW"},
	{"DESCRIBE as a subquery", `SELECT * FROM (DESCRIBE tweets)`, "QUERY_ERROR", "SHOW"},
	{"SUMMARIZE as a subquery", `SELECT * FROM (SUMMARIZE tweets)`, "QUERY_ERROR", "SHOW"},
	{"information_schema", `SELECT * FROM information_schema.tables`, "QUERY_ERROR", "not found"},
	{"pg_catalog", `SELECT * FROM pg_catalog.pg_settings`, "QUERY_ERROR", "not found"},
	{"an internal table", `SELECT * FROM _sd_checkpoints`, "QUERY_ERROR", "not found"},
	{"duckdb_settings()", `SELECT * FROM duckdb_settings()`, "QUERY_ERROR", "not allowed"},
	{"read a file", `SELECT * FROM read_text('/etc/passwd')`, "QUERY_ERROR", "not allowed"},
	{"a file as a table", `SELECT * FROM '/etc/passwd'`, "QUERY_ERROR", "not found"},
	{"glob", `SELECT * FROM glob('/*')`, "QUERY_ERROR", "not allowed"},
	{"current_setting", `SELECT current_setting('temp_directory')`, "QUERY_ERROR", "not allowed"},
	{"qualified current_setting", `SELECT system.main.current_setting('temp_directory')`, "QUERY_ERROR", "not allowed"},
	{"getenv", `SELECT getenv('HOME')`, "QUERY_ERROR", "not allowed"},
	{"version", `SELECT version()`, "QUERY_ERROR", "not allowed"},
	{"sleep", `SELECT sleep_ms(600000)`, "QUERY_ERROR", "not allowed"},
	{"a forbidden function in a lambda", `SELECT list_transform([1], x -> current_setting('threads'))`, "QUERY_ERROR", "not allowed"},
	{"COPY to a file", `COPY (SELECT 1) TO '/tmp/x.csv'`, "QUERY_ERROR", "only SELECT"},
	{"ATTACH", `ATTACH '/tmp/x.duckdb' AS x`, "QUERY_ERROR", "only SELECT"},
	{"SET", `SET enable_external_access = true`, "QUERY_ERROR", "only SELECT"},
	{"PRAGMA", `PRAGMA database_list`, "QUERY_ERROR", "only SELECT"},
	{"two statements", `SELECT 1; DROP TABLE x`, "QUERY_ERROR", "one statement"},
	{"a query text of 1 MiB", `SELECT 1 AS x WHERE '` + strings.Repeat("a", 1<<20) + `' <> ''`, "QUERY_ERROR", "limit"},
}
