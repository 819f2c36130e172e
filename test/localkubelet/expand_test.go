package localkubelet

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_IP": "127.0.3.4", "EMPTY": "", "A": "x"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		name, in, want string
	}{
		{"no reference", "--listen=:8080", "--listen=:8080"},
		{"known variable", "--listen=$(POD_IP):8080", "--listen=127.0.3.4:8080"},
		{"unknown variable kept", "$(NOPE)/x", "$(NOPE)/x"},
		{"empty value", "[$(EMPTY)]", "[]"},
		{"escaped dollar", "$$(POD_IP)", "$(POD_IP)"},
		{"double dollar alone", "cost $$5", "cost $5"},
		{"lone dollar", "a$b", "a$b"},
		{"trailing dollar", "a$", "a$"},
		{"unterminated", "$(POD_IP", "$(POD_IP"},
		{"empty name", "$()", "$()"},
		{"two references", "$(A)$(A)", "xx"},
		{"no recursive expansion", "$(A)(A)", "x(A)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := expand(tc.in, lookup); got != tc.want {
				t.Fatalf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$(A)", "$$", "$(", "a$(B)c$$(A)", "$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Expanding with no known variables only ever unescapes $$, so the
		// result is never longer than the input.
		got := expand(s, func(string) (string, bool) { return "", false })
		if len(got) > len(s) {
			t.Fatalf("expand(%q) = %q grew without variables", s, got)
		}
	})
}
