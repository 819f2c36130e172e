package analytics

import (
	"context"
	"fmt"
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
	_, ok := rolePrivileges(st, name)
	return ok
}

// adminPrivileges are what the admin role holds; only an admin holds the
// rest (routes named by no privilege, actionAdmin), so only an admin gives it.
var adminPrivileges = []meta.Privilege{
	{Action: "ALL_GLOBAL_ACTIONS"}, {Action: "ALL_WORKSPACE_ACTIONS", Resource: allResources},
	{Action: "ALL_INTEGRATION_ACTIONS", Resource: allResources}, {Action: "ALL_VI_ACTIONS", Resource: allResources},
}

// rolePrivileges returns a role's privileges (false: no such role).
func rolePrivileges(st *meta.State, role string) ([]meta.Privilege, bool) {
	if role == builtinAdmin {
		return adminPrivileges, true
	}
	if p, ok := builtinPrivileges[role]; ok {
		return p, true
	}
	if r, ok := st.Roles[role]; ok {
		return r.Privileges, true
	}
	return nil, false
}

// allowed says whether role grants action on ws (and collection coll, for
// data actions, which a privilege may name as "workspace.collection").
func (s *Server) allowed(role, action, ws, coll string) bool {
	if role == builtinAdmin {
		return true
	}
	if action == actionAdmin {
		return false
	}
	resource := ws
	if coll != "" {
		resource = ws + "." + coll
	}
	var privs []meta.Privilege
	s.meta.View(func(st *meta.State) {
		p, _ := rolePrivileges(st, role)
		privs = append(privs, p...)
	})
	return grants(privs, action, resource)
}

// actionClass is the kind of resource an action acts on, named by the
// ALL_ action that stands for every action of the kind.
func actionClass(action string) string {
	switch {
	case strings.HasSuffix(action, "_GLOBAL") || action == "ALL_GLOBAL_ACTIONS":
		return "ALL_GLOBAL_ACTIONS"
	case strings.HasSuffix(action, "_INTEGRATION") || action == "ALL_INTEGRATION_ACTIONS":
		return "ALL_INTEGRATION_ACTIONS"
	case strings.HasSuffix(action, "_VI") || action == "ALL_VI_ACTIONS":
		return "ALL_VI_ACTIONS"
	}
	return "ALL_WORKSPACE_ACTIONS"
}

// grants says whether privs allow action on resource: a workspace, a
// "workspace.collection" (which a privilege on its workspace covers), an
// integration or a virtual instance; *ALL* is every one, present and future.
// Global actions have no resource. Clusters are not told apart: the server
// has one.
func grants(privs []meta.Privilege, action, resource string) bool {
	class := actionClass(action)
	for _, p := range privs {
		if p.Action != action && p.Action != class {
			continue
		}
		if class == "ALL_GLOBAL_ACTIONS" || p.Resource == allResources || p.Resource == resource {
			return true
		}
		if ws, _, isColl := strings.Cut(resource, "."); isColl && class == "ALL_WORKSPACE_ACTIONS" && p.Resource == ws {
			return true
		}
	}
	return false
}

// mayGive is the one rule for handing out privileges, wherever they are
// handed out: a new key's role, a role's privileges when created or changed,
// a suspended key made active again. Rockset checks every action of a key
// against its owner's privileges too, so no key can do more than the user who
// made it; here keys have no user of their own, so the calling key's role
// stands for it: a key may give only privileges its own role holds, and only
// an admin may give the admin role. what names the thing given, for the error.
func mayGive(st *meta.State, c api.Caller, what string, privs []meta.Privilege, adminRole bool) error {
	if c.Role == builtinAdmin {
		return nil
	}
	if adminRole {
		return api.Errorf(api.Forbidden, "%s: only an admin key may give the admin role (this key's role is %q)", what, c.Role)
	}
	have, _ := rolePrivileges(st, c.Role)
	for _, p := range privs {
		for _, action := range expandAction(p.Action) {
			if !grants(have, action, p.Resource) {
				on := ""
				if actionClass(action) != "ALL_GLOBAL_ACTIONS" {
					on = " on " + p.Resource
				}
				return api.Errorf(api.Forbidden, "%s: a key may only give privileges its own role holds, and this key's role %q does not hold %s%s", what, c.Role, action, on)
			}
		}
	}
	return nil
}

// expandAction is the actions an ALL_ action stands for (itself otherwise).
func expandAction(action string) []string {
	if actionClass(action) != action {
		return []string{action}
	}
	var out []string
	for a := range knownActions {
		if a != action && !strings.HasPrefix(a, "ALL_") && actionClass(a) == action {
			out = append(out, a)
		}
	}
	sort.Strings(out) // the same action named first every time
	return out
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
		if actionClass(a) != "ALL_GLOBAL_ACTIONS" && p.GetResourceName() == "" {
			return nil, api.Errorf(api.InvalidInput, "privilege %s needs a resource_name (a name, or *ALL* for every one)", a)
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
	c, _ := api.CallerFrom(ctx)
	r := &meta.Role{Name: name, Description: req.GetDescription(), Privileges: privs, CreatedAt: now(), CreatedBy: callerEmail(ctx)}
	err = s.meta.Update(func(st *meta.State) error {
		if roleExists(st, name) {
			return api.Errorf(api.AlreadyExists, "role %q already exists", name)
		}
		if err := mayGive(st, c, fmt.Sprintf("create role %q", name), privs, false); err != nil {
			return err
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
	c, _ := api.CallerFrom(ctx)
	var out openapi.Role
	err = s.meta.Update(func(st *meta.State) error {
		r, ok := st.Roles[name]
		if !ok {
			if roleExists(st, name) {
				return api.Errorf(api.InvalidInput, "built-in role %q cannot be changed", name)
			}
			return api.Errorf(api.NotFound, "role %q not found", name)
		}
		// Every key holding the role gets what it is given.
		if err := mayGive(st, c, fmt.Sprintf("update role %q", name), privs, false); err != nil {
			return err
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
