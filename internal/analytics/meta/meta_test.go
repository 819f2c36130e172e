package meta

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsAreSealed: an integration's secret key never reaches the file in
// plain text, comes back after a reopen, and a file from before sealing is
// sealed when it is opened.
func TestSecretsAreSealed(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "meta.json"), filepath.Join(dir, "secret.key")
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	s, err := Open(path, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(st *State) error {
		st.Integrations["k"] = &Integration{Name: "k", AccessKeyID: "AKIA", SecretAccessKey: secret}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plainInFile := func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), secret)
	}
	if plainInFile() {
		t.Error("meta.json holds the secret in plain text")
	}
	reopened, err := Open(path, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	reopened.View(func(st *State) {
		if got := st.Integrations["k"].SecretAccessKey; got != secret {
			t.Errorf("secret after reopen = %q", got)
		}
	})
	if _, err := Open(path, filepath.Join(dir, "other.key")); err == nil {
		t.Error("another key opened the sealed secret")
	}

	legacy := filepath.Join(dir, "legacy.json")
	if err := os.WriteFile(legacy, []byte(`{"integrations":{"old":{"name":"old","secret_access_key":"`+secret+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := Open(legacy, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	old.View(func(st *State) {
		if st.Integrations["old"].SecretAccessKey != secret {
			t.Error("a plain-text secret from an older file was lost")
		}
	})
	if b, _ := os.ReadFile(legacy); strings.Contains(string(b), secret) {
		t.Error("opening an older file left its secret in plain text")
	}
}
