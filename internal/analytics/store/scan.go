package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Schema inference must not cost a full decode per document: a stream repeats
// a handful of shapes. scanShape walks a document once, without allocating,
// and returns a fingerprint of its shape (keys and value kinds; runs of
// array elements of one shape count once) plus the raw values of a few
// top-level keys. Only a shape not seen before is decoded to merge its
// structure into the schema.

var errSyntax = errors.New("invalid JSON")

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func mixBytes(h uint64, bs []byte) uint64 {
	for _, b := range bs {
		h = mix(h, b)
	}
	return h
}

type shapeScanner struct {
	b    []byte
	i    int
	want []string
	got  [][]byte // raw top-level values of want, nil when absent
	top  []field  // every top-level field
}

// field is a top-level field as written: its key's raw contents (escapes
// untouched) and its raw value.
type field struct {
	key, val []byte
}

// name is the field's key decoded.
func (f field) name() string {
	if bytes.IndexByte(f.key, '\\') < 0 {
		return string(f.key)
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, f.key...), '"'), &s); err != nil {
		return string(f.key)
	}
	return s
}

// scanShape returns the shape fingerprint of a JSON object, the raw
// top-level values of the keys in want, and its top-level fields.
func scanShape(b []byte, want []string) (uint64, [][]byte, []field, error) {
	s := shapeScanner{b: b, want: want, got: make([][]byte, len(want))}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return 0, nil, nil, errSyntax
	}
	h, err := s.value(0)
	if err != nil {
		return 0, nil, nil, err
	}
	s.ws()
	if s.i != len(s.b) {
		return 0, nil, nil, errSyntax
	}
	return h, s.got, s.top, nil
}

func (s *shapeScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *shapeScanner) value(depth int) (uint64, error) {
	if depth > 200 {
		return 0, errSyntax
	}
	s.ws()
	if s.i >= len(s.b) {
		return 0, errSyntax
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		if _, err := s.str(); err != nil {
			return 0, err
		}
		return mix(fnvOffset, 's'), nil
	case c == 't':
		return s.lit("true", 'b')
	case c == 'f':
		return s.lit("false", 'b')
	case c == 'n':
		return s.lit("null", 'z')
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		float := false
		for s.i < len(s.b) {
			d := s.b[s.i]
			if d == '.' || d == 'e' || d == 'E' {
				float = true
			} else if !(d == '-' || d == '+' || (d >= '0' && d <= '9')) {
				break
			}
			s.i++
		}
		if s.i == start {
			return 0, errSyntax
		}
		if float {
			return mix(fnvOffset, 'f'), nil
		}
		if s.b[start] == '-' {
			return mix(fnvOffset, 'i'), nil
		}
		return mix(fnvOffset, 'u'), nil
	}
	return 0, errSyntax
}

func (s *shapeScanner) lit(word string, kind byte) (uint64, error) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return 0, errSyntax
	}
	s.i += len(word)
	return mix(fnvOffset, kind), nil
}

// str consumes a string and returns its raw contents (escapes untouched).
func (s *shapeScanner) str() ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			raw := s.b[start:s.i]
			s.i++
			return raw, nil
		default:
			s.i++
		}
	}
	return nil, errSyntax
}

func (s *shapeScanner) object(depth int) (uint64, error) {
	s.i++
	h := mix(fnvOffset, '{')
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return mix(h, '}'), nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return 0, errSyntax
		}
		key, err := s.str()
		if err != nil {
			return 0, err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return 0, errSyntax
		}
		s.i++
		s.ws()
		vstart := s.i
		vh, err := s.value(depth + 1)
		if err != nil {
			return 0, err
		}
		if depth == 0 {
			s.top = append(s.top, field{key: key, val: s.b[vstart:s.i]})
			for k, w := range s.want {
				if string(key) == w {
					s.got[k] = s.b[vstart:s.i]
				}
			}
		}
		h = mix(mixBytes(h, key), ':')
		h = (h ^ vh) * fnvPrime
		s.ws()
		if s.i >= len(s.b) {
			return 0, errSyntax
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.b[s.i] == '}' {
			s.i++
			return mix(h, '}'), nil
		}
		return 0, errSyntax
	}
}

func (s *shapeScanner) array(depth int) (uint64, error) {
	s.i++
	h := mix(fnvOffset, '[')
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return mix(h, ']'), nil
	}
	var prev uint64
	for {
		eh, err := s.value(depth + 1)
		if err != nil {
			return 0, err
		}
		if eh != prev {
			h = (h ^ eh) * fnvPrime
			prev = eh
		}
		s.ws()
		if s.i >= len(s.b) {
			return 0, errSyntax
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.b[s.i] == ']' {
			s.i++
			return mix(h, ']'), nil
		}
		return 0, errSyntax
	}
}

// docStructure decodes a document into the json_structure-shaped schema node
// of its top level (merged into columns by mergeTop).
func docStructure(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = structureOf(e, 1)
	}
	return out, nil
}

func structureOf(v any, depth int) any {
	switch x := v.(type) {
	case nil:
		return tNull
	case bool:
		return "BOOLEAN"
	case string:
		return "VARCHAR"
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return "DOUBLE"
		}
		if _, err := x.Int64(); err != nil {
			return "DOUBLE" // beyond int64: keep it as a number
		}
		return "BIGINT"
	case map[string]any:
		if depth > maxStructDepth || len(x) > maxStructFields {
			return tJSON
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = structureOf(e, depth+1)
		}
		if !nameableObject(out) {
			return tJSON
		}
		return out
	case []any:
		if depth > maxStructDepth {
			return tJSON
		}
		var elem any = tNull
		for _, e := range x {
			elem = mergeSchema(elem, structureOf(e, depth+1))
		}
		return []any{elem}
	}
	return tJSON
}
