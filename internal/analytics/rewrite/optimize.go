package rewrite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Two Rockset idioms are correct in DuckDB but planned as dependent joins,
// hundreds of times slower than DuckDB's list operators on the same data:
//
//  1. FROM coll AS t, UNNEST(t.list) AS h WHERE ...
//     becomes FROM (SELECT t.*, unnest(t.list) AS h FROM coll AS t WHERE <the
//     conditions on t alone>) AS t WHERE ..., a projection unnest that runs
//     after the (zone-map pruned) filter;
//  2. EXISTS (SELECT ... FROM UNNEST(x) AS h WHERE cond)
//     becomes coalesce(len(list_filter(x, lambda h: cond)), 0) > 0.
//
// New nodes come from parsing small templates and splicing the original
// expression nodes in at marker column names, so every node stays DuckDB's own.

const (
	markList = "__sd_list__"
	markCond = "__sd_cond__"
)

type optimizer struct {
	ctx    context.Context
	r      *Rewriter
	tables map[string]Table // resolved collection tables by DuckDB name
}

func (o *optimizer) parseNode(q string) (map[string]any, error) {
	var tree string
	if err := o.r.db.QueryRowContext(o.ctx, `SELECT json_serialize_sql($1::VARCHAR)::VARCHAR`, q).Scan(&tree); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(tree))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, err
	}
	if e, _ := root["error"].(bool); e {
		return nil, fmt.Errorf("template: %v", root["error_message"])
	}
	stmts, _ := root["statements"].([]any)
	if len(stmts) != 1 {
		return nil, fmt.Errorf("template: %d statements", len(stmts))
	}
	stmt, _ := stmts[0].(map[string]any)
	node, _ := stmt["node"].(map[string]any)
	if node == nil {
		return nil, fmt.Errorf("template: no node")
	}
	return node, nil
}

// optimize rewrites n bottom-up and returns its replacement.
func (o *optimizer) optimize(n any) (any, error) {
	switch v := n.(type) {
	case map[string]any:
		for k, c := range v {
			nc, err := o.optimize(c)
			if err != nil {
				return nil, err
			}
			v[k] = nc
		}
		if t, _ := v["type"].(string); t == "SELECT_NODE" {
			if err := o.lateralUnnest(v); err != nil {
				return nil, err
			}
		}
		if cls, _ := v["class"].(string); cls == "SUBQUERY" {
			return o.existsUnnest(v)
		}
		return v, nil
	case []any:
		for i, c := range v {
			nc, err := o.optimize(c)
			if err != nil {
				return nil, err
			}
			v[i] = nc
		}
		return v, nil
	}
	return n, nil
}

// unnestAlias returns the element name and argument of a rewritten
// `UNNEST(x) AS _u_h(h)` table function, or ok=false.
func unnestAlias(tf map[string]any) (elem string, arg any, ok bool) {
	if t, _ := tf["type"].(string); t != "TABLE_FUNCTION" {
		return "", nil, false
	}
	fn, _ := tf["function"].(map[string]any)
	if name, _ := fn["function_name"].(string); !strings.EqualFold(name, "unnest") {
		return "", nil, false
	}
	args, _ := fn["children"].([]any)
	cols, _ := tf["column_name_alias"].([]any)
	alias, _ := tf["alias"].(string)
	if len(args) != 1 || len(cols) != 1 {
		return "", nil, false
	}
	if w, _ := tf["with_ordinality"].(string); w != "" && w != "WITHOUT_ORDINALITY" {
		return "", nil, false
	}
	elem, _ = cols[0].(string)
	if elem == "" || alias != "_u_"+elem {
		return "", nil, false
	}
	return elem, args[0], true
}

// refsOnly reports whether every column reference in n belongs to table
// alias a (qualified) or is one of its columns, never elem, and n holds no
// subquery, lambda or window.
func refsOnly(n any, a string, cols map[string]bool, elem string) bool {
	switch v := n.(type) {
	case map[string]any:
		switch cls, _ := v["class"].(string); cls {
		case "SUBQUERY", "LAMBDA", "WINDOW", "LAMBDA_REF":
			return false
		case "COLUMN_REF":
			names, _ := v["column_names"].([]any)
			if len(names) == 0 {
				return false
			}
			first, _ := names[0].(string)
			if len(names) >= 2 && strings.EqualFold(first, a) {
				return true
			}
			return cols[strings.ToLower(first)] && !strings.EqualFold(first, elem)
		}
		for _, c := range v {
			if !refsOnly(c, a, cols, elem) {
				return false
			}
		}
	case []any:
		for _, c := range v {
			if !refsOnly(c, a, cols, elem) {
				return false
			}
		}
	}
	return true
}

func conjuncts(w any) []any {
	m, ok := w.(map[string]any)
	if !ok {
		return nil
	}
	if t, _ := m["type"].(string); t == "CONJUNCTION_AND" {
		var out []any
		for _, c := range m["children"].([]any) {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []any{m}
}

func deepCopy(n any) any {
	switch v := n.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, c := range v {
			out[k] = deepCopy(c)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, c := range v {
			out[i] = deepCopy(c)
		}
		return out
	}
	return n
}

func splice(n any, repl map[string]any) any {
	switch v := n.(type) {
	case map[string]any:
		if cls, _ := v["class"].(string); cls == "COLUMN_REF" {
			if names, _ := v["column_names"].([]any); len(names) == 1 {
				if s, _ := names[0].(string); repl[s] != nil {
					return repl[s]
				}
			}
		}
		for k, c := range v {
			v[k] = splice(c, repl)
		}
	case []any:
		for i, c := range v {
			v[i] = splice(c, repl)
		}
	}
	return n
}

func (o *optimizer) lateralUnnest(sel map[string]any) error {
	join, _ := sel["from_table"].(map[string]any)
	if t, _ := join["type"].(string); t != "JOIN" {
		return nil
	}
	if rt, _ := join["ref_type"].(string); rt != "CROSS" || join["condition"] != nil {
		return nil
	}
	left, _ := join["left"].(map[string]any)
	right, _ := join["right"].(map[string]any)
	if t, _ := left["type"].(string); t != "BASE_TABLE" {
		return nil
	}
	tableName, _ := left["table_name"].(string)
	table, ok := o.tables[tableName]
	if !ok || left["sample"] != nil || left["at_clause"] != nil {
		return nil
	}
	alias, _ := left["alias"].(string)
	elem, arg, ok := unnestAlias(right)
	if !ok || alias == "" {
		return nil
	}
	cols := map[string]bool{}
	for _, c := range table.Columns {
		cols[strings.ToLower(c)] = true
	}
	if cols[strings.ToLower(elem)] || !refsOnly(arg, alias, cols, elem) {
		return nil
	}
	var pushed []any
	for _, c := range conjuncts(sel["where_clause"]) {
		if refsOnly(c, alias, cols, elem) {
			pushed = append(pushed, deepCopy(c))
		}
	}
	proj := quoteIdent(alias) + ".*"
	if needed, ok := neededColumns(sel, alias, table.Columns, elem); ok {
		proj = ""
		for _, c := range needed {
			proj += quoteIdent(alias) + "." + quoteIdent(c) + ", "
		}
		proj = strings.TrimSuffix(proj, ", ")
	}
	if proj != "" {
		proj += ", "
	}
	q := fmt.Sprintf(`SELECT * FROM (SELECT %sunnest(%s) AS %s FROM %s AS %s`,
		proj, markList, quoteIdent(elem), quoteIdent(tableName), quoteIdent(alias))
	for i := range pushed {
		if i == 0 {
			q += " WHERE "
		} else {
			q += " AND "
		}
		q += fmt.Sprintf("%s%d", markCond, i)
	}
	q += ") AS " + quoteIdent(alias)
	tmpl, err := o.parseNode(q)
	if err != nil {
		return err
	}
	repl := map[string]any{markList: arg}
	for i, c := range pushed {
		repl[fmt.Sprintf("%s%d", markCond, i)] = c
	}
	from := splice(tmpl["from_table"], repl)
	sel["from_table"] = from
	return nil
}

// neededColumns lists the table's columns that the select node uses through
// alias a, so the unnest projection carries only those (carrying every
// column through UNNEST costs more than the unnest itself). ok=false means
// it cannot tell (unknown columns, a star, the row itself): carry them all.
func neededColumns(sel map[string]any, a string, columns []string, elem string) ([]string, bool) {
	if len(columns) == 0 {
		return nil, false
	}
	canon := map[string]string{}
	for _, c := range columns {
		canon[strings.ToLower(c)] = c
	}
	if list, _ := sel["select_list"].([]any); list != nil {
		for _, e := range list {
			if em, _ := e.(map[string]any); em != nil {
				if cls, _ := em["class"].(string); cls == "STAR" {
					return nil, false
				}
			}
		}
	}
	used := map[string]bool{}
	ok := true
	var visit func(n any)
	visit = func(n any) {
		switch v := n.(type) {
		case map[string]any:
			if cls, _ := v["class"].(string); cls == "COLUMN_REF" {
				names, _ := v["column_names"].([]any)
				var first, second string
				if len(names) > 0 {
					first, _ = names[0].(string)
				}
				if len(names) > 1 {
					second, _ = names[1].(string)
				}
				switch {
				case strings.EqualFold(first, a) && len(names) == 1:
					ok = false // the whole row
				case strings.EqualFold(first, a):
					if c, found := canon[strings.ToLower(second)]; found {
						used[c] = true
					}
				case !strings.EqualFold(first, elem):
					if c, found := canon[strings.ToLower(first)]; found {
						used[c] = true
					}
				}
				return
			}
			for k, c := range v {
				if k == "from_table" && isSame(v, sel) {
					continue // being replaced
				}
				visit(c)
			}
		case []any:
			for _, c := range v {
				visit(c)
			}
		}
	}
	visit(sel)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(used))
	for _, c := range columns {
		if used[c] {
			out = append(out, c)
		}
	}
	return out, true
}

func isSame(a, b map[string]any) bool {
	return fmt.Sprintf("%p", a) == fmt.Sprintf("%p", b)
}

func (o *optimizer) existsUnnest(sub map[string]any) (any, error) {
	if st, _ := sub["subquery_type"].(string); st != "EXISTS" {
		return sub, nil
	}
	sq, _ := sub["subquery"].(map[string]any)
	node, _ := sq["node"].(map[string]any)
	if t, _ := node["type"].(string); t != "SELECT_NODE" {
		return sub, nil
	}
	if ge, _ := node["group_expressions"].([]any); len(ge) > 0 {
		return sub, nil
	}
	if mods, _ := node["modifiers"].([]any); len(mods) > 0 {
		return sub, nil
	}
	if node["having"] != nil || node["qualify"] != nil || node["sample"] != nil {
		return sub, nil
	}
	if cm, _ := node["cte_map"].(map[string]any); cm != nil {
		if entries, _ := cm["map"].([]any); len(entries) > 0 {
			return sub, nil
		}
	}
	tf, _ := node["from_table"].(map[string]any)
	elem, arg, ok := unnestAlias(tf)
	if !ok {
		return sub, nil
	}
	cond := node["where_clause"]
	if cond != nil && !noSubquery(cond) {
		return sub, nil
	}
	body := markCond
	if cond == nil {
		body = "true"
	}
	q := fmt.Sprintf(`SELECT coalesce(len(list_filter(%s, lambda %s: %s)), 0) > 0`, markList, quoteIdent(elem), body)
	tmpl, err := o.parseNode(q)
	if err != nil {
		return nil, err
	}
	list, _ := tmpl["select_list"].([]any)
	if len(list) != 1 {
		return sub, nil
	}
	expr := splice(list[0], map[string]any{markList: arg, markCond: cond}).(map[string]any)
	if a, _ := sub["alias"].(string); a != "" {
		expr["alias"] = a
	}
	return expr, nil
}

func noSubquery(n any) bool {
	switch v := n.(type) {
	case map[string]any:
		if cls, _ := v["class"].(string); cls == "SUBQUERY" {
			return false
		}
		for _, c := range v {
			if !noSubquery(c) {
				return false
			}
		}
	case []any:
		for _, c := range v {
			if !noSubquery(c) {
				return false
			}
		}
	}
	return true
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
