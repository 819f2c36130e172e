// Package rewrite turns Rockset-flavoured SQL into DuckDB SQL on DuckDB's own
// parse tree: collection names become table names, `UNNEST(x) AS h` becomes
// `UNNEST(x) AS u(h)`, `:name` parameters become prepared-statement
// parameters, unaliased aggregates get Rockset's `?name` column names, and
// anything that is not a pure read (statements other than SELECT/WITH, file
// and network functions) is refused before DuckDB runs it.
package rewrite

import (
	"fmt"
	"strings"
	"unicode"
)

// Error is a refusal or a syntax problem in the query; the API reports it as
// QUERY_ERROR.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// scan walks SQL text token by token where it matters (quotes, comments,
// brackets) and returns the text with each `:name` parameter replaced by
// DuckDB's `$name`, and the statement's first keyword. It refuses a second
// statement. Inside [...] and {...} a colon is a slice bound or a struct key,
// never a parameter: `x[a:b]` and `{'k':v}` mean what DuckDB says.
func scan(q string) (out string, first string, err error) {
	var b strings.Builder
	b.Grow(len(q) + 8)
	depth := 0 // [ and { nesting
	ended := false
	i := 0
	n := len(q)
	for i < n {
		c := q[i]
		if ended && !isSpace(c) && !(c == '-' && i+1 < n && q[i+1] == '-') && !(c == '/' && i+1 < n && q[i+1] == '*') && c != ';' {
			return "", "", errorf("only one statement is allowed per query")
		}
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < n {
				if q[j] == c {
					if j+1 < n && q[j+1] == c { // doubled quote escapes itself
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= n {
				return "", "", errorf("unterminated quoted string or identifier")
			}
			b.WriteString(q[i : j+1])
			i = j + 1
		case c == '-' && i+1 < n && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = n - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && i+1 < n && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return "", "", errorf("unterminated comment")
			}
			b.WriteString(q[i : i+2+j+2])
			i += 2 + j + 2
		case c == '$' && i+1 < n && (q[i+1] == '$' || isIdentStart(q[i+1])):
			// $$...$$ or $tag$...$tag$ is a string; $name is a parameter.
			j := i + 1
			for j < n && isIdentPart(q[j]) {
				j++
			}
			if j < n && q[j] == '$' {
				tag := q[i : j+1]
				k := strings.Index(q[j+1:], tag)
				if k < 0 {
					return "", "", errorf("unterminated dollar-quoted string")
				}
				end := j + 1 + k + len(tag)
				b.WriteString(q[i:end])
				i = end
				continue
			}
			b.WriteString(q[i:j])
			i = j
		case c == ':':
			if i+1 < n && q[i+1] == ':' { // a cast
				b.WriteString("::")
				i += 2
				continue
			}
			j := i + 1
			for j < n && isIdentPart(q[j]) {
				j++
			}
			name := q[i+1 : j]
			if j > i+1 && isIdentStart(q[i+1]) && depth == 0 {
				b.WriteString("$" + name)
				i = j
				continue
			}
			b.WriteByte(c)
			i++
		case c == '[' || c == '{':
			depth++
			b.WriteByte(c)
			i++
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
			b.WriteByte(c)
			i++
		case c == ';':
			ended = true
			i++
		case isIdentStart(c):
			j := i
			for j < n && isIdentPart(q[j]) {
				j++
			}
			if first == "" {
				first = strings.ToUpper(q[i:j])
			}
			b.WriteString(q[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), first, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isIdentStart(c byte) bool {
	return c == '_' || c >= 0x80 || unicode.IsLetter(rune(c))
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
