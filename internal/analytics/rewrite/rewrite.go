package rewrite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Table is what a collection name resolves to.
type Table struct {
	Name    string   // the DuckDB table
	Path    string   // "workspace.collection", as reported to the client
	Columns []string // its top-level columns, when known (enables the UNNEST plans in optimize.go)
	Query   string   // set for a view (or an alias of several collections): the SQL inlined in its place (views.go)
}

// Resolver maps a collection reference to its table. workspace is "" when the
// query names a bare collection.
type Resolver func(workspace, collection string) (Table, error)

// Param is a Rockset typed query parameter.
type Param struct {
	Name  string
	Type  string
	Value string
}

// Query is a rewritten query ready to prepare.
type Query struct {
	SQL         string
	Params      []string // parameter names the query uses
	Collections []string // workspace.collection paths it reads
	HasLimit    bool     // the outermost query has its own LIMIT
}

// Rewriter parses with DuckDB and caches rewrites by query text. The cache is
// dropped whenever the set of collections changes (Invalidate), and bounded
// by the bytes of the texts it holds, not their number, so large query texts
// cannot make it grow without bound.
type Rewriter struct {
	db *sql.DB

	// MaxSQLBytes refuses longer query texts (DefaultMaxSQLBytes).
	MaxSQLBytes int
	// MaxCacheBytes bounds the cache (DefaultMaxCacheBytes).
	MaxCacheBytes int

	mu         sync.Mutex
	cache      map[string]*Query
	cacheBytes int
}

// Defaults for the Rewriter's bounds.
const (
	DefaultMaxSQLBytes   = 256 << 10
	DefaultMaxCacheBytes = 16 << 20
)

// New returns a Rewriter that parses with db (any DuckDB connection pool).
func New(db *sql.DB) *Rewriter {
	return &Rewriter{db: db, cache: map[string]*Query{}, MaxSQLBytes: DefaultMaxSQLBytes, MaxCacheBytes: DefaultMaxCacheBytes}
}

// Invalidate forgets cached rewrites (collections were created or deleted).
func (r *Rewriter) Invalidate() {
	r.mu.Lock()
	r.cache = map[string]*Query{}
	r.cacheBytes = 0
	r.mu.Unlock()
}

func (r *Rewriter) checkLength(q string) error {
	if r.MaxSQLBytes > 0 && len(q) > r.MaxSQLBytes {
		return errorf("the query text is %d bytes, more than the limit of %d", len(q), r.MaxSQLBytes)
	}
	return nil
}

// Rewrite checks and rewrites q.
func (r *Rewriter) Rewrite(ctx context.Context, q string, resolve Resolver) (*Query, error) {
	if err := r.checkLength(q); err != nil {
		return nil, err
	}
	key := q
	r.mu.Lock()
	if c, ok := r.cache[key]; ok {
		r.mu.Unlock()
		return c, nil
	}
	r.mu.Unlock()
	out, err := r.rewrite(ctx, q, resolve, false)
	if err != nil {
		return nil, err
	}
	size := len(key) + len(out.SQL)
	r.mu.Lock()
	if size <= r.MaxCacheBytes/4 {
		// Evict arbitrary entries (map order) until the new one fits.
		for k, v := range r.cache {
			if r.cacheBytes+size <= r.MaxCacheBytes {
				break
			}
			r.cacheBytes -= len(k) + len(v.SQL)
			delete(r.cache, k)
		}
		if _, ok := r.cache[key]; !ok {
			r.cache[key] = out
			r.cacheBytes += size
		}
	}
	r.mu.Unlock()
	return out, nil
}

// CacheBytes is the size of the cached texts (for tests and metrics).
func (r *Rewriter) CacheBytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cacheBytes
}

// Transformation checks an ingest transformation (`SELECT ... FROM _input`)
// and rewrites it to run over the temp table _input.
func (r *Rewriter) Transformation(ctx context.Context, q string) (string, error) {
	if err := r.checkLength(q); err != nil {
		return "", err
	}
	resolve := func(ws, coll string) (Table, error) {
		if ws == "" && coll == "_input" {
			return Table{Name: "_input"}, nil
		}
		return Table{}, errorf("an ingest transformation can only read _input, not %s", coll)
	}
	out, err := r.rewrite(ctx, q, resolve, true)
	if err != nil {
		return "", err
	}
	if len(out.Params) > 0 {
		return "", errorf("an ingest transformation cannot use parameters")
	}
	return out.SQL, nil
}

var allowedFirst = map[string]bool{"SELECT": true, "WITH": true, "FROM": true, "VALUES": true}

func (r *Rewriter) rewrite(ctx context.Context, q string, resolve Resolver, transform bool) (*Query, error) {
	text, first, err := scan(q)
	if err != nil {
		return nil, err
	}
	if first == "" {
		return nil, errorf("empty query")
	}
	if !allowedFirst[first] {
		return nil, errorf("only SELECT and WITH queries are allowed, not %s", first)
	}
	root, err := r.parse(ctx, text)
	if err != nil {
		return nil, err
	}
	stmts := root["statements"].([]any)
	w := &walker{resolve: resolve, params: map[string]bool{}, colls: map[string]bool{}, tables: map[string]Table{}, aliases: map[string][]Table{},
		ctx: ctx, r: r, done: map[uintptr]bool{}}
	if err := walkScoped(stmts[0], nil, w.node); err != nil {
		return nil, err
	}
	if stmt, ok := stmts[0].(map[string]any); ok && !transform {
		if err := nullMissingFields(ctx, r, stmt, w.aliases); err != nil {
			return nil, err
		}
		o := &optimizer{ctx: ctx, r: r, tables: w.tables}
		node, err := o.optimize(stmt["node"])
		if err != nil {
			return nil, fmt.Errorf("optimize: %w", err)
		}
		stmt["node"] = node
		nameAggregates(stmt["node"])
	}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	var out string
	if err := r.db.QueryRowContext(ctx, `SELECT json_deserialize_sql($1::JSON)`, string(b)).Scan(&out); err != nil {
		return nil, errorf("rewrite: %v", err)
	}
	// What runs is this text, so this text is what the allow-list judges:
	// a rewrite step can never smuggle in something the first pass did not see.
	tables := make(map[string]bool, len(w.tables))
	for name := range w.tables {
		tables[name] = true
	}
	if err := r.check(ctx, out, tables); err != nil {
		return nil, err
	}
	res := &Query{SQL: out}
	if stmt, ok := stmts[0].(map[string]any); ok {
		res.HasLimit = hasLimit(stmt["node"])
	}
	for p := range w.params {
		res.Params = append(res.Params, p)
	}
	for c := range w.colls {
		res.Collections = append(res.Collections, c)
	}
	sort.Strings(res.Params)
	sort.Strings(res.Collections)
	return res, nil
}

type walker struct {
	resolve Resolver
	params  map[string]bool
	colls   map[string]bool
	tables  map[string]Table
	aliases map[string][]Table // lower-cased alias -> collections it names

	// views.go: inlining views
	ctx   context.Context
	r     *Rewriter
	depth int
	done  map[uintptr]bool // nodes already rewritten, not to be visited again
}

func (w *walker) node(v map[string]any, sc *scope) error {
	if w.visited(v) {
		return nil
	}
	typ, _ := v["type"].(string)
	switch typ {
	case "BASE_TABLE":
		return w.baseTable(v, sc)
	case "TABLE_FUNCTION":
		fn, _ := v["function"].(map[string]any)
		name, _ := fn["function_name"].(string)
		if !allowedTableFunctions[strings.ToLower(name)] {
			return errorf("table function %s is not allowed", name)
		}
		if strings.EqualFold(name, "unnest") {
			alias, _ := v["alias"].(string)
			cols, _ := v["column_name_alias"].([]any)
			if alias != "" && len(cols) == 0 {
				// Rockset's `UNNEST(x) AS h` names the element h; in DuckDB
				// that is a column alias: `UNNEST(x) AS _u_h(h)`.
				v["column_name_alias"] = []any{alias}
				v["alias"] = "_u_" + alias
			}
		}
	case "VALUE_PARAMETER":
		id, _ := v["identifier"].(string)
		if _, err := strconv.Atoi(id); err == nil || id == "" {
			return errorf("positional parameters are not supported; use :name")
		}
		w.params[id] = true
	}
	if cls, _ := v["class"].(string); cls == "PARAMETER" {
		if id, _ := v["identifier"].(string); id != "" {
			w.params[id] = true
		}
	}
	return nil
}

func (w *walker) baseTable(v map[string]any, sc *scope) error {
	catalog, _ := v["catalog_name"].(string)
	schema, _ := v["schema_name"].(string)
	table, _ := v["table_name"].(string)
	if catalog != "" {
		return errorf("collection %s.%s.%s: names have at most two parts, workspace.collection", catalog, schema, table)
	}
	if schema == "" && sc.has(table) {
		return nil
	}
	t, err := w.resolve(schema, table)
	if err != nil {
		return err
	}
	if t.Query != "" {
		return w.inline(v, t)
	}
	if alias, _ := v["alias"].(string); alias == "" {
		// Keep `coll.field` references working after the rename.
		v["alias"] = table
	}
	v["schema_name"] = ""
	v["table_name"] = t.Name
	w.tables[t.Name] = t
	a, _ := v["alias"].(string)
	w.aliases[strings.ToLower(a)] = append(w.aliases[strings.ToLower(a)], t)
	if t.Path != "" {
		w.colls[t.Path] = true
	}
	return nil
}

func hasLimit(node any) bool {
	n, ok := node.(map[string]any)
	if !ok {
		return false
	}
	mods, _ := n["modifiers"].([]any)
	for _, m := range mods {
		if mm, ok := m.(map[string]any); ok {
			if t, _ := mm["type"].(string); t == "LIMIT_MODIFIER" || t == "LIMIT_PERCENT_MODIFIER" {
				return true
			}
		}
	}
	return false
}

// nameAggregates gives unaliased function results in the outermost select
// list Rockset's names: count(*) -> ?count, max(x) -> ?max.
func nameAggregates(node any) {
	n, ok := node.(map[string]any)
	if !ok {
		return
	}
	if t, _ := n["type"].(string); t == "SET_OPERATION_NODE" {
		nameAggregates(n["left"])
		return
	}
	list, _ := n["select_list"].([]any)
	used := map[string]bool{}
	for _, e := range list {
		if em, ok := e.(map[string]any); ok {
			if a, _ := em["alias"].(string); a != "" {
				used[a] = true
			}
		}
	}
	for _, e := range list {
		em, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if a, _ := em["alias"].(string); a != "" {
			continue
		}
		if cls, _ := em["class"].(string); cls != "FUNCTION" {
			continue
		}
		if op, _ := em["is_operator"].(bool); op {
			continue
		}
		name, _ := em["function_name"].(string)
		if name == "count_star" {
			name = "count"
		}
		alias := "?" + strings.ToLower(name)
		for i := 0; used[alias]; i++ {
			alias = fmt.Sprintf("?%s%d", strings.ToLower(name), i)
		}
		used[alias] = true
		em["alias"] = alias
	}
}

// Bind converts Rockset typed parameters to named arguments for the
// parameters the query uses. A value is only ever a value: it is bound, never
// spliced into the text.
func Bind(q *Query, params []Param) ([]any, error) {
	byName := map[string]Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	args := make([]any, 0, len(q.Params))
	for _, name := range q.Params {
		p, ok := byName[name]
		if !ok {
			return nil, errorf("query parameter :%s is not supplied", name)
		}
		v, err := convert(p)
		if err != nil {
			return nil, err
		}
		args = append(args, sql.Named(name, v))
	}
	return args, nil
}

func convert(p Param) (any, error) {
	s := strings.TrimSpace(p.Value)
	bad := func(err error) error {
		return errorf("query parameter :%s: %q is not a valid %s: %v", p.Name, p.Value, p.Type, err)
	}
	switch strings.ToLower(p.Type) {
	case "string", "":
		return p.Value, nil
	case "int", "integer", "bigint":
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "float", "double":
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "bool", "boolean":
		v, err := strconv.ParseBool(s)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "timestamp", "datetime":
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, bad(fmt.Errorf("want RFC 3339"))
	case "date":
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, bad(err)
		}
		return t, nil
	}
	return nil, errorf("query parameter :%s has unknown type %q", p.Name, p.Type)
}
