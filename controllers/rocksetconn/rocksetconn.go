// Package rocksetconn resolves how a TwitterPipeline reaches its Rockset-API
// endpoint (server URL and API key) and the effective names of the things it
// owns there and in Kinesis. Both controllers use it, so a LiveDashboard finds
// exactly the collection and key its pipeline uses.
package rocksetconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// DefaultWorkspace is Rockset's always-present workspace.
const DefaultWorkspace = "commons"

// PodSecretKey is the key of the mirrored API-key Secret that pods mount.
const PodSecretKey = "apikey"

// Length limits of the names Kinesis, Rockset and Kubernetes accept.
const (
	maxStreamName      = 128
	maxRocksetName     = 100
	maxSecretName      = 253
	podSecretSuffix    = "-rockset-apikey"
	generatedPrefix    = "streamdash-"
	hashSuffixLength   = 8
	hashSuffixWithDash = hashSuffixLength + 1
)

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
	// APIKey is the key itself. Never log it, put it in status or in an event.
	APIKey string
	// PodSecret is the Secret, in the pipeline's namespace, that pods mount for
	// the key: spec.rockset.apiKeySecretRef when set, else the owned copy
	// <pipeline>-rockset-apikey (key "apikey") the TwitterPipeline controller keeps.
	PodSecret v1alpha1.SecretKeyReference
	// UsesDefaultKey is true when the key came from Defaults.APIKeySecret, that
	// is when the TwitterPipeline controller must keep the PodSecret copy.
	UsesDefaultKey bool
}

// MissingSecretError says that a referenced Secret or one of its keys is
// absent. Its message names the Secret and the key, never a value.
type MissingSecretError struct {
	Secret types.NamespacedName
	// Key is set when the Secret exists but lacks the key (or the value is empty).
	Key string
	// KeyMissing distinguishes a missing key from a missing Secret.
	KeyMissing bool
}

func (e *MissingSecretError) Error() string {
	if e.KeyMissing {
		return fmt.Sprintf("Secret %s has no key %q (or it is empty)", e.Secret, e.Key)
	}
	return fmt.Sprintf("Secret %s not found", e.Secret)
}

// ErrNotConfigured says that neither the pipeline nor the operator names a
// Rockset API server or key: a configuration error, not a transient one.
var ErrNotConfigured = errors.New("rockset connection not configured")

// IsMissingSecret reports whether err (or an error it wraps) is a MissingSecretError.
func IsMissingSecret(err error) bool {
	var m *MissingSecretError
	return errors.As(err, &m)
}

// Resolve returns the pipeline's endpoint and API key. A missing Secret or key
// gives an error for which IsMissingSecret is true; other read errors are
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
		conn.PodSecret = *r
	} else {
		if d.APIKeySecret.Name == "" {
			return Connection{}, fmt.Errorf("%w: no Rockset API key: set spec.rockset.apiKeySecretRef or the operator's --rockset-api-key-secret", ErrNotConfigured)
		}
		ref = d.APIKeySecret
		key = d.APIKeySecretKey
		if key == "" {
			key = PodSecretKey
		}
		conn.PodSecret = v1alpha1.SecretKeyReference{Name: PodSecretName(p), Key: PodSecretKey}
		conn.UsesDefaultKey = true
	}

	value, err := ReadSecretKey(ctx, c, ref, key)
	if err != nil {
		return Connection{}, err
	}
	conn.APIKey = strings.TrimSpace(value)
	return conn, nil
}

// ReadSecretKey returns one key of a Secret, or a MissingSecretError when the
// Secret, the key or its value is absent.
func ReadSecretKey(ctx context.Context, c client.Reader, ref types.NamespacedName, key string) (string, error) {
	var s corev1.Secret
	if err := c.Get(ctx, ref, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &MissingSecretError{Secret: ref}
		}
		return "", fmt.Errorf("read Secret %s: %w", ref, err)
	}
	v, ok := s.Data[key]
	if !ok || len(strings.TrimSpace(string(v))) == 0 {
		// StringData is write-only, but a fake or an unconverted object may still carry it.
		if sv, ok := s.StringData[key]; ok && strings.TrimSpace(sv) != "" {
			return sv, nil
		}
		return "", &MissingSecretError{Secret: ref, Key: key, KeyMissing: true}
	}
	return string(v), nil
}

// PodSecretName is the name of the owned copy of the operator's API key in the
// pipeline's namespace: <pipeline>-rockset-apikey.
func PodSecretName(p *v1alpha1.TwitterPipeline) string {
	return truncateWithHash(p.Name, maxSecretName-len(podSecretSuffix)) + podSecretSuffix
}

// Workspace is the pipeline's workspace (default commons).
func Workspace(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Rockset.Workspace != "" {
		return p.Spec.Rockset.Workspace
	}
	return DefaultWorkspace
}

// Collection is the pipeline's collection: spec.rockset.collection, else the
// pipeline's name. A Kubernetes name may hold dots and be longer than Rockset
// allows, so those become '-' and a long name is shortened with a hash.
func Collection(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Rockset.Collection != "" {
		return p.Spec.Rockset.Collection
	}
	return rocksetName(p.Name)
}

// StreamName is the pipeline's Kinesis stream: spec.stream.name, else
// streamdash-<namespace>-<name>, shortened with a hash suffix to 128 characters.
func StreamName(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Stream.Name != "" {
		return p.Spec.Stream.Name
	}
	return truncateWithHash(generatedPrefix+p.Namespace+"-"+p.Name, maxStreamName)
}

// Integration is the pipeline's Rockset Kinesis integration:
// streamdash-<namespace>-<name> in Rockset's name alphabet, at most 100 characters.
func Integration(p *v1alpha1.TwitterPipeline) string {
	return rocksetName(generatedPrefix + p.Namespace + "-" + p.Name)
}

// rocksetName maps a Kubernetes name onto [[:alnum:]][[:alnum:]_-]* of at most 100.
func rocksetName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if out != s {
		// Two names differing only in a replaced character must not collide.
		return truncateWithHash(out, maxRocksetName-hashSuffixWithDash) + "-" + shortHash(s)
	}
	return truncateWithHash(out, maxRocksetName)
}

// truncateWithHash keeps s when it fits in n, else cuts it and appends a hash
// of the whole, so distinct long names stay distinct.
func truncateWithHash(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head := strings.TrimRight(s[:n-hashSuffixWithDash], "-._")
	return head + "-" + shortHash(s)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashSuffixLength]
}
