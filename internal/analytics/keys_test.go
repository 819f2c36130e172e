package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rs "github.com/rockset/rockset-go-client"
	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestKeyLimitedToOneCollection: a key whose role may only query
// commons.mine queries it and nothing else, changes nothing, is stored
// hashed, and stops working when suspended or deleted.
func TestKeyLimitedToOneCollection(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, analytics.Config{DataDir: dir})
	ctx := context.Background()
	admin := ts.rc
	for _, c := range []string{"mine", "other"} {
		if _, err := admin.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
		addDocs(t, admin, "commons", c, map[string]any{"x": 1})
	}
	if _, err := admin.CreateRole(ctx, "dash-mine", option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAPIKey(ctx, "dash", option.WithRole("dash-mine"))
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Key) < 32 {
		t.Fatalf("created key %q is too short", key.Key)
	}
	got, err := admin.GetAPIKey(ctx, "dash")
	if err != nil || len(got.Key) != 6 || !strings.HasSuffix(key.Key, got.Key) {
		t.Fatalf("stored key shows %q, %v", got.Key, err)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(meta), key.Key) {
		t.Fatal("the key is stored in plain text")
	}

	if _, err := admin.CreateAPIKey(ctx, "other", option.WithRole("admin")); err != nil {
		t.Fatal(err)
	}
	dash := client(t, ts.url, key.Key)
	if keys, err := dash.ListAPIKeys(ctx); err != nil || len(keys) != 1 || keys[0].Name != "dash" {
		t.Errorf("a limited key lists %+v, %v", keys, err)
	}
	if n := queryCount(t, dash, "SELECT COUNT(*) AS n FROM commons.mine"); n != 1 {
		t.Fatalf("own collection: %d", n)
	}
	denied := map[string]error{}
	_, denied["query another collection"] = dash.Query(ctx, "SELECT * FROM commons.other")
	_, denied["join another collection"] = dash.Query(ctx, "SELECT * FROM commons.mine m JOIN commons.other o ON true")
	_, denied["write"] = dash.AddDocuments(ctx, "commons", "mine", []any{map[string]any{"x": 2}})
	_, denied["create a collection"] = dash.CreateCollection(ctx, "commons", "new")
	denied["delete a collection"] = dash.DeleteCollection(ctx, "commons", "mine")
	_, denied["create an admin key"] = dash.CreateAPIKey(ctx, "escalate", option.WithRole("admin"))
	_, denied["create a role"] = dash.CreateRole(ctx, "r2")
	_, denied["read its owner's other keys"] = dash.GetAPIKey(ctx, "other")
	denied["delete its owner's other keys"] = dash.DeleteAPIKey(ctx, "other")
	for what, err := range denied {
		if err == nil {
			t.Errorf("%s: allowed", what)
		}
	}

	if _, err := admin.UpdateAPIKey(ctx, "dash", option.State(option.KeySuspended)); err != nil {
		t.Fatal(err)
	}
	if _, err := dash.Query(ctx, "SELECT * FROM commons.mine"); err == nil {
		t.Fatal("a suspended key works")
	}
	if _, err := admin.UpdateAPIKey(ctx, "dash", option.State(option.KeyActive)); err != nil {
		t.Fatal(err)
	}
	queryCount(t, dash, "SELECT COUNT(*) AS n FROM commons.mine")
	if err := admin.DeleteAPIKey(ctx, "dash"); err != nil {
		t.Fatal(err)
	}
	if _, err := dash.Query(ctx, "SELECT * FROM commons.mine"); err == nil {
		t.Fatal("a deleted key works")
	}
	if err := admin.DeleteRole(ctx, "dash-mine"); err != nil {
		t.Fatal(err)
	}
}

// TestKeysGiveNoMoreThanTheyHold: a key may give a new key, or a role, only
// privileges its own role holds (the admin role only an admin gives), and a
// key asked for without a role gets its maker's role. Each escalation answers
// 403 saying what the caller lacks and changes nothing; giving less works.
func TestKeysGiveNoMoreThanTheyHold(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	admin := ts.rc
	for _, c := range []string{"mine", "other"} {
		if _, err := admin.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
		addDocs(t, admin, "commons", c, map[string]any{"x": 1})
	}
	roles := map[string][]option.RoleOption{
		"q-mine":    {option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")},
		"q-commons": {option.WithWorkspacePrivilege(option.QueryDataWs, "commons")},
		"writer":    {option.WithWorkspacePrivilege(option.WriteDataWs, "commons")},
		// manages roles and keys, and may query commons.mine only
		"keymaker": {
			option.WithGlobalPrivilege(option.CreateRoleGlobal), option.WithGlobalPrivilege(option.UpdateRoleGlobal),
			option.WithGlobalPrivilege(option.DeleteRoleGlobal), option.WithGlobalPrivilege(option.ListRolesGlobal),
			option.WithGlobalPrivilege(option.CreateAPIKeyGlobal), option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine"),
		},
	}
	for name, opts := range roles {
		if _, err := admin.CreateRole(ctx, name, opts...); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]*rs.RockClient{}
	for name, role := range map[string]string{"member-key": "member", "read-only-key": "read-only", "keymaker-key": "keymaker"} {
		k, err := admin.CreateAPIKey(ctx, name, option.WithRole(role))
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = client(t, ts.url, k.Key)
	}
	member, readOnly, keymaker := keys["member-key"], keys["read-only-key"], keys["keymaker-key"]

	// privilegesOf is a role as the admin reads it, to show a refusal changed nothing.
	privilegesOf := func(t *testing.T, role string) string {
		t.Helper()
		r, err := admin.GetRole(ctx, role)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range r.Privileges {
			out = append(out, p.GetAction()+" "+p.GetResourceName())
		}
		return strings.Join(out, ", ")
	}
	// The state an escalation must leave as it was: a key's role and state, a
	// role's privileges ("absent" when there is none).
	keyState := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string {
			k, err := admin.GetAPIKey(ctx, name)
			if err != nil {
				return "absent"
			}
			return k.GetRole() + " " + k.GetState()
		}
	}
	roleState := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string {
			if _, err := admin.GetRole(ctx, name); err != nil {
				return "absent"
			}
			return privilegesOf(t, name)
		}
	}

	escalations := []struct {
		name    string
		try     func() error
		wantMsg string
		state   func(t *testing.T) string
	}{
		{"read-only key makes a member key", func() error {
			_, err := readOnly.CreateAPIKey(ctx, "ro-member", option.WithRole("member"))
			return err
		}, `role "read-only" does not hold`, keyState("ro-member")},
		{"read-only key makes a key that writes", func() error {
			_, err := readOnly.CreateAPIKey(ctx, "ro-writer", option.WithRole("writer"))
			return err
		}, `does not hold WRITE_DATA_WS on commons`, keyState("ro-writer")},
		{"member key makes an admin key", func() error {
			_, err := member.CreateAPIKey(ctx, "member-admin", option.WithRole("admin"))
			return err
		}, "only an admin key may give the admin role", keyState("member-admin")},
		{"member key makes a key that manages roles", func() error {
			_, err := member.CreateAPIKey(ctx, "member-keymaker", option.WithRole("keymaker"))
			return err
		}, `role "member" does not hold CREATE_ROLE_GLOBAL`, keyState("member-keymaker")},
		{"custom-role key makes a key for the whole workspace", func() error {
			_, err := keymaker.CreateAPIKey(ctx, "km-commons", option.WithRole("q-commons"))
			return err
		}, `role "keymaker" does not hold QUERY_DATA_WS on commons`, keyState("km-commons")},
		{"custom-role key makes a member key", func() error {
			_, err := keymaker.CreateAPIKey(ctx, "km-member", option.WithRole("member"))
			return err
		}, `role "keymaker" does not hold`, keyState("km-member")},
		{"custom-role key makes a role that writes", func() error {
			_, err := keymaker.CreateRole(ctx, "km-writer", option.WithWorkspacePrivilege(option.WriteDataWs, "commons.mine"))
			return err
		}, "does not hold WRITE_DATA_WS on commons.mine", roleState("km-writer")},
		{"custom-role key makes a role with every global action", func() error {
			_, err := keymaker.CreateRole(ctx, "km-global", option.WithGlobalPrivilege(option.AllGlobalActions))
			return err
		}, `role "keymaker" does not hold`, roleState("km-global")},
		{"custom-role key makes a role with every action on its collection", func() error {
			_, err := keymaker.CreateRole(ctx, "km-all", option.WithWorkspacePrivilege(option.AllWorkspaceActions, "commons.mine"))
			return err
		}, "on commons.mine", roleState("km-all")},
		{"custom-role key widens another role", func() error {
			_, err := keymaker.UpdateRole(ctx, "q-mine", option.WithWorkspacePrivilege(option.QueryDataWs, "commons"))
			return err
		}, "does not hold QUERY_DATA_WS on commons", roleState("q-mine")},
		{"custom-role key widens its own role", func() error {
			_, err := keymaker.UpdateRole(ctx, "keymaker",
				option.WithGlobalPrivilege(option.CreateRoleGlobal), option.WithGlobalPrivilege(option.UpdateRoleGlobal),
				option.WithGlobalPrivilege(option.CreateAPIKeyGlobal), option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine"),
				option.WithWorkspacePrivilege(option.QueryDataWs, "commons.other"))
			return err
		}, "does not hold QUERY_DATA_WS on commons.other", roleState("keymaker")},
		{"member key makes a role", func() error {
			_, err := member.CreateRole(ctx, "member-role", option.WithWorkspacePrivilege(option.QueryDataWs, "commons"))
			return err
		}, "does not allow CREATE_ROLE_GLOBAL", roleState("member-role")},
		{"member key changes a role", func() error {
			_, err := member.UpdateRole(ctx, "q-mine", option.WithWorkspacePrivilege(option.QueryDataWs, "commons"))
			return err
		}, "does not allow UPDATE_ROLE_GLOBAL", roleState("q-mine")},
		{"member key deletes a role", func() error { return member.DeleteRole(ctx, "q-commons") },
			"does not allow DELETE_ROLE_GLOBAL", roleState("q-commons")},
		{"member key reads another key", func() error {
			_, err := member.GetAPIKey(ctx, "read-only-key")
			return err
		}, "can only manage itself", keyState("read-only-key")},
		{"member key suspends another key", func() error {
			_, err := member.UpdateAPIKey(ctx, "read-only-key", option.State(option.KeySuspended))
			return err
		}, "can only manage itself", keyState("read-only-key")},
		{"custom-role key deletes another key", func() error { return keymaker.DeleteAPIKey(ctx, "member-key") },
			"can only manage itself", keyState("member-key")},
		{"member key lists another user's keys", func() error {
			_, err := member.ListAPIKeys(ctx, option.ForUser("someone@example.com"))
			return err
		}, "only an admin can manage another user's keys", keyState("member-key")},
	}
	for _, tc := range escalations {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.state(t)
			err := tc.try()
			var re rockerr.Error
			if !errors.As(err, &re) || re.StatusCode != 403 || re.ErrorModel == nil || !strings.Contains(re.GetMessage(), tc.wantMsg) {
				t.Errorf("= %v, want 403 saying %q", err, tc.wantMsg)
			}
			if after := tc.state(t); after != before {
				t.Errorf("changed from %q to %q", before, after)
			}
		})
	}

	legitimate := []struct {
		name     string
		by       *rs.RockClient
		key      string
		opts     []option.APIKeyRoleOption
		wantRole string
	}{
		{"read-only key without a role: a read-only key", readOnly, "ro-default", nil, "read-only"},
		{"member key without a role: a member key", member, "member-default", nil, "member"},
		{"custom-role key without a role: its own role", keymaker, "km-default", nil, "keymaker"},
		{"operator's key without a role: an admin key", admin, "admin-default", nil, "admin"},
		{"member key gives a read-only key", member, "member-ro", []option.APIKeyRoleOption{option.WithRole("read-only")}, "read-only"},
		{"member key gives one collection", member, "member-mine", []option.APIKeyRoleOption{option.WithRole("q-mine")}, "q-mine"},
		{"custom-role key gives its own collection", keymaker, "km-mine", []option.APIKeyRoleOption{option.WithRole("q-mine")}, "q-mine"},
		{"operator's key gives admin", admin, "admin-admin", []option.APIKeyRoleOption{option.WithRole("admin")}, "admin"},
	}
	for _, tc := range legitimate {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.by.CreateAPIKey(ctx, tc.key, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if k.GetRole() != tc.wantRole {
				t.Errorf("role %q, want %q", k.GetRole(), tc.wantRole)
			}
			if got, err := admin.GetAPIKey(ctx, tc.key); err != nil || got.GetRole() != tc.wantRole {
				t.Errorf("stored: %+v, %v", got, err)
			}
		})
	}
	t.Run("a key given less does only that", func(t *testing.T) {
		k, err := keymaker.CreateAPIKey(ctx, "km-mine-2", option.WithRole("q-mine"))
		if err != nil {
			t.Fatal(err)
		}
		mine := client(t, ts.url, k.Key)
		if n := queryCount(t, mine, "SELECT COUNT(*) AS n FROM commons.mine"); n != 1 {
			t.Errorf("own collection: %d", n)
		}
		if _, err := mine.Query(ctx, "SELECT * FROM commons.other"); err == nil {
			t.Error("it queries another collection")
		}
	})
	t.Run("a custom-role key makes and narrows roles within its own", func(t *testing.T) {
		if _, err := keymaker.CreateRole(ctx, "km-made", option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")); err != nil {
			t.Fatal(err)
		}
		if _, err := keymaker.UpdateRole(ctx, "q-commons", option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")); err != nil {
			t.Fatal(err)
		}
		if got := privilegesOf(t, "q-commons"); got != "QUERY_DATA_WS commons.mine" {
			t.Errorf("q-commons is %s", got)
		}
		if err := keymaker.DeleteRole(ctx, "km-made"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a key suspends and deletes itself", func(t *testing.T) {
		if _, err := member.UpdateAPIKey(ctx, "member-key", option.State(option.KeySuspended)); err != nil {
			t.Fatal(err)
		}
		if _, err := member.ListAPIKeys(ctx); err == nil {
			t.Fatal("a suspended key works")
		}
		if err := readOnly.DeleteAPIKey(ctx, "read-only-key"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.GetAPIKey(ctx, "read-only-key"); err == nil {
			t.Error("the deleted key is still there")
		}
	})
	t.Run("a privilege on a workspace names it", func(t *testing.T) {
		_, err := admin.CreateRole(ctx, "no-resource", option.WithWorkspacePrivilege(option.QueryDataWs, ""))
		var re rockerr.Error
		if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(re.GetMessage(), "needs a resource_name") {
			t.Errorf("= %v, want 400 asking for a resource_name", err)
		}
		if got := roleState("no-resource")(t); got != "absent" {
			t.Errorf("the refused role exists: %s", got)
		}
	})
}

// TestKeySeesOnlyItsOwnQueries: another key's query holds its SQL and its
// results, so a key with a lesser role than admin cannot list, read, page or
// cancel it (403), while its own work as before and the admin sees all.
func TestKeySeesOnlyItsOwnQueries(t *testing.T) {
	ts := startServer(t, analytics.Config{MaxQueryTimeout: time.Minute})
	ctx := context.Background()
	admin := ts.rc
	for _, c := range []string{"mine", "other"} {
		if _, err := admin.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
		addDocs(t, admin, "commons", c, map[string]any{"x": 1})
	}
	if _, err := admin.CreateRole(ctx, "q-mine", option.WithWorkspacePrivilege(option.QueryDataWs, "commons.mine")); err != nil {
		t.Fatal(err)
	}
	k, err := admin.CreateAPIKey(ctx, "dash", option.WithRole("q-mine"))
	if err != nil {
		t.Fatal(err)
	}
	dash := client(t, ts.url, k.Key)

	secret, err := admin.Query(ctx, "SELECT * FROM commons.other", option.WithAsync())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Wait.UntilQueryDone(ctx, secret.GetQueryId()); err != nil {
		t.Fatal(err)
	}
	slow, err := admin.Query(ctx, slowSQL, option.WithAsync(), option.WithAsyncClientTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.CancelQuery(ctx, slow.GetQueryId()) })

	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"read another key's query", func() error { _, err := dash.GetQueryInfo(ctx, secret.GetQueryId()); return err }},
		{"page another key's results", func() error { _, err := dash.GetQueryResults(ctx, secret.GetQueryId()); return err }},
		// raw: the client's CancelQuery dereferences a nil answer on an error
		{"cancel another key's query", func() error {
			req, _ := http.NewRequest(http.MethodDelete, ts.url+"/v1/orgs/self/queries/"+slow.GetQueryId(), nil)
			req.Header.Set("Authorization", "ApiKey "+k.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var em openapi.ErrorModel
			_ = json.NewDecoder(resp.Body).Decode(&em)
			return rockerr.Error{ErrorModel: &em, StatusCode: resp.StatusCode}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.try()
			var re rockerr.Error
			if !errors.As(err, &re) || re.StatusCode != 403 || re.ErrorModel == nil || !strings.Contains(re.GetMessage(), "sees only its own queries") {
				t.Errorf("= %v, want 403 saying it sees only its own queries", err)
			}
		})
	}
	if info, err := admin.GetQueryInfo(ctx, slow.GetQueryId()); err != nil || info.GetStatus() != "RUNNING" {
		t.Errorf("the refused cancel touched the query: %+v, %v", info, err)
	}
	listed := func(rc *rs.RockClient, id string) bool {
		t.Helper()
		active, err := rc.ListActiveQueries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range active {
			if q.GetQueryId() == id {
				return true
			}
		}
		return false
	}
	if listed(dash, slow.GetQueryId()) {
		t.Error("a limited key lists another key's running query")
	}
	if !listed(admin, slow.GetQueryId()) {
		t.Fatal("the admin does not list its running query: the check above proves nothing")
	}

	own, err := dash.Query(ctx, "SELECT x FROM commons.mine", option.WithAsync())
	if err != nil {
		t.Fatal(err)
	}
	if err := dash.Wait.UntilQueryDone(ctx, own.GetQueryId()); err != nil {
		t.Fatal(err)
	}
	for who, rc := range map[string]*rs.RockClient{"the key": dash, "the admin": admin} {
		if res, err := rc.GetQueryResults(ctx, own.GetQueryId()); err != nil || len(res.Results) != 1 {
			t.Errorf("%s pages the key's own query: %+v, %v", who, res.Results, err)
		}
	}
}
