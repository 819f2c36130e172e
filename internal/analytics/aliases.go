package analytics

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

// callerEmail is who the request's API key belongs to.
func callerEmail(ctx context.Context) string {
	if c, ok := api.CallerFrom(ctx); ok && c.Email != "" {
		return c.Email
	}
	return createdBy
}

// aliasesOf names, sorted, the aliases that point at a collection ("ws.name").
func aliasesOf(st *meta.State, coll string) []string {
	var names []string
	for _, a := range st.Aliases {
		if slices.Contains(a.Collections, coll) {
			names = append(names, a.Workspace+"."+a.Name)
		}
	}
	sort.Strings(names)
	return names
}

func aliasView(a *meta.Alias) openapi.Alias {
	out := openapi.Alias{
		Name: ptr(a.Name), Workspace: ptr(a.Workspace), Collections: append([]string{}, a.Collections...),
		CreatedAt: ptr(a.CreatedAt), CreatorEmail: ptr(a.CreatedBy), State: ptr("CREATED"),
	}
	if a.Description != "" {
		out.Description = ptr(a.Description)
	}
	if a.ModifiedAt != "" {
		out.ModifiedAt = ptr(a.ModifiedAt)
	}
	return out
}

// checkAliasTargets validates "workspace.collection" names against st: an
// alias points at collections (not views or other aliases), which exist.
func checkAliasTargets(st *meta.State, colls []string) ([]string, error) {
	if len(colls) == 0 {
		return nil, api.Errorf(api.InvalidInput, "collections is required: the workspace.collection names the alias points at")
	}
	out := make([]string, 0, len(colls))
	for _, c := range colls {
		ws, name, ok := strings.Cut(c, ".")
		if !ok || ws == "" || name == "" || strings.Contains(name, ".") {
			return nil, api.Errorf(api.InvalidInput, "collection %q: want workspace.collection", c)
		}
		if _, found := st.Collections[meta.Key(ws, name)]; !found {
			return nil, api.Errorf(api.InvalidInput, "collection %q not found", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// CreateAlias creates an alias.
func (s *Server) CreateAlias(ctx context.Context, ws string, req openapi.CreateAliasRequest) (openapi.Alias, error) {
	if err := checkName("alias", req.Name); err != nil {
		return openapi.Alias{}, err
	}
	var a *meta.Alias
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		if kind := nameTaken(st, ws, req.Name, ""); kind != "" {
			return api.Errorf(api.AlreadyExists, "%s %q already exists in workspace %q", kind, req.Name, ws)
		}
		colls, err := checkAliasTargets(st, req.Collections)
		if err != nil {
			return err
		}
		a = &meta.Alias{Workspace: ws, Name: req.Name, Description: req.GetDescription(), Collections: colls, CreatedAt: now(), CreatedBy: callerEmail(ctx)}
		st.Aliases[meta.Key(ws, req.Name)] = a
		return nil
	})
	if err != nil {
		return openapi.Alias{}, err
	}
	s.rw.Invalidate()
	return aliasView(a), nil
}

// GetAlias returns one alias.
func (s *Server) GetAlias(ctx context.Context, ws, name string) (openapi.Alias, error) {
	var out openapi.Alias
	var err error = api.Errorf(api.NotFound, "alias %q not found in workspace %q", name, ws)
	s.meta.View(func(st *meta.State) {
		if a, ok := st.Aliases[meta.Key(ws, name)]; ok {
			out, err = aliasView(a), nil
		}
	})
	return out, err
}

// ListAliases lists a workspace's aliases ("" for all).
func (s *Server) ListAliases(ctx context.Context, ws string) ([]openapi.Alias, error) {
	out := []openapi.Alias{}
	var err error
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; ws != "" && !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", ws)
			return
		}
		for _, a := range st.Aliases {
			if ws == "" || a.Workspace == ws {
				out = append(out, aliasView(a))
			}
		}
	})
	sort.Slice(out, func(i, j int) bool {
		return *out[i].Workspace+"."+*out[i].Name < *out[j].Workspace+"."+*out[j].Name
	})
	return out, err
}

// UpdateAlias repoints an alias (and changes its description when given).
func (s *Server) UpdateAlias(ctx context.Context, ws, name string, req openapi.UpdateAliasRequest) (openapi.Alias, error) {
	var out openapi.Alias
	err := s.meta.Update(func(st *meta.State) error {
		a, ok := st.Aliases[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "alias %q not found in workspace %q", name, ws)
		}
		colls, err := checkAliasTargets(st, req.Collections)
		if err != nil {
			return err
		}
		a.Collections, a.ModifiedAt = colls, now()
		if req.Description != nil {
			a.Description = *req.Description
		}
		out = aliasView(a)
		return nil
	})
	if err != nil {
		return openapi.Alias{}, err
	}
	s.rw.Invalidate()
	return out, nil
}

// DeleteAlias deletes an alias.
func (s *Server) DeleteAlias(ctx context.Context, ws, name string) (openapi.Alias, error) {
	var out openapi.Alias
	err := s.meta.Update(func(st *meta.State) error {
		a, ok := st.Aliases[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "alias %q not found in workspace %q", name, ws)
		}
		out = aliasView(a)
		out.State = ptr("DELETED")
		delete(st.Aliases, meta.Key(ws, name))
		return nil
	})
	if err != nil {
		return openapi.Alias{}, err
	}
	s.rw.Invalidate()
	return out, nil
}
