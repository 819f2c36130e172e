package livedashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/option"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/analyticsserver"
)

// lockedBuffer collects the manager's log lines from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) write(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(prefix + " " + args + "\n")
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLoggedManager is startManager with every log line, debug included,
// kept in logs, so a test can prove a key never reaches them.
func startLoggedManager(t *testing.T, cfg *rest.Config, opts livedashboard.Options, logs *lockedBuffer, namespaces ...string) {
	t.Helper()
	startManagerLogging(t, cfg, opts, funcr.New(logs.write, funcr.Options{Verbosity: 10}), namespaces...)
}

// startAnalytics runs the project's analytics server on a free port with
// adminKey as its admin key, until the test ends, and returns its endpoint.
func startAnalytics(t *testing.T, adminKey string) string {
	t.Helper()
	return analyticsserver.Start(t, analytics.Config{APIKeys: []string{adminKey}})
}

// statusCode is the HTTP status of a rockset-go-client error, 0 for none.
func statusCode(err error) int {
	var re rockerr.Error
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// TestDashboardOwnKey: with the operator's admin key as the pipeline's (the
// default install), each dashboard gets a key of its own in a Secret it owns;
// that key queries the pipeline's collection, gets 403 on another collection
// and on admin routes, and never appears in status, events or the manager's
// logs; deleting the dashboard deletes key, role and Secret (the key then
// gets 401). A pipeline whose own key may not manage keys stalls its
// dashboard with what to do, and such a dashboard can still be deleted.
func TestDashboardOwnKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs envtest and the analytics server")
	}
	t.Parallel() // its own namespaces, manager and analytics server
	const ns = "keys"
	const adminKey = "admin-key-for-the-dashboard-key-test-0123456789"
	endpoint := startAnalytics(t, adminKey)
	ctx := context.Background()

	admin, err := rockset.NewClient(endpoint, adminKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"mine", "other"} {
		if _, err := admin.CreateCollection(ctx, "commons", coll); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.AddDocuments(ctx, "commons", coll, []any{map[string]any{"x": 1}}); err != nil {
			t.Fatal(err)
		}
	}

	_, cfg := startAPIServer(t)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: newScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	const operatorNS = "keys-operator"
	newNamespace(t, c, operatorNS)
	keySecret(t, c, operatorNS, "operator-key", adminKey)
	logs := &lockedBuffer{}
	startLoggedManager(t, cfg, livedashboard.Options{Image: "streamdash:test", Rockset: rocksetconn.Defaults{
		APIServer:    endpoint,
		APIKeySecret: types.NamespacedName{Namespace: operatorNS, Name: "operator-key"},
	}}, logs, ns)

	newNamespace(t, c, ns)
	p := &v1alpha1.TwitterPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: v1alpha1.TwitterPipelineSpec{
			Source:  v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 1}}},
			Rockset: v1alpha1.RocksetSpec{Collection: "mine"}, // the operator's server and key
		},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	setPipelineReady(t, c, p)
	if err := c.Create(ctx, dashboardSpec(ns, "d", "p", "", 5, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	d := waitDashboard(t, c, ns, "d", "the Deployment", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "d-dashboard"}, &appsv1.Deployment{}) == nil
	})

	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: livedashboard.KeySecretName(d)}, &sec); err != nil {
		t.Fatalf("the dashboard's key Secret: %v", err)
	}
	own := strings.TrimSpace(string(sec.Data["apikey"]))
	if own == "" || own == adminKey || !metav1.IsControlledBy(&sec, d) {
		t.Fatalf("key Secret: owner %+v, %d-character key, the admin key: %v", sec.OwnerReferences, len(own), own == adminKey)
	}
	keyName := names.DashboardKey(d)
	if !strings.HasPrefix(keyName, names.DashboardKeyPrefix) {
		t.Errorf("key name %q lacks the operator's marker", keyName)
	}
	scoped, err := rockset.NewClient(endpoint, own, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the key queries its collection and nothing else", func(t *testing.T) {
		if _, err := scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.mine"); err != nil {
			t.Errorf("own collection: %v", err)
		}
		refused := map[string]error{}
		_, refused["query another collection"] = scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.other")
		_, refused["write to its collection"] = scoped.AddDocuments(ctx, "commons", "mine", []any{map[string]any{"x": 2}})
		_, refused["create a role"] = scoped.CreateRole(ctx, "escalate", option.WithWorkspacePrivilege(option.AllWorkspaceActions, "commons"))
		_, refused["create an admin key"] = scoped.CreateAPIKey(ctx, "escalate", option.WithRole("admin"))
		refused["delete a collection"] = scoped.DeleteCollection(ctx, "commons", "other")
		_, refused["create an integration"] = scoped.CreateKinesisIntegration(ctx, "escalate", option.AWSKeys("a", "b"))
		for what, err := range refused {
			if got := statusCode(err); got != http.StatusForbidden {
				t.Errorf("%s: status %d (%v), want 403", what, got, err)
			}
		}
	})

	t.Run("the Deployment mounts the dashboard's key, and the key is nowhere else", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "d-dashboard"}, &dep); err != nil {
			t.Fatal(err)
		}
		if v := dep.Spec.Template.Spec.Volumes[0].Secret; v == nil || v.SecretName != livedashboard.KeySecretName(d) {
			t.Errorf("key volume = %+v", dep.Spec.Template.Spec.Volumes)
		}
		// No copy of the admin key in the namespace.
		var list corev1.SecretList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			for k, v := range s.Data {
				if strings.Contains(string(v), adminKey) {
					t.Errorf("Secret %s key %s holds the admin key", s.Name, k)
				}
			}
		}
		d := waitDashboard(t, c, ns, "d", "a refresh", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool { return d.Status.LastRefreshTime != nil })
		raw, _ := json.Marshal(d)
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		created := false
		for _, e := range evs.Items {
			raw = append(raw, e.Note...)
			created = created || e.Reason == livedashboard.EventAPIKeyCreated
		}
		if !created {
			t.Errorf("no %s event", livedashboard.EventAPIKeyCreated)
		}
		for what, text := range map[string]string{"the object and its status": string(raw), "the manager's logs": logs.String()} {
			if strings.Contains(text, own) || strings.Contains(text, adminKey) {
				t.Errorf("%s carry a key", what)
			}
		}
		if !strings.Contains(logs.String(), "livedashboard") {
			t.Error("the manager logged nothing about the dashboard: the log check proves nothing")
		}
	})

	t.Run("a pipeline key that may not manage keys stalls with what to do", func(t *testing.T) {
		ro, err := admin.CreateAPIKey(ctx, "read-only-user-key", option.WithRole("read-only"))
		if err != nil {
			t.Fatal(err)
		}
		keySecret(t, c, ns, "ro-key", ro.Key)
		weak := &v1alpha1.TwitterPipeline{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "weak"},
			Spec: v1alpha1.TwitterPipelineSpec{
				Source: v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 1}}},
				Rockset: v1alpha1.RocksetSpec{APIServer: endpoint, Collection: "mine",
					APIKeySecretRef: &v1alpha1.SecretKeyReference{Name: "ro-key", Key: "apikey"}},
			},
		}
		if err := c.Create(ctx, weak); err != nil {
			t.Fatal(err)
		}
		setPipelineReady(t, c, weak)
		if err := c.Create(ctx, dashboardSpec(ns, "weak", "weak", "", 5, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		w := waitDashboard(t, c, ns, "weak", "Stalled", 30*time.Second, func(d *v1alpha1.LiveDashboard) bool { return isTrue(d, v1alpha1.ConditionStalled) })
		st := condition(w, v1alpha1.ConditionStalled)
		if st.Reason != livedashboard.ReasonAPIKeyNotPermitted || !strings.Contains(st.Message, "CREATE_ROLE_GLOBAL") ||
			!strings.Contains(st.Message, "spec.rockset.apiKeySecretRef") || strings.Contains(st.Message, ro.Key) {
			t.Errorf("Stalled = %s: %s", st.Reason, st.Message)
		}
		if isTrue(w, v1alpha1.ConditionReady) {
			t.Errorf("Ready while stalled: %s", describe(w))
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "weak-dashboard"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("a Deployment without a key: %v", err)
		}
		if err := c.Delete(ctx, w); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "weak")
	})

	t.Run("a deleted key Secret is replaced by a new key", func(t *testing.T) {
		if err := c.Delete(ctx, &sec); err != nil {
			t.Fatal(err)
		}
		var fresh corev1.Secret
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: livedashboard.KeySecretName(d)}, &fresh)
			if err == nil && fresh.UID != sec.UID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new key Secret within 30s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		renewed := strings.TrimSpace(string(fresh.Data["apikey"]))
		if renewed == "" || renewed == own {
			t.Fatalf("the new Secret holds %d characters, the old key: %v", len(renewed), renewed == own)
		}
		// The lost key was replaced on the server, not left working.
		if _, err := scoped.Query(ctx, "SELECT 1"); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("the lost key: %v, want 401", err)
		}
		own = renewed
		if scoped, err = rockset.NewClient(endpoint, own, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.mine"); err != nil {
			t.Errorf("the new key on its collection: %v", err)
		}
	})

	t.Run("pointed at another pipeline, the same key follows its collection", func(t *testing.T) {
		other := &v1alpha1.TwitterPipeline{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p2"},
			Spec: v1alpha1.TwitterPipelineSpec{
				Source:  v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 1}}},
				Rockset: v1alpha1.RocksetSpec{Collection: "other"},
			},
		}
		if err := c.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		setPipelineReady(t, c, other)
		if err := c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			t.Fatal(err)
		}
		d.Spec.PipelineRef.Name = "p2"
		if err := c.Update(ctx, d); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, errOther := scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.other")
			_, errMine := scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.mine")
			if errOther == nil && statusCode(errMine) == http.StatusForbidden {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the switch: other %v, mine %v; want other allowed, mine 403", errOther, errMine)
			}
			time.Sleep(200 * time.Millisecond)
		}
		var cur corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: livedashboard.KeySecretName(d)}, &cur); err != nil || strings.TrimSpace(string(cur.Data["apikey"])) != own {
			t.Errorf("the key Secret changed with the role (%v): a role update must keep the key", err)
		}
	})

	t.Run("deleting the dashboard deletes its key, role and Secret", func(t *testing.T) {
		if err := c.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, ns, "d")
		_, err := scoped.Query(ctx, "SELECT COUNT(*) AS n FROM commons.mine")
		if got := statusCode(err); got != http.StatusUnauthorized {
			t.Errorf("the deleted key: status %d (%v), want 401", got, err)
		}
		if _, err := admin.GetRole(ctx, keyName); statusCode(err) != http.StatusNotFound {
			t.Errorf("role %s after deletion: %v, want 404", keyName, err)
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: livedashboard.KeySecretName(d)}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("key Secret after deletion: %v", err)
		}
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "d" && e.Reason == livedashboard.EventAPIKeyLeft {
				t.Errorf("the key was reported left behind: %s", e.Note)
			}
		}
	})
}

// waitGone waits until the dashboard is deleted (its finalizer removed).
func waitGone(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.LiveDashboard{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			var d v1alpha1.LiveDashboard
			_ = c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d)
			t.Fatalf("dashboard %s/%s not deleted within 30s: %v; %s", ns, name, err, fmt.Sprint(describe(&d)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
