package livedashboard_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/internal/rockset"
)

// TestDeletionLetsGo: a dashboard whose key or role cannot be deleted is
// still deleted, with an APIKeyNotDeleted Warning naming what is left, and
// never reports a key that still works as deleted: a role another key holds
// (the server refuses at once), a pipeline gone together with the server
// the key was made on (the operator's default server is not asked), and a
// server that does not answer (retried until five minutes after the
// deletion began, on a clock the test moves on).
func TestDeletionLetsGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs envtest and two analytics servers")
	}
	t.Parallel() // its own namespaces, manager and analytics servers
	const ns = "deletion"
	const operatorKey = "operator-key-for-the-deletion-test-0123456789"
	const otherKey = "other-server-key-for-the-deletion-test-0123456789"
	operatorServer := startAnalytics(t, operatorKey)
	otherServer := startAnalytics(t, otherKey)
	ctx := context.Background()
	admin, err := rockset.New(operatorServer, operatorKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherAdmin, err := rockset.New(otherServer, otherKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, server := range []struct{ endpoint, key string }{{operatorServer, operatorKey}, {otherServer, otherKey}} {
		rc, err := rockset.NewClient(server.endpoint, server.key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.CreateCollection(ctx, "commons", "mine"); err != nil {
			t.Fatal(err)
		}
	}

	_, cfg := startAPIServer(t)
	c, err := client.New(cfg, client.Options{Scheme: newScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	const operatorNS = "deletion-operator"
	newNamespace(t, c, operatorNS)
	keySecret(t, c, operatorNS, "operator-key", operatorKey)
	var skew atomic.Int64 // how far the controller's clock is ahead
	startManager(t, cfg, livedashboard.Options{
		Image: "streamdash:test",
		Rockset: rocksetconn.Defaults{
			APIServer:    operatorServer,
			APIKeySecret: types.NamespacedName{Namespace: operatorNS, Name: "operator-key"},
		},
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	}, ns)
	newNamespace(t, c, ns)
	keySecret(t, c, ns, "operator-key", operatorKey)
	keySecret(t, c, ns, "other-key", otherKey)

	// withKey creates a dashboard on pipeline and waits for its key Secret.
	withKey := func(t *testing.T, name, pipeline string) *v1alpha1.LiveDashboard {
		t.Helper()
		if err := c.Create(ctx, dashboardSpec(ns, name, pipeline, "", 5, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		return waitDashboard(t, c, ns, name, "its key Secret", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: livedashboard.KeySecretName(d)}, &corev1.Secret{}) == nil
		})
	}

	t.Run("a role another key holds", func(t *testing.T) {
		pipeline(t, c, ns, "p", operatorServer, "operator-key", "mine", true)
		d := withKey(t, "held", "p")
		role := names.DashboardKey(d)
		if _, err := admin.CreateAPIKey(ctx, "holder", role); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "held")
		note := leftNote(t, c, ns, "held")
		if !strings.Contains(note, "role "+role) || !strings.Contains(note, "holder") {
			t.Errorf("%s event %q does not name the role and the key holding it", livedashboard.EventAPIKeyLeft, note)
		}
		if _, err := admin.GetRole(ctx, role); err != nil {
			t.Errorf("the role the event reports left: %v", err)
		}
		if _, err := admin.GetAPIKey(ctx, role); !rockset.IsNotFound(err) {
			t.Errorf("the dashboard's own key: %v, want 404 (deleted)", err)
		}
	})

	t.Run("a pipeline gone with the server the key was made on", func(t *testing.T) {
		p := pipeline(t, c, ns, "elsewhere", otherServer, "other-key", "mine", true)
		d := withKey(t, "elsewhere", "elsewhere")
		if err := c.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "elsewhere")
		note := leftNote(t, c, ns, "elsewhere")
		if !strings.Contains(note, otherServer) {
			t.Errorf("%s event %q does not name the server the key is on (%s)", livedashboard.EventAPIKeyLeft, note, otherServer)
		}
		if _, err := otherAdmin.GetAPIKey(ctx, names.DashboardKey(d)); err != nil {
			t.Errorf("the key the event reports left: %v", err)
		}
	})

	t.Run("a server that does not answer", func(t *testing.T) {
		pipeline(t, c, ns, "dead", "http://127.0.0.1:1", "operator-key", "mine", true)
		if err := c.Create(ctx, dashboardSpec(ns, "dead", "dead", "", 5, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		d := waitDashboard(t, c, ns, "dead", "the finalizer", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			return slices.Contains(d.Finalizers, v1alpha1.Finalizer)
		})
		if err := c.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		// Within the five minutes, the deletion keeps trying.
		waitDashboard(t, c, ns, "dead", "a deletion retrying", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
			r := condition(d, v1alpha1.ConditionReady)
			return r != nil && r.Reason == livedashboard.ReasonDeleting && strings.Contains(r.Message, "retrying")
		})
		skew.Store(int64(6 * time.Minute))
		waitGone(t, c, ns, "dead")
		if note := leftNote(t, c, ns, "dead"); !strings.Contains(note, "still failing") {
			t.Errorf("%s event %q does not say the server kept failing", livedashboard.EventAPIKeyLeft, note)
		}
	})
}

// leftNote is the note of the APIKeyNotDeleted event about dashboard name.
func leftNote(t *testing.T, c client.Client, ns, name string) string {
	t.Helper()
	var evs eventsv1.EventList
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.List(context.Background(), &evs, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == name && e.Reason == livedashboard.EventAPIKeyLeft {
				return e.Note
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event about %s", livedashboard.EventAPIKeyLeft, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
