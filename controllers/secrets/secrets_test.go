package secrets

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestIsMissingWrapped(t *testing.T) {
	base := &MissingError{Secret: types.NamespacedName{Namespace: "a", Name: "b"}}
	wrapped := errors.Join(errors.New("context"), base)
	if !IsMissing(wrapped) {
		t.Error("IsMissing lost a wrapped MissingError")
	}
	if IsMissing(errors.New("Secret a/b not found")) {
		t.Error("IsMissing matched a plain error by its text")
	}
}
