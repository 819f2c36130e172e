package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// A schema node uses the shape of DuckDB's json_structure output, so the
// structure of a whole batch comes from one json_group_structure call:
//   - a string: a scalar type (VARCHAR, BIGINT, UBIGINT, DOUBLE, BOOLEAN, JSON)
//     or "NULL" (only nulls or empty arrays seen so far: no type yet);
//   - map[string]any: an object;
//   - []any with one element: an array of that element.
//
// Merging only ever widens: NULL gives way to anything, integers widen to
// DOUBLE, and anything else that disagrees becomes JSON, which keeps every value.

const (
	tNull = "NULL"
	tJSON = "JSON"
)

// mergeSchema returns the node that holds values of both a and b.
func mergeSchema(a, b any) any {
	if isNull(a) {
		return b
	}
	if isNull(b) {
		return a
	}
	switch av := a.(type) {
	case string:
		bv, ok := b.(string)
		if !ok {
			return tJSON
		}
		return mergeScalar(normScalar(av), normScalar(bv))
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return tJSON
		}
		out := make(map[string]any, len(av)+len(bv))
		for k, v := range av {
			out[k] = v
		}
		for k, v := range bv {
			key := k
			// DuckDB names are case-insensitive: fold a differently cased key
			// into the one already known rather than make an invalid STRUCT.
			if _, ok := out[k]; !ok {
				for ek := range out {
					if strings.EqualFold(ek, k) {
						key = ek
						break
					}
				}
			}
			if old, ok := out[key]; ok {
				out[key] = mergeSchema(old, v)
			} else {
				out[key] = v
			}
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != 1 || len(bv) != 1 {
			return tJSON
		}
		return []any{mergeSchema(av[0], bv[0])}
	}
	return tJSON
}

func isNull(n any) bool {
	s, ok := n.(string)
	return n == nil || (ok && s == tNull)
}

func normScalar(s string) string {
	switch s {
	case "UBIGINT", "BIGINT", "INTEGER", "UINTEGER", "SMALLINT", "TINYINT":
		return "BIGINT"
	case "DOUBLE", "FLOAT", "HUGEINT", "UHUGEINT", "DECIMAL":
		return "DOUBLE"
	case "VARCHAR", "BOOLEAN", tJSON, tNull:
		return s
	}
	return tJSON
}

func mergeScalar(a, b string) string {
	if a == b {
		return a
	}
	if (a == "BIGINT" && b == "DOUBLE") || (a == "DOUBLE" && b == "BIGINT") {
		return "DOUBLE"
	}
	return tJSON
}

// duckType is the DuckDB column type for a node.
func duckType(n any) string {
	switch v := n.(type) {
	case string:
		s := normScalar(v)
		if s == tNull {
			return tJSON
		}
		return s
	case map[string]any:
		if len(v) == 0 {
			return tJSON
		}
		keys := sortedKeys(v)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = quoteIdent(k) + " " + duckType(v[k])
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	case []any:
		if len(v) != 1 {
			return tJSON
		}
		return duckType(v[0]) + "[]"
	}
	return tJSON
}

// transformSpec is the json_transform structure that yields duckType(n).
func transformSpec(n any) any {
	switch v := n.(type) {
	case string:
		s := normScalar(v)
		if s == tNull {
			return tJSON
		}
		return s
	case map[string]any:
		if len(v) == 0 {
			return tJSON
		}
		out := make(map[string]any, len(v))
		for k, c := range v {
			out[k] = transformSpec(c)
		}
		return out
	case []any:
		if len(v) != 1 {
			return tJSON
		}
		return []any{transformSpec(v[0])}
	}
	return tJSON
}

func specJSON(n any) string {
	b, err := json.Marshal(transformSpec(n))
	if err != nil {
		panic(fmt.Sprintf("schema spec: %v", err)) // only maps, slices and strings
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// reservedColumns are set by the server, never taken from the document body.
var reservedColumns = map[string]bool{"_id": true, "_event_time": true}
