package livedashboard

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/rockset"
)

// Each dashboard pod gets an API key of its own whose role may query the
// pipeline's collection and nothing else, so no namespace ever holds a key
// that can change or read anything more. The operator makes the role and
// the key with the pipeline's key, writes the key into a Secret the
// LiveDashboard owns, and deletes both when the LiveDashboard goes.

// keyNameAnnotation on the key Secret names the Rockset key it holds (the
// name, never the key), so a Secret left from another key is recognised.
const keyNameAnnotation = "streamdash.io/rockset-api-key-name"

// keyServerAnnotation on the key Secret is the endpoint the key was made on,
// so a deletion after the pipeline went (the operator's default endpoint,
// not the pipeline's) does not look for the key on another server, find
// nothing, and report a key that still works as deleted.
const keyServerAnnotation = "streamdash.io/rockset-api-server"

// roleDescriptionPrefix marks a role as made by the operator for a dashboard;
// a role of the name without it is someone else's and is never changed.
const roleDescriptionPrefix = "streamdash LiveDashboard "

// keyRecheck is how often a verified key is checked again on the server (a
// key deleted or suspended there by hand is noticed within this).
const keyRecheck = 10 * time.Minute

// keyCheck remembers that a dashboard's key was verified: for which object,
// endpoint and collection, with which Secret, and when.
type keyCheck struct {
	uid      types.UID
	want     string
	secretRV string
	at       time.Time
}

func roleDescription(d *v1alpha1.LiveDashboard) string {
	return roleDescriptionPrefix + d.Namespace + "/" + d.Name + ": may query its pipeline's collection only"
}

// madeByOperator reports whether role carries the operator's marker.
func madeByOperator(role rockset.Role) bool {
	return strings.HasPrefix(role.Description, roleDescriptionPrefix)
}

// desiredRole is the dashboard's role: QUERY_DATA_WS on the pipeline's
// workspace.collection, nothing else.
func desiredRole(d *v1alpha1.LiveDashboard, p *v1alpha1.TwitterPipeline) rockset.Role {
	return rockset.QueryOneCollection(names.DashboardKey(d), roleDescription(d), names.Workspace(p), names.Collection(p))
}

// reconcileAPIKey makes sure the dashboard's role and key exist as desired
// and its Secret holds the key. A key verified recently, with the Secret
// unchanged since, is not checked again on the server before keyRecheck.
func (r *Reconciler) reconcileAPIKey(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	name := names.DashboardKey(d)
	desired := desiredRole(d, s.p)
	want := s.conn.APIServer + "\x00" + desired.Privileges[0].Resource
	secretKey := types.NamespacedName{Namespace: d.Namespace, Name: KeySecretName(d)}

	cached := &metav1.PartialObjectMetadata{}
	cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.client.Get(ctx, secretKey, cached); err == nil && r.keyVerified(d, want, cached.ResourceVersion) {
		s.keyReady = true
		return steps.Done()
	}

	var sec corev1.Secret
	err := r.uncached.Get(ctx, secretKey, &sec)
	if err != nil && !apierrors.IsNotFound(err) {
		return steps.Retry(err)
	}
	found := err == nil
	if found && !metav1.IsControlledBy(&sec, d) {
		return conflict(ReasonSecretConflict, "Secret", sec.Name)
	}
	held := ""
	if found && sec.Annotations[keyNameAnnotation] == name {
		held = strings.TrimSpace(string(sec.Data[keySecretKey]))
	}

	access := s.clients.access
	role, err := access.GetRole(ctx, name)
	if err != nil && !rockset.IsNotFound(err) {
		return keyFailed("read role "+name, err)
	}
	var observedRole *rockset.Role
	if err == nil {
		if !madeByOperator(role) {
			return steps.Stalled(ReasonAPIKeyConflict, fmt.Sprintf(
				"Rockset role %s exists and was not made by streamdash; delete or rename it, or rename this LiveDashboard", name), conflictRecheck)
		}
		observedRole = &role
	}
	key, err := access.GetAPIKey(ctx, name)
	if err != nil && !rockset.IsNotFound(err) {
		return keyFailed("read API key "+name, err)
	}
	var observedKey *rockset.APIKey
	if err == nil {
		observedKey = &key
	}

	plan := rockset.PlanScopedKey(desired, observedRole, observedKey, held)
	if plan.Suspended {
		return steps.Stalled(ReasonAPIKeySuspended, fmt.Sprintf(
			"the dashboard's Rockset API key %s is suspended on the server; reactivate it, or delete it and the operator makes a new one", name), conflictRecheck)
	}
	if plan.CreateRole {
		if _, err := access.CreateRole(ctx, desired); err != nil {
			return keyFailed("create role "+name, err)
		}
	}
	if plan.UpdateRole {
		if _, err := access.UpdateRole(ctx, desired); err != nil {
			return keyFailed("update role "+name, err)
		}
		r.event(d, status.EventNormal, EventAPIKeyUpdated, "Update",
			fmt.Sprintf("role %s now allows querying %s only", name, desired.Privileges[0].Resource))
	}
	if plan.DeleteKey {
		if err := access.DeleteAPIKey(ctx, name); err != nil && !rockset.IsNotFound(err) {
			return keyFailed("replace API key "+name, err)
		}
	}
	secretRV := sec.ResourceVersion
	if plan.CreateKey {
		created, err := access.CreateAPIKey(ctx, name, name)
		if err != nil {
			return keyFailed("create API key "+name, err)
		}
		var existing *corev1.Secret
		if found {
			existing = &sec
		}
		// Should this write fail, the next pass finds a key whose value the
		// Secret lacks, and replaces it.
		if secretRV, err = r.writeKeySecret(ctx, d, existing, s.conn.APIServer, name, created.Key); err != nil {
			return steps.Retry(fmt.Errorf("write Secret %s: %w", secretKey.Name, err))
		}
		r.event(d, status.EventNormal, EventAPIKeyCreated, "Create", fmt.Sprintf(
			"created Rockset API key %s (may query %s only) in Secret %s", name, desired.Privileges[0].Resource, secretKey.Name))
	} else if found && sec.Annotations[keyServerAnnotation] != s.conn.APIServer {
		// A Secret written before the annotation existed: the key was just
		// found on this server.
		metav1.SetMetaDataAnnotation(&sec.ObjectMeta, keyServerAnnotation, s.conn.APIServer)
		if err := r.client.Update(ctx, &sec); err != nil {
			return steps.Retry(fmt.Errorf("annotate Secret %s: %w", secretKey.Name, err))
		}
		secretRV = sec.ResourceVersion
	}
	r.rememberKey(d, want, secretRV)
	s.keyReady = true
	return steps.Done()
}

// keyFailed turns a Rockset error about the dashboard's role or key into an
// outcome. A refused key stalls with what to do; the rest is retried.
func keyFailed(op string, err error) steps.Outcome {
	switch rockset.KindOf(err) {
	case rockset.KindAuth:
		return steps.Stalled(ReasonAPIKeyNotPermitted, fmt.Sprintf(
			"cannot %s with the pipeline's Rockset API key (%s). Each dashboard gets its own key that may query only its collection, "+
				"so the pipeline's key must be allowed to manage roles and API keys: give it the admin role (or CREATE_ROLE_GLOBAL, "+
				"UPDATE_ROLE_GLOBAL, DELETE_ROLE_GLOBAL, LIST_ROLES_GLOBAL and CREATE_API_KEY_GLOBAL), or let the pipeline use the "+
				"operator's key by removing spec.rockset.apiKeySecretRef", op, rockset.Message(err)), conflictRecheck)
	case rockset.KindRejected:
		return steps.Stalled(ReasonAPIKeyNotPermitted, fmt.Sprintf("cannot %s: the Rockset server refused it (%s)", op, rockset.Message(err)), conflictRecheck)
	default:
		return steps.Retry(err)
	}
}

// writeKeySecret creates (existing nil) or rewrites the key Secret with
// value, made on apiServer, and returns its new resourceVersion.
func (r *Reconciler) writeKeySecret(ctx context.Context, d *v1alpha1.LiveDashboard, existing *corev1.Secret, apiServer, keyName, value string) (string, error) {
	data := map[string][]byte{keySecretKey: []byte(value)}
	ann := map[string]string{keyNameAnnotation: keyName, keyServerAnnotation: apiServer}
	if existing == nil {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: KeySecretName(d), Namespace: d.Namespace, Labels: labels(d), Annotations: ann},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(d, sec, r.client.Scheme()); err != nil {
			return "", err
		}
		if err := r.client.Create(ctx, sec); err != nil {
			return "", err
		}
		return sec.ResourceVersion, nil
	}
	existing.Labels = klabels.Merge(existing.Labels, labels(d))
	existing.Annotations = klabels.Merge(existing.Annotations, ann)
	existing.Data = data
	if err := r.client.Update(ctx, existing); err != nil {
		return "", err
	}
	return existing.ResourceVersion, nil
}

func (r *Reconciler) keyVerified(d *v1alpha1.LiveDashboard, want, secretRV string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[client.ObjectKeyFromObject(d)]
	return ok && k.uid == d.UID && k.want == want && k.secretRV == secretRV && secretRV != "" &&
		r.opts.Now().Sub(k.at) < keyRecheck
}

func (r *Reconciler) rememberKey(d *v1alpha1.LiveDashboard, want, secretRV string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[client.ObjectKeyFromObject(d)] = keyCheck{uid: d.UID, want: want, secretRV: secretRV, at: r.opts.Now()}
}
