package rewrite

import (
	"context"
	"strings"
)

// nullMissingFields makes `alias.field` read NULL when no document of the
// collection has brought that top-level field yet: in Rockset an absent field
// is null, in DuckDB an unknown column is a binder error. Only references
// qualified by a collection's alias are touched (an unqualified name may be a
// select alias, a CTE column or an UNNEST element), and only when every
// collection under that alias has a known column list lacking the field. A
// field that arrives later adds a column, which drops the cached rewrite.
func nullMissingFields(ctx context.Context, r *Rewriter, stmt map[string]any, aliases map[string][]Table) error {
	missing := func(names []any) bool {
		if len(names) < 2 {
			return false
		}
		a, _ := names[0].(string)
		field, _ := names[1].(string)
		tables := aliases[strings.ToLower(a)]
		if len(tables) == 0 || field == "" {
			return false
		}
		for _, t := range tables {
			if t.Columns == nil {
				return false
			}
			for _, c := range t.Columns {
				if strings.EqualFold(c, field) {
					return false
				}
			}
		}
		return true
	}
	var nullNode map[string]any
	makeNull := func(alias string) (map[string]any, error) {
		if nullNode == nil {
			o := &optimizer{ctx: ctx, r: r}
			tmpl, err := o.parseNode(`SELECT NULL`)
			if err != nil {
				return nil, err
			}
			list, _ := tmpl["select_list"].([]any)
			nullNode, _ = list[0].(map[string]any)
		}
		n := deepCopy(nullNode).(map[string]any)
		n["alias"] = alias
		return n, nil
	}
	var visit func(n any, inSelectList bool) (any, error)
	visit = func(n any, inSelectList bool) (any, error) {
		switch v := n.(type) {
		case map[string]any:
			if cls, _ := v["class"].(string); cls == "COLUMN_REF" {
				names, _ := v["column_names"].([]any)
				if !missing(names) {
					return v, nil
				}
				alias, _ := v["alias"].(string)
				if alias == "" && inSelectList {
					// Keep the column name DuckDB would have given the field.
					alias, _ = names[len(names)-1].(string)
				}
				return makeNull(alias)
			}
			for k, c := range v {
				nc, err := visit(c, k == "select_list")
				if err != nil {
					return nil, err
				}
				v[k] = nc
			}
			return v, nil
		case []any:
			for i, c := range v {
				nc, err := visit(c, inSelectList)
				if err != nil {
					return nil, err
				}
				v[i] = nc
			}
			return v, nil
		}
		return n, nil
	}
	_, err := visit(stmt, false)
	return err
}
