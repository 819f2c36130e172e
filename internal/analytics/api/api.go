// Package api serves the part of Rockset's REST API that streamdash uses:
// routes, `{"data": ...}` envelopes, ErrorModel errors and ApiKey auth. The
// behaviour behind each route is a Service.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rockset/rockset-go-client/openapi"
)

// Error types and their HTTP statuses, as Rockset reports them.
const (
	AuthException       = "AUTHEXCEPTION"
	InvalidInput        = "INVALIDINPUT"
	AlreadyExists       = "ALREADYEXISTS"
	NotFound            = "NOTFOUND"
	DependentResources  = "DEPENDENTRESOURCES"
	QueryError          = "QUERY_ERROR"
	QueryTimeout        = "QUERY_TIMEOUT"
	ResourceExceeded    = "RESOURCEEXCEEDED"
	InternalError       = "INTERNALERROR"
	NotReady            = "NOT_READY"
	maxRequestBodyBytes = 8 << 20
)

var statusOf = map[string]int{
	AuthException:      http.StatusUnauthorized,
	InvalidInput:       http.StatusBadRequest,
	AlreadyExists:      http.StatusConflict,
	NotFound:           http.StatusNotFound,
	DependentResources: http.StatusBadRequest,
	QueryError:         http.StatusBadRequest,
	QueryTimeout:       http.StatusRequestTimeout,
	ResourceExceeded:   http.StatusTooManyRequests,
	InternalError:      http.StatusInternalServerError,
	NotReady:           http.StatusConflict,
}

// Error is an API error: an ErrorModel with its HTTP status.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf makes an API error of type typ.
func Errorf(typ, format string, a ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, a...)}
}

// Service is what the routes call.
type Service interface {
	Organization(ctx context.Context) openapi.Organization

	CreateIntegration(ctx context.Context, req openapi.CreateIntegrationRequest) (openapi.Integration, error)
	GetIntegration(ctx context.Context, name string) (openapi.Integration, error)
	ListIntegrations(ctx context.Context) ([]openapi.Integration, error)
	UpdateIntegration(ctx context.Context, name string, req openapi.UpdateIntegrationRequest) (openapi.Integration, error)
	DeleteIntegration(ctx context.Context, name string) (openapi.Integration, error)

	CreateWorkspace(ctx context.Context, req openapi.CreateWorkspaceRequest) (openapi.Workspace, error)
	GetWorkspace(ctx context.Context, name string) (openapi.Workspace, error)
	ListWorkspaces(ctx context.Context) ([]openapi.Workspace, error)
	DeleteWorkspace(ctx context.Context, name string) (openapi.Workspace, error)

	CreateCollection(ctx context.Context, ws string, req openapi.CreateCollectionRequest) (openapi.Collection, error)
	GetCollection(ctx context.Context, ws, name string) (openapi.Collection, error)
	ListCollections(ctx context.Context, ws string) ([]openapi.Collection, error)
	UpdateCollection(ctx context.Context, ws, name string, req openapi.UpdateCollectionRequest) (openapi.Collection, error)
	DeleteCollection(ctx context.Context, ws, name string) (openapi.Collection, error)
	ListSources(ctx context.Context, ws, coll string) ([]openapi.Source, error)
	GetSource(ctx context.Context, ws, coll, id string) (openapi.Source, error)

	Query(ctx context.Context, req openapi.QueryRequest) (openapi.QueryResponse, error)
	ValidateQuery(ctx context.Context, req openapi.QueryRequest) (openapi.ValidateQueryResponse, error)

	CreateQueryLambda(ctx context.Context, ws string, req openapi.CreateQueryLambdaRequest) (openapi.QueryLambdaVersion, error)
	UpdateQueryLambda(ctx context.Context, ws, name string, req openapi.UpdateQueryLambdaRequest) (openapi.QueryLambdaVersion, error)
	GetQueryLambdaVersion(ctx context.Context, ws, name, version string) (openapi.QueryLambdaVersion, error)
	ListQueryLambdaVersions(ctx context.Context, ws, name string) ([]openapi.QueryLambdaVersion, error)
	DeleteQueryLambdaVersion(ctx context.Context, ws, name, version string) (openapi.QueryLambdaVersion, error)
	ListQueryLambdas(ctx context.Context, ws string) ([]openapi.QueryLambda, error)
	DeleteQueryLambda(ctx context.Context, ws, name string) (openapi.QueryLambda, error)
	CreateQueryLambdaTag(ctx context.Context, ws, name string, req openapi.CreateQueryLambdaTagRequest) (openapi.QueryLambdaTag, error)
	GetQueryLambdaTag(ctx context.Context, ws, name, tag string) (openapi.QueryLambdaTag, error)
	ListQueryLambdaTags(ctx context.Context, ws, name string) ([]openapi.QueryLambdaTag, error)
	DeleteQueryLambdaTag(ctx context.Context, ws, name, tag string) (openapi.QueryLambdaTag, error)
	ExecuteQueryLambda(ctx context.Context, ws, name, version, tag string, req openapi.ExecuteQueryLambdaRequest) (openapi.QueryResponse, error)
}

type routeFunc func(pattern string, fn func(r *http.Request) (any, error), envelope bool)

// Handler serves the API for svc, accepting any of keys.
func Handler(svc Service, keys []string, log *slog.Logger) http.Handler {
	return HandlerWith(svc, NewKeys(keys), 0, log)
}

// HandlerWith serves the API for svc with a key set that may change while it
// runs (a rotated key file), refusing a client address (401, whatever key it
// sends) for the rest of a minute once it has failed authentication
// maxAuthFailures times in that minute (0: 20).
func HandlerWith(svc Service, keys *Keys, maxAuthFailures int, log *slog.Logger) http.Handler {
	if maxAuthFailures <= 0 {
		maxAuthFailures = 20
	}
	h := &handler{svc: svc, keys: keys, log: log, failures: newFailureLimit(maxAuthFailures, time.Minute)}
	mux := http.NewServeMux()
	const o = "/v1/orgs/self"
	var route routeFunc = func(pattern string, fn func(r *http.Request) (any, error), envelope bool) {
		mux.Handle(pattern, h.authed(fn, envelope))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"message": "GO ROCKSET!"})
	})
	route("GET "+o, func(r *http.Request) (any, error) { return svc.Organization(r.Context()), nil }, true)

	route("POST "+o+"/integrations", func(r *http.Request) (any, error) {
		var req openapi.CreateIntegrationRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateIntegration(r.Context(), req)
	}, true)
	route("GET "+o+"/integrations", func(r *http.Request) (any, error) { return svc.ListIntegrations(r.Context()) }, true)
	route("GET "+o+"/integrations/{integration}", func(r *http.Request) (any, error) {
		return svc.GetIntegration(r.Context(), r.PathValue("integration"))
	}, true)
	route("PUT "+o+"/integrations/{integration}", func(r *http.Request) (any, error) {
		var req openapi.UpdateIntegrationRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateIntegration(r.Context(), r.PathValue("integration"), req)
	}, true)
	route("DELETE "+o+"/integrations/{integration}", func(r *http.Request) (any, error) {
		return svc.DeleteIntegration(r.Context(), r.PathValue("integration"))
	}, true)

	route("POST "+o+"/ws", func(r *http.Request) (any, error) {
		var req openapi.CreateWorkspaceRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateWorkspace(r.Context(), req)
	}, true)
	route("GET "+o+"/ws", func(r *http.Request) (any, error) { return svc.ListWorkspaces(r.Context()) }, true)
	route("GET "+o+"/ws/{ws}", func(r *http.Request) (any, error) { return svc.GetWorkspace(r.Context(), r.PathValue("ws")) }, true)
	route("DELETE "+o+"/ws/{ws}", func(r *http.Request) (any, error) { return svc.DeleteWorkspace(r.Context(), r.PathValue("ws")) }, true)

	route("GET "+o+"/collections", func(r *http.Request) (any, error) { return svc.ListCollections(r.Context(), "") }, true)
	route("POST "+o+"/ws/{ws}/collections", func(r *http.Request) (any, error) {
		var req openapi.CreateCollectionRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateCollection(r.Context(), r.PathValue("ws"), req)
	}, true)
	route("GET "+o+"/ws/{ws}/collections", func(r *http.Request) (any, error) {
		return svc.ListCollections(r.Context(), r.PathValue("ws"))
	}, true)
	route("GET "+o+"/ws/{ws}/collections/{c}", func(r *http.Request) (any, error) {
		return svc.GetCollection(r.Context(), r.PathValue("ws"), r.PathValue("c"))
	}, true)
	route("PUT "+o+"/ws/{ws}/collections/{c}", func(r *http.Request) (any, error) {
		var req openapi.UpdateCollectionRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateCollection(r.Context(), r.PathValue("ws"), r.PathValue("c"), req)
	}, true)
	route("DELETE "+o+"/ws/{ws}/collections/{c}", func(r *http.Request) (any, error) {
		return svc.DeleteCollection(r.Context(), r.PathValue("ws"), r.PathValue("c"))
	}, true)
	route("GET "+o+"/ws/{ws}/collections/{c}/sources", func(r *http.Request) (any, error) {
		return svc.ListSources(r.Context(), r.PathValue("ws"), r.PathValue("c"))
	}, true)
	route("GET "+o+"/ws/{ws}/collections/{c}/sources/{source}", func(r *http.Request) (any, error) {
		return svc.GetSource(r.Context(), r.PathValue("ws"), r.PathValue("c"), r.PathValue("source"))
	}, true)

	route("POST "+o+"/queries", func(r *http.Request) (any, error) {
		var req openapi.QueryRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.Query(r.Context(), req)
	}, false)
	route("POST "+o+"/queries/validations", func(r *http.Request) (any, error) {
		var req openapi.QueryRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.ValidateQuery(r.Context(), req)
	}, false)

	l := o + "/ws/{ws}/lambdas"
	route("POST "+l, func(r *http.Request) (any, error) {
		var req openapi.CreateQueryLambdaRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateQueryLambda(r.Context(), r.PathValue("ws"), req)
	}, true)
	route("GET "+l, func(r *http.Request) (any, error) { return svc.ListQueryLambdas(r.Context(), r.PathValue("ws")) }, true)
	route("GET "+o+"/lambdas", func(r *http.Request) (any, error) { return svc.ListQueryLambdas(r.Context(), "") }, true)
	route("DELETE "+l+"/{ql}", func(r *http.Request) (any, error) {
		return svc.DeleteQueryLambda(r.Context(), r.PathValue("ws"), r.PathValue("ql"))
	}, true)
	route("POST "+l+"/{ql}/versions", func(r *http.Request) (any, error) {
		var req openapi.UpdateQueryLambdaRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.UpdateQueryLambda(r.Context(), r.PathValue("ws"), r.PathValue("ql"), req)
	}, true)
	route("GET "+l+"/{ql}/versions", func(r *http.Request) (any, error) {
		return svc.ListQueryLambdaVersions(r.Context(), r.PathValue("ws"), r.PathValue("ql"))
	}, true)
	for _, v := range []string{"/version/", "/versions/"} {
		route("GET "+l+"/{ql}"+v+"{v}", func(r *http.Request) (any, error) {
			return svc.GetQueryLambdaVersion(r.Context(), r.PathValue("ws"), r.PathValue("ql"), r.PathValue("v"))
		}, true)
		route("DELETE "+l+"/{ql}"+v+"{v}", func(r *http.Request) (any, error) {
			return svc.DeleteQueryLambdaVersion(r.Context(), r.PathValue("ws"), r.PathValue("ql"), r.PathValue("v"))
		}, true)
	}
	route("POST "+l+"/{ql}/versions/{v}", func(r *http.Request) (any, error) {
		var req openapi.ExecuteQueryLambdaRequest
		if err := decodeOptional(r, &req); err != nil {
			return nil, err
		}
		return svc.ExecuteQueryLambda(r.Context(), r.PathValue("ws"), r.PathValue("ql"), r.PathValue("v"), "", req)
	}, false)
	route("POST "+l+"/{ql}/tags", func(r *http.Request) (any, error) {
		var req openapi.CreateQueryLambdaTagRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.CreateQueryLambdaTag(r.Context(), r.PathValue("ws"), r.PathValue("ql"), req)
	}, true)
	route("GET "+l+"/{ql}/tags", func(r *http.Request) (any, error) {
		return svc.ListQueryLambdaTags(r.Context(), r.PathValue("ws"), r.PathValue("ql"))
	}, true)
	route("GET "+l+"/{ql}/tags/{tag}", func(r *http.Request) (any, error) {
		return svc.GetQueryLambdaTag(r.Context(), r.PathValue("ws"), r.PathValue("ql"), r.PathValue("tag"))
	}, true)
	route("DELETE "+l+"/{ql}/tags/{tag}", func(r *http.Request) (any, error) {
		return svc.DeleteQueryLambdaTag(r.Context(), r.PathValue("ws"), r.PathValue("ql"), r.PathValue("tag"))
	}, true)
	route("POST "+l+"/{ql}/tags/{tag}", func(r *http.Request) (any, error) {
		var req openapi.ExecuteQueryLambdaRequest
		if err := decodeOptional(r, &req); err != nil {
			return nil, err
		}
		return svc.ExecuteQueryLambda(r.Context(), r.PathValue("ws"), r.PathValue("ql"), "", r.PathValue("tag"), req)
	}, false)

	// Resources beyond what the operator needs, each in a file of its own.
	if ds, ok := svc.(DocumentService); ok {
		documentRoutes(route, ds)
	}
	if qs, ok := svc.(QueryService); ok {
		queryRoutes(route, qs)
	}
	if vs, ok := svc.(ViewService); ok {
		viewRoutes(route, vs)
	}
	if ks, ok := svc.(KeyService); ok {
		keyRoutes(route, ks)
	}
	if ss, ok := svc.(ScheduleService); ok {
		scheduleRoutes(route, ss)
	}
	unsupportedRoutes(route)

	mux.Handle("/", h.authed(func(r *http.Request) (any, error) {
		return nil, Errorf(NotFound, "no route for %s %s", r.Method, r.URL.Path)
	}, true))
	return mux
}

type handler struct {
	svc      Service
	keys     *Keys
	log      *slog.Logger
	failures *failureLimit
}

// Keys is the set of accepted API keys. Set replaces it at once: requests
// already past authentication finish, connections stay open.
type Keys struct{ p atomic.Pointer[[][]byte] }

// NewKeys returns a key set holding keys.
func NewKeys(keys []string) *Keys {
	k := &Keys{}
	k.Set(keys)
	return k
}

// Set replaces the accepted keys.
func (k *Keys) Set(keys []string) {
	bs := make([][]byte, 0, len(keys))
	for _, key := range keys {
		if key != "" {
			bs = append(bs, []byte(key))
		}
	}
	k.p.Store(&bs)
}

// Authorized reports whether the request carries an accepted key, comparing
// with every key in constant time.
func (k *Keys) Authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "apikey") {
		return false
	}
	return k.Accepts(strings.TrimSpace(key))
}

// Accepts reports whether key is one of the set, comparing with every key
// in constant time.
func (k *Keys) Accepts(key string) bool {
	match := 0
	for _, k := range *k.p.Load() {
		match |= subtle.ConstantTimeCompare([]byte(key), k)
	}
	return match == 1 && key != ""
}

// Any reports whether some key in the set satisfies match (a scheduled
// lambda finds its key again by the key's hash).
func (k *Keys) Any(match func(key string) bool) bool {
	found := false
	for _, key := range *k.p.Load() {
		found = match(string(key)) || found
	}
	return found
}

// AdminEmail is the user the server's key-file keys belong to.
const AdminEmail = "admin@analytics.local"

// KeyFileCaller is who a key from the server's key file is: the administrator.
var KeyFileCaller = Caller{Email: AdminEmail, Role: "admin"}

// caller authenticates r: a key from the key file is the administrator;
// any other key must be one the KeyService knows.
func (h *handler) caller(r *http.Request) (Caller, bool) {
	if h.keys.Authorized(r) {
		return KeyFileCaller, true
	}
	ks, ok := h.svc.(KeyService)
	if !ok {
		return Caller{}, false
	}
	scheme, key, found := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !found || !strings.EqualFold(scheme, "apikey") || strings.TrimSpace(key) == "" {
		return Caller{}, false
	}
	return ks.Authenticate(strings.TrimSpace(key))
}

// failureLimit counts failed authentications per client address in a window.
type failureLimit struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	start time.Time
	count map[string]int
}

func newFailureLimit(max int, window time.Duration) *failureLimit {
	return &failureLimit{max: max, window: window, count: map[string]int{}}
}

func (f *failureLimit) roll(now time.Time) {
	if now.Sub(f.start) >= f.window {
		f.start, f.count = now, map[string]int{}
	}
}

// blocked reports whether addr has used up its failures in this window.
func (f *failureLimit) blocked(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(time.Now())
	return f.count[addr] >= f.max
}

func (f *failureLimit) fail(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(time.Now())
	if len(f.count) < 100000 { // a flood of addresses cannot grow it without bound
		f.count[addr]++
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *handler) authed(fn func(r *http.Request) (any, error), envelope bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r)
		if h.failures.blocked(addr) {
			// Refused without looking at the key, so guessing stops paying.
			// 401 rather than 429: clients retry a 429 by themselves, and a
			// controller holding a wrong key should keep seeing an auth failure.
			writeError(w, Errorf(AuthException, "too many failed authentications from %s; try again in a minute", addr))
			return
		}
		caller, ok := h.caller(r)
		if !ok {
			h.failures.fail(addr)
			writeError(w, Errorf(AuthException, "authentication failed"))
			return
		}
		if ks, isKS := h.svc.(KeyService); isKS {
			if err := ks.Authorize(caller, r); err != nil {
				var ae *Error
				if !errors.As(err, &ae) {
					ae = Errorf(AuthException, "%v", err)
				}
				writeError(w, ae)
				return
			}
		}
		r = r.WithContext(WithCaller(r.Context(), caller))
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodyBytes)
		out, err := fn(r)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
				ae = Errorf(InternalError, "internal error")
			}
			writeError(w, ae)
			return
		}
		out = withReadOnlyFields(out)
		if envelope {
			out = map[string]any{"data": out}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return Errorf(InvalidInput, "request body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Errorf(InvalidInput, "request body: %v", err)
	}
	return nil
}

func decodeOptional(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return Errorf(InvalidInput, "request body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Errorf(InvalidInput, "request body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	status, ok := statusOf[e.Type]
	if !ok {
		status = http.StatusBadRequest
	}
	m := openapi.ErrorModel{Type: &e.Type, Message: &e.Message}
	writeJSON(w, status, m)
}

// withReadOnlyFields puts back what the generated models leave out when they
// marshal: a source's id is readOnly in the spec, so Source.MarshalJSON skips
// it, yet clients read it from responses.
func withReadOnlyFields(v any) any {
	switch x := v.(type) {
	case openapi.Source:
		return sourceMap(x)
	case []openapi.Source:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = sourceMap(s)
		}
		return out
	case openapi.Collection:
		return collectionMap(x)
	case []openapi.Collection:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = collectionMap(c)
		}
		return out
	}
	return v
}

func sourceMap(s openapi.Source) any {
	m, err := s.ToMap()
	if err != nil {
		return s
	}
	if s.Id != nil {
		m["id"] = *s.Id
	}
	return m
}

func collectionMap(c openapi.Collection) any {
	m, err := c.ToMap()
	if err != nil {
		return c
	}
	if c.Sources != nil {
		m["sources"] = withReadOnlyFields(c.Sources)
	}
	return m
}
