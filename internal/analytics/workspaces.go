package analytics

import (
	"context"
	"sort"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

func workspaceView(st *meta.State, w *meta.Workspace) openapi.Workspace {
	var n int64
	for _, c := range st.Collections {
		if c.Workspace == w.Name {
			n++
		}
	}
	out := openapi.Workspace{Name: ptr(w.Name), CreatedAt: ptr(w.CreatedAt), CreatedBy: ptr(w.CreatedBy), CollectionCount: ptr(n)}
	if w.Description != "" {
		out.Description = ptr(w.Description)
	}
	return out
}

// CreateWorkspace creates a workspace.
func (s *Server) CreateWorkspace(ctx context.Context, req openapi.CreateWorkspaceRequest) (openapi.Workspace, error) {
	if err := checkName("workspace", req.Name); err != nil {
		return openapi.Workspace{}, err
	}
	var out openapi.Workspace
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[req.Name]; ok {
			return api.Errorf(api.AlreadyExists, "workspace %q already exists", req.Name)
		}
		w := &meta.Workspace{Name: req.Name, Description: req.GetDescription(), CreatedAt: now(), CreatedBy: createdBy}
		st.Workspaces[req.Name] = w
		out = workspaceView(st, w)
		return nil
	})
	return out, err
}

// GetWorkspace returns one workspace.
func (s *Server) GetWorkspace(ctx context.Context, name string) (openapi.Workspace, error) {
	var out openapi.Workspace
	var err error
	s.meta.View(func(st *meta.State) {
		w, ok := st.Workspaces[name]
		if !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", name)
			return
		}
		out = workspaceView(st, w)
	})
	return out, err
}

// ListWorkspaces lists workspaces by name.
func (s *Server) ListWorkspaces(ctx context.Context) ([]openapi.Workspace, error) {
	out := []openapi.Workspace{}
	s.meta.View(func(st *meta.State) {
		for _, w := range st.Workspaces {
			out = append(out, workspaceView(st, w))
		}
	})
	sort.Slice(out, func(i, j int) bool { return *out[i].Name < *out[j].Name })
	return out, nil
}

// DeleteWorkspace deletes an empty workspace other than commons.
func (s *Server) DeleteWorkspace(ctx context.Context, name string) (openapi.Workspace, error) {
	var out openapi.Workspace
	err := s.meta.Update(func(st *meta.State) error {
		w, ok := st.Workspaces[name]
		if !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", name)
		}
		if name == "commons" {
			return api.Errorf(api.InvalidInput, "workspace commons cannot be deleted")
		}
		for _, c := range st.Collections {
			if c.Workspace == name {
				return api.Errorf(api.DependentResources, "workspace %q still has collection %q", name, c.Name)
			}
		}
		for _, l := range st.Lambdas {
			if l.Workspace == name {
				return api.Errorf(api.DependentResources, "workspace %q still has query lambda %q", name, l.Name)
			}
		}
		for _, sl := range st.ScheduledLambdas {
			if sl.Workspace == name {
				return api.Errorf(api.DependentResources, "workspace %q still has scheduled lambda %q", name, sl.RRN)
			}
		}
		out = workspaceView(st, w)
		delete(st.Workspaces, name)
		return nil
	})
	return out, err
}
