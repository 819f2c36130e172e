package analytics

import (
	"context"
	"sort"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
)

// Built-in roles, as Rockset named them.
const (
	builtinAdmin    = "admin"
	builtinMember   = "member"
	builtinReadOnly = "read-only"
	actionAdmin     = "ADMIN" // what only an admin may do
	allResources    = "*ALL*"
)

// routeActions names the privilege each route needs (by its pattern); ""
// is any key. Routes not named: GETs are open to any key, the rest admin.
var routeActions = func() map[string]string {
	const o = "/v1/orgs/self"
	m := map[string]string{
		"GET " + o: "", "POST " + o + "/queries": "", "POST " + o + "/queries/validations": "",
		"GET " + o + "/queries": "", "GET " + o + "/queries/{id}": "", "GET " + o + "/queries/{id}/pages": "", "DELETE " + o + "/queries/{id}": "",
		"POST " + o + "/ws":                           "CREATE_WS_GLOBAL",
		"DELETE " + o + "/ws/{ws}":                    "DELETE_WS",
		"GET " + o + "/ws/{ws}":                       "LIST_RESOURCES_WS",
		"POST " + o + "/integrations":                 "CREATE_INTEGRATION_GLOBAL",
		"GET " + o + "/integrations":                  "LIST_INTEGRATIONS_GLOBAL",
		"GET " + o + "/integrations/{integration}":    "LIST_INTEGRATIONS_GLOBAL",
		"DELETE " + o + "/integrations/{integration}": "DELETE_INTEGRATION_GLOBAL",
		"PUT " + o + "/integrations/{integration}":    "CREATE_INTEGRATION_GLOBAL", // Rockset has no update privilege: new keys are as much as a new integration
		"POST " + o + "/roles":                        "CREATE_ROLE_GLOBAL",
		"GET " + o + "/roles":                         "LIST_ROLES_GLOBAL",
		"GET " + o + "/roles/{role}":                  "LIST_ROLES_GLOBAL",
		"POST " + o + "/roles/{role}":                 "UPDATE_ROLE_GLOBAL",
		"DELETE " + o + "/roles/{role}":               "DELETE_ROLE_GLOBAL",
		"POST " + o + "/users/self/apikeys":           "CREATE_API_KEY_GLOBAL",
		// a user's own keys; another user's are checked in keyUser
		"GET " + o + "/users/{user}/apikeys": "", "GET " + o + "/users/{user}/apikeys/{name}": "",
		"POST " + o + "/users/{user}/apikeys/{name}": "", "DELETE " + o + "/users/{user}/apikeys/{name}": "",
	}
	ws := o + "/ws/{ws}"
	for pattern, action := range map[string]string{
		"POST " + ws + "/collections":                     "CREATE_COLLECTION_WS",
		"PUT " + ws + "/collections/{c}":                  "CREATE_COLLECTION_WS",
		"DELETE " + ws + "/collections/{c}":               "DELETE_COLLECTION_WS",
		"POST " + ws + "/collections/{c}/docs":            "WRITE_DATA_WS",
		"PATCH " + ws + "/collections/{c}/docs":           "WRITE_DATA_WS",
		"DELETE " + ws + "/collections/{c}/docs":          "WRITE_DATA_WS",
		"POST " + ws + "/collections/{c}/offsets/commit":  "QUERY_DATA_WS",
		"GET " + ws + "/collections":                      "LIST_RESOURCES_WS",
		"GET " + ws + "/collections/{c}":                  "LIST_RESOURCES_WS",
		"GET " + ws + "/collections/{c}/sources":          "LIST_RESOURCES_WS",
		"GET " + ws + "/collections/{c}/sources/{source}": "LIST_RESOURCES_WS",
		"POST " + ws + "/lambdas":                         "CREATE_QUERY_LAMBDA_WS",
		"POST " + ws + "/lambdas/{ql}/versions":           "CREATE_QUERY_LAMBDA_WS",
		"POST " + ws + "/lambdas/{ql}/tags":               "CREATE_QUERY_LAMBDA_WS",
		"DELETE " + ws + "/lambdas/{ql}":                  "DELETE_QUERY_LAMBDA_WS",
		"DELETE " + ws + "/lambdas/{ql}/versions/{v}":     "DELETE_QUERY_LAMBDA_WS",
		"DELETE " + ws + "/lambdas/{ql}/version/{v}":      "DELETE_QUERY_LAMBDA_WS",
		"DELETE " + ws + "/lambdas/{ql}/tags/{tag}":       "DELETE_QUERY_LAMBDA_WS",
		"POST " + ws + "/lambdas/{ql}/versions/{v}":       "EXECUTE_QUERY_LAMBDA_WS",
		"POST " + ws + "/lambdas/{ql}/tags/{tag}":         "EXECUTE_QUERY_LAMBDA_WS",
		"GET " + ws + "/lambdas":                          "LIST_RESOURCES_WS",
		"POST " + ws + "/views":                           "CREATE_VIEW_WS",
		"POST " + ws + "/views/{view}":                    "CREATE_VIEW_WS",
		"DELETE " + ws + "/views/{view}":                  "DELETE_VIEW_WS",
		"GET " + ws + "/views":                            "LIST_RESOURCES_WS",
		"GET " + ws + "/views/{view}":                     "LIST_RESOURCES_WS",
		"POST " + ws + "/aliases":                         "CREATE_ALIAS_WS",
		"POST " + ws + "/aliases/{alias}":                 "CREATE_ALIAS_WS",
		"DELETE " + ws + "/aliases/{alias}":               "DELETE_ALIAS_WS",
		"GET " + ws + "/aliases":                          "LIST_RESOURCES_WS",
		"GET " + ws + "/aliases/{alias}":                  "LIST_RESOURCES_WS",
		"POST " + ws + "/scheduled_lambdas":               "CREATE_SCHEDULED_LAMBDA_WS",
		"POST " + ws + "/scheduled_lambdas/{id}":          "CREATE_SCHEDULED_LAMBDA_WS",
		"DELETE " + ws + "/scheduled_lambdas/{id}":        "DELETE_SCHEDULED_LAMBDA_WS",
		"GET " + ws + "/scheduled_lambdas":                "LIST_RESOURCES_WS",
		"GET " + ws + "/scheduled_lambdas/{id}":           "LIST_RESOURCES_WS",
	} {
		m[pattern] = action
	}
	return m
}()

// builtinPrivileges are the built-in roles' privileges (admin has all).
var builtinPrivileges = map[string][]meta.Privilege{
	builtinMember: {
		{Action: "ALL_WORKSPACE_ACTIONS", Resource: allResources},
		{Action: "CREATE_WS_GLOBAL"}, {Action: "CREATE_INTEGRATION_GLOBAL"}, {Action: "DELETE_INTEGRATION_GLOBAL"},
		{Action: "LIST_INTEGRATIONS_GLOBAL"}, {Action: "CREATE_API_KEY_GLOBAL"}, {Action: "LIST_ROLES_GLOBAL"},
	},
	builtinReadOnly: {
		{Action: "LIST_RESOURCES_WS", Resource: allResources}, {Action: "QUERY_DATA_WS", Resource: allResources},
		{Action: "EXECUTE_QUERY_LAMBDA_WS", Resource: allResources},
		{Action: "LIST_INTEGRATIONS_GLOBAL"}, {Action: "LIST_ROLES_GLOBAL"}, {Action: "CREATE_API_KEY_GLOBAL"},
	},
}

func roleExists(st *meta.State, name string) bool {
	if name == builtinAdmin {
		return true
	}
	if _, ok := builtinPrivileges[name]; ok {
		return true
	}
	_, ok := st.Roles[name]
	return ok
}

// allowed says whether role grants action on ws (and collection coll, for
// data actions, which a privilege may name as "workspace.collection").
func (s *Server) allowed(role, action, ws, coll string) bool {
	if role == builtinAdmin {
		return true
	}
	privs, ok := builtinPrivileges[role]
	if !ok {
		s.meta.View(func(st *meta.State) {
			if r, found := st.Roles[role]; found {
				privs = append([]meta.Privilege{}, r.Privileges...)
			}
		})
	}
	if action == actionAdmin {
		return false
	}
	global := strings.HasSuffix(action, "_GLOBAL")
	for _, p := range privs {
		switch {
		case p.Action == action:
		case global && p.Action == "ALL_GLOBAL_ACTIONS":
		case !global && p.Action == "ALL_WORKSPACE_ACTIONS":
		default:
			continue
		}
		if global || p.Resource == allResources || p.Resource == ws ||
			(coll != "" && p.Resource == ws+"."+coll) {
			return true
		}
	}
	return false
}

var knownActions = func() map[string]bool {
	m := map[string]bool{}
	for _, a := range strings.Fields(`ALL_GLOBAL_ACTIONS GET_ORG_GLOBAL GET_CURRENT_USER_GLOBAL INVITE_USER_GLOBAL
DELETE_USER_GLOBAL LIST_USERS_GLOBAL GET_BILLING_GLOBAL UPDATE_BILLING_GLOBAL UPDATE_SETTINGS_GLOBAL GET_METRICS_GLOBAL
UPDATE_VI_GLOBAL LIST_VI_GLOBAL CREATE_WS_GLOBAL LIST_WS_GLOBAL CREATE_INTEGRATION_GLOBAL DELETE_INTEGRATION_GLOBAL
LIST_INTEGRATIONS_GLOBAL UPDATE_RESOURCE_OWNER_GLOBAL CREATE_API_KEY_GLOBAL CREATE_ROLE_GLOBAL UPDATE_ROLE_GLOBAL
DELETE_ROLE_GLOBAL LIST_ROLES_GLOBAL GRANT_REVOKE_ROLE_GLOBAL CREATE_VI_GLOBAL CREATE_QUERY_LOGS_COLLECTION_GLOBAL
ALL_INTEGRATION_ACTIONS CREATE_COLLECTION_INTEGRATION ALL_WORKSPACE_ACTIONS DELETE_WS QUERY_DATA_WS WRITE_DATA_WS
CREATE_COLLECTION_WS DELETE_COLLECTION_WS CREATE_ALIAS_WS DELETE_ALIAS_WS LIST_RESOURCES_WS CREATE_QUERY_LAMBDA_WS
DELETE_QUERY_LAMBDA_WS EXECUTE_QUERY_LAMBDA_WS CREATE_VIEW_WS DELETE_VIEW_WS CREATE_SNAPSHOT_WS
CREATE_SCHEDULED_LAMBDA_WS DELETE_SCHEDULED_LAMBDA_WS CREATE_SIMILARITY_INDEX_WS DELETE_SIMILARITY_INDEX_WS
ALL_VI_ACTIONS QUERY_VI UPDATE_VI SUSPEND_RESUME_VI DELETE_VI`) {
		m[a] = true
	}
	return m
}()

func toPrivileges(in []openapi.Privilege) ([]meta.Privilege, error) {
	out := make([]meta.Privilege, 0, len(in))
	for _, p := range in {
		a := p.GetAction()
		if !knownActions[a] {
			return nil, api.Errorf(api.InvalidInput, "privilege action %q is not one of Rockset's", a)
		}
		out = append(out, meta.Privilege{Action: a, Resource: p.GetResourceName(), Cluster: p.GetCluster()})
	}
	return out, nil
}

func roleView(r *meta.Role) openapi.Role {
	out := openapi.Role{RoleName: ptr(r.Name), CreatedAt: ptr(r.CreatedAt), CreatedBy: ptr(r.CreatedBy), OwnerEmail: ptr(r.CreatedBy), Privileges: []openapi.Privilege{}}
	if r.Description != "" {
		out.Description = ptr(r.Description)
	}
	for _, p := range r.Privileges {
		op := openapi.Privilege{Action: ptr(p.Action)}
		if p.Resource != "" {
			op.ResourceName = ptr(p.Resource)
		}
		if p.Cluster != "" {
			op.Cluster = ptr(p.Cluster)
		}
		out.Privileges = append(out.Privileges, op)
	}
	return out
}

// CreateRole creates a custom role.
func (s *Server) CreateRole(ctx context.Context, req openapi.CreateRoleRequest) (openapi.Role, error) {
	name := req.GetRoleName()
	if err := checkName("role", name); err != nil {
		return openapi.Role{}, err
	}
	privs, err := toPrivileges(req.Privileges)
	if err != nil {
		return openapi.Role{}, err
	}
	r := &meta.Role{Name: name, Description: req.GetDescription(), Privileges: privs, CreatedAt: now(), CreatedBy: callerEmail(ctx)}
	err = s.meta.Update(func(st *meta.State) error {
		if roleExists(st, name) {
			return api.Errorf(api.AlreadyExists, "role %q already exists", name)
		}
		st.Roles[name] = r
		return nil
	})
	if err != nil {
		return openapi.Role{}, err
	}
	return roleView(r), nil
}

// GetRole returns a role (built-in roles included).
func (s *Server) GetRole(ctx context.Context, name string) (openapi.Role, error) {
	if name == builtinAdmin {
		return roleView(&meta.Role{Name: name, Description: "every privilege", Privileges: []meta.Privilege{{Action: "ALL_GLOBAL_ACTIONS"}, {Action: "ALL_WORKSPACE_ACTIONS", Resource: allResources}}, CreatedBy: createdBy}), nil
	}
	if p, ok := builtinPrivileges[name]; ok {
		return roleView(&meta.Role{Name: name, Description: "built-in role", Privileges: p, CreatedBy: createdBy}), nil
	}
	var out openapi.Role
	var err error = api.Errorf(api.NotFound, "role %q not found", name)
	s.meta.View(func(st *meta.State) {
		if r, ok := st.Roles[name]; ok {
			out, err = roleView(r), nil
		}
	})
	return out, err
}

// ListRoles lists built-in and custom roles.
func (s *Server) ListRoles(ctx context.Context) ([]openapi.Role, error) {
	var out []openapi.Role
	for _, n := range []string{builtinAdmin, builtinMember, builtinReadOnly} {
		r, _ := s.GetRole(ctx, n)
		out = append(out, r)
	}
	var custom []openapi.Role
	s.meta.View(func(st *meta.State) {
		for _, r := range st.Roles {
			custom = append(custom, roleView(r))
		}
	})
	sort.Slice(custom, func(i, j int) bool { return custom[i].GetRoleName() < custom[j].GetRoleName() })
	return append(out, custom...), nil
}

// UpdateRole replaces a custom role's privileges (and description when given).
func (s *Server) UpdateRole(ctx context.Context, name string, req openapi.UpdateRoleRequest) (openapi.Role, error) {
	privs, err := toPrivileges(req.Privileges)
	if err != nil {
		return openapi.Role{}, err
	}
	var out openapi.Role
	err = s.meta.Update(func(st *meta.State) error {
		r, ok := st.Roles[name]
		if !ok {
			if roleExists(st, name) {
				return api.Errorf(api.InvalidInput, "built-in role %q cannot be changed", name)
			}
			return api.Errorf(api.NotFound, "role %q not found", name)
		}
		r.Privileges = privs
		if req.Description != nil {
			r.Description = *req.Description
		}
		out = roleView(r)
		return nil
	})
	return out, err
}

// DeleteRole deletes a custom role no key holds.
func (s *Server) DeleteRole(ctx context.Context, name string) (openapi.Role, error) {
	var out openapi.Role
	err := s.meta.Update(func(st *meta.State) error {
		r, ok := st.Roles[name]
		if !ok {
			if roleExists(st, name) {
				return api.Errorf(api.InvalidInput, "built-in role %q cannot be deleted", name)
			}
			return api.Errorf(api.NotFound, "role %q not found", name)
		}
		for _, k := range st.APIKeys {
			if k.Role == name {
				return api.Errorf(api.DependentResources, "role %q is held by API key %q of %s", name, k.Name, k.Owner)
			}
		}
		out = roleView(r)
		delete(st.Roles, name)
		return nil
	})
	return out, err
}
