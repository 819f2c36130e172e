// Package rocksetconn resolves how a TwitterPipeline reaches its Rockset-API
// endpoint: the server URL and the API key. Both controllers use it, so a
// LiveDashboard reaches the server with exactly the key its pipeline uses.
package rocksetconn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/secrets"
)

// defaultSecretKey is the key of the operator's API-key Secret when
// Defaults.APIKeySecretKey does not name one.
const defaultSecretKey = "apikey"

// Defaults are the operator-wide settings a pipeline falls back to (manager flags).
type Defaults struct {
	// APIServer is the endpoint used when spec.rockset.apiServer is empty.
	APIServer string
	// APIKeySecret is the Secret (any namespace) with the operator's API key.
	APIKeySecret types.NamespacedName
	// APIKeySecretKey is the key of APIKeySecret holding the API key.
	APIKeySecretKey string
}

// Connection is how to reach the pipeline's Rockset-API endpoint.
type Connection struct {
	// APIServer is the endpoint URL (http://host:port or https://host).
	APIServer string
	// APIKey is the key itself: the operator's to use, never a pod's (each
	// dashboard pod gets a key of its own). Never log it, put it in status
	// or in an event.
	APIKey string
}

// ErrNotConfigured says that neither the pipeline nor the operator names a
// Rockset API server or key: a configuration error, not a transient one.
var ErrNotConfigured = errors.New("rockset connection not configured")

// Resolve returns the pipeline's endpoint and API key. A missing Secret or key
// gives an error for which secrets.IsMissing is true; other read errors are
// returned wrapped as they are (the caller retries them).
func Resolve(ctx context.Context, c client.Reader, p *v1alpha1.TwitterPipeline, d Defaults) (Connection, error) {
	conn := Connection{APIServer: p.Spec.Rockset.APIServer}
	if conn.APIServer == "" {
		conn.APIServer = d.APIServer
	}
	if conn.APIServer == "" {
		return Connection{}, fmt.Errorf("%w: no Rockset API server: set spec.rockset.apiServer or the operator's --rockset-api-server", ErrNotConfigured)
	}

	var ref types.NamespacedName
	var key string
	if r := p.Spec.Rockset.APIKeySecretRef; r != nil {
		ref = types.NamespacedName{Namespace: p.Namespace, Name: r.Name}
		key = r.Key
	} else {
		if d.APIKeySecret.Name == "" {
			return Connection{}, fmt.Errorf("%w: no Rockset API key: set spec.rockset.apiKeySecretRef or the operator's --rockset-api-key-secret", ErrNotConfigured)
		}
		ref = d.APIKeySecret
		key = d.APIKeySecretKey
		if key == "" {
			key = defaultSecretKey
		}
	}

	value, err := secrets.ReadKey(ctx, c, ref, key)
	if err != nil {
		return Connection{}, err
	}
	conn.APIKey = strings.TrimSpace(value)
	return conn, nil
}
