// Package apikey makes sure the bundled analytics server has an API key: on
// start, the manager creates the key Secret with a random key when it does
// not exist, so no key is ever written into a manifest or a repository.
package apikey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create

// Ensurer creates Secret (key Key) with a random API key if it is missing.
// It never changes an existing Secret: a key the user brought stays theirs.
type Ensurer struct {
	Client client.Client
	Secret types.NamespacedName
	Key    string
}

var _ manager.Runnable = (*Ensurer)(nil)

// NeedLeaderElection is false: creating is idempotent (AlreadyExists is
// success), and the key must exist even before a leader is elected.
func (e *Ensurer) NeedLeaderElection() bool { return false }

// Start ensures the Secret once.
func (e *Ensurer) Start(ctx context.Context) error {
	created, err := Ensure(ctx, e.Client, e.Secret, e.Key)
	if err != nil {
		// The manager keeps running: pipelines report the missing key as a condition.
		log.FromContext(ctx).Error(err, "cannot ensure the analytics API key Secret", "secret", e.Secret)
		return nil
	}
	if created {
		log.FromContext(ctx).Info("generated the analytics API key Secret", "secret", e.Secret)
	}
	return nil
}

// Ensure creates the Secret with a random key unless it exists. It reports
// whether it created it.
func Ensure(ctx context.Context, c client.Client, nn types.NamespacedName, key string) (bool, error) {
	var s corev1.Secret
	err := c.Get(ctx, nn, &s)
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("get Secret %s: %w", nn, err)
	}
	k, err := Generate()
	if err != nil {
		return false, err
	}
	s = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: nn.Name, Namespace: nn.Namespace, Labels: map[string]string{
			"app.kubernetes.io/part-of": "streamdash", "app.kubernetes.io/component": "analytics"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{key: k},
	}
	if err := c.Create(ctx, &s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create Secret %s: %w", nn, err)
	}
	return true, nil
}

// Generate returns a new random API key (256 bits, URL-safe).
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "sd_" + base64.RawURLEncoding.EncodeToString(b), nil
}
