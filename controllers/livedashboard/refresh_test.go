package livedashboard

import (
	"testing"

	"github.com/streamdash/streamdash/controllers/rocksetconn"
)

// TestRocksetClientsKeepNoOldKey: the clients are reused while endpoint and
// key stay the same, and a changed key replaces its endpoint's clients
// rather than adding to them, so no rotated or replaced key stays in memory.
func TestRocksetClientsKeepNoOldKey(t *testing.T) {
	opts := Options{Image: "x"}
	opts.defaults()
	r := &Reconciler{opts: opts, clients: map[string]*rocksetClients{}}
	const a, b = "http://127.0.0.1:1", "http://127.0.0.1:2"
	calls := []struct {
		name string
		conn rocksetconn.Connection
		// reused: the clients of the call before are returned.
		reused bool
		// keys: every key the cache holds afterwards.
		keys []string
	}{
		{name: "first", conn: rocksetconn.Connection{APIServer: a, APIKey: "k1"}, keys: []string{"k1"}},
		{name: "same endpoint and key", conn: rocksetconn.Connection{APIServer: a, APIKey: "k1"}, reused: true, keys: []string{"k1"}},
		{name: "a rotated key", conn: rocksetconn.Connection{APIServer: a, APIKey: "k2"}, keys: []string{"k2"}},
		{name: "another endpoint", conn: rocksetconn.Connection{APIServer: b, APIKey: "k3"}, keys: []string{"k2", "k3"}},
		{name: "back to the first endpoint", conn: rocksetconn.Connection{APIServer: a, APIKey: "k2"}, keys: []string{"k2", "k3"}},
	}
	var prev *rocksetClients
	for _, c := range calls {
		got, err := r.rocksetClients(c.conn)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.key != c.conn.APIKey {
			t.Errorf("%s: clients for another key", c.name)
		}
		if (got == prev) != c.reused {
			t.Errorf("%s: reused %v, want %v", c.name, got == prev, c.reused)
		}
		held := map[string]bool{}
		for _, cl := range r.clients {
			held[cl.key] = true
		}
		if len(held) != len(c.keys) || len(r.clients) != len(c.keys) {
			t.Errorf("%s: cache holds keys %v, want %v", c.name, held, c.keys)
		}
		for _, k := range c.keys {
			if !held[k] {
				t.Errorf("%s: cache lacks key %s (holds %v)", c.name, k, held)
			}
		}
		prev = got
	}
}
