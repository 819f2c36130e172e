package analytics

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
)

var _ api.QueryService = (*Server)(nil)

// Queries beyond one synchronous answer: every query is registered while it
// runs (GET /queries lists it, DELETE /queries/{id} cancels it, which
// interrupts DuckDB), an async query answers after client_timeout_ms with
// its id, and results larger than max_initial_results are kept for paging.
const (
	defaultClientTimeout = 3 * time.Second
	keepFinished         = 30 * time.Minute // how long a finished query's info and results stay
	maxKeptResults       = 64               // finished result sets kept for paging, oldest dropped first
	maxKeptInfos         = 1024             // finished query infos kept
	maxPageDocs          = 100000
)

type queryState struct {
	id, sql   string
	by        api.Caller // who ran it: a key with a lesser role than admin sees only its own
	submitted time.Time
	cancel    context.CancelFunc
	done      chan struct{}

	// set once done is closed
	finished time.Time
	resp     openapi.QueryResponse
	err      error
	keep     bool // results kept for paging (guarded by queryLog.mu)

	cancelled atomic.Bool // a cancel was asked for
}

func (q *queryState) status() string {
	select {
	case <-q.done:
	default:
		return "RUNNING"
	}
	switch {
	case q.err != nil && q.cancelled.Load():
		return "CANCELLED"
	case q.err != nil:
		return "ERROR"
	}
	return "COMPLETED"
}

// queryLog holds running queries and recently finished ones.
type queryLog struct {
	mu   sync.Mutex
	byID map[string]*queryState
}

func (l *queryLog) add(q *queryState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string]*queryState{}
	}
	l.byID[q.id] = q
	l.pruneLocked(time.Now())
}

func (l *queryLog) get(id string) (*queryState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q, ok := l.byID[id]
	return q, ok
}

func (l *queryLog) all() []*queryState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*queryState, 0, len(l.byID))
	for _, q := range l.byID {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].submitted.Before(out[j].submitted) })
	return out
}

// pruneLocked drops finished queries past keepFinished, then the oldest
// result sets beyond maxKeptResults and the oldest infos beyond maxKeptInfos.
func (l *queryLog) pruneLocked(now time.Time) {
	var finished []*queryState
	for id, q := range l.byID {
		select {
		case <-q.done:
		default:
			continue
		}
		if now.Sub(q.finished) > keepFinished {
			delete(l.byID, id)
			continue
		}
		finished = append(finished, q)
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].finished.After(finished[j].finished) })
	kept := 0
	for i, q := range finished {
		if i >= maxKeptInfos {
			delete(l.byID, q.id)
			continue
		}
		if q.keep {
			if kept++; kept > maxKeptResults {
				q.keep = false
				q.resp.Results = nil
			}
		}
	}
}

// submit runs a query from POST /queries: synchronously, or async with an
// answer after client_timeout_ms at the latest.
func (s *Server) submit(ctx context.Context, req openapi.QueryRequest) (openapi.QueryResponse, error) {
	if t := strings.TrimSpace(req.Sql.Query); len(t) >= 6 && strings.EqualFold(t[:6], "script") {
		return openapi.QueryResponse{}, api.Errorf(api.NotImplemented, "JavaScript UDFs (script {{{ ... }}}) are not supported")
	}
	async := req.GetAsync()
	initial := req.MaxInitialResults
	if initial == nil && req.Sql.InitialPaginateResponseDocCount != nil {
		initial = ptr(int64(*req.Sql.InitialPaginateResponseDocCount)) // the deprecated spelling
	}
	if initial != nil && (*initial < 0 || *initial > maxPageDocs) {
		return openapi.QueryResponse{}, api.Errorf(api.InvalidInput, "max_initial_results must be between 0 and %d", maxPageDocs)
	}
	if c, ok := api.CallerFrom(ctx); ok && c.Role != builtinAdmin {
		rq, err := s.rw.Rewrite(ctx, req.Sql.Query, s.resolve)
		if err != nil {
			return openapi.QueryResponse{}, queryError(err)
		}
		if err := s.checkQueryAccess(ctx, rq.Collections); err != nil {
			return openapi.QueryResponse{}, err
		}
	}
	runCtx := ctx
	if async {
		runCtx = context.WithoutCancel(ctx) // it outlives the request
	}
	runCtx, cancel := context.WithCancel(runCtx)
	by, _ := api.CallerFrom(ctx)
	q := &queryState{id: randomID(), sql: req.Sql.Query, by: by, submitted: time.Now(), cancel: cancel, done: make(chan struct{})}
	s.queries.add(q)
	run := queryRun{sql: req.Sql.Query, params: toParams(req.Sql.Parameters), rowLimit: req.Sql.DefaultRowLimit, timeoutMs: req.TimeoutMs}
	go func() {
		defer cancel()
		resp, err := s.run(runCtx, run)
		s.queries.mu.Lock()
		q.resp, q.err, q.finished = resp, err, time.Now()
		q.keep = async || (initial != nil && int64(len(resp.Results)) > *initial)
		s.queries.mu.Unlock()
		close(q.done)
	}()
	wait := time.Duration(-1)
	if async {
		wait = defaultClientTimeout
		if o := req.AsyncOptions; o != nil && o.ClientTimeoutMs != nil && *o.ClientTimeoutMs >= 0 {
			wait = time.Duration(*o.ClientTimeoutMs) * time.Millisecond
		}
	}
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-q.done:
		case <-t.C:
			return openapi.QueryResponse{QueryId: ptr(q.id), Status: ptr(q.status())}, nil
		}
	} else {
		<-q.done
	}
	if q.err != nil {
		if q.cancelled.Load() {
			return openapi.QueryResponse{}, api.Errorf(api.QueryError, "query %s was cancelled", q.id)
		}
		return openapi.QueryResponse{}, q.err
	}
	s.queries.mu.Lock()
	resp, keep := q.resp, q.keep
	if !keep {
		q.resp.Results = nil // answered whole: only the query's info stays
	}
	s.queries.mu.Unlock()
	resp.QueryId = ptr(q.id)
	if keep {
		all := resp.Results
		if initial != nil && int64(len(all)) > *initial {
			resp.Results = all[:*initial]
			resp.Pagination = &openapi.PaginationInfo{
				StartCursor: ptr(cursor(0)), NextCursor: ptr(cursor(*initial)),
				CurrentPageDocCount: ptr(*initial), NextCursorOffset: ptr(*initial),
			}
		}
	}
	return resp, nil
}

func cursor(offset int64) string { return "c" + strconv.FormatInt(offset, 10) }

// findQuery finds a query the caller may see: another key's query holds
// its SQL and results, which the caller's role may not allow it to read.
func (s *Server) findQuery(ctx context.Context, id string) (*queryState, error) {
	q, ok := s.queries.get(id)
	if !ok {
		return nil, api.Errorf(api.NotFound, "query %q not found (finished queries are kept for %s)", id, keepFinished)
	}
	if c, _ := api.CallerFrom(ctx); !seesQuery(c, q) {
		return nil, api.Errorf(api.Forbidden, "query %s was run by another key; a key with role %q sees only its own queries", id, c.Role)
	}
	return q, nil
}

func seesQuery(c api.Caller, q *queryState) bool {
	return c.Role == builtinAdmin || (c.Email == q.by.Email && c.KeyName == q.by.KeyName)
}

func (s *Server) queryInfo(q *queryState) openapi.QueryInfo {
	info := openapi.QueryInfo{
		QueryId: ptr(q.id), Sql: ptr(q.sql), Status: ptr(q.status()),
		SubmittedAt: ptr(q.submitted.UTC().Format(time.RFC3339Nano)),
	}
	select {
	case <-q.done:
	default:
		return info
	}
	info.ExpiresAt = ptr(q.finished.Add(keepFinished).UTC().Format(time.RFC3339Nano))
	info.Stats = &openapi.Stats{ElapsedTimeMs: ptr(q.finished.Sub(q.submitted).Milliseconds())}
	if q.err == nil {
		info.Stats.ResultSetDocumentCount = ptr(q.resp.GetResultsTotalDocCount())
		if q.keep {
			info.Pagination = &openapi.Pagination{StartCursor: ptr(cursor(0))}
		}
	} else {
		msg := q.err.Error()
		if ae, ok := q.err.(*api.Error); ok {
			msg = ae.Message
		}
		info.QueryErrors = []openapi.QueryError{{Message: ptr(msg)}}
	}
	return info
}

// GetQuery answers GET /queries/{id}.
func (s *Server) GetQuery(ctx context.Context, id string) (openapi.QueryInfo, error) {
	q, err := s.findQuery(ctx, id)
	if err != nil {
		return openapi.QueryInfo{}, err
	}
	s.queries.mu.Lock()
	defer s.queries.mu.Unlock()
	return s.queryInfo(q), nil
}

// ListQueries answers GET /queries: the queries running now (the caller's
// own, unless it is an admin).
func (s *Server) ListQueries(ctx context.Context) ([]openapi.QueryInfo, error) {
	out := []openapi.QueryInfo{}
	c, _ := api.CallerFrom(ctx)
	qs := s.queries.all()
	s.queries.mu.Lock()
	defer s.queries.mu.Unlock()
	for _, q := range qs {
		if q.status() == "RUNNING" && seesQuery(c, q) {
			out = append(out, s.queryInfo(q))
		}
	}
	return out, nil
}

// CancelQuery answers DELETE /queries/{id}: a running query is interrupted
// and reported CANCELLED; a finished one is reported as it finished.
func (s *Server) CancelQuery(ctx context.Context, id string) (openapi.QueryInfo, error) {
	q, err := s.findQuery(ctx, id)
	if err != nil {
		return openapi.QueryInfo{}, err
	}
	if q.status() == "RUNNING" {
		q.cancelled.Store(true)
		q.cancel()
		select {
		case <-q.done:
		case <-ctx.Done():
			return openapi.QueryInfo{}, ctx.Err()
		}
	}
	s.queries.mu.Lock()
	defer s.queries.mu.Unlock()
	return s.queryInfo(q), nil
}

// QueryResults answers GET /queries/{id}/pages: docs results from the
// cursor (plus offset), and the cursor of the next page ("" at the end).
func (s *Server) QueryResults(ctx context.Context, id, cur string, docs, offset int64) (openapi.QueryPaginationResponse, error) {
	q, err := s.findQuery(ctx, id)
	if err != nil {
		return openapi.QueryPaginationResponse{}, err
	}
	switch q.status() {
	case "RUNNING":
		return openapi.QueryPaginationResponse{}, api.Errorf(api.NotReady, "query %s is still running", id)
	case "ERROR", "CANCELLED":
		return openapi.QueryPaginationResponse{}, api.Errorf(api.InvalidInput, "query %s ended with status %s: it has no results", id, q.status())
	}
	s.queries.mu.Lock()
	defer s.queries.mu.Unlock()
	if !q.keep {
		return openapi.QueryPaginationResponse{}, api.Errorf(api.InvalidInput, "the results of query %s were answered whole and not kept; run it with max_initial_results or async to page through them", id)
	}
	start := int64(0)
	if cur != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(cur, "c"), 10, 64)
		if err != nil || !strings.HasPrefix(cur, "c") || n < 0 {
			return openapi.QueryPaginationResponse{}, api.Errorf(api.InvalidInput, "cursor %q is not one this server issued", cur)
		}
		start = n
	}
	if offset < 0 || docs < 0 {
		return openapi.QueryPaginationResponse{}, api.Errorf(api.InvalidInput, "docs and offset must not be negative")
	}
	if docs == 0 || docs > maxPageDocs {
		docs = maxPageDocs
	}
	all := q.resp.Results
	total := int64(len(all))
	from := min(start+offset, total)
	to := min(from+docs, total)
	page := all[from:to]
	if page == nil {
		page = []map[string]any{}
	}
	next := ""
	if to < total {
		next = cursor(to)
	}
	return openapi.QueryPaginationResponse{
		Results: page, ResultsTotalDocCount: ptr(total),
		Pagination: &openapi.PaginationInfo{
			StartCursor: ptr(cursor(from)), NextCursor: ptr(next),
			CurrentPageDocCount: ptr(to - from), NextCursorOffset: ptr(int64(0)),
		},
	}, nil
}
