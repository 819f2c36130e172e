package rockset_test

import (
	"context"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/analyticsserver"
)

// TestAccessAgainstTheAnalyticsServer: roles and keys made through Access on
// the real analytics server: the key queries its one collection and nothing
// else, reads back without its value, and deleting key and role twice is
// NotFound the second time (callers treat that as done).
func TestAccessAgainstTheAnalyticsServer(t *testing.T) {
	const admin = "admin-key-for-access-test-0123456789"
	endpoint := analyticsserver.Start(t, analytics.Config{APIKeys: []string{admin}})
	ctx := t.Context()

	raw, err := rockset.NewClient(endpoint, admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"mine", "other"} {
		if _, err := raw.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := rockset.New(endpoint, admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	desired := rockset.QueryOneCollection("sd-test", "streamdash test", "commons", "mine")
	if _, err := a.GetRole(ctx, desired.Name); !rockset.IsNotFound(err) {
		t.Fatalf("a role not yet made: %v, want NotFound", err)
	}
	if _, err := a.CreateRole(ctx, desired); err != nil {
		t.Fatal(err)
	}
	role, err := a.GetRole(ctx, desired.Name)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.CreateAPIKey(ctx, "sd-test", desired.Name)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := a.GetAPIKey(ctx, "sd-test")
	if err != nil {
		t.Fatal(err)
	}
	if shown.Key == key.Key || len(key.Key) < 32 {
		t.Fatalf("created key of %d characters; read back as the whole key: %v", len(key.Key), shown.Key == key.Key)
	}
	if plan := rockset.PlanScopedKey(desired, &role, &shown, key.Key); !plan.Done() {
		t.Errorf("what the server shows back is not recognised as done: %+v (role %+v, key role %q state %q)", plan, role, shown.Role, shown.State)
	}

	scoped, err := rockset.NewClient(endpoint, key.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
	defer qcancel()
	if _, err := scoped.Query(qctx, "SELECT COUNT(*) AS n FROM commons.mine"); err != nil {
		t.Errorf("the key cannot query its own collection: %v", err)
	}
	_, err = scoped.Query(qctx, "SELECT COUNT(*) AS n FROM commons.other")
	if rockset.KindOf(err) != rockset.KindAuth {
		t.Errorf("another collection: %v (kind %s), want refused", err, rockset.KindOf(err))
	}
	if _, err := scoped.CreateRole(qctx, "escalate", option.WithWorkspacePrivilege(option.AllWorkspaceActions, "commons")); rockset.KindOf(err) != rockset.KindAuth {
		t.Errorf("creating a role with the scoped key: %v, want refused", err)
	}

	// Changing the role's collection takes effect for the same key.
	moved := rockset.QueryOneCollection("sd-test", "streamdash test", "commons", "other")
	if _, err := a.UpdateRole(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := scoped.Query(qctx, "SELECT COUNT(*) AS n FROM commons.other"); err != nil {
		t.Errorf("after the role moved to commons.other: %v", err)
	}

	if err := a.DeleteRole(ctx, desired.Name); !rockset.IsConflict(err) && rockset.KindOf(err) != rockset.KindRejected {
		t.Errorf("deleting a role a key holds: %v (kind %s), want a refusal", err, rockset.KindOf(err))
	}
	for i := range 2 {
		err := a.DeleteAPIKey(ctx, "sd-test")
		if (i == 0 && err != nil) || (i == 1 && !rockset.IsNotFound(err)) {
			t.Errorf("delete key, attempt %d: %v", i+1, err)
		}
	}
	for i := range 2 {
		err := a.DeleteRole(ctx, desired.Name)
		if (i == 0 && err != nil) || (i == 1 && !rockset.IsNotFound(err)) {
			t.Errorf("delete role, attempt %d: %v", i+1, err)
		}
	}
	if _, err := scoped.Query(qctx, "SELECT 1"); rockset.KindOf(err) != rockset.KindAuth {
		t.Errorf("a deleted key: %v, want refused", err)
	}
}
