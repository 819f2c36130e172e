package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/jsonpatch"
)

// DocumentPatch is one document's patch in PATCH .../docs. Its operations
// keep their values raw: the generated model would force every value into an
// object, and Rockset's patches set scalars too.
type DocumentPatch struct {
	ID    string         `json:"_id"`
	Patch []jsonpatch.Op `json:"patch"`
}

// DocumentService is the write API: documents into, out of and patched in a
// collection, and the fences that say when a write is queryable.
type DocumentService interface {
	AddDocuments(ctx context.Context, ws, coll string, docs []json.RawMessage) (openapi.AddDocumentsResponse, error)
	PatchDocuments(ctx context.Context, ws, coll string, patches []DocumentPatch) (openapi.PatchDocumentsResponse, error)
	DeleteDocuments(ctx context.Context, ws, coll string, ids []string) (openapi.DeleteDocumentsResponse, error)
	CollectionCommit(ctx context.Context, ws, coll string, offsets []string) (openapi.GetCollectionCommit, error)
}

func documentRoutes(route routeFunc, svc DocumentService) {
	const c = "/v1/orgs/self/ws/{ws}/collections/{c}"
	route("POST "+c+"/docs", func(r *http.Request) (any, error) {
		var req struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.AddDocuments(r.Context(), r.PathValue("ws"), r.PathValue("c"), req.Data)
	}, false)
	route("PATCH "+c+"/docs", func(r *http.Request) (any, error) {
		var req struct {
			Data []DocumentPatch `json:"data"`
		}
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.PatchDocuments(r.Context(), r.PathValue("ws"), r.PathValue("c"), req.Data)
	}, false)
	route("DELETE "+c+"/docs", func(r *http.Request) (any, error) {
		var req openapi.DeleteDocumentsRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		ids := make([]string, len(req.Data))
		for i, d := range req.Data {
			ids[i] = d.Id
		}
		return svc.DeleteDocuments(r.Context(), r.PathValue("ws"), r.PathValue("c"), ids)
	}, false)
	route("POST "+c+"/offsets/commit", func(r *http.Request) (any, error) {
		var req openapi.GetCollectionCommitRequest
		if err := decodeOptional(r, &req); err != nil {
			return nil, err
		}
		return svc.CollectionCommit(r.Context(), r.PathValue("ws"), r.PathValue("c"), req.Name)
	}, false)
}
