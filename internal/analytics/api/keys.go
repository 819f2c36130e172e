package api

import (
	"context"
	"net/http"

	"github.com/rockset/rockset-go-client/openapi"
)

// KeyService is API keys and roles: keys beyond the server's key file,
// stored hashed, each with a role whose privileges every request is held to.
type KeyService interface {
	// Authenticate finds the caller a key belongs to (not a key-file key).
	Authenticate(key string) (Caller, bool)
	// Authorize says whether c may make r (matched to its route pattern).
	Authorize(c Caller, r *http.Request) error

	CreateAPIKey(ctx context.Context, req openapi.CreateApiKeyRequest) (openapi.ApiKey, error)
	GetAPIKey(ctx context.Context, user, name string) (openapi.ApiKey, error)
	ListAPIKeys(ctx context.Context, user string) ([]openapi.ApiKey, error)
	UpdateAPIKey(ctx context.Context, user, name string, req openapi.UpdateApiKeyRequest) (openapi.ApiKey, error)
	DeleteAPIKey(ctx context.Context, user, name string) (openapi.ApiKey, error)

	CreateRole(ctx context.Context, req openapi.CreateRoleRequest) (openapi.Role, error)
	GetRole(ctx context.Context, name string) (openapi.Role, error)
	ListRoles(ctx context.Context) ([]openapi.Role, error)
	UpdateRole(ctx context.Context, name string, req openapi.UpdateRoleRequest) (openapi.Role, error)
	DeleteRole(ctx context.Context, name string) (openapi.Role, error)
}

func keyRoutes(route routeFunc, svc KeyService) {
	const o = "/v1/orgs/self"
	route("POST "+o+"/users/self/apikeys", func(r *http.Request) (any, error) {
		var req openapi.CreateApiKeyRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateAPIKey(r.Context(), req)
	}, true)
	route("GET "+o+"/users/{user}/apikeys", func(r *http.Request) (any, error) { return svc.ListAPIKeys(r.Context(), r.PathValue("user")) }, true)
	route("GET "+o+"/users/{user}/apikeys/{name}", func(r *http.Request) (any, error) {
		return svc.GetAPIKey(r.Context(), r.PathValue("user"), r.PathValue("name"))
	}, true)
	route("POST "+o+"/users/{user}/apikeys/{name}", func(r *http.Request) (any, error) {
		var req openapi.UpdateApiKeyRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateAPIKey(r.Context(), r.PathValue("user"), r.PathValue("name"), req)
	}, true)
	route("DELETE "+o+"/users/{user}/apikeys/{name}", func(r *http.Request) (any, error) {
		return svc.DeleteAPIKey(r.Context(), r.PathValue("user"), r.PathValue("name"))
	}, true)

	route("POST "+o+"/roles", func(r *http.Request) (any, error) {
		var req openapi.CreateRoleRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateRole(r.Context(), req)
	}, true)
	route("GET "+o+"/roles", func(r *http.Request) (any, error) { return svc.ListRoles(r.Context()) }, true)
	route("GET "+o+"/roles/{role}", func(r *http.Request) (any, error) { return svc.GetRole(r.Context(), r.PathValue("role")) }, true)
	route("POST "+o+"/roles/{role}", func(r *http.Request) (any, error) {
		var req openapi.UpdateRoleRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateRole(r.Context(), r.PathValue("role"), req)
	}, true)
	route("DELETE "+o+"/roles/{role}", func(r *http.Request) (any, error) { return svc.DeleteRole(r.Context(), r.PathValue("role")) }, true)
}

// Error types beyond what the operator's part of the API needed.
const (
	Forbidden      = "FORBIDDEN"
	NotImplemented = "NOT_IMPLEMENTED"
)

func init() {
	statusOf[Forbidden] = http.StatusForbidden
	statusOf[NotImplemented] = http.StatusNotImplemented
}
