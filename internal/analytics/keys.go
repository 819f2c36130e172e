package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

var _ api.KeyService = (*Server)(nil)

// API keys beyond the key file: created through the API, stored as their
// SHA-256 only (the key is shown once, when created; afterwards only its
// last 6 characters), each with a role. Keys from the key file are admins.

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Authenticate finds the active key with this hash.
func (s *Server) Authenticate(key string) (api.Caller, bool) {
	want := hashKey(key)
	var c api.Caller
	found := false
	s.meta.View(func(st *meta.State) {
		for _, k := range st.APIKeys {
			if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(want)) == 1 && k.State == "ACTIVE" {
				c, found = callerOf(k), true
			}
		}
	})
	return c, found
}

func callerOf(k *meta.APIKey) api.Caller {
	return api.Caller{Email: k.Owner, KeyName: k.Name, Role: k.Role}
}

func keyView(k *meta.APIKey, full string) openapi.ApiKey {
	out := openapi.ApiKey{
		Name: k.Name, Key: k.Hint, CreatedAt: ptr(k.CreatedAt), CreatedBy: ptr(k.CreatedBy),
		State: ptr(k.State), Role: ptr(k.Role),
	}
	if full != "" {
		out.Key = full
	}
	if k.LastAccess != "" {
		out.LastAccessTime = ptr(k.LastAccess)
	}
	return out
}

// keyUser is whose keys a request names: "self" is the caller.
func keyUser(ctx context.Context, user string) (string, error) {
	c, _ := api.CallerFrom(ctx)
	if user == "self" || user == "" {
		return callerEmail(ctx), nil
	}
	if c.Role != builtinAdmin && !strings.EqualFold(user, c.Email) {
		return "", api.Errorf(api.Forbidden, "only an admin can manage another user's keys")
	}
	return user, nil
}

// CreateAPIKey creates a key for the caller and returns it, whole, once. A
// key asked for without a role gets the caller's own, as Rockset's did (it
// then acted with all its user's roles); any role given is held to mayGive.
func (s *Server) CreateAPIKey(ctx context.Context, req openapi.CreateApiKeyRequest) (openapi.ApiKey, error) {
	if err := checkName("API key", req.Name); err != nil {
		return openapi.ApiKey{}, err
	}
	if req.ExpiryTime != nil {
		return openapi.ApiKey{}, api.Errorf(api.NotImplemented, "key expiry times are not supported")
	}
	c, _ := api.CallerFrom(ctx)
	role := req.GetRole()
	if role == "" {
		role = c.Role
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return openapi.ApiKey{}, err
	}
	full := hex.EncodeToString(b)
	owner := callerEmail(ctx)
	k := &meta.APIKey{Name: req.Name, Owner: owner, Hash: hashKey(full), Hint: full[len(full)-6:], Role: role, State: "ACTIVE", CreatedAt: now(), CreatedBy: owner}
	err := s.meta.Update(func(st *meta.State) error {
		privs, ok := rolePrivileges(st, role)
		if !ok {
			return api.Errorf(api.InvalidInput, "role %q does not exist", role)
		}
		if err := mayGive(st, c, fmt.Sprintf("API key %q with role %q", req.Name, role), privs, role == builtinAdmin); err != nil {
			return err
		}
		if _, ok := st.APIKeys[meta.Key(owner, req.Name)]; ok {
			return api.Errorf(api.AlreadyExists, "API key %q already exists", req.Name)
		}
		st.APIKeys[meta.Key(owner, req.Name)] = k
		return nil
	})
	if err != nil {
		return openapi.ApiKey{}, err
	}
	s.event(ctx, "API_KEY_CREATED", "API_KEY", "INFO", map[string]any{"api_key_name": req.Name, "details": map[string]any{"role": role}})
	return keyView(k, full), nil
}

func (s *Server) findKey(ctx context.Context, user, name string) (meta.APIKey, string, error) {
	owner, err := keyUser(ctx, user)
	if err != nil {
		return meta.APIKey{}, "", err
	}
	if c, _ := api.CallerFrom(ctx); c.Role != builtinAdmin && c.KeyName != name {
		// A key with a lesser role sees only itself, not its owner's other keys.
		return meta.APIKey{}, "", api.Errorf(api.Forbidden, "a key with role %q can only manage itself", c.Role)
	}
	var k meta.APIKey
	err = api.Errorf(api.NotFound, "API key %q not found", name)
	s.meta.View(func(st *meta.State) {
		if found, ok := st.APIKeys[meta.Key(owner, name)]; ok {
			k, err = *found, nil
		}
	})
	return k, owner, err
}

// GetAPIKey returns a key without its secret.
func (s *Server) GetAPIKey(ctx context.Context, user, name string) (openapi.ApiKey, error) {
	k, _, err := s.findKey(ctx, user, name)
	if err != nil {
		return openapi.ApiKey{}, err
	}
	return keyView(&k, ""), nil
}

// ListAPIKeys lists a user's keys.
func (s *Server) ListAPIKeys(ctx context.Context, user string) ([]openapi.ApiKey, error) {
	owner, err := keyUser(ctx, user)
	if err != nil {
		return nil, err
	}
	c, _ := api.CallerFrom(ctx)
	out := []openapi.ApiKey{}
	s.meta.View(func(st *meta.State) {
		for _, k := range st.APIKeys {
			if k.Owner == owner && (c.Role == builtinAdmin || k.Name == c.KeyName) {
				out = append(out, keyView(k, ""))
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateAPIKey suspends or reactivates a key. Only an admin reaches another
// key (findKey) and a suspended key cannot authenticate, so only an admin
// makes a key active again: no role is given here.
func (s *Server) UpdateAPIKey(ctx context.Context, user, name string, req openapi.UpdateApiKeyRequest) (openapi.ApiKey, error) {
	_, owner, err := s.findKey(ctx, user, name)
	if err != nil {
		return openapi.ApiKey{}, err
	}
	state := strings.ToUpper(req.GetState())
	if state != "" && state != "ACTIVE" && state != "SUSPENDED" {
		return openapi.ApiKey{}, api.Errorf(api.InvalidInput, "state %q: want ACTIVE or SUSPENDED", state)
	}
	if req.ExpiryTime != nil {
		return openapi.ApiKey{}, api.Errorf(api.NotImplemented, "key expiry times are not supported")
	}
	var out openapi.ApiKey
	err = s.meta.Update(func(st *meta.State) error {
		k, ok := st.APIKeys[meta.Key(owner, name)]
		if !ok {
			return api.Errorf(api.NotFound, "API key %q not found", name)
		}
		if state != "" {
			k.State = state
		}
		out = keyView(k, "")
		return nil
	})
	return out, err
}

// DeleteAPIKey deletes a key; it stops working at once.
func (s *Server) DeleteAPIKey(ctx context.Context, user, name string) (openapi.ApiKey, error) {
	k, owner, err := s.findKey(ctx, user, name)
	if err != nil {
		return openapi.ApiKey{}, err
	}
	err = s.meta.Update(func(st *meta.State) error {
		delete(st.APIKeys, meta.Key(owner, name))
		return nil
	})
	if err != nil {
		return openapi.ApiKey{}, err
	}
	s.event(ctx, "API_KEY_DELETED", "API_KEY", "INFO", map[string]any{"api_key_name": name})
	return keyView(&k, ""), nil
}

// Authorize holds a request to the caller's role: the route names the
// action (routeActions) and the workspace or collection it acts on. Queries
// are also checked per collection when they run (checkQueryAccess).
func (s *Server) Authorize(c api.Caller, r *http.Request) error {
	if c.Role == builtinAdmin {
		return nil
	}
	action, ok := routeActions[r.Pattern]
	if !ok {
		if r.Method == http.MethodGet {
			return nil // reading the organisation's lists
		}
		action = actionAdmin
	}
	if action == "" {
		return nil
	}
	ws, coll := r.PathValue("ws"), r.PathValue("c")
	if s.allowed(c.Role, action, ws, coll) {
		return nil
	}
	what := action
	if ws != "" {
		what += " on " + ws
		if coll != "" {
			what += "." + coll
		}
	}
	return api.Errorf(api.Forbidden, "the key's role %q does not allow %s", c.Role, what)
}

// checkQueryAccess holds a query to the caller's QUERY_DATA_WS privileges
// on every collection it reads (views and aliases resolved).
func (s *Server) checkQueryAccess(ctx context.Context, collections []string) error {
	c, ok := api.CallerFrom(ctx)
	if !ok || c.Role == builtinAdmin {
		return nil
	}
	for _, path := range collections {
		ws, coll, _ := strings.Cut(path, ".")
		if !s.allowed(c.Role, "QUERY_DATA_WS", ws, coll) {
			return api.Errorf(api.Forbidden, "the key's role %q does not allow QUERY_DATA_WS on %s", c.Role, path)
		}
	}
	return nil
}
