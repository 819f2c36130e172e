package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/ingest"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

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
		view := s.sourceView(c, src, st)
		out.Sources = append(out.Sources, view)
		if !sourceReady(s.reader(c.Table), view) {
			out.Status = ptr(collectionNotReady)
		}
	}
	return out
}

// collectionNotReady is the collection status while its source has not yet
// read its stream or cannot advance (its state is then ERROR, with the reason
// in the source's status.message). Rockset's collection statuses have no
// error value, and CREATED is the one clients already wait on.
const collectionNotReady = "CREATED"

// sourceReady: a collection is READY once its source has read the stream and
// while it keeps advancing; any failure to read or commit shows as ERROR and
// clears by itself when the next round succeeds.
func sourceReady(r *ingest.Reader, view openapi.Source) bool {
	if r == nil || !r.Status().Reading {
		return false
	}
	return view.Status.GetState() != ingest.StateError
}

func (s *Server) sourceView(c *meta.Collection, src meta.Source, st store.Stats) openapi.Source {
	status := ingest.Status{State: ingest.StateInitializing}
	if r := s.reader(c.Table); r != nil {
		status = r.Status()
	} else if st.LastError != "" {
		// The reader could not even start (no Kinesis client).
		status = ingest.Status{State: ingest.StateError}
	}
	var msgs []string
	if status.Message != "" {
		msgs = append(msgs, status.Message)
	} else if st.LastError != "" && status.State == ingest.StateError {
		msgs = append(msgs, st.LastError)
	}
	if st.Malformed > 0 {
		m := fmt.Sprintf("%d malformed records skipped", st.Malformed)
		if st.LastMalformed != "" {
			m += " (latest: " + st.LastMalformed + ")"
		}
		msgs = append(msgs, m)
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
		if src.Kinesis == nil {
			return openapi.Collection{}, api.Errorf(api.NotImplemented, "only Kinesis sources are supported (not S3, GCS, Kafka, DynamoDB, MongoDB, Azure, Snowflake, file uploads or Rockset's sample data sets)")
		}
		if src.Kinesis.StreamName == "" {
			return openapi.Collection{}, api.Errorf(api.InvalidInput, "a Kinesis source needs kinesis.stream_name")
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
	s.event(ctx, "COLLECTION_CREATED", "COLLECTION", "INFO", map[string]any{"collections": []string{ws + "." + name}})
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
	if isEvents(ws, name) {
		return openapi.Collection{}, api.Errorf(api.InvalidInput, "commons._events is built in and cannot be deleted")
	}
	c, err := s.findCollection(ws, name)
	if err != nil {
		return openapi.Collection{}, err
	}
	view := s.collectionView(ctx, c)
	view.Status = ptr("DELETED")
	if err := s.meta.Update(func(st *meta.State) error {
		// Refused rather than leaving aliases that name nothing: a query
		// through one would fail only later, far from the deletion.
		if names := aliasesOf(st, ws+"."+name); len(names) > 0 {
			return api.Errorf(api.DependentResources, "collection %s.%s is referenced by alias %s; point the alias elsewhere or delete it first",
				ws, name, strings.Join(names, ", "))
		}
		delete(st.Collections, meta.Key(ws, name))
		return nil
	}); err != nil {
		return openapi.Collection{}, err
	}
	s.rw.Invalidate()
	s.stopReader(c.Table)
	s.dropIngestEvents(c.Table)
	if err := s.store.Drop(ctx, c.Table); err != nil {
		return openapi.Collection{}, err
	}
	s.event(ctx, "COLLECTION_DROPPED", "COLLECTION", "INFO", map[string]any{"collections": []string{ws + "." + name}})
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
