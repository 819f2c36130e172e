package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/rockset/rockset-go-client/openapi"
)

// QueryService is the life of a query beyond one synchronous answer: look
// it up, page through its results, list what runs, cancel it.
type QueryService interface {
	GetQuery(ctx context.Context, id string) (openapi.QueryInfo, error)
	ListQueries(ctx context.Context) ([]openapi.QueryInfo, error)
	CancelQuery(ctx context.Context, id string) (openapi.QueryInfo, error)
	QueryResults(ctx context.Context, id, cursor string, docs, offset int64) (openapi.QueryPaginationResponse, error)
}

func queryRoutes(route routeFunc, svc QueryService) {
	const q = "/v1/orgs/self/queries"
	route("GET "+q, func(r *http.Request) (any, error) { return svc.ListQueries(r.Context()) }, true)
	route("GET "+q+"/{id}", func(r *http.Request) (any, error) { return svc.GetQuery(r.Context(), r.PathValue("id")) }, true)
	route("DELETE "+q+"/{id}", func(r *http.Request) (any, error) { return svc.CancelQuery(r.Context(), r.PathValue("id")) }, true)
	route("GET "+q+"/{id}/pages", func(r *http.Request) (any, error) {
		v := r.URL.Query()
		docs, err := intParam(v.Get("docs"))
		if err != nil {
			return nil, Errorf(InvalidInput, "docs: %v", err)
		}
		offset, err := intParam(v.Get("offset"))
		if err != nil {
			return nil, Errorf(InvalidInput, "offset: %v", err)
		}
		return svc.QueryResults(r.Context(), r.PathValue("id"), v.Get("cursor"), docs, offset)
	}, false)
}

func intParam(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}
