// Package secrets reads one key of a referenced Secret and says clearly,
// without any value, when the Secret or the key is missing.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MissingError says that a referenced Secret or one of its keys is
// absent. Its message names the Secret and the key, never a value.
type MissingError struct {
	Secret types.NamespacedName
	// Key is set when the Secret exists but lacks the key (or the value is empty).
	Key string
	// KeyMissing distinguishes a missing key from a missing Secret.
	KeyMissing bool
}

func (e *MissingError) Error() string {
	if e.KeyMissing {
		return fmt.Sprintf("Secret %s has no key %q (or it is empty)", e.Secret, e.Key)
	}
	return fmt.Sprintf("Secret %s not found", e.Secret)
}

// IsMissing reports whether err (or an error it wraps) is a MissingError.
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}

// ReadKey returns one key of a Secret, or a MissingError when the
// Secret, the key or its value is absent.
func ReadKey(ctx context.Context, c client.Reader, ref types.NamespacedName, key string) (string, error) {
	var s corev1.Secret
	if err := c.Get(ctx, ref, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &MissingError{Secret: ref}
		}
		return "", fmt.Errorf("read Secret %s: %w", ref, err)
	}
	v, ok := s.Data[key]
	if !ok || len(strings.TrimSpace(string(v))) == 0 {
		// StringData is write-only, but a fake or an unconverted object may still carry it.
		if sv, ok := s.StringData[key]; ok && strings.TrimSpace(sv) != "" {
			return sv, nil
		}
		return "", &MissingError{Secret: ref, Key: key, KeyMissing: true}
	}
	return string(v), nil
}
