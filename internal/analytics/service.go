package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/ingest"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

var _ api.Service = (*Server)(nil)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return api.Errorf(api.InvalidInput, "%s name %q must be 1-100 letters, digits, '_' or '-'", kind, name)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Organization answers GET /v1/orgs/self.
func (s *Server) Organization(ctx context.Context) openapi.Organization {
	return openapi.Organization{Id: ptr("streamdash"), DisplayName: ptr("streamdash analytics"), CreatedAt: ptr("1970-01-01T00:00:00Z")}
}

// ---- integrations

func integrationView(i *meta.Integration, colls []openapi.Collection) openapi.Integration {
	out := openapi.Integration{Name: i.Name, CreatedBy: i.CreatedBy, CreatedAt: ptr(i.CreatedAt), Collections: colls, Kinesis: &openapi.KinesisIntegration{}}
	if i.Description != "" {
		out.Description = ptr(i.Description)
	}
	if i.AccessKeyID != "" {
		// The secret never leaves the server.
		out.Kinesis.AwsAccessKey = &openapi.AwsAccessKey{AwsAccessKeyId: i.AccessKeyID}
	}
	if i.RoleARN != "" {
		out.Kinesis.AwsRole = &openapi.AwsRole{AwsRoleArn: i.RoleARN}
		if i.ExternalID != "" {
			out.Kinesis.AwsRole.AwsExternalId = ptr(i.ExternalID)
		}
	}
	return out
}

func (s *Server) integrationCollections(st *meta.State, name string) []openapi.Collection {
	var out []openapi.Collection
	for _, c := range st.Collections {
		for _, src := range c.Sources {
			if src.IntegrationName == name {
				out = append(out, openapi.Collection{Name: ptr(c.Name), Workspace: ptr(c.Workspace)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Workspace+*out[i].Name < *out[j].Workspace+*out[j].Name })
	return out
}

// CreateIntegration creates a Kinesis integration.
func (s *Server) CreateIntegration(ctx context.Context, req openapi.CreateIntegrationRequest) (openapi.Integration, error) {
	if err := checkName("integration", req.Name); err != nil {
		return openapi.Integration{}, err
	}
	k := req.Kinesis
	if k == nil {
		return openapi.Integration{}, api.Errorf(api.InvalidInput, "only Kinesis integrations are supported: give kinesis")
	}
	// Neither keys nor a role: the streams are read with the server's own
	// AWS identity (IRSA, EKS Pod Identity, the environment), which is how a
	// cluster-local server is usually granted access. Hosted Rockset had no
	// identity of its own to lend, so it required one of the two.
	i := &meta.Integration{Name: req.Name, Description: req.GetDescription(), CreatedAt: now(), CreatedBy: createdBy}
	switch {
	case k.AwsAccessKey != nil:
		if k.AwsAccessKey.AwsAccessKeyId == "" || k.AwsAccessKey.AwsSecretAccessKey == "" {
			return openapi.Integration{}, api.Errorf(api.InvalidInput, "aws_access_key needs aws_access_key_id and aws_secret_access_key")
		}
		i.AccessKeyID, i.SecretAccessKey = k.AwsAccessKey.AwsAccessKeyId, k.AwsAccessKey.AwsSecretAccessKey
	case k.AwsRole != nil:
		if !strings.HasPrefix(k.AwsRole.AwsRoleArn, "arn:") {
			return openapi.Integration{}, api.Errorf(api.InvalidInput, "aws_role.aws_role_arn must be an ARN")
		}
		i.RoleARN, i.ExternalID = k.AwsRole.AwsRoleArn, k.AwsRole.GetAwsExternalId()
	}
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Integrations[req.Name]; ok {
			return api.Errorf(api.AlreadyExists, "integration %q already exists", req.Name)
		}
		st.Integrations[req.Name] = i
		return nil
	})
	if err != nil {
		return openapi.Integration{}, err
	}
	return integrationView(i, nil), nil
}

// GetIntegration returns one integration.
func (s *Server) GetIntegration(ctx context.Context, name string) (openapi.Integration, error) {
	var out openapi.Integration
	var err error
	s.meta.View(func(st *meta.State) {
		i, ok := st.Integrations[name]
		if !ok {
			err = api.Errorf(api.NotFound, "integration %q not found", name)
			return
		}
		out = integrationView(i, s.integrationCollections(st, name))
	})
	return out, err
}

// ListIntegrations lists integrations by name.
func (s *Server) ListIntegrations(ctx context.Context) ([]openapi.Integration, error) {
	out := []openapi.Integration{}
	s.meta.View(func(st *meta.State) {
		for _, i := range st.Integrations {
			out = append(out, integrationView(i, s.integrationCollections(st, i.Name)))
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteIntegration deletes an integration no collection uses.
func (s *Server) DeleteIntegration(ctx context.Context, name string) (openapi.Integration, error) {
	var out openapi.Integration
	err := s.meta.Update(func(st *meta.State) error {
		i, ok := st.Integrations[name]
		if !ok {
			return api.Errorf(api.NotFound, "integration %q not found", name)
		}
		if used := s.integrationCollections(st, name); len(used) > 0 {
			return api.Errorf(api.DependentResources, "integration %q is used by collection %s.%s", name, *used[0].Workspace, *used[0].Name)
		}
		out = integrationView(i, nil)
		delete(st.Integrations, name)
		return nil
	})
	return out, err
}

// ---- workspaces

func workspaceView(st *meta.State, w *meta.Workspace) openapi.Workspace {
	var n int64
	for _, c := range st.Collections {
		if c.Workspace == w.Name {
			n++
		}
	}
	out := openapi.Workspace{Name: ptr(w.Name), CreatedAt: ptr(w.CreatedAt), CreatedBy: ptr(w.CreatedBy), CollectionCount: ptr(n)}
	if w.Description != "" {
		out.Description = ptr(w.Description)
	}
	return out
}

// CreateWorkspace creates a workspace.
func (s *Server) CreateWorkspace(ctx context.Context, req openapi.CreateWorkspaceRequest) (openapi.Workspace, error) {
	if err := checkName("workspace", req.Name); err != nil {
		return openapi.Workspace{}, err
	}
	var out openapi.Workspace
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[req.Name]; ok {
			return api.Errorf(api.AlreadyExists, "workspace %q already exists", req.Name)
		}
		w := &meta.Workspace{Name: req.Name, Description: req.GetDescription(), CreatedAt: now(), CreatedBy: createdBy}
		st.Workspaces[req.Name] = w
		out = workspaceView(st, w)
		return nil
	})
	return out, err
}

// GetWorkspace returns one workspace.
func (s *Server) GetWorkspace(ctx context.Context, name string) (openapi.Workspace, error) {
	var out openapi.Workspace
	var err error
	s.meta.View(func(st *meta.State) {
		w, ok := st.Workspaces[name]
		if !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", name)
			return
		}
		out = workspaceView(st, w)
	})
	return out, err
}

// ListWorkspaces lists workspaces by name.
func (s *Server) ListWorkspaces(ctx context.Context) ([]openapi.Workspace, error) {
	out := []openapi.Workspace{}
	s.meta.View(func(st *meta.State) {
		for _, w := range st.Workspaces {
			out = append(out, workspaceView(st, w))
		}
	})
	sort.Slice(out, func(i, j int) bool { return *out[i].Name < *out[j].Name })
	return out, nil
}

// DeleteWorkspace deletes an empty workspace other than commons.
func (s *Server) DeleteWorkspace(ctx context.Context, name string) (openapi.Workspace, error) {
	var out openapi.Workspace
	err := s.meta.Update(func(st *meta.State) error {
		w, ok := st.Workspaces[name]
		if !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", name)
		}
		if name == "commons" {
			return api.Errorf(api.InvalidInput, "workspace commons cannot be deleted")
		}
		for _, c := range st.Collections {
			if c.Workspace == name {
				return api.Errorf(api.DependentResources, "workspace %q still has collection %q", name, c.Name)
			}
		}
		for _, l := range st.Lambdas {
			if l.Workspace == name {
				return api.Errorf(api.DependentResources, "workspace %q still has query lambda %q", name, l.Name)
			}
		}
		out = workspaceView(st, w)
		delete(st.Workspaces, name)
		return nil
	})
	return out, err
}

// ---- collections

func (s *Server) collectionView(ctx context.Context, c *meta.Collection) openapi.Collection {
	out := openapi.Collection{
		Name: ptr(c.Name), Workspace: ptr(c.Workspace), CreatedAt: ptr(c.CreatedAt), CreatedBy: ptr(c.CreatedBy),
		Status: ptr("READY"), Sources: []openapi.Source{}, Rrn: ptr("rrn:col:streamdash:" + c.Table),
	}
	if c.Description != "" {
		out.Description = ptr(c.Description)
	}
	if c.RetentionSecs > 0 {
		out.RetentionSecs = ptr(c.RetentionSecs)
	}
	if c.Transform != "" {
		out.FieldMappingQuery = &openapi.FieldMappingQuery{Sql: ptr(c.Transform)}
	}
	var st store.Stats
	if sc, ok := s.store.Get(c.Table); ok {
		st, _ = sc.Stats(ctx)
	}
	out.Stats = &openapi.CollectionStats{
		DocCount: ptr(st.DocCount), BytesInserted: ptr(st.Bytes), LastUpdatedMs: ptr(st.LastUpdatedMs),
		PurgedDocCount: ptr(st.Purged), TotalSize: ptr(st.Bytes), FillProgress: ptr(1.0),
	}
	for _, src := range c.Sources {
		out.Sources = append(out.Sources, s.sourceView(c, src, st))
		// READY once the source has read its stream at least once.
		if r := s.reader(c.Table); r == nil || !r.Status().Reading {
			out.Status = ptr("CREATED")
		}
	}
	return out
}

func (s *Server) sourceView(c *meta.Collection, src meta.Source, st store.Stats) openapi.Source {
	status := ingest.Status{State: ingest.StateInitializing}
	if r := s.reader(c.Table); r != nil {
		status = r.Status()
	}
	var msgs []string
	if status.Message != "" {
		msgs = append(msgs, status.Message)
	} else if st.LastError != "" && status.State == ingest.StateError {
		msgs = append(msgs, st.LastError)
	}
	if st.Malformed > 0 {
		msgs = append(msgs, fmt.Sprintf("%d malformed records skipped", st.Malformed))
	}
	out := openapi.Source{
		Id:              ptr(src.ID),
		IntegrationName: ptr(src.IntegrationName),
		Kinesis: &openapi.SourceKinesis{
			StreamName: src.StreamName, AwsRegion: ptr(src.Region), OffsetResetPolicy: ptr(src.OffsetResetPolicy),
		},
		FormatParams: &openapi.FormatParams{Json: ptr(true)},
		Status: &openapi.Status{
			State:               ptr(status.State),
			TotalProcessedItems: ptr(st.Processed),
		},
	}
	if len(msgs) > 0 {
		out.Status.Message = ptr(strings.Join(msgs, "; "))
	}
	if st.LastUpdatedMs > 0 {
		out.Status.LastProcessedAt = ptr(time.UnixMilli(st.LastUpdatedMs).UTC().Format(time.RFC3339Nano))
	}
	return out
}

func (s *Server) findCollection(ws, name string) (*meta.Collection, error) {
	var c *meta.Collection
	var err error
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", ws)
			return
		}
		found, ok := st.Collections[meta.Key(ws, name)]
		if !ok {
			err = api.Errorf(api.NotFound, "collection %q not found in workspace %q", name, ws)
			return
		}
		cp := *found
		c = &cp
	})
	return c, err
}

// CreateCollection creates a collection and starts reading its Kinesis source.
func (s *Server) CreateCollection(ctx context.Context, ws string, req openapi.CreateCollectionRequest) (openapi.Collection, error) {
	name := req.GetName()
	if err := checkName("collection", name); err != nil {
		return openapi.Collection{}, err
	}
	c := &meta.Collection{
		Workspace: ws, Name: name, Description: req.GetDescription(), CreatedAt: now(), CreatedBy: createdBy,
		RetentionSecs: req.GetRetentionSecs(),
	}
	if req.RetentionSecs != nil && c.RetentionSecs < 3600 {
		return openapi.Collection{}, api.Errorf(api.InvalidInput, "retention_secs must be at least 3600")
	}
	if eti := req.EventTimeInfo; eti != nil {
		if eti.Field == "" {
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "event_time_info.field is required")
		}
		switch f := eti.GetFormat(); f {
		case "", "milliseconds_since_epoch", "seconds_since_epoch":
		default:
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "event_time_info.format %q: want milliseconds_since_epoch or seconds_since_epoch", f)
		}
		c.EventTime = &meta.EventTime{Field: eti.Field, Format: eti.GetFormat(), TimeZone: eti.GetTimeZone()}
	}
	if fm := req.FieldMappingQuery; fm != nil && fm.GetSql() != "" {
		if _, err := s.rw.Transformation(ctx, fm.GetSql()); err != nil {
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "field_mapping_query: %v", err)
		}
		c.Transform = fm.GetSql()
	}
	if len(req.Sources) > 1 {
		return openapi.Collection{}, api.Errorf(api.InvalidInput, "at most one source per collection is supported")
	}
	for _, src := range req.Sources {
		if src.Kinesis == nil || src.Kinesis.StreamName == "" {
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "only Kinesis sources are supported: give kinesis.stream_name")
		}
		policy := strings.ToUpper(src.Kinesis.GetOffsetResetPolicy())
		if policy == "" {
			policy = "LATEST"
		}
		if policy != "LATEST" && policy != "EARLIEST" {
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "offset_reset_policy %q: want LATEST or EARLIEST", policy)
		}
		region := src.Kinesis.GetAwsRegion()
		if region == "" {
			region = "us-west-2"
		}
		c.Sources = append(c.Sources, meta.Source{
			ID: randomID(), IntegrationName: src.GetIntegrationName(), StreamName: src.Kinesis.StreamName,
			Region: region, OffsetResetPolicy: policy,
		})
	}
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		if _, ok := st.Collections[meta.Key(ws, name)]; ok {
			return api.Errorf(api.AlreadyExists, "collection %q already exists in workspace %q", name, ws)
		}
		for _, src := range c.Sources {
			if _, ok := st.Integrations[src.IntegrationName]; !ok {
				return api.Errorf(api.InvalidInput, "integration %q not found", src.IntegrationName)
			}
		}
		st.NextTable++
		c.Table = fmt.Sprintf("c_%d", st.NextTable)
		st.Collections[meta.Key(ws, name)] = c
		return nil
	})
	if err != nil {
		return openapi.Collection{}, err
	}
	if err := s.openCollection(ctx, c); err != nil {
		_ = s.meta.Update(func(st *meta.State) error { delete(st.Collections, meta.Key(ws, name)); return nil })
		return openapi.Collection{}, err
	}
	s.rw.Invalidate()
	s.startReader(c)
	return s.collectionView(ctx, c), nil
}

// GetCollection returns a collection with live stats and source status.
func (s *Server) GetCollection(ctx context.Context, ws, name string) (openapi.Collection, error) {
	c, err := s.findCollection(ws, name)
	if err != nil {
		return openapi.Collection{}, err
	}
	return s.collectionView(ctx, c), nil
}

// ListCollections lists a workspace's collections ("" for all).
func (s *Server) ListCollections(ctx context.Context, ws string) ([]openapi.Collection, error) {
	var colls []meta.Collection
	var err error
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; ws != "" && !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", ws)
			return
		}
		for _, c := range st.Collections {
			if ws == "" || c.Workspace == ws {
				colls = append(colls, *c)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(colls, func(i, j int) bool {
		return colls[i].Workspace+"."+colls[i].Name < colls[j].Workspace+"."+colls[j].Name
	})
	out := make([]openapi.Collection, 0, len(colls))
	for i := range colls {
		out = append(out, s.collectionView(ctx, &colls[i]))
	}
	return out, nil
}

// UpdateCollection changes a collection's description and ingest transformation.
func (s *Server) UpdateCollection(ctx context.Context, ws, name string, req openapi.UpdateCollectionRequest) (openapi.Collection, error) {
	var tx *string
	if fm := req.FieldMappingQuery; fm != nil {
		sqlText := fm.GetSql()
		if sqlText != "" {
			if _, err := s.rw.Transformation(ctx, sqlText); err != nil {
				return openapi.Collection{}, api.Errorf(api.InvalidInput, "field_mapping_query: %v", err)
			}
		}
		tx = &sqlText
	}
	var c meta.Collection
	err := s.meta.Update(func(st *meta.State) error {
		found, ok := st.Collections[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "collection %q not found in workspace %q", name, ws)
		}
		if req.Description != nil {
			found.Description = *req.Description
		}
		if tx != nil {
			found.Transform = *tx
		}
		c = *found
		return nil
	})
	if err != nil {
		return openapi.Collection{}, err
	}
	if err := s.openCollection(ctx, &c); err != nil {
		return openapi.Collection{}, err
	}
	return s.collectionView(ctx, &c), nil
}

// DeleteCollection stops ingest and drops the collection's storage.
func (s *Server) DeleteCollection(ctx context.Context, ws, name string) (openapi.Collection, error) {
	c, err := s.findCollection(ws, name)
	if err != nil {
		return openapi.Collection{}, err
	}
	view := s.collectionView(ctx, c)
	view.Status = ptr("DELETED")
	if err := s.meta.Update(func(st *meta.State) error {
		delete(st.Collections, meta.Key(ws, name))
		return nil
	}); err != nil {
		return openapi.Collection{}, err
	}
	s.rw.Invalidate()
	s.stopReader(c.Table)
	if err := s.store.Drop(ctx, c.Table); err != nil {
		return openapi.Collection{}, err
	}
	return view, nil
}

// ListSources lists a collection's sources with their ingest state.
func (s *Server) ListSources(ctx context.Context, ws, coll string) ([]openapi.Source, error) {
	c, err := s.findCollection(ws, coll)
	if err != nil {
		return nil, err
	}
	return s.collectionView(ctx, c).Sources, nil
}

// GetSource returns one source.
func (s *Server) GetSource(ctx context.Context, ws, coll, id string) (openapi.Source, error) {
	srcs, err := s.ListSources(ctx, ws, coll)
	if err != nil {
		return openapi.Source{}, err
	}
	for _, src := range srcs {
		if src.GetId() == id {
			return src, nil
		}
	}
	return openapi.Source{}, api.Errorf(api.NotFound, "source %q not found in collection %s.%s", id, ws, coll)
}

// ---- queries

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
		return t, &rewrite.Error{Msg: fmt.Sprintf("collection '%s' not found in workspace '%s'", coll, ws)}
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

func (s *Server) run(ctx context.Context, q queryRun) (openapi.QueryResponse, error) {
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
	res, err := s.store.Query(qctx, rq.SQL, args, limit)
	if errors.Is(err, store.ErrTimeout) {
		return openapi.QueryResponse{}, api.Errorf(api.QueryTimeout, "query exceeded its timeout of %s", timeout)
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

// Query runs a SQL query.
func (s *Server) Query(ctx context.Context, req openapi.QueryRequest) (openapi.QueryResponse, error) {
	return s.run(ctx, queryRun{sql: req.Sql.Query, params: toParams(req.Sql.Parameters), rowLimit: req.Sql.DefaultRowLimit, timeoutMs: req.TimeoutMs})
}

// ValidateQuery parses and checks a query without running it.
func (s *Server) ValidateQuery(ctx context.Context, req openapi.QueryRequest) (openapi.ValidateQueryResponse, error) {
	rq, err := s.rw.Rewrite(ctx, req.Sql.Query, s.resolve)
	if err != nil {
		return openapi.ValidateQueryResponse{}, queryError(err)
	}
	return openapi.ValidateQueryResponse{Collections: append([]string{}, rq.Collections...), Parameters: append([]string{}, rq.Params...)}, nil
}

// ---- query lambdas

func lambdaVersionView(l *meta.Lambda, v meta.LambdaVersion, colls []string) openapi.QueryLambdaVersion {
	out := openapi.QueryLambdaVersion{
		Name: ptr(l.Name), Workspace: ptr(l.Workspace), Version: ptr(v.Version), State: ptr("ACTIVE"),
		CreatedAt: ptr(v.CreatedAt), CreatedBy: ptr(v.CreatedBy), Collections: colls,
		Sql: &openapi.QueryLambdaSql{Query: v.SQL},
	}
	for _, p := range v.DefaultParams {
		out.Sql.DefaultParameters = append(out.Sql.DefaultParameters, openapi.QueryParameter{Name: p.Name, Type: p.Type, Value: p.Value})
	}
	if v.Description != "" {
		out.Description = ptr(v.Description)
	}
	return out
}

func (s *Server) versionCollections(ctx context.Context, sqlText string) []string {
	if rq, err := s.rw.Rewrite(ctx, sqlText, s.resolve); err == nil {
		return append([]string{}, rq.Collections...)
	}
	return nil
}

func newVersion(sqlText string, params []openapi.QueryParameter, desc string) meta.LambdaVersion {
	h := sha256.Sum256([]byte(sqlText + "\x00" + now() + randomID()))
	v := meta.LambdaVersion{Version: hex.EncodeToString(h[:8]), SQL: sqlText, Description: desc, CreatedAt: now(), CreatedBy: createdBy}
	for _, p := range params {
		v.DefaultParams = append(v.DefaultParams, meta.Param{Name: p.Name, Type: p.Type, Value: p.Value})
	}
	return v
}

func (s *Server) checkLambdaSQL(ctx context.Context, sqlText string, params []openapi.QueryParameter) error {
	if _, err := s.rw.Rewrite(ctx, sqlText, s.resolve); err != nil {
		return queryError(err)
	}
	for _, p := range params {
		if _, err := rewrite.Bind(&rewrite.Query{Params: []string{p.Name}}, []rewrite.Param{{Name: p.Name, Type: p.Type, Value: p.Value}}); err != nil {
			return api.Errorf(api.InvalidInput, "%v", err)
		}
	}
	return nil
}

// CreateQueryLambda creates a lambda with its first version.
func (s *Server) CreateQueryLambda(ctx context.Context, ws string, req openapi.CreateQueryLambdaRequest) (openapi.QueryLambdaVersion, error) {
	if err := checkName("query lambda", req.Name); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	if err := s.checkLambdaSQL(ctx, req.Sql.Query, req.Sql.DefaultParameters); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	v := newVersion(req.Sql.Query, req.Sql.DefaultParameters, req.GetDescription())
	var l meta.Lambda
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		if _, ok := st.Lambdas[meta.Key(ws, req.Name)]; ok {
			return api.Errorf(api.AlreadyExists, "query lambda %q already exists in workspace %q", req.Name, ws)
		}
		nl := &meta.Lambda{Workspace: ws, Name: req.Name, Versions: []meta.LambdaVersion{v}, Tags: map[string]string{}, LastUpdated: v.CreatedAt}
		st.Lambdas[meta.Key(ws, req.Name)] = nl
		l = *nl
		return nil
	})
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	return lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL)), nil
}

// UpdateQueryLambda adds a version.
func (s *Server) UpdateQueryLambda(ctx context.Context, ws, name string, req openapi.UpdateQueryLambdaRequest) (openapi.QueryLambdaVersion, error) {
	if req.Sql == nil {
		return openapi.QueryLambdaVersion{}, api.Errorf(api.InvalidInput, "sql is required")
	}
	if err := s.checkLambdaSQL(ctx, req.Sql.Query, req.Sql.DefaultParameters); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	v := newVersion(req.Sql.Query, req.Sql.DefaultParameters, req.GetDescription())
	var l meta.Lambda
	err := s.meta.Update(func(st *meta.State) error {
		found, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		found.Versions = append(found.Versions, v)
		found.LastUpdated = v.CreatedAt
		l = *found
		return nil
	})
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	return lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL)), nil
}

func (s *Server) findLambda(ws, name string) (meta.Lambda, error) {
	var l meta.Lambda
	var err error
	s.meta.View(func(st *meta.State) {
		found, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			err = api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
			return
		}
		l = *found
		l.Versions = append([]meta.LambdaVersion{}, found.Versions...)
		l.Tags = map[string]string{}
		for k, v := range found.Tags {
			l.Tags[k] = v
		}
	})
	return l, err
}
