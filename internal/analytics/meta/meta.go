// Package meta keeps the server's metadata (integrations, workspaces,
// collections, query lambdas) in one JSON file, replaced atomically on every
// change, so a restart finds everything as it was.
package meta

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Integration holds a Kinesis integration's credentials. The secret key is
// never written as it is: the file holds it sealed (AES-256-GCM) with the
// store's key, so a copy of the file alone (a backup, a debug bundle) does not
// give it away.
type Integration struct {
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	CreatedAt       string `json:"created_at"`
	CreatedBy       string `json:"created_by"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"-"`
	SealedSecret    string `json:"secret_access_key_sealed,omitempty"`
	// PlainSecret is only read: files written before sealing held the key in
	// plain text; Open seals it and rewrites the file.
	PlainSecret string `json:"secret_access_key,omitempty"`
	RoleARN     string `json:"role_arn,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
}

// Workspace groups collections and lambdas.
type Workspace struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	CreatedAt   string `json:"created_at"`
	CreatedBy   string `json:"created_by"`
}

// EventTime is a collection's event_time_info.
type EventTime struct {
	Field    string `json:"field"`
	Format   string `json:"format,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
}

// Source is a collection's Kinesis source.
type Source struct {
	ID                string `json:"id"`
	IntegrationName   string `json:"integration_name"`
	StreamName        string `json:"stream_name"`
	Region            string `json:"region"`
	OffsetResetPolicy string `json:"offset_reset_policy"`
}

// Collection is a collection's definition; its data is the store table Table.
type Collection struct {
	Workspace     string     `json:"workspace"`
	Name          string     `json:"name"`
	Description   string     `json:"description,omitempty"`
	CreatedAt     string     `json:"created_at"`
	CreatedBy     string     `json:"created_by"`
	Table         string     `json:"table"`
	RetentionSecs int64      `json:"retention_secs,omitempty"`
	EventTime     *EventTime `json:"event_time,omitempty"`
	Transform     string     `json:"transform,omitempty"`
	Sources       []Source   `json:"sources,omitempty"`
}

// Key is the map key of a collection or lambda.
func Key(workspace, name string) string { return workspace + "\x00" + name }

// Param is a typed default parameter.
type Param struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// LambdaVersion is one immutable version of a query lambda.
type LambdaVersion struct {
	Version       string  `json:"version"`
	SQL           string  `json:"sql"`
	DefaultParams []Param `json:"default_params,omitempty"`
	Description   string  `json:"description,omitempty"`
	CreatedAt     string  `json:"created_at"`
	CreatedBy     string  `json:"created_by"`
}

// Lambda is a named, versioned saved query.
type Lambda struct {
	Workspace   string            `json:"workspace"`
	Name        string            `json:"name"`
	Versions    []LambdaVersion   `json:"versions"`
	Tags        map[string]string `json:"tags,omitempty"` // tag -> version
	LastUpdated string            `json:"last_updated"`
}

// State is everything the file holds.
type State struct {
	Integrations map[string]*Integration `json:"integrations"`
	Workspaces   map[string]*Workspace   `json:"workspaces"`
	Collections  map[string]*Collection  `json:"collections"`
	Lambdas      map[string]*Lambda      `json:"lambdas"`

	Views            map[string]*View            `json:"views,omitempty"`
	Aliases          map[string]*Alias           `json:"aliases,omitempty"`
	APIKeys          map[string]*APIKey          `json:"api_keys,omitempty"` // by owner and name (Key)
	Roles            map[string]*Role            `json:"roles,omitempty"`
	ScheduledLambdas map[string]*ScheduledLambda `json:"scheduled_lambdas,omitempty"`
	NextTable        int                         `json:"next_table"`
}

// Store is the metadata file and its in-memory copy.
type Store struct {
	path string
	seal cipher.AEAD // nil for an in-memory store

	mu sync.RWMutex
	st State
}

// Open loads path, or starts empty when it does not exist; "" keeps the
// metadata in memory only. Secrets in the file are sealed with a 32-byte key
// read from keyFile, which is created (random, 0600) when it does not exist.
func Open(path, keyFile string) (*Store, error) {
	s := &Store{path: path}
	if path != "" {
		key, err := sealingKey(keyFile)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		if s.seal, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case path == "" || os.IsNotExist(err):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", path, err)
		}
	}
	s.st.init()
	plain, err := s.unseal(&s.st)
	if err != nil {
		return nil, err
	}
	if plain {
		if err := s.write(); err != nil {
			return nil, fmt.Errorf("metadata %s: sealing secrets written in plain text: %w", path, err)
		}
	}
	return s, nil
}

func sealingKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key file %s must hold 32 bytes in hex (64 characters)", path)
	}
	return key, nil
}

// unseal fills in every integration's secret; it reports whether the file
// held any in plain text.
func (s *Store) unseal(st *State) (plain bool, err error) {
	for _, i := range st.Integrations {
		switch {
		case i.SealedSecret != "" && s.seal != nil:
			raw, err := base64.StdEncoding.DecodeString(i.SealedSecret)
			n := s.seal.NonceSize()
			if err != nil || len(raw) < n {
				return false, fmt.Errorf("integration %s: sealed secret is damaged", i.Name)
			}
			out, err := s.seal.Open(nil, raw[:n], raw[n:], []byte(i.Name))
			if err != nil {
				return false, fmt.Errorf("integration %s: the secret key file does not open its secret: %w", i.Name, err)
			}
			i.SecretAccessKey = string(out)
		case i.PlainSecret != "":
			i.SecretAccessKey, i.PlainSecret = i.PlainSecret, ""
			plain = true
		}
	}
	return plain, nil
}

// sealAll seals every integration's secret for writing.
func (s *Store) sealAll() error {
	for _, i := range s.st.Integrations {
		i.PlainSecret = ""
		if i.SecretAccessKey == "" || s.seal == nil {
			i.SealedSecret = ""
			continue
		}
		nonce := make([]byte, s.seal.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		i.SealedSecret = base64.StdEncoding.EncodeToString(s.seal.Seal(nonce, nonce, []byte(i.SecretAccessKey), []byte(i.Name)))
	}
	return nil
}

func (st *State) init() {
	if st.Integrations == nil {
		st.Integrations = map[string]*Integration{}
	}
	if st.Workspaces == nil {
		st.Workspaces = map[string]*Workspace{}
	}
	if st.Collections == nil {
		st.Collections = map[string]*Collection{}
	}
	if st.Lambdas == nil {
		st.Lambdas = map[string]*Lambda{}
	}
	if st.Views == nil {
		st.Views = map[string]*View{}
	}
	if st.Aliases == nil {
		st.Aliases = map[string]*Alias{}
	}
	if st.APIKeys == nil {
		st.APIKeys = map[string]*APIKey{}
	}
	if st.Roles == nil {
		st.Roles = map[string]*Role{}
	}
	if st.ScheduledLambdas == nil {
		st.ScheduledLambdas = map[string]*ScheduledLambda{}
	}
}

// View reads the state; fn must not keep references past its return.
func (s *Store) View(fn func(st *State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&s.st)
}

// Update changes the state and persists it; if fn or the write fails the
// state is left as it was.
func (s *Store) Update(fn func(st *State) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	restore := func() {
		var st State
		_ = json.Unmarshal(before, &st)
		st.init()
		_, _ = s.unseal(&st)
		s.st = st
	}
	if err := fn(&s.st); err != nil {
		restore()
		return err
	}
	if err := s.write(); err != nil {
		restore()
		return err
	}
	return nil
}

func (s *Store) write() error {
	if s.path == "" {
		return nil
	}
	if err := s.sealAll(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(&s.st, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, ".meta-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
