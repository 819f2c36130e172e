package rewrite

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestAllowListNamesExist keeps the allow-list honest: every name on it is a
// function of this DuckDB (a typo would silently allow nothing), and no name
// on it reads settings, the catalog, files or the environment.
func TestAllowListNamesExist(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	known := map[string]bool{}
	rows, err := db.QueryContext(context.Background(), `SELECT DISTINCT function_name FROM duckdb_functions()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		known[n] = true
	}
	rows.Close()
	// Spelled as keywords, not catalog functions.
	keywords := setOf("current_timestamp", "localtimestamp", "localtime")
	for _, set := range []map[string]bool{allowedFunctions, allowedOperators, allowedTableFunctions} {
		for n := range set {
			if !known[n] && !keywords[n] {
				t.Errorf("allowed function %q is not a DuckDB function", n)
			}
		}
	}
	for _, n := range []string{"current_setting", "getenv", "read_text", "read_csv", "glob", "duckdb_settings", "query", "query_table",
		"json_execute_serialized_sql", "json_serialize_sql", "json_deserialize_sql", "error", "sleep_ms", "pg_sleep", "version",
		"getvariable", "nextval", "currval", "setseed", "write_log", "current_database", "current_schema", "current_query",
		"pg_get_viewdef", "format_type", "get_block_size", "which_secret", "parquet_metadata", "stats"} {
		if allowedFunctions[n] || allowedTableFunctions[n] {
			t.Errorf("%s is on the allow-list", n)
		}
	}
}
