package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
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
			if old, ok := out[k]; ok {
				out[k] = mergeSchema(old, v)
				continue
			}
			out[k] = v
		}
		// Keys that DuckDB cannot hold side by side in one STRUCT (case
		// variants across documents, too many) leave the object as JSON,
		// which keeps every key and value.
		if !nameableObject(out) {
			return tJSON
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

// The mapping from JSON keys to DuckDB columns, and its limits. DuckDB names
// are case-insensitive, cannot be empty or hold a NUL, and a STRUCT of
// thousands of fields or hundreds of levels costs every query; JSON keys can
// be anything. So:
//   - a top-level field becomes a column when its key is nameable (1 to
//     maxKeyBytes bytes, no control characters), no column already has the
//     same name in another case, and the collection has fewer than
//     MaxColumns columns (Options.MaxColumns); the first spelling to arrive
//     names the column (within one document, the one that sorts first);
//   - every other top-level field of a document is kept, key and value as
//     written, in the document's OverflowColumn, a JSON object that queries
//     read like any JSON value (_overflow->>'$."weird key"');
//   - a nested object whose keys are not all nameable, or that would hold
//     case variants of one key, more than maxStructFields fields, or lie
//     deeper than maxStructDepth, is stored as JSON rather than a STRUCT;
//   - _id and _event_time are the server's; other spellings of them (_ID)
//     go to the overflow column like any other clash.
const (
	// MaxColumns is the default cap on the columns a collection's fields get
	// (besides _id, _event_time and _overflow).
	MaxColumns = 1000
	// OverflowColumn holds a document's fields that have no column.
	OverflowColumn = "_overflow"

	maxKeyBytes     = 255
	maxStructFields = 1000
	maxStructDepth  = 32
)

// reservedColumns are set by the server, never taken from the document body.
var reservedColumns = map[string]bool{"_id": true, "_event_time": true, OverflowColumn: true}

// nameable reports whether a key can be a DuckDB column or STRUCT field name.
func nameable(k string) bool {
	if k == "" || len(k) > maxKeyBytes || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// nameableObject reports whether an object's keys can be one STRUCT's fields.
func nameableObject(m map[string]any) bool {
	if len(m) > maxStructFields {
		return false
	}
	seen := make(map[string]bool, len(m))
	for k := range m {
		if !nameable(k) {
			return false
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			return false
		}
		seen[lk] = true
	}
	return true
}

// mergeTop merges a document's top-level structure into a collection's
// columns: a field joins as a column only under the rules above; the rest is
// left to the overflow column. Keys are taken in sorted order, so which
// fields get the last free columns does not depend on map order.
func mergeTop(schema, doc map[string]any, maxColumns int) map[string]any {
	var out map[string]any
	for _, k := range sortedKeys(doc) {
		v := doc[k]
		if reservedFold(k) {
			continue
		}
		if old, ok := schema[k]; ok {
			if m := mergeSchema(old, v); !sameNode(m, old) {
				out = cloneOnce(out, schema)
				out[k] = m
			}
			continue
		}
		if !nameable(k) || hasFold(schema, k) || hasFold(out, k) {
			continue
		}
		cur := schema
		if out != nil {
			cur = out
		}
		typed := len(cur)
		if _, ok := cur[OverflowColumn]; ok {
			typed--
		}
		if typed >= maxColumns {
			continue
		}
		out = cloneOnce(out, schema)
		out[k] = v
	}
	if out == nil {
		return schema
	}
	return out
}

func cloneOnce(out, schema map[string]any) map[string]any {
	if out != nil {
		return out
	}
	out = make(map[string]any, len(schema)+1)
	for k, v := range schema {
		out[k] = v
	}
	return out
}

func sameNode(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func reservedFold(k string) bool { return reservedColumns[strings.ToLower(k)] }

func hasFold(m map[string]any, k string) bool {
	for ek := range m {
		if strings.EqualFold(ek, k) {
			return true
		}
	}
	return false
}

// columnOf reports whether a document's top-level key is stored in a column
// of schema (else it goes to the overflow column).
func columnOf(schema map[string]any, k string) bool {
	if k == OverflowColumn {
		return false
	}
	_, ok := schema[k]
	return ok
}
