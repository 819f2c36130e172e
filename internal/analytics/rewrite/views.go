package rewrite

import (
	"reflect"
	"strings"
)

// maxViewDepth bounds views over views; it also stops a view that, after
// an update, names itself.
const maxViewDepth = 8

// inline replaces the table reference v, which names a view, with the
// view's query as a subquery under the same alias, and walks that query as
// if the user had written it: its collections resolve, its functions and
// nodes meet the allow-list, and the final text is checked as a whole.
func (w *walker) inline(v map[string]any, t Table) error {
	if w.depth >= maxViewDepth {
		return errorf("view %s: views nest more than %d deep (does it name itself?)", t.Path, maxViewDepth)
	}
	alias, _ := v["alias"].(string)
	if alias == "" {
		alias = t.Path[strings.LastIndex(t.Path, ".")+1:]
	}
	root, err := w.r.parse(w.ctx, "SELECT * FROM (\n"+t.Query+"\n) AS "+quoteIdent(alias))
	if err != nil {
		return errorf("view %s: %v", t.Path, err)
	}
	stmt, _ := root["statements"].([]any)[0].(map[string]any)
	node, _ := stmt["node"].(map[string]any)
	from, _ := node["from_table"].(map[string]any)
	if from == nil {
		return errorf("view %s: its query cannot be inlined", t.Path)
	}
	if cols, ok := v["column_name_alias"]; ok {
		from["column_name_alias"] = cols
	}
	// The view's own query sees no CTE of the query that names it.
	w.depth++
	err = walkScoped(from["subquery"], nil, w.node)
	w.depth--
	if err != nil {
		return errorf("view %s: %v", t.Path, err)
	}
	for k := range v {
		delete(v, k)
	}
	for k, val := range from {
		v[k] = val
	}
	w.markVisited(from["subquery"])
	return nil
}

// visited says whether v was rewritten already (inline walks a view's query
// itself; the outer walk then meets those nodes again).
func (w *walker) visited(v map[string]any) bool {
	return w.done[reflect.ValueOf(v).Pointer()]
}

func (w *walker) markVisited(n any) {
	switch x := n.(type) {
	case map[string]any:
		w.done[reflect.ValueOf(x).Pointer()] = true
		for _, c := range x {
			w.markVisited(c)
		}
	case []any:
		for _, c := range x {
			w.markVisited(c)
		}
	}
}
