package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// EventTime says where a document's _event_time comes from.
type EventTime struct {
	Field  string // dotted path in the document; "" means arrival time (or the document's own _event_time)
	Format string // milliseconds_since_epoch, seconds_since_epoch, or "" for an ISO 8601 string
}

// Record is one raw input document.
type Record struct {
	Data []byte
	// RID identifies the record at its source (shard and sequence number); it
	// is the _id of a document that has none, so redelivery cannot duplicate.
	RID     string
	Arrival time.Time
}

// Checkpoint is a shard position committed together with a batch.
type Checkpoint struct {
	Shard  string
	Seq    string
	Closed bool
}

// Batch is what one ingest step writes atomically.
type Batch struct {
	Records     []Record
	Checkpoints []Checkpoint
	// ReplaceCheckpoints drops every checkpoint of the collection before the
	// batch's are stored, in the same transaction: the source's stream was
	// replaced, and a shard ID the new stream has not written to yet must not
	// keep the old stream's position.
	ReplaceCheckpoints bool
}

// WriteResult counts what happened to a batch's records.
type WriteResult struct {
	Inserted  int
	Malformed int // not a JSON object, or rejected by the ingest transformation
	Bytes     int64
}

// Stats are a collection's live counters.
type Stats struct {
	DocCount      int64
	Processed     int64
	Malformed     int64
	Bytes         int64
	LastUpdatedMs int64
	Purged        int64
	LastError     string
	LastMalformed string // why the latest skipped record was skipped, since the process started
}

// Collection is one collection's table. Writers (ingest batches, purges) are
// serialised by mu; readers never take it, DuckDB's MVCC keeps them apart.
type Collection struct {
	s     *Store
	Table string

	mu        sync.Mutex
	schema    map[string]any
	conn      *sql.Conn // ingest's own connection: it owns the temp staging tables
	eventTime EventTime
	transform string // SQL over the temp table _input, already checked

	shapes      map[uint64]bool // document shapes already merged into schema
	inputSchema map[string]any  // what the transformation's _input has seen
	inputShapes map[uint64]bool

	transformErr  error                  // the stored transformation cannot run: refuse batches
	lastMalformed atomic.Pointer[string] // why the latest skipped record was skipped
}

// Collection returns the collection stored in table, creating it when absent.
func (s *Store) Collection(ctx context.Context, table string) (*Collection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.colls[table]; ok {
		return c, nil
	}
	c := &Collection{s: s, Table: table, schema: map[string]any{}, shapes: map[uint64]bool{},
		inputSchema: map[string]any{}, inputShapes: map[uint64]bool{}}
	var schema sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT schema FROM _sd_collections WHERE tbl = $1`, table).Scan(&schema)
	switch {
	case err == sql.ErrNoRows:
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		stmts := []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (_id VARCHAR, _event_time TIMESTAMP)`, quoteIdent(table)),
			fmt.Sprintf(`INSERT INTO _sd_collections VALUES (%s, '{}')`, quoteLiteral(table)),
			fmt.Sprintf(`INSERT INTO _sd_stats VALUES (%s, 0, 0, 0, 0, 0, '')`, quoteLiteral(table)),
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("create collection table: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		if err := s.checkpoint(ctx, nil); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal([]byte(schema.String), &c.schema); err != nil {
			return nil, fmt.Errorf("collection %s schema: %w", table, err)
		}
	}
	s.colls[table] = c
	return c, nil
}

// Get returns an already opened collection.
func (s *Store) Get(table string) (*Collection, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[table]
	return c, ok
}

// Drop removes the collection's table, checkpoints and stats.
func (s *Store) Drop(ctx context.Context, table string) error {
	s.mu.Lock()
	c := s.colls[table]
	delete(s.colls, table)
	s.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closeConn()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DROP TABLE IF EXISTS ` + quoteIdent(table),
		`DELETE FROM _sd_collections WHERE tbl = ` + quoteLiteral(table),
		`DELETE FROM _sd_checkpoints WHERE tbl = ` + quoteLiteral(table),
		`DELETE FROM _sd_stats WHERE tbl = ` + quoteLiteral(table),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("drop %s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return s.checkpoint(ctx, nil)
}

// Configure sets the event-time rule and the (already validated) ingest
// transformation over _input; "" means none.
func (c *Collection) Configure(et EventTime, transform string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventTime = et
	c.transform = transform
	c.transformErr = nil
}

// Refuse makes every batch fail with err until the next Configure: the
// collection has a transformation that cannot run (it no longer passes the
// checks), and storing documents untransformed would be wrong.
func (c *Collection) Refuse(et EventTime, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventTime = et
	c.transform = ""
	c.transformErr = err
}

func (c *Collection) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// dropBrokenConn forgets the ingest connection after a failure that may
// have left it unusable: a context cancelled under a transaction (a reader
// stopped mid-batch to restart with new credentials) makes database/sql
// discard the connection, and every later use would fail with
// sql.ErrConnDone. The next write opens a fresh one.
func (c *Collection) dropBrokenConn(ctx context.Context, err error) {
	if err != nil && (ctx.Err() != nil || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn)) {
		c.closeConn()
	}
}

func (c *Collection) ingestConn(ctx context.Context) (*sql.Conn, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	conn, err := c.s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS _sd_stage (ord INTEGER, raw VARCHAR, id VARCHAR, evt TIMESTAMP, arrival TIMESTAMP, extra VARCHAR)`); err != nil {
		conn.Close()
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

// Columns lists the collection's top-level columns.
func (c *Collection) Columns() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []string{"_id", "_event_time"}
	return append(out, sortedKeys(c.schema)...)
}

// Checkpoints returns the committed shard positions.
func (c *Collection) Checkpoints(ctx context.Context) (map[string]Checkpoint, error) {
	rows, err := c.s.db.QueryContext(ctx, `SELECT shard, seq, closed FROM _sd_checkpoints WHERE tbl = $1`, c.Table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Checkpoint{}
	for rows.Next() {
		var cp Checkpoint
		if err := rows.Scan(&cp.Shard, &cp.Seq, &cp.Closed); err != nil {
			return nil, err
		}
		out[cp.Shard] = cp
	}
	return out, rows.Err()
}

// Stats reads the collection's counters.
func (c *Collection) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := c.s.db.QueryRowContext(ctx, `SELECT processed, malformed, bytes, last_updated_ms, purged, last_error FROM _sd_stats WHERE tbl = $1`, c.Table).
		Scan(&st.Processed, &st.Malformed, &st.Bytes, &st.LastUpdatedMs, &st.Purged, &st.LastError)
	if err != nil {
		return st, err
	}
	err = c.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(c.Table)).Scan(&st.DocCount)
	st.LastMalformed = c.LastMalformed()
	return st, err
}

// staged is a document ready for the staging table.
type staged struct {
	raw      []byte
	id       string
	given    bool      // _id came from the document, so it may replace a stored one
	evt      time.Time // zero: not found in Go, let SQL decide
	arrival  time.Time
	top      []field // top-level fields, for the overflow column
	overflow []byte  // JSON object of the fields without a column; nil when none
}

// Reasons a record is skipped, as counted and shown in the source status.
const (
	reasonNotObject = "not a JSON object"
)

// prepare validates records, learns new shapes, and works out each
// document's _id and _event_time. Malformed records are counted, not staged.
// Later records with the same _id replace earlier ones, as they would in the table.
func (c *Collection) prepare(recs []Record, shapes map[uint64]bool) (docs []staged, schema map[string]any, malformed int) {
	want := []string{"_id", "_event_time"}
	topField := c.eventTime.Field != "" && !strings.Contains(c.eventTime.Field, ".")
	if topField {
		want = append(want, c.eventTime.Field)
	}
	schema = c.schema
	byID := make(map[string]int, len(recs))
	docs = make([]staged, 0, len(recs))
	for _, r := range recs {
		if !json.Valid(r.Data) {
			malformed++
			c.noteMalformed(reasonNotObject)
			continue
		}
		fp, vals, top, err := scanShape(r.Data, want)
		if err != nil {
			malformed++
			c.noteMalformed(reasonNotObject)
			continue
		}
		if !c.shapes[fp] && !shapes[fp] {
			st, err := docStructure(r.Data)
			if err != nil {
				malformed++
				c.noteMalformed(reasonNotObject)
				continue
			}
			schema = mergeTop(schema, st, c.s.opts.MaxColumns)
			shapes[fp] = true
		}
		d := staged{raw: r.Data, id: r.RID, arrival: r.Arrival, top: top}
		if v := vals[0]; v != nil && string(v) != "null" {
			d.id = scalarText(v)
			d.given = true
		}
		switch {
		case topField:
			d.evt = parseEventTime(vals[2], c.eventTime.Format)
		case c.eventTime.Field == "" && vals[1] != nil:
			d.evt = parseEventTime(vals[1], "")
		}
		if i, ok := byID[d.id]; ok {
			docs[i] = d
			continue
		}
		byID[d.id] = len(docs)
		docs = append(docs, d)
	}
	// Only now is the batch's schema known: every field without a column
	// goes to the document's overflow object, as written.
	need := false
	for i := range docs {
		docs[i].overflow = overflowOf(schema, docs[i].top)
		docs[i].top = nil
		need = need || docs[i].overflow != nil
	}
	if _, ok := schema[OverflowColumn]; need && !ok {
		schema = cloneOnce(nil, schema)
		schema[OverflowColumn] = tJSON
	}
	return docs, schema, malformed
}

// overflowOf is the JSON object of the fields that have no column in schema,
// nil when every field has one.
func overflowOf(schema map[string]any, top []field) []byte {
	var b []byte
	for _, f := range top {
		name := f.name()
		if name == "_id" || name == "_event_time" || columnOf(schema, name) {
			continue
		}
		if b == nil {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.key...)
		b = append(b, '"', ':')
		b = append(b, f.val...)
	}
	if b == nil {
		return nil
	}
	return append(b, '}')
}

// scalarText is a raw JSON value as _id text: a string's contents, anything
// else as written.
func scalarText(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s
		}
	}
	return string(raw)
}

func parseEventTime(raw []byte, format string) time.Time {
	if raw == nil {
		return time.Time{}
	}
	text := scalarText(raw)
	switch format {
	case "milliseconds_since_epoch", "seconds_since_epoch":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e16 {
			return time.Time{}
		}
		if format == "seconds_since_epoch" {
			f *= 1000
		}
		return time.UnixMicro(int64(f * 1000)).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, text); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Write ingests a batch: malformed records are counted and skipped, the rest
// are transformed, typed, upserted by _id, and committed in one transaction
// with the batch's checkpoints and counters.
//
// A batch DuckDB refuses because of what a record holds (a value it cannot
// convert, a string it cannot parse) is split in halves until the records it
// refuses are alone; each is counted as malformed with DuckDB's reason and
// skipped, the rest are stored, and the checkpoints move. Ingest never retries
// one batch forever. A failure that is not about the data (I/O, memory, a
// closed connection, the deadline) is returned, and the whole batch is read
// again later.
func (c *Collection) Write(ctx context.Context, b Batch) (_ WriteResult, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.dropBrokenConn(ctx, err) }()
	if c.transformErr != nil {
		return WriteResult{}, fmt.Errorf("ingest transformation: %w", c.transformErr)
	}
	res, err := c.write(ctx, b.Records, b.Checkpoints, b.ReplaceCheckpoints, true, false)
	if err == nil || ctx.Err() != nil || !RecordFault(err) {
		return res, err
	}
	res = WriteResult{}
	if err := c.isolate(ctx, b.Records, &res); err != nil {
		return res, err
	}
	// Checkpoints and counters for the whole batch, now that every piece is in.
	if _, err := c.writeAccount(ctx, b, res); err != nil {
		return res, err
	}
	return res, nil
}

// isolate writes recs in pieces, halving any piece DuckDB refuses, and counts
// a single refused record as malformed. Pieces upsert every _id, so a piece
// written twice (a crash before the checkpoints commit) is stored once.
func (c *Collection) isolate(ctx context.Context, recs []Record, res *WriteResult) error {
	r, err := c.write(ctx, recs, nil, false, false, true)
	if err == nil {
		res.Inserted += r.Inserted
		res.Malformed += r.Malformed
		res.Bytes += r.Bytes
		return nil
	}
	if ctx.Err() != nil || !RecordFault(err) {
		return err
	}
	if len(recs) == 1 {
		res.Malformed++
		c.noteMalformed(faultReason(err))
		return nil
	}
	mid := len(recs) / 2
	if err := c.isolate(ctx, recs[:mid], res); err != nil {
		return err
	}
	return c.isolate(ctx, recs[mid:], res)
}

// writeAccount commits a batch's checkpoints and counters after isolate.
func (c *Collection) writeAccount(ctx context.Context, b Batch, res WriteResult) (WriteResult, error) {
	tx, err := c.s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	if err := writeCheckpoints(ctx, tx, c.Table, b.Checkpoints, b.ReplaceCheckpoints); err != nil {
		return res, err
	}
	if err := addStats(ctx, tx, c.Table, int64(len(b.Records)), res); err != nil {
		return res, err
	}
	return res, tx.Commit()
}

func addStats(ctx context.Context, tx *sql.Tx, table string, processed int64, res WriteResult) error {
	if _, err := tx.ExecContext(ctx, `UPDATE _sd_stats SET processed = processed + $1, malformed = malformed + $2, bytes = bytes + $3, last_updated_ms = $4 WHERE tbl = $5`,
		processed, int64(res.Malformed), res.Bytes, time.Now().UnixMilli(), table); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	return nil
}

// RecordFault reports whether DuckDB refused a write because of the data in
// it (conversion, parsing, binding of a value), as opposed to a failure of
// the database itself. Only these are worth splitting a batch over.
func RecordFault(err error) bool {
	msg := err.Error()
	for _, kind := range []string{"Conversion Error", "Invalid Input Error", "Binder Error", "Parser Error", "Catalog Error",
		"Constraint Error", "Not implemented Error", "Out of Range Error", "Mismatch Type Error", "Invalid type Error", "Type Error"} {
		if strings.Contains(msg, kind) {
			return true
		}
	}
	return false
}

// faultReason is DuckDB's refusal without the document text it quotes.
func faultReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "Input:"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// noteMalformed remembers why the latest record was skipped.
func (c *Collection) noteMalformed(reason string) {
	c.lastMalformed.Store(&reason)
}

// LastMalformed is why the latest skipped record was skipped ("" for none
// since the process started).
func (c *Collection) LastMalformed() string {
	if r := c.lastMalformed.Load(); r != nil {
		return *r
	}
	return ""
}

// write stages, evolves and commits one piece of a batch. account adds the
// piece's counters; upsertAll deletes every staged _id first, not only the
// ones documents brought.
func (c *Collection) write(ctx context.Context, recs []Record, cps []Checkpoint, replace, account, upsertAll bool) (WriteResult, error) {
	var res WriteResult
	conn, err := c.ingestConn(ctx)
	if err != nil {
		return res, err
	}
	processed := int64(len(recs))
	if c.transform != "" && len(recs) > 0 {
		var rejected int
		recs, rejected, err = c.applyTransform(ctx, conn, recs)
		if err != nil {
			return res, err
		}
		res.Malformed += rejected
	}
	shapes := map[uint64]bool{}
	docs, newSchema, malformed := c.prepare(recs, shapes)
	res.Malformed += malformed
	for _, d := range docs {
		res.Bytes += int64(len(d.raw))
	}
	if err := c.stage(ctx, conn, docs); err != nil {
		return res, err
	}

	if err := c.evolveDurably(ctx, conn, newSchema); err != nil {
		return res, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	if len(docs) > 0 {
		// A generated _id names a Kinesis record, and checkpoints commit with
		// the documents, so it cannot be stored already: only documents that
		// bring their own _id can replace one, and only then is the table
		// searched.
		if upsertAll || anyGiven(docs) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(c.Table)+` WHERE _id IN (SELECT id FROM _sd_stage)`); err != nil {
				return res, fmt.Errorf("upsert delete: %w", err)
			}
		}
		r, err := tx.ExecContext(ctx, c.insertSQL(newSchema))
		if err != nil {
			return res, fmt.Errorf("insert: %w", err)
		}
		ins, _ := r.RowsAffected()
		res.Inserted = int(ins)
	}
	if err := writeCheckpoints(ctx, tx, c.Table, cps, replace); err != nil {
		return res, err
	}
	if account {
		if err := addStats(ctx, tx, c.Table, processed, res); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit batch: %w", err)
	}
	if len(c.shapes) > maxShapes {
		c.shapes = map[uint64]bool{}
	}
	for fp := range shapes {
		c.shapes[fp] = true
	}
	return res, nil
}

func anyGiven(docs []staged) bool {
	for _, d := range docs {
		if d.given {
			return true
		}
	}
	return false
}

// maxShapes bounds the memory of shape fingerprints; forgetting them only
// costs a decode of the next document of each shape.
const maxShapes = 4096

func (c *Collection) stage(ctx context.Context, conn *sql.Conn, docs []staged) error {
	if _, err := conn.ExecContext(ctx, `TRUNCATE _sd_stage`); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if len(docs) == 0 {
		return nil
	}
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", "_sd_stage")
		if err != nil {
			return fmt.Errorf("stage appender: %w", err)
		}
		for i, d := range docs {
			var evt driver.Value
			if !d.evt.IsZero() {
				evt = d.evt
			}
			var extra driver.Value
			if d.overflow != nil {
				extra = string(d.overflow)
			}
			if err := a.AppendRow(int32(i), string(d.raw), d.id, evt, d.arrival.UTC(), extra); err != nil {
				a.Close()
				return fmt.Errorf("stage append: %w", err)
			}
		}
		return a.Close()
	})
}

// applyTransform runs the ingest transformation over the records and returns
// its output as new records. A batch the transformation fails on is retried
// record by record so that only the records it rejects are lost (and counted).
func (c *Collection) applyTransform(ctx context.Context, conn *sql.Conn, recs []Record) ([]Record, int, error) {
	var input []staged
	rejected := 0
	for _, r := range recs {
		if !json.Valid(r.Data) {
			rejected++
			continue
		}
		fp, _, _, err := scanShape(r.Data, nil)
		if err != nil {
			rejected++
			continue
		}
		if !c.inputShapes[fp] {
			st, err := docStructure(r.Data)
			if err != nil {
				rejected++
				continue
			}
			c.inputSchema = mergeTop(c.inputSchema, st, c.s.opts.MaxColumns)
			c.inputShapes[fp] = true
		}
		input = append(input, staged{raw: r.Data, id: r.RID, arrival: r.Arrival})
	}
	if len(input) == 0 {
		return nil, rejected, nil
	}
	if err := c.stage(ctx, conn, input); err != nil {
		return nil, 0, err
	}
	out, err := c.transformStaged(ctx, conn)
	if err != nil {
		if ctx.Err() != nil || !RecordFault(err) {
			return nil, 0, err
		}
		out = nil
		for _, d := range input {
			if err := c.stage(ctx, conn, []staged{d}); err != nil {
				return nil, 0, err
			}
			one, err := c.transformStaged(ctx, conn)
			if err != nil {
				if ctx.Err() != nil || !RecordFault(err) {
					return nil, 0, err
				}
				rejected++
				c.noteMalformed("ingest transformation: " + faultReason(err))
				continue
			}
			for i := range one {
				one[i].Arrival = d.arrival
			}
			out = append(out, one...)
		}
	}
	for i := range out {
		out[i].RID = fmt.Sprintf("%s#%d", input[0].id, i)
		if out[i].Arrival.IsZero() {
			out[i].Arrival = input[0].arrival
		}
	}
	return out, rejected, nil
}

// transformStaged runs the transformation over the staged records within the
// store's transformation deadline, so a slow one stops with a reason (the
// source shows it as ERROR) instead of holding ingest without a word.
func (c *Collection) transformStaged(ctx context.Context, conn *sql.Conn) ([]Record, error) {
	d := c.s.opts.TransformTimeout
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, err := c.transformStagedCtx(tctx, conn)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		return nil, fmt.Errorf("the ingest transformation took longer than its deadline of %s", d)
	}
	return out, err
}

func (c *Collection) transformStagedCtx(ctx context.Context, conn *sql.Conn) ([]Record, error) {
	s := c.inputSchema
	if len(s) == 0 {
		s = map[string]any{"_": tNull}
	}
	input := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE _input AS SELECT unnest(json_transform(raw, %s)) FROM _sd_stage ORDER BY ord`, quoteLiteral(specJSON(s)))
	if _, err := conn.ExecContext(ctx, input); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, `SELECT to_json(_sd_out)::VARCHAR FROM (`+c.transform+`) AS _sd_out`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		out = append(out, Record{Data: []byte(doc)})
	}
	return out, rows.Err()
}

// evolveDurably applies a schema change in its own transaction and
// checkpoints at once, so the write-ahead log never holds DDL when the
// process dies: DuckDB cannot replay a WAL that mixes ALTER TABLE with
// updates in one transaction ("Calling DatabaseManager::GetDefaultDatabase
// with no default database set", duckdb/duckdb#22124, #20543), and the
// database would not open again. Schema changes are rare (a new field, a
// widened type); the checkpoint costs nothing on the hot path.
func (c *Collection) evolveDurably(ctx context.Context, conn *sql.Conn, next map[string]any) error {
	if !schemaChanges(c.schema, next) {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := c.evolve(ctx, tx, next); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema change: %w", err)
	}
	if len(next) != len(c.schema) {
		c.s.gen.Add(1)
	}
	c.schema = next
	return c.s.checkpoint(ctx, conn)
}

// schemaChanges reports whether next adds a column or changes a column's type.
func schemaChanges(cur, next map[string]any) bool {
	for k, t := range next {
		old, ok := cur[k]
		if !ok || duckType(old) != duckType(t) {
			return true
		}
	}
	return false
}

// evolve adds new columns and widens changed ones.
func (c *Collection) evolve(ctx context.Context, tx *sql.Tx, next map[string]any) error {
	changed := false
	for _, k := range sortedKeys(next) {
		nt := duckType(next[k])
		old, ok := c.schema[k]
		var q string
		switch {
		case !ok:
			q = fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, quoteIdent(c.Table), quoteIdent(k), nt)
		case duckType(old) != nt:
			using := fmt.Sprintf(`json_transform(to_json(%s), %s)`, quoteIdent(k), quoteLiteral(specJSON(next[k])))
			if nt == tJSON {
				using = `to_json(` + quoteIdent(k) + `)`
			}
			q = fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN %s SET DATA TYPE %s USING %s`, quoteIdent(c.Table), quoteIdent(k), nt, using)
		default:
			continue
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("schema change %q: %w", q, err)
		}
		changed = true
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE _sd_collections SET schema = $1 WHERE tbl = $2`, string(b), c.Table)
	return err
}

func (c *Collection) insertSQL(schema map[string]any) string {
	typed := make(map[string]any, len(schema))
	for k, v := range schema {
		if k != OverflowColumn {
			typed[k] = v
		}
	}
	_, overflow := schema[OverflowColumn]
	var sb strings.Builder
	fmt.Fprintf(&sb, `INSERT INTO %s BY NAME SELECT _id, _event_time`, quoteIdent(c.Table))
	if len(typed) > 0 {
		sb.WriteString(`, unnest(d)`)
	}
	if overflow {
		sb.WriteString(`, ` + OverflowColumn)
	}
	sb.WriteString(` FROM (SELECT id AS _id, `)
	sb.WriteString(eventTimeExpr(c.eventTime))
	sb.WriteString(` AS _event_time`)
	if len(typed) > 0 {
		fmt.Fprintf(&sb, `, json_transform(raw, %s) AS d`, quoteLiteral(specJSON(typed)))
	}
	if overflow {
		sb.WriteString(`, extra::JSON AS ` + OverflowColumn)
	}
	sb.WriteString(` FROM _sd_stage)`)
	return sb.String()
}

func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return quoteLiteral("$." + strings.Join(parts, "."))
}

// eventTimeExpr is _event_time in SQL: what Go found (evt), else a nested
// field Go does not look into, else the arrival time.
func eventTimeExpr(et EventTime) string {
	if et.Field == "" || !strings.Contains(et.Field, ".") {
		return `COALESCE(evt, arrival)`
	}
	v := `json_extract_string(raw, ` + jsonPath(et.Field) + `)`
	var t string
	switch et.Format {
	case "milliseconds_since_epoch":
		t = `make_timestamp(TRY_CAST(TRY_CAST(` + v + ` AS DOUBLE) * 1000 AS BIGINT))`
	case "seconds_since_epoch":
		t = `make_timestamp(TRY_CAST(TRY_CAST(` + v + ` AS DOUBLE) * 1000000 AS BIGINT))`
	default:
		t = `TRY_CAST(` + v + ` AS TIMESTAMP)`
	}
	return `COALESCE(evt, ` + t + `, arrival)`
}

func writeCheckpoints(ctx context.Context, tx *sql.Tx, table string, cps []Checkpoint, replace bool) error {
	if replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM _sd_checkpoints WHERE tbl = $1`, table); err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
	}
	if len(cps) == 0 {
		return nil
	}
	var del, ins strings.Builder
	fmt.Fprintf(&del, `DELETE FROM _sd_checkpoints WHERE tbl = %s AND shard IN (`, quoteLiteral(table))
	ins.WriteString(`INSERT INTO _sd_checkpoints VALUES `)
	for i, cp := range cps {
		if i > 0 {
			del.WriteString(", ")
			ins.WriteString(", ")
		}
		del.WriteString(quoteLiteral(cp.Shard))
		fmt.Fprintf(&ins, `(%s, %s, %s, %t)`, quoteLiteral(table), quoteLiteral(cp.Shard), quoteLiteral(cp.Seq), cp.Closed)
	}
	del.WriteString(")")
	if _, err := tx.ExecContext(ctx, del.String()); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	if _, err := tx.ExecContext(ctx, ins.String()); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	return nil
}

// SetError records the source's last error message (shown in its status).
func (c *Collection) SetError(ctx context.Context, msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.s.db.ExecContext(ctx, `UPDATE _sd_stats SET last_error = $1 WHERE tbl = $2`, msg, c.Table)
	return err
}

// Purge deletes documents whose _event_time is before cutoff.
func (c *Collection) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(c.Table)+` WHERE _event_time < $1`, cutoff.UTC())
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	n, _ := r.RowsAffected()
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE _sd_stats SET purged = purged + $1 WHERE tbl = $2`, n, c.Table); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}
