package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/jsonpatch"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

var _ api.DocumentService = (*Server)(nil)

// maxDocumentsPerRequest is Rockset's limit on one write request.
const maxDocumentsPerRequest = 20000

// patchMu serialises patches: a patch reads a document and writes it back,
// and two patches of one document must not both start from the old one.
var patchMu sync.Mutex

// Offsets ("fences") name the moment a write committed. Writes commit before
// they are answered, so a fence has passed once the collection's last
// commit is at or after it: the fence is that commit time, in milliseconds.
const fencePrefix = "f1:"

func fence(ms int64) string { return fencePrefix + strconv.FormatInt(ms, 10) }

func (s *Server) writableCollection(ws, coll string) (*store.Collection, error) {
	if isEvents(ws, coll) {
		return nil, errEventsReadOnly()
	}
	c, err := s.findCollection(ws, coll)
	if err != nil {
		return nil, err
	}
	sc, ok := s.store.Get(c.Table)
	if !ok {
		return nil, fmt.Errorf("collection %s.%s has no open storage", ws, coll)
	}
	return sc, nil
}

func docError(coll, id, typ, format string, a ...any) openapi.DocumentStatus {
	st := openapi.DocumentStatus{Collection: ptr(coll), Status: ptr("ERROR"), Error: &openapi.ErrorModel{Type: ptr(typ), Message: ptr(fmt.Sprintf(format, a...))}}
	if id != "" {
		st.Id = ptr(id)
	}
	return st
}

func (s *Server) lastFence(ctx context.Context, sc *store.Collection) (*string, error) {
	st, err := sc.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return ptr(fence(st.LastUpdatedMs)), nil
}

// AddDocuments writes documents: a document with an _id replaces the stored
// one with that _id, a document without one gets a generated _id. A
// document that is not a JSON object, or whose _id is not a string, is
// refused on its own; the others are written.
func (s *Server) AddDocuments(ctx context.Context, ws, coll string, docs []json.RawMessage) (openapi.AddDocumentsResponse, error) {
	if len(docs) > maxDocumentsPerRequest {
		return openapi.AddDocumentsResponse{}, api.Errorf(api.InvalidInput, "%d documents in one request: at most %d", len(docs), maxDocumentsPerRequest)
	}
	sc, err := s.writableCollection(ws, coll)
	if err != nil {
		return openapi.AddDocumentsResponse{}, err
	}
	statuses := make([]openapi.DocumentStatus, len(docs))
	recs := make([]store.Record, 0, len(docs))
	now := time.Now()
	for i, raw := range docs {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			statuses[i] = docError(coll, "", api.InvalidInput, "document %d is not a JSON object", i)
			continue
		}
		id := randomID()
		if rawID, ok := fields["_id"]; ok && !bytes.Equal(bytes.TrimSpace(rawID), []byte("null")) {
			if err := json.Unmarshal(rawID, &id); err != nil {
				statuses[i] = docError(coll, "", api.InvalidInput, "document %d: _id must be a string", i)
				continue
			}
		}
		recs = append(recs, store.Record{Data: raw, RID: id, Arrival: now})
		statuses[i] = openapi.DocumentStatus{Collection: ptr(coll), Id: ptr(id), Status: ptr("ADDED")}
	}
	if _, err := sc.Write(ctx, store.Batch{Records: recs}); err != nil {
		return openapi.AddDocumentsResponse{}, err
	}
	last, err := s.lastFence(ctx, sc)
	if err != nil {
		return openapi.AddDocumentsResponse{}, err
	}
	return openapi.AddDocumentsResponse{Data: statuses, LastOffset: last}, nil
}

// PatchDocuments applies each document's patch to the stored document and
// writes the result back. A document that does not exist, or whose patch
// does not apply, is reported and left as it was.
func (s *Server) PatchDocuments(ctx context.Context, ws, coll string, patches []api.DocumentPatch) (openapi.PatchDocumentsResponse, error) {
	if len(patches) > maxDocumentsPerRequest {
		return openapi.PatchDocumentsResponse{}, api.Errorf(api.InvalidInput, "%d patches in one request: at most %d", len(patches), maxDocumentsPerRequest)
	}
	sc, err := s.writableCollection(ws, coll)
	if err != nil {
		return openapi.PatchDocumentsResponse{}, err
	}
	patchMu.Lock()
	defer patchMu.Unlock()
	ids := make([]string, 0, len(patches))
	for _, p := range patches {
		ids = append(ids, p.ID)
	}
	stored, err := sc.Documents(ctx, ids)
	if err != nil {
		return openapi.PatchDocumentsResponse{}, err
	}
	statuses := make([]openapi.DocumentStatus, len(patches))
	var recs []store.Record
	now := time.Now()
	for i, p := range patches {
		doc, ok := stored[p.ID]
		switch {
		case p.ID == "":
			statuses[i] = docError(coll, "", api.InvalidInput, "patch %d has no _id", i)
			continue
		case !ok:
			statuses[i] = docError(coll, p.ID, api.NotFound, "no document with _id %q in %s.%s", p.ID, ws, coll)
			continue
		}
		out, err := jsonpatch.Apply(doc, p.Patch)
		if err != nil {
			statuses[i] = docError(coll, p.ID, api.InvalidInput, "%v", err)
			continue
		}
		b, err := json.Marshal(out)
		if err != nil {
			statuses[i] = docError(coll, p.ID, api.InvalidInput, "%v", err)
			continue
		}
		stored[p.ID] = out // a second patch of the same document in this request starts from this one
		recs = append(recs, store.Record{Data: b, RID: p.ID, Arrival: now})
		statuses[i] = openapi.DocumentStatus{Collection: ptr(coll), Id: ptr(p.ID), Status: ptr("PATCHED")}
	}
	if _, err := sc.Write(ctx, store.Batch{Records: recs}); err != nil {
		return openapi.PatchDocumentsResponse{}, err
	}
	last, err := s.lastFence(ctx, sc)
	if err != nil {
		return openapi.PatchDocumentsResponse{}, err
	}
	return openapi.PatchDocumentsResponse{Data: statuses, LastOffset: last}, nil
}

// DeleteDocuments deletes documents by _id; an _id with no document is
// reported as NOTFOUND.
func (s *Server) DeleteDocuments(ctx context.Context, ws, coll string, ids []string) (openapi.DeleteDocumentsResponse, error) {
	if len(ids) > maxDocumentsPerRequest {
		return openapi.DeleteDocumentsResponse{}, api.Errorf(api.InvalidInput, "%d documents in one request: at most %d", len(ids), maxDocumentsPerRequest)
	}
	sc, err := s.writableCollection(ws, coll)
	if err != nil {
		return openapi.DeleteDocumentsResponse{}, err
	}
	found, err := sc.Delete(ctx, ids)
	if err != nil {
		return openapi.DeleteDocumentsResponse{}, err
	}
	statuses := make([]openapi.DocumentStatus, len(ids))
	for i, id := range ids {
		if found[id] {
			statuses[i] = openapi.DocumentStatus{Collection: ptr(coll), Id: ptr(id), Status: ptr("DELETED")}
		} else {
			statuses[i] = docError(coll, id, api.NotFound, "no document with _id %q in %s.%s", id, ws, coll)
		}
	}
	last, err := s.lastFence(ctx, sc)
	if err != nil {
		return openapi.DeleteDocumentsResponse{}, err
	}
	return openapi.DeleteDocumentsResponse{Data: statuses, LastOffset: last}, nil
}

// CollectionCommit says whether every given fence has passed, and names the
// collection's latest fence.
func (s *Server) CollectionCommit(ctx context.Context, ws, coll string, offsets []string) (openapi.GetCollectionCommit, error) {
	sc, err := s.writableCollection(ws, coll)
	if err != nil {
		return openapi.GetCollectionCommit{}, err
	}
	st, err := sc.Stats(ctx)
	if err != nil {
		return openapi.GetCollectionCommit{}, err
	}
	passed := true
	for _, o := range offsets {
		ms, err := strconv.ParseInt(strings.TrimPrefix(o, fencePrefix), 10, 64)
		if err != nil || !strings.HasPrefix(o, fencePrefix) {
			return openapi.GetCollectionCommit{}, api.Errorf(api.InvalidInput, "offset %q is not a fence this server issued (want %s<milliseconds>)", o, fencePrefix)
		}
		if ms > st.LastUpdatedMs {
			passed = false
		}
	}
	return openapi.GetCollectionCommit{Data: &openapi.GetCollectionCommitData{Fence: ptr(fence(st.LastUpdatedMs)), Passed: ptr(passed)}}, nil
}
