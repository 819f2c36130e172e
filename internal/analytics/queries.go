package analytics

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

func (s *Server) resolve(ws, coll string) (rewrite.Table, error) {
	if ws == "" {
		ws = "commons"
	}
	var t rewrite.Table
	found := false
	s.meta.View(func(st *meta.State) {
		if c, ok := st.Collections[meta.Key(ws, coll)]; ok {
			t, found = rewrite.Table{Name: c.Table, Path: ws + "." + coll}, true
			return
		}
		for _, c := range st.Collections { // unquoted names may have been case-folded
			if strings.EqualFold(c.Workspace, ws) && strings.EqualFold(c.Name, coll) {
				t, found = rewrite.Table{Name: c.Table, Path: c.Workspace + "." + c.Name}, true
				return
			}
		}
	})
	if !found {
		return s.resolveNamed(ws, coll) // a view or an alias (views.go)
	}
	if sc, ok := s.store.Get(t.Name); ok {
		t.Columns = sc.Columns()
	}
	return t, nil
}

func toParams(ps []openapi.QueryParameter) []rewrite.Param {
	out := make([]rewrite.Param, len(ps))
	for i, p := range ps {
		out[i] = rewrite.Param{Name: p.Name, Type: p.Type, Value: p.Value}
	}
	return out
}

func queryError(err error) error {
	var re *rewrite.Error
	if errors.As(err, &re) {
		return api.Errorf(api.QueryError, "%s", re.Msg)
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	return api.Errorf(api.QueryError, "%v", err)
}

type queryRun struct {
	sql       string
	params    []rewrite.Param
	rowLimit  *int32
	timeoutMs *int64
	lambda    string
}

// admit takes a running slot, waiting in a bounded queue for one; when the
// queue is full too the query is refused at once with 429, which Rockset
// clients retry with backoff.
func (s *Server) admit(ctx context.Context) (release func(), err error) {
	select {
	case s.running <- struct{}{}:
		return func() { <-s.running }, nil
	default:
	}
	select {
	case s.waiting <- struct{}{}:
	default:
		return nil, api.Errorf(api.ResourceExceeded, "too many queries: %d running and %d waiting; retry later", cap(s.running), cap(s.waiting))
	}
	defer func() { <-s.waiting }()
	select {
	case s.running <- struct{}{}:
		return func() { <-s.running }, nil
	case <-ctx.Done():
		return nil, api.Errorf(api.QueryTimeout, "query waited for a free slot until its deadline")
	}
}

func (s *Server) run(ctx context.Context, q queryRun) (openapi.QueryResponse, error) {
	// The checks take a slot as well as execution: parsing costs DuckDB
	// time too, and with only execution bounded, 8 clients looping on
	// refused queries slowed a panel query 75-fold instead of 3-fold
	// (BenchmarkHostileLoad, docs/benchmarks.md).
	release, err := s.admit(ctx)
	if err != nil {
		s.queryErrors.Inc()
		return openapi.QueryResponse{}, err
	}
	defer release()
	start := time.Now()
	defer func() { s.queryLatency.Observe(time.Since(start).Seconds()) }()
	resp, err := s.runQuery(ctx, q, start)
	if err != nil {
		s.queryErrors.Inc()
	}
	return resp, err
}

func (s *Server) runQuery(ctx context.Context, q queryRun, start time.Time) (openapi.QueryResponse, error) {
	if strings.TrimSpace(q.sql) == "" {
		return openapi.QueryResponse{}, api.Errorf(api.InvalidInput, "sql.query is required")
	}
	if g := s.store.Generation(); g != s.schemaGen.Load() {
		s.rw.Invalidate()
		s.schemaGen.Store(g)
	}
	rq, err := s.rw.Rewrite(ctx, q.sql, s.resolve)
	if err != nil {
		return openapi.QueryResponse{}, queryError(err)
	}
	args, err := rewrite.Bind(rq, q.params)
	if err != nil {
		return openapi.QueryResponse{}, queryError(err)
	}
	timeout := s.cfg.MaxQueryTimeout
	if q.timeoutMs != nil && *q.timeoutMs > 0 {
		timeout = min(timeout, time.Duration(*q.timeoutMs)*time.Millisecond)
	}
	limit := s.cfg.MaxRowLimit
	if q.rowLimit != nil && *q.rowLimit > 0 && !rq.HasLimit {
		limit = min(limit, int(*q.rowLimit))
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.store.QueryBounded(qctx, rq.SQL, args, limit, s.cfg.MaxResponseBytes)
	if errors.Is(err, store.ErrTimeout) {
		return openapi.QueryResponse{}, api.Errorf(api.QueryTimeout, "query exceeded its timeout of %s", timeout)
	}
	if errors.Is(err, store.ErrTooLarge) {
		return openapi.QueryResponse{}, api.Errorf(api.QueryError, "the result is larger than the server's limit of %d bytes; select fewer rows or fields", s.cfg.MaxResponseBytes)
	}
	if err != nil && strings.Contains(err.Error(), "Out of Memory Error") {
		return openapi.QueryResponse{}, api.Errorf(api.QueryError, "the query needs more memory than the server allows (%d bytes); it was stopped, nothing else was", s.cfg.MemoryLimit)
	}
	var warnings []string
	if err != nil && strings.Contains(err.Error(), "Binder Error") && s.allEmpty(ctx, rq.Collections) {
		// An empty collection has no fields yet, so DuckDB cannot bind any;
		// Rockset answers such queries with no rows rather than an error.
		res, err = &store.Result{}, nil
		warnings = append(warnings, "no documents yet in "+strings.Join(rq.Collections, ", ")+": its fields are unknown until documents arrive")
	}
	if err != nil {
		return openapi.QueryResponse{}, api.Errorf(api.QueryError, "%v", err)
	}
	fields := make([]openapi.QueryFieldType, len(res.Columns))
	for i, c := range res.Columns {
		fields[i] = openapi.QueryFieldType{Name: c.Name, Type: c.Type}
	}
	rows := res.Rows
	if rows == nil {
		rows = []map[string]any{}
	}
	out := openapi.QueryResponse{
		QueryId:              ptr(randomID()),
		Collections:          append([]string{}, rq.Collections...),
		Results:              rows,
		ColumnFields:         fields,
		ResultsTotalDocCount: ptr(int64(len(rows))),
		Stats:                &openapi.QueryResponseStats{ElapsedTimeMs: ptr(time.Since(start).Milliseconds())},
		Status:               ptr("COMPLETED"),
		Warnings:             warnings,
	}
	if q.lambda != "" {
		out.QueryLambdaPath = ptr(q.lambda)
	}
	return out, nil
}

func (s *Server) allEmpty(ctx context.Context, paths []string) bool {
	if len(paths) == 0 {
		return false
	}
	for _, p := range paths {
		ws, name, _ := strings.Cut(p, ".")
		sc, err := s.CollectionStorage(ws, name)
		if err != nil {
			return false
		}
		st, err := sc.Stats(ctx)
		if err != nil || st.DocCount > 0 {
			return false
		}
	}
	return true
}

// Query runs a SQL query (synchronously, or async: see querylog.go).
func (s *Server) Query(ctx context.Context, req openapi.QueryRequest) (openapi.QueryResponse, error) {
	return s.submit(ctx, req)
}

// ValidateQuery parses and checks a query without running it.
func (s *Server) ValidateQuery(ctx context.Context, req openapi.QueryRequest) (openapi.ValidateQueryResponse, error) {
	rq, err := s.rw.Rewrite(ctx, req.Sql.Query, s.resolve)
	if err != nil {
		return openapi.ValidateQueryResponse{}, queryError(err)
	}
	return openapi.ValidateQueryResponse{Collections: append([]string{}, rq.Collections...), Parameters: append([]string{}, rq.Params...)}, nil
}
