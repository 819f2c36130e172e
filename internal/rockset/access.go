package rockset

import (
	"context"
	"slices"
	"strings"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
)

// Access is what the LiveDashboard controller does on a Rockset-API server:
// custom roles and API keys, so each dashboard gets a key of its own that
// can do no more than its role allows. Errors are *Error, as for API.
type Access interface {
	GetRole(ctx context.Context, name string) (Role, error)
	CreateRole(ctx context.Context, r Role) (Role, error)
	// UpdateRole replaces a role's privileges and description.
	UpdateRole(ctx context.Context, r Role) (Role, error)
	DeleteRole(ctx context.Context, name string) error
	// GetAPIKey reads one of the caller's keys; Key then holds only the
	// hint the server shows, never the key.
	GetAPIKey(ctx context.Context, name string) (APIKey, error)
	// CreateAPIKey creates a key for the caller with role; the answer is the
	// only time the whole key is seen.
	CreateAPIKey(ctx context.Context, name, role string) (APIKey, error)
	DeleteAPIKey(ctx context.Context, name string) error
}

var _ Access = (*Client)(nil)

// Privilege actions streamdash grants, as Rockset spells them.
const (
	// ActionQueryData lets a key query a workspace, or one collection when
	// the resource is "workspace.collection".
	ActionQueryData = "QUERY_DATA_WS"
	// allClusters is Rockset's "every virtual instance" for a privilege.
	allClusters = "*ALL*"
)

// API key states.
const (
	KeyActive    = "ACTIVE"
	KeySuspended = "SUSPENDED"
)

// Role is a custom role: a name and what it allows.
type Role struct {
	Name        string
	Description string
	Privileges  []Privilege
}

// Privilege is one action on one resource (a workspace, a
// workspace.collection, an integration; empty for a global action).
type Privilege struct {
	Action   string
	Resource string
}

// APIKey is a key as the server shows it.
type APIKey struct {
	Name  string
	Role  string
	State string
	// Key is the whole key right after CreateAPIKey; afterwards the server
	// shows only a hint (its last characters). Never log it.
	Key string
}

// QueryOneCollection is the role that may query workspace.collection and do
// nothing else: no other collection, no writes, no administration.
func QueryOneCollection(name, description, workspace, collection string) Role {
	return Role{Name: name, Description: description,
		Privileges: []Privilege{{Action: ActionQueryData, Resource: workspace + "." + collection}}}
}

// ScopedKeyPlan is what to do so that a key named for one purpose exists,
// holds the role, and is the key the caller keeps.
type ScopedKeyPlan struct {
	CreateRole bool
	UpdateRole bool
	// DeleteKey: the server's key cannot be used (its whole value is lost,
	// or it holds another role): delete it, then create it again.
	DeleteKey bool
	CreateKey bool
	// Suspended: someone suspended the key on the server; it is theirs to
	// reactivate or delete, not the operator's to replace behind their back.
	Suspended bool
}

// Done reports whether nothing needs doing.
func (p ScopedKeyPlan) Done() bool { return p == ScopedKeyPlan{} }

// PlanScopedKey decides, from the desired role, the role and key the server
// has (nil: none) and the whole key the caller holds ("" when it holds
// none), what to create, change or replace.
func PlanScopedKey(desired Role, role *Role, key *APIKey, held string) ScopedKeyPlan {
	var p ScopedKeyPlan
	switch {
	case role == nil:
		p.CreateRole = true
	case !samePrivileges(role.Privileges, desired.Privileges):
		p.UpdateRole = true
	}
	switch {
	case key == nil:
		p.CreateKey = true
	case key.State == KeySuspended:
		p.Suspended = true
	case held == "" || key.Role != desired.Name || !matchesHint(held, key.Key):
		p.DeleteKey, p.CreateKey = true, true
	}
	return p
}

// matchesHint reports whether the whole key full is the one the server
// shows as hint (its last characters, possibly masked with '*' in front).
// A server that shows no hint cannot be checked and is believed.
func matchesHint(full, hint string) bool {
	hint = strings.TrimLeft(hint, "*")
	return hint == "" || strings.HasSuffix(full, hint)
}

func samePrivileges(a, b []Privilege) bool {
	key := func(p Privilege) string { return p.Action + "\x00" + p.Resource }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, p := range a {
		ka[i] = key(p)
	}
	for i, p := range b {
		kb[i] = key(p)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(slices.Compact(ka), slices.Compact(kb))
}

func (c *Client) GetRole(ctx context.Context, name string) (Role, error) {
	r, err := c.rc.GetRole(ctx, name)
	if err != nil {
		return Role{}, wrap("read role "+name, err)
	}
	return roleFromOpenAPI(r), nil
}

func (c *Client) CreateRole(ctx context.Context, r Role) (Role, error) {
	out, err := c.rc.CreateRole(ctx, r.Name, roleOptions(r)...)
	if err != nil {
		return Role{}, wrap("create role "+r.Name, err)
	}
	return roleFromOpenAPI(out), nil
}

func (c *Client) UpdateRole(ctx context.Context, r Role) (Role, error) {
	out, err := c.rc.UpdateRole(ctx, r.Name, roleOptions(r)...)
	if err != nil {
		return Role{}, wrap("update role "+r.Name, err)
	}
	return roleFromOpenAPI(out), nil
}

func (c *Client) DeleteRole(ctx context.Context, name string) error {
	return wrap("delete role "+name, c.rc.DeleteRole(ctx, name))
}

func (c *Client) GetAPIKey(ctx context.Context, name string) (APIKey, error) {
	k, err := c.rc.GetAPIKey(ctx, name)
	if err != nil {
		return APIKey{}, wrap("read API key "+name, err)
	}
	return keyFromOpenAPI(k), nil
}

func (c *Client) CreateAPIKey(ctx context.Context, name, role string) (APIKey, error) {
	k, err := c.rc.CreateAPIKey(ctx, name, option.WithRole(role))
	if err != nil {
		return APIKey{}, wrap("create API key "+name, err)
	}
	return keyFromOpenAPI(k), nil
}

func (c *Client) DeleteAPIKey(ctx context.Context, name string) error {
	return wrap("delete API key "+name, c.rc.DeleteAPIKey(ctx, name))
}

func roleOptions(r Role) []option.RoleOption {
	opts := []option.RoleOption{option.WithRoleDescription(r.Description)}
	for _, p := range r.Privileges {
		p := p
		opts = append(opts, func(o *option.RoleOptions) {
			op := openapi.Privilege{Action: openapi.PtrString(p.Action)}
			if p.Resource != "" {
				op.ResourceName = openapi.PtrString(p.Resource)
				op.Cluster = openapi.PtrString(allClusters)
			}
			o.Privileges = append(o.Privileges, op)
		})
	}
	return opts
}

func roleFromOpenAPI(r openapi.Role) Role {
	out := Role{Name: r.GetRoleName(), Description: r.GetDescription()}
	for _, p := range r.GetPrivileges() {
		out.Privileges = append(out.Privileges, Privilege{Action: p.GetAction(), Resource: p.GetResourceName()})
	}
	return out
}

func keyFromOpenAPI(k openapi.ApiKey) APIKey {
	return APIKey{Name: k.GetName(), Role: k.GetRole(), State: k.GetState(), Key: k.GetKey()}
}
