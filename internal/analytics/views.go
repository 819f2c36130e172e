package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
)

var _ api.ViewService = (*Server)(nil)

// resolveNamed resolves what is not a collection: a view (inlined by the
// rewrite, so its query meets the same allow-list as the query naming it)
// or an alias (one collection, or several read as one).
func (s *Server) resolveNamed(ws, name string) (rewrite.Table, error) {
	var view *meta.View
	var alias *meta.Alias
	s.meta.View(func(st *meta.State) {
		match := func(w, n string) bool { return w == ws && n == name }
		for _, v := range st.Views {
			if match(v.Workspace, v.Name) || (strings.EqualFold(v.Workspace, ws) && strings.EqualFold(v.Name, name)) {
				cp := *v
				view = &cp
				return
			}
		}
		for _, a := range st.Aliases {
			if match(a.Workspace, a.Name) || (strings.EqualFold(a.Workspace, ws) && strings.EqualFold(a.Name, name)) {
				cp := *a
				alias = &cp
				return
			}
		}
	})
	switch {
	case view != nil:
		return rewrite.Table{Query: view.SQL, Path: view.Workspace + "." + view.Name}, nil
	case alias != nil && len(alias.Collections) == 1:
		cws, cname, _ := strings.Cut(alias.Collections[0], ".")
		return s.resolve(cws, cname)
	case alias != nil:
		parts := make([]string, len(alias.Collections))
		for i, c := range alias.Collections {
			cws, cname, _ := strings.Cut(c, ".")
			parts[i] = "SELECT * FROM " + quoteSQLIdent(cws) + "." + quoteSQLIdent(cname)
		}
		return rewrite.Table{Query: strings.Join(parts, " UNION ALL BY NAME "), Path: alias.Workspace + "." + alias.Name}, nil
	}
	return rewrite.Table{}, &rewrite.Error{Msg: fmt.Sprintf("collection '%s' not found in workspace '%s'", name, ws)}
}

func quoteSQLIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// nameTaken says what already uses name in ws: collections, views and
// aliases share one namespace, as they do in FROM.
func nameTaken(st *meta.State, ws, name, except string) string {
	if _, ok := st.Collections[meta.Key(ws, name)]; ok && except != "collection" {
		return "collection"
	}
	if _, ok := st.Views[meta.Key(ws, name)]; ok && except != "view" {
		return "view"
	}
	if _, ok := st.Aliases[meta.Key(ws, name)]; ok && except != "alias" {
		return "alias"
	}
	return ""
}

// checkViewSQL runs a view's query through the rewrite (the allow-list) both
// alone and as it will be inlined.
func (s *Server) checkViewSQL(ctx context.Context, ws, name, q string) error {
	if strings.TrimSpace(q) == "" {
		return api.Errorf(api.InvalidInput, "query is required")
	}
	rq, err := s.rw.Rewrite(ctx, q, s.resolve)
	if err != nil {
		return queryError(err)
	}
	if len(rq.Params) > 0 {
		return api.Errorf(api.InvalidInput, "a view cannot have parameters (:%s)", rq.Params[0])
	}
	if _, err := s.rw.Rewrite(ctx, "SELECT * FROM (\n"+q+"\n) AS "+quoteSQLIdent(name), s.resolve); err != nil {
		return api.Errorf(api.InvalidInput, "the view's query cannot be used as a subquery (a trailing semicolon?): %v", err)
	}
	return nil
}

func viewView(v *meta.View, entities []string) openapi.View {
	out := openapi.View{
		Name: ptr(v.Name), Workspace: ptr(v.Workspace), Path: ptr(v.Workspace + "." + v.Name), QuerySql: ptr(v.SQL),
		CreatedAt: ptr(v.CreatedAt), CreatorEmail: ptr(v.CreatedBy), OwnerEmail: ptr(v.CreatedBy), State: ptr("CREATED"),
		Entities: entities,
	}
	if v.Description != "" {
		out.Description = ptr(v.Description)
	}
	if v.ModifiedAt != "" {
		out.ModifiedAt = ptr(v.ModifiedAt)
	}
	return out
}

func (s *Server) viewEntities(ctx context.Context, q string) []string {
	if rq, err := s.rw.Rewrite(ctx, q, s.resolve); err == nil {
		return append([]string{}, rq.Collections...)
	}
	return nil
}

// CreateView creates a view.
func (s *Server) CreateView(ctx context.Context, ws string, req openapi.CreateViewRequest) (openapi.View, error) {
	if err := checkName("view", req.Name); err != nil {
		return openapi.View{}, err
	}
	if err := s.checkViewSQL(ctx, ws, req.Name, req.Query); err != nil {
		return openapi.View{}, err
	}
	v := &meta.View{Workspace: ws, Name: req.Name, Description: req.GetDescription(), SQL: req.Query, CreatedAt: now(), CreatedBy: callerEmail(ctx)}
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		if kind := nameTaken(st, ws, req.Name, ""); kind != "" {
			return api.Errorf(api.AlreadyExists, "%s %q already exists in workspace %q", kind, req.Name, ws)
		}
		st.Views[meta.Key(ws, req.Name)] = v
		return nil
	})
	if err != nil {
		return openapi.View{}, err
	}
	s.rw.Invalidate()
	return viewView(v, s.viewEntities(ctx, v.SQL)), nil
}

func (s *Server) findView(ws, name string) (meta.View, error) {
	var v meta.View
	var err error = api.Errorf(api.NotFound, "view %q not found in workspace %q", name, ws)
	s.meta.View(func(st *meta.State) {
		if found, ok := st.Views[meta.Key(ws, name)]; ok {
			v, err = *found, nil
		}
	})
	return v, err
}

// GetView returns one view.
func (s *Server) GetView(ctx context.Context, ws, name string) (openapi.View, error) {
	v, err := s.findView(ws, name)
	if err != nil {
		return openapi.View{}, err
	}
	return viewView(&v, s.viewEntities(ctx, v.SQL)), nil
}

// ListViews lists a workspace's views ("" for all).
func (s *Server) ListViews(ctx context.Context, ws string) ([]openapi.View, error) {
	var vs []meta.View
	var err error
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; ws != "" && !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", ws)
			return
		}
		for _, v := range st.Views {
			if ws == "" || v.Workspace == ws {
				vs = append(vs, *v)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Workspace+"."+vs[i].Name < vs[j].Workspace+"."+vs[j].Name })
	out := make([]openapi.View, 0, len(vs))
	for i := range vs {
		out = append(out, viewView(&vs[i], s.viewEntities(ctx, vs[i].SQL)))
	}
	return out, nil
}

// UpdateView replaces a view's query (and description when given).
func (s *Server) UpdateView(ctx context.Context, ws, name string, req openapi.UpdateViewRequest) (openapi.View, error) {
	if err := s.checkViewSQL(ctx, ws, name, req.Query); err != nil {
		return openapi.View{}, err
	}
	var v meta.View
	err := s.meta.Update(func(st *meta.State) error {
		found, ok := st.Views[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "view %q not found in workspace %q", name, ws)
		}
		found.SQL, found.ModifiedAt = req.Query, now()
		if req.Description != nil {
			found.Description = *req.Description
		}
		v = *found
		return nil
	})
	if err != nil {
		return openapi.View{}, err
	}
	s.rw.Invalidate()
	// An update can make views name each other; the next query names the loop.
	if _, err := s.rw.Rewrite(ctx, "SELECT * FROM "+quoteSQLIdent(ws)+"."+quoteSQLIdent(name), s.resolve); err != nil {
		return viewView(&v, nil), nil
	}
	return viewView(&v, s.viewEntities(ctx, v.SQL)), nil
}

// DeleteView deletes a view.
func (s *Server) DeleteView(ctx context.Context, ws, name string) (openapi.View, error) {
	var v meta.View
	err := s.meta.Update(func(st *meta.State) error {
		found, ok := st.Views[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "view %q not found in workspace %q", name, ws)
		}
		v = *found
		delete(st.Views, meta.Key(ws, name))
		return nil
	})
	if err != nil {
		return openapi.View{}, err
	}
	s.rw.Invalidate()
	out := viewView(&v, nil)
	out.State = ptr("DELETED")
	return out, nil
}
