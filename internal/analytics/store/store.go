// Package store keeps collections as DuckDB tables: schemaless JSON in,
// typed STRUCT/LIST columns out, with upsert by _id, schema evolution,
// checkpoints committed with the documents they cover, and retention.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Options bound what the database may use. Zero values take the defaults
// noted on each field.
type Options struct {
	// MemoryLimit is DuckDB's memory_limit in bytes; a query that needs more
	// fails alone ("Out of Memory Error") instead of the process being killed.
	// 0 leaves DuckDB's default (80% of the machine's memory).
	MemoryLimit int64
	// Threads is DuckDB's worker threads; 0 leaves DuckDB's default (every core).
	Threads int
	// TempDir is where DuckDB spills what does not fit in memory, and
	// MaxTempBytes caps it; "" keeps DuckDB's default (next to the database).
	TempDir      string
	MaxTempBytes int64
	// TransformTimeout bounds one run of an ingest transformation (10s).
	TransformTimeout time.Duration
	// MaxColumns caps a collection's columns (MaxColumns); fields beyond it
	// are kept in the overflow column.
	MaxColumns int
}

// Store is one DuckDB database holding every collection.
type Store struct {
	db   *sql.DB
	opts Options

	// gen counts changes to any collection's set of columns; cached query
	// rewrites that depend on columns are dropped when it moves.
	gen atomic.Int64

	mu    sync.Mutex
	colls map[string]*Collection
}

// Open opens (or creates) the database at path; "" is an in-memory database.
// The database is then locked down: no file or network access from SQL, and
// no way to change that from a query.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with resource bounds.
func OpenWith(path string, opts Options) (*Store, error) {
	if opts.TransformTimeout <= 0 {
		opts.TransformTimeout = 10 * time.Second
	}
	if opts.MaxColumns <= 0 {
		opts.MaxColumns = MaxColumns
	}
	dsn := path
	if path == "" {
		dsn = ":memory:"
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	db := sql.OpenDB(connector)
	s := &Store{db: db, opts: opts, colls: map[string]*Collection{}}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS _sd_collections (tbl VARCHAR, schema VARCHAR)`,
		`CREATE TABLE IF NOT EXISTS _sd_checkpoints (tbl VARCHAR, shard VARCHAR, seq VARCHAR, closed BOOLEAN)`,
		`CREATE TABLE IF NOT EXISTS _sd_stats (tbl VARCHAR, processed BIGINT, malformed BIGINT, bytes BIGINT, last_updated_ms BIGINT, purged BIGINT, last_error VARCHAR)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store init: %w", err)
		}
	}
	// The instance cache hands back an already locked database when the same
	// file is reopened in one process; then the lock is already what we want.
	var access string
	if err := s.db.QueryRowContext(ctx, `SELECT current_setting('enable_external_access')::VARCHAR`).Scan(&access); err != nil {
		return fmt.Errorf("store init: %w", err)
	}
	if access != "false" {
		// Timestamps are stored as UTC; a timestamp parameter arrives as
		// TIMESTAMPTZ and must compare in UTC whatever the host's zone.
		if _, err := s.db.ExecContext(ctx, `SET GLOBAL TimeZone = 'UTC'`); err != nil {
			return fmt.Errorf("store time zone: %w", err)
		}
		if err := s.bound(ctx); err != nil {
			return err
		}
		if _, err := s.db.ExecContext(ctx, `SET enable_external_access = false`); err != nil {
			return fmt.Errorf("store lock-down: %w", err)
		}
		if _, err := s.db.ExecContext(ctx, `SET lock_configuration = true`); err != nil {
			return fmt.Errorf("store lock-down: %w", err)
		}
	}
	return nil
}

// bound applies the resource options; it must run before the configuration
// is locked.
func (s *Store) bound(ctx context.Context) error {
	var set []string
	if s.opts.MemoryLimit > 0 {
		set = append(set, fmt.Sprintf(`SET GLOBAL memory_limit = '%dB'`, s.opts.MemoryLimit))
	}
	if s.opts.Threads > 0 {
		set = append(set, fmt.Sprintf(`SET GLOBAL threads = %d`, s.opts.Threads))
	}
	if s.opts.TempDir != "" {
		set = append(set, `SET GLOBAL temp_directory = `+quoteLiteral(s.opts.TempDir))
	}
	if s.opts.MaxTempBytes > 0 {
		set = append(set, fmt.Sprintf(`SET GLOBAL max_temp_directory_size = '%dB'`, s.opts.MaxTempBytes))
	}
	for _, q := range set {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store bounds (%s): %w", q, err)
		}
	}
	return nil
}

// Generation changes whenever a collection gains columns.
func (s *Store) Generation() int64 { return s.gen.Load() }

// DB is the underlying database, for benchmarks that compare against it.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes every collection and the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, c := range s.colls {
		c.closeConn()
	}
	s.colls = map[string]*Collection{}
	s.mu.Unlock()
	return s.db.Close()
}

// Tables lists the collection tables present in the database.
func (s *Store) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tbl FROM _sd_collections ORDER BY tbl`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Column is a result column with its Rockset type name.
type Column struct {
	Name string
	Type string
}

// Result is a query's rows, each a JSON-ready object.
type Result struct {
	Columns []Column
	Rows    []map[string]any
}

// ErrTimeout reports a query stopped by its deadline.
var ErrTimeout = errors.New("query timed out")

// Query runs a read query with named arguments and returns at most limit rows.
// The context bounds it; DuckDB is interrupted when the context ends. It runs
// in a read-only transaction: should anything that writes ever get past the
// rewriter, DuckDB itself refuses it.
func (s *Store) Query(ctx context.Context, query string, args []any, limit int) (*Result, error) {
	return s.QueryBounded(ctx, query, args, limit, 0)
}

// ErrTooLarge reports a result over the byte cap.
var ErrTooLarge = errors.New("result too large")

// QueryBounded is Query that also stops, with ErrTooLarge, once the rows read
// so far would encode to more than maxBytes of JSON (0: no cap). Rows are
// read one at a time, so an oversized result is refused before it is held
// whole.
func (s *Store) QueryBounded(ctx context.Context, query string, args []any, limit int, maxBytes int64) (*Result, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, queryErr(ctx, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN TRANSACTION READ ONLY`); err != nil {
		return nil, queryErr(ctx, err)
	}
	defer endReadOnly(conn)
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, queryErr(ctx, err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: make([]Column, len(cts))}
	for i, ct := range cts {
		res.Columns[i] = Column{Name: ct.Name(), Type: rocksetType(ct.DatabaseTypeName())}
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var size int64
	for rows.Next() {
		if limit > 0 && len(res.Rows) >= limit {
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, queryErr(ctx, err)
		}
		row := make(map[string]any, len(vals))
		for i, v := range vals {
			row[res.Columns[i].Name] = jsonValue(v)
			if maxBytes > 0 {
				size += int64(len(res.Columns[i].Name)) + approxJSONSize(row[res.Columns[i].Name])
			}
		}
		if maxBytes > 0 && size > maxBytes {
			return nil, ErrTooLarge
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(ctx, err)
	}
	return res, nil
}

// endReadOnly rolls the query's transaction back; a connection that cannot
// is dropped from the pool rather than handed to the next query mid-transaction.
func endReadOnly(conn *sql.Conn) {
	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// approxJSONSize is about the bytes v takes in JSON: close enough to cap a
// response without encoding it twice.
func approxJSONSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 4
	case string:
		return int64(len(x)) + 2
	case map[string]any:
		n := int64(2)
		for k, e := range x {
			n += int64(len(k)) + 4 + approxJSONSize(e)
		}
		return n
	case []any:
		n := int64(2)
		for _, e := range x {
			n += 1 + approxJSONSize(e)
		}
		return n
	}
	return 8
}

func queryErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ErrTimeout
	}
	return err
}

func rocksetType(t string) string {
	switch {
	case strings.HasSuffix(t, "[]") || strings.HasPrefix(t, "LIST"):
		return "array"
	case strings.HasPrefix(t, "STRUCT"), strings.HasPrefix(t, "MAP"):
		return "object"
	}
	switch t {
	case "VARCHAR", "UUID", "ENUM":
		return "string"
	case "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "HUGEINT", "UHUGEINT":
		return "int"
	case "DOUBLE", "FLOAT":
		return "float"
	case "BOOLEAN":
		return "bool"
	case "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return "timestamp"
	case "DATE":
		return "date"
	case "TIME":
		return "time"
	case "INTERVAL":
		return "interval"
	case "JSON":
		return "json"
	}
	if strings.HasPrefix(t, "DECIMAL") {
		return "float"
	}
	return strings.ToLower(t)
}

// jsonValue turns a scanned DuckDB value into something encoding/json writes
// the way Rockset does (timestamps as RFC 3339 UTC strings).
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil // JSON has no infinity; a stored 1e400 must not break every query
		}
		return x
	case float32:
		if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
			return nil
		}
		return x
	case []byte:
		if len(x) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
		}
		return string(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	case duckdb.Decimal:
		return x.Float64()
	case duckdb.Interval:
		d := time.Duration(x.Micros)*time.Microsecond + time.Duration(x.Days)*24*time.Hour
		if x.Months != 0 {
			return fmt.Sprintf("%d months %s", x.Months, d)
		}
		return d.String()
	case map[string]any:
		for k, e := range x {
			x[k] = jsonValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonValue(e)
		}
		return x
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	}
	return v
}

// checkpoint writes the WAL into the database file after a schema change (see
// Collection.evolveDurably), on conn when given. A checkpoint that DuckDB
// declines while other transactions run is not an error: the change is
// committed either way, and the next checkpoint takes it.
func (s *Store) checkpoint(ctx context.Context, conn *sql.Conn) error {
	var err error
	if conn != nil {
		_, err = conn.ExecContext(ctx, `CHECKPOINT`)
	} else {
		_, err = s.db.ExecContext(ctx, `CHECKPOINT`)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}
