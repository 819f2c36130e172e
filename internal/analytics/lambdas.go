package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/rewrite"
)

const latestTag = "latest"

func findVersion(l *meta.Lambda, version string) (meta.LambdaVersion, error) {
	for _, v := range l.Versions {
		if v.Version == version {
			return v, nil
		}
	}
	return meta.LambdaVersion{}, api.Errorf(api.NotFound, "query lambda %s.%s has no version %q", l.Workspace, l.Name, version)
}

func tagVersion(l *meta.Lambda, tag string) (meta.LambdaVersion, error) {
	if tag == latestTag && len(l.Versions) > 0 {
		return l.Versions[len(l.Versions)-1], nil
	}
	v, ok := l.Tags[tag]
	if !ok {
		return meta.LambdaVersion{}, api.Errorf(api.NotFound, "query lambda %s.%s has no tag %q", l.Workspace, l.Name, tag)
	}
	return findVersion(l, v)
}

// GetQueryLambdaVersion returns one version.
func (s *Server) GetQueryLambdaVersion(ctx context.Context, ws, name, version string) (openapi.QueryLambdaVersion, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	v, err := findVersion(&l, version)
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	return lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL)), nil
}

// ListQueryLambdaVersions lists versions, newest first.
func (s *Server) ListQueryLambdaVersions(ctx context.Context, ws, name string) ([]openapi.QueryLambdaVersion, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return nil, err
	}
	out := make([]openapi.QueryLambdaVersion, 0, len(l.Versions))
	for i := len(l.Versions) - 1; i >= 0; i-- {
		out = append(out, lambdaVersionView(&l, l.Versions[i], s.versionCollections(ctx, l.Versions[i].SQL)))
	}
	return out, nil
}

// DeleteQueryLambdaVersion deletes a version (and tags pointing at it).
func (s *Server) DeleteQueryLambdaVersion(ctx context.Context, ws, name, version string) (openapi.QueryLambdaVersion, error) {
	var out openapi.QueryLambdaVersion
	err := s.meta.Update(func(st *meta.State) error {
		l, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		for i, v := range l.Versions {
			if v.Version == version {
				if len(l.Versions) == 1 {
					return api.Errorf(api.InvalidInput, "cannot delete the only version of %s.%s; delete the lambda", ws, name)
				}
				out = lambdaVersionView(l, v, nil)
				l.Versions = append(l.Versions[:i], l.Versions[i+1:]...)
				for t, tv := range l.Tags {
					if tv == version {
						delete(l.Tags, t)
					}
				}
				return nil
			}
		}
		return api.Errorf(api.NotFound, "query lambda %s.%s has no version %q", ws, name, version)
	})
	return out, err
}

func (s *Server) lambdaView(ctx context.Context, l *meta.Lambda) openapi.QueryLambda {
	latest := l.Versions[len(l.Versions)-1]
	colls := s.versionCollections(ctx, latest.SQL)
	lv := lambdaVersionView(l, latest, colls)
	return openapi.QueryLambda{
		Name: ptr(l.Name), Workspace: ptr(l.Workspace), LastUpdated: ptr(l.LastUpdated), LastUpdatedBy: ptr(createdBy),
		VersionCount: ptr(int32(len(l.Versions))), LatestVersion: &lv, Collections: colls,
	}
}

// ListQueryLambdas lists a workspace's lambdas ("" for all).
func (s *Server) ListQueryLambdas(ctx context.Context, ws string) ([]openapi.QueryLambda, error) {
	var ls []meta.Lambda
	var err error
	s.meta.View(func(st *meta.State) {
		if _, ok := st.Workspaces[ws]; ws != "" && !ok {
			err = api.Errorf(api.NotFound, "workspace %q not found", ws)
			return
		}
		for _, l := range st.Lambdas {
			if ws == "" || l.Workspace == ws {
				cp := *l
				cp.Versions = append([]meta.LambdaVersion{}, l.Versions...)
				ls = append(ls, cp)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Workspace+"."+ls[i].Name < ls[j].Workspace+"."+ls[j].Name })
	out := make([]openapi.QueryLambda, 0, len(ls))
	for i := range ls {
		out = append(out, s.lambdaView(ctx, &ls[i]))
	}
	return out, nil
}

// DeleteQueryLambda deletes a lambda with all its versions and tags.
func (s *Server) DeleteQueryLambda(ctx context.Context, ws, name string) (openapi.QueryLambda, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return openapi.QueryLambda{}, err
	}
	view := s.lambdaView(ctx, &l)
	err = s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Lambdas[meta.Key(ws, name)]; !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		delete(st.Lambdas, meta.Key(ws, name))
		return nil
	})
	return view, err
}

// CreateQueryLambdaTag points a tag at a version (moving it if it exists).
func (s *Server) CreateQueryLambdaTag(ctx context.Context, ws, name string, req openapi.CreateQueryLambdaTagRequest) (openapi.QueryLambdaTag, error) {
	if req.TagName == latestTag {
		return openapi.QueryLambdaTag{}, api.Errorf(api.InvalidInput, "tag %q is reserved: it always names the newest version", latestTag)
	}
	if err := checkName("tag", req.TagName); err != nil {
		return openapi.QueryLambdaTag{}, err
	}
	var out openapi.QueryLambdaTag
	err := s.meta.Update(func(st *meta.State) error {
		l, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		v, err := findVersion(l, req.Version)
		if err != nil {
			return err
		}
		if l.Tags == nil {
			l.Tags = map[string]string{}
		}
		l.Tags[req.TagName] = req.Version
		vv := lambdaVersionView(l, v, nil)
		out = openapi.QueryLambdaTag{TagName: ptr(req.TagName), Version: &vv}
		return nil
	})
	return out, err
}

// GetQueryLambdaTag returns a tag and its version.
func (s *Server) GetQueryLambdaTag(ctx context.Context, ws, name, tag string) (openapi.QueryLambdaTag, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return openapi.QueryLambdaTag{}, err
	}
	v, err := tagVersion(&l, tag)
	if err != nil {
		return openapi.QueryLambdaTag{}, err
	}
	vv := lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL))
	return openapi.QueryLambdaTag{TagName: ptr(tag), Version: &vv}, nil
}

// ListQueryLambdaTags lists a lambda's tags, latest included.
func (s *Server) ListQueryLambdaTags(ctx context.Context, ws, name string) ([]openapi.QueryLambdaTag, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return nil, err
	}
	tags := []string{latestTag}
	for t := range l.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags[1:])
	out := make([]openapi.QueryLambdaTag, 0, len(tags))
	for _, t := range tags {
		v, err := tagVersion(&l, t)
		if err != nil {
			continue
		}
		vv := lambdaVersionView(&l, v, nil)
		out = append(out, openapi.QueryLambdaTag{TagName: ptr(t), Version: &vv})
	}
	return out, nil
}

// DeleteQueryLambdaTag removes a tag.
func (s *Server) DeleteQueryLambdaTag(ctx context.Context, ws, name, tag string) (openapi.QueryLambdaTag, error) {
	var out openapi.QueryLambdaTag
	err := s.meta.Update(func(st *meta.State) error {
		l, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		vid, ok := l.Tags[tag]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %s.%s has no tag %q", ws, name, tag)
		}
		v, _ := findVersion(l, vid)
		vv := lambdaVersionView(l, v, nil)
		out = openapi.QueryLambdaTag{TagName: ptr(tag), Version: &vv}
		delete(l.Tags, tag)
		return nil
	})
	return out, err
}

// ExecuteQueryLambda runs a version (or the version a tag names) with its
// default parameters, each overridden by a caller's parameter of that name.
func (s *Server) ExecuteQueryLambda(ctx context.Context, ws, name, version, tag string, req openapi.ExecuteQueryLambdaRequest) (openapi.QueryResponse, error) {
	l, err := s.findLambda(ws, name)
	if err != nil {
		return openapi.QueryResponse{}, err
	}
	var v meta.LambdaVersion
	if version != "" {
		v, err = findVersion(&l, version)
	} else {
		v, err = tagVersion(&l, tag)
	}
	if err != nil {
		return openapi.QueryResponse{}, err
	}
	merged := map[string]openapi.QueryParameter{}
	var order []string
	for _, p := range v.DefaultParams {
		merged[p.Name] = openapi.QueryParameter{Name: p.Name, Type: p.Type, Value: p.Value}
		order = append(order, p.Name)
	}
	for _, p := range req.Parameters {
		if _, ok := merged[p.Name]; !ok {
			order = append(order, p.Name)
		}
		merged[p.Name] = p
	}
	params := make([]openapi.QueryParameter, 0, len(order))
	for _, n := range order {
		params = append(params, merged[n])
	}
	return s.run(ctx, queryRun{
		sql: v.SQL, params: toParams(params), rowLimit: req.DefaultRowLimit, timeoutMs: req.TimeoutMs,
		lambda: ws + "." + name + ":" + v.Version,
	})
}

func lambdaVersionView(l *meta.Lambda, v meta.LambdaVersion, colls []string) openapi.QueryLambdaVersion {
	out := openapi.QueryLambdaVersion{
		Name: ptr(l.Name), Workspace: ptr(l.Workspace), Version: ptr(v.Version), State: ptr("ACTIVE"),
		CreatedAt: ptr(v.CreatedAt), CreatedBy: ptr(v.CreatedBy), Collections: colls,
		Sql: &openapi.QueryLambdaSql{Query: v.SQL},
	}
	for _, p := range v.DefaultParams {
		out.Sql.DefaultParameters = append(out.Sql.DefaultParameters, openapi.QueryParameter{Name: p.Name, Type: p.Type, Value: p.Value})
	}
	if v.Description != "" {
		out.Description = ptr(v.Description)
	}
	return out
}

func (s *Server) versionCollections(ctx context.Context, sqlText string) []string {
	if rq, err := s.rw.Rewrite(ctx, sqlText, s.resolve); err == nil {
		return append([]string{}, rq.Collections...)
	}
	return nil
}

func newVersion(sqlText string, params []openapi.QueryParameter, desc string) meta.LambdaVersion {
	h := sha256.Sum256([]byte(sqlText + "\x00" + now() + randomID()))
	v := meta.LambdaVersion{Version: hex.EncodeToString(h[:8]), SQL: sqlText, Description: desc, CreatedAt: now(), CreatedBy: createdBy}
	for _, p := range params {
		v.DefaultParams = append(v.DefaultParams, meta.Param{Name: p.Name, Type: p.Type, Value: p.Value})
	}
	return v
}

func (s *Server) checkLambdaSQL(ctx context.Context, sqlText string, params []openapi.QueryParameter) error {
	if _, err := s.rw.Rewrite(ctx, sqlText, s.resolve); err != nil {
		return queryError(err)
	}
	for _, p := range params {
		if _, err := rewrite.Bind(&rewrite.Query{Params: []string{p.Name}}, []rewrite.Param{{Name: p.Name, Type: p.Type, Value: p.Value}}); err != nil {
			return api.Errorf(api.InvalidInput, "%v", err)
		}
	}
	return nil
}

// CreateQueryLambda creates a lambda with its first version.
func (s *Server) CreateQueryLambda(ctx context.Context, ws string, req openapi.CreateQueryLambdaRequest) (openapi.QueryLambdaVersion, error) {
	if err := checkName("query lambda", req.Name); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	if err := s.checkLambdaSQL(ctx, req.Sql.Query, req.Sql.DefaultParameters); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	v := newVersion(req.Sql.Query, req.Sql.DefaultParameters, req.GetDescription())
	var l meta.Lambda
	err := s.meta.Update(func(st *meta.State) error {
		if _, ok := st.Workspaces[ws]; !ok {
			return api.Errorf(api.NotFound, "workspace %q not found", ws)
		}
		if _, ok := st.Lambdas[meta.Key(ws, req.Name)]; ok {
			return api.Errorf(api.AlreadyExists, "query lambda %q already exists in workspace %q", req.Name, ws)
		}
		nl := &meta.Lambda{Workspace: ws, Name: req.Name, Versions: []meta.LambdaVersion{v}, Tags: map[string]string{}, LastUpdated: v.CreatedAt}
		st.Lambdas[meta.Key(ws, req.Name)] = nl
		l = *nl
		return nil
	})
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	return lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL)), nil
}

// UpdateQueryLambda adds a version.
func (s *Server) UpdateQueryLambda(ctx context.Context, ws, name string, req openapi.UpdateQueryLambdaRequest) (openapi.QueryLambdaVersion, error) {
	if req.Sql == nil {
		return openapi.QueryLambdaVersion{}, api.Errorf(api.InvalidInput, "sql is required")
	}
	if err := s.checkLambdaSQL(ctx, req.Sql.Query, req.Sql.DefaultParameters); err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	v := newVersion(req.Sql.Query, req.Sql.DefaultParameters, req.GetDescription())
	var l meta.Lambda
	err := s.meta.Update(func(st *meta.State) error {
		found, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			return api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
		}
		found.Versions = append(found.Versions, v)
		found.LastUpdated = v.CreatedAt
		l = *found
		return nil
	})
	if err != nil {
		return openapi.QueryLambdaVersion{}, err
	}
	return lambdaVersionView(&l, v, s.versionCollections(ctx, v.SQL)), nil
}

func (s *Server) findLambda(ws, name string) (meta.Lambda, error) {
	var l meta.Lambda
	var err error
	s.meta.View(func(st *meta.State) {
		found, ok := st.Lambdas[meta.Key(ws, name)]
		if !ok {
			err = api.Errorf(api.NotFound, "query lambda %q not found in workspace %q", name, ws)
			return
		}
		l = *found
		l.Versions = append([]meta.LambdaVersion{}, found.Versions...)
		l.Tags = map[string]string{}
		for k, v := range found.Tags {
			l.Tags[k] = v
		}
	})
	return l, err
}
