package api

import (
	"context"
	"net/http"

	"github.com/rockset/rockset-go-client/openapi"
)

// ViewService is views (named queries usable in FROM) and aliases (names
// that point at collections and are resolved when a query runs).
type ViewService interface {
	CreateView(ctx context.Context, ws string, req openapi.CreateViewRequest) (openapi.View, error)
	GetView(ctx context.Context, ws, name string) (openapi.View, error)
	ListViews(ctx context.Context, ws string) ([]openapi.View, error)
	UpdateView(ctx context.Context, ws, name string, req openapi.UpdateViewRequest) (openapi.View, error)
	DeleteView(ctx context.Context, ws, name string) (openapi.View, error)

	CreateAlias(ctx context.Context, ws string, req openapi.CreateAliasRequest) (openapi.Alias, error)
	GetAlias(ctx context.Context, ws, name string) (openapi.Alias, error)
	ListAliases(ctx context.Context, ws string) ([]openapi.Alias, error)
	UpdateAlias(ctx context.Context, ws, name string, req openapi.UpdateAliasRequest) (openapi.Alias, error)
	DeleteAlias(ctx context.Context, ws, name string) (openapi.Alias, error)
}

func viewRoutes(route routeFunc, svc ViewService) {
	const o = "/v1/orgs/self"
	route("GET "+o+"/views", func(r *http.Request) (any, error) { return svc.ListViews(r.Context(), "") }, true)
	route("GET "+o+"/ws/{ws}/views", func(r *http.Request) (any, error) { return svc.ListViews(r.Context(), r.PathValue("ws")) }, true)
	route("POST "+o+"/ws/{ws}/views", func(r *http.Request) (any, error) {
		var req openapi.CreateViewRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateView(r.Context(), r.PathValue("ws"), req)
	}, true)
	route("GET "+o+"/ws/{ws}/views/{view}", func(r *http.Request) (any, error) {
		return svc.GetView(r.Context(), r.PathValue("ws"), r.PathValue("view"))
	}, true)
	route("POST "+o+"/ws/{ws}/views/{view}", func(r *http.Request) (any, error) {
		var req openapi.UpdateViewRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateView(r.Context(), r.PathValue("ws"), r.PathValue("view"), req)
	}, true)
	route("DELETE "+o+"/ws/{ws}/views/{view}", func(r *http.Request) (any, error) {
		return svc.DeleteView(r.Context(), r.PathValue("ws"), r.PathValue("view"))
	}, true)

	route("GET "+o+"/aliases", func(r *http.Request) (any, error) { return svc.ListAliases(r.Context(), "") }, true)
	route("GET "+o+"/ws/{ws}/aliases", func(r *http.Request) (any, error) { return svc.ListAliases(r.Context(), r.PathValue("ws")) }, true)
	route("POST "+o+"/ws/{ws}/aliases", func(r *http.Request) (any, error) {
		var req openapi.CreateAliasRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateAlias(r.Context(), r.PathValue("ws"), req)
	}, true)
	route("GET "+o+"/ws/{ws}/aliases/{alias}", func(r *http.Request) (any, error) {
		return svc.GetAlias(r.Context(), r.PathValue("ws"), r.PathValue("alias"))
	}, true)
	route("POST "+o+"/ws/{ws}/aliases/{alias}", func(r *http.Request) (any, error) {
		var req openapi.UpdateAliasRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateAlias(r.Context(), r.PathValue("ws"), r.PathValue("alias"), req)
	}, true)
	route("DELETE "+o+"/ws/{ws}/aliases/{alias}", func(r *http.Request) (any, error) {
		return svc.DeleteAlias(r.Context(), r.PathValue("ws"), r.PathValue("alias"))
	}, true)
}
