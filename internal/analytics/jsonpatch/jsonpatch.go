// Package jsonpatch applies the patch operations of Rockset's PATCH
// .../docs (RFC 6902 JSON Patch: add, remove, replace, move, copy, test) to
// one document. A patch applies entirely or not at all.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Op is one operation.
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
	From  *string         `json:"from,omitempty"`
}

// Apply returns doc with ops applied in order; doc itself is not changed.
// The document's _id cannot be changed or removed.
func Apply(doc map[string]any, ops []Op) (map[string]any, error) {
	cp, err := deepCopy(doc)
	if err != nil {
		return nil, err
	}
	var root any = cp
	for i, op := range ops {
		if root, err = apply(root, op); err != nil {
			return nil, fmt.Errorf("patch operation %d (%s %s): %w", i, op.Op, op.Path, err)
		}
	}
	out, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the patched document is no longer an object")
	}
	if !reflect.DeepEqual(out["_id"], doc["_id"]) {
		return nil, fmt.Errorf("_id cannot be changed by a patch")
	}
	return out, nil
}

func apply(root any, op Op) (any, error) {
	path, err := parsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	value := func() (any, error) {
		if len(op.Value) == 0 {
			return nil, fmt.Errorf("value is required")
		}
		v, err := decode[any](op.Value)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		return v, nil
	}
	from := func() ([]string, error) {
		if op.From == nil {
			return nil, fmt.Errorf("from is required")
		}
		return parsePointer(*op.From)
	}
	switch strings.ToLower(op.Op) {
	case "add":
		v, err := value()
		if err != nil {
			return nil, err
		}
		return add(root, path, v)
	case "remove":
		root, _, err := remove(root, path)
		return root, err
	case "replace":
		v, err := value()
		if err != nil {
			return nil, err
		}
		if len(path) == 0 {
			return v, nil
		}
		if root, _, err = remove(root, path); err != nil {
			return nil, err
		}
		return add(root, path, v)
	case "move":
		f, err := from()
		if err != nil {
			return nil, err
		}
		if len(path) > len(f) && reflect.DeepEqual(path[:len(f)], f) {
			return nil, fmt.Errorf("cannot move a value into itself")
		}
		root, v, err := remove(root, f)
		if err != nil {
			return nil, err
		}
		return add(root, path, v)
	case "copy":
		f, err := from()
		if err != nil {
			return nil, err
		}
		v, err := get(root, f)
		if err != nil {
			return nil, err
		}
		if v, err = deepCopy(v); err != nil {
			return nil, err
		}
		return add(root, path, v)
	case "test":
		want, err := value()
		if err != nil {
			return nil, err
		}
		got, err := get(root, path)
		if err != nil {
			return nil, err
		}
		if !equalJSON(got, want) {
			return nil, fmt.Errorf("test failed: the value differs")
		}
		return root, nil
	}
	return nil, fmt.Errorf("unknown op %q: want add, remove, replace, move, copy or test", op.Op)
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q must start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func get(node any, path []string) (any, error) {
	for _, tok := range path {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, fmt.Errorf("field %q does not exist", tok)
			}
			node = v
		case []any:
			i, err := index(tok, len(n)-1)
			if err != nil {
				return nil, err
			}
			node = n[i]
		default:
			return nil, fmt.Errorf("%q: not an object or array", tok)
		}
	}
	return node, nil
}

// add sets path to v (inserting into arrays) and returns the new root.
func add(root any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := get(root, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
		return root, nil
	case []any:
		i := len(p)
		if last != "-" {
			if i, err = index(last, len(p)); err != nil {
				return nil, err
			}
		}
		p = append(p, nil)
		copy(p[i+1:], p[i:])
		p[i] = v
		return set(root, path[:len(path)-1], p)
	}
	return nil, fmt.Errorf("%q: parent is not an object or array", last)
}

// remove deletes path and returns the new root and the removed value.
func remove(root any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	parent, err := get(root, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		v, ok := p[last]
		if !ok {
			return nil, nil, fmt.Errorf("field %q does not exist", last)
		}
		delete(p, last)
		return root, v, nil
	case []any:
		i, err := index(last, len(p)-1)
		if err != nil {
			return nil, nil, err
		}
		v := p[i]
		p = append(p[:i:i], p[i+1:]...)
		root, err = set(root, path[:len(path)-1], p)
		return root, v, err
	}
	return nil, nil, fmt.Errorf("%q: parent is not an object or array", last)
}

// set replaces the value at path (used after an array changed length).
func set(root any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := get(root, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
	case []any:
		i, err := index(last, len(p)-1)
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	return root, nil
}

func index(tok string, max int) (int, error) {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("array index %q is not a number", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("array index %q is not a number", tok)
	}
	if i > max {
		return 0, fmt.Errorf("array index %d is out of range", i)
	}
	return i, nil
}

func deepCopy[T any](v T) (T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](b)
}

// decode keeps numbers as json.Number, so a 64-bit integer survives a patch.
func decode[T any](b []byte) (T, error) {
	var out T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := dec.Decode(&out)
	return out, err
}

// equalJSON compares as JSON values (numbers by value, whatever their Go type).
func equalJSON(a, b any) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var x, y any
	_ = json.Unmarshal(ab, &x)
	_ = json.Unmarshal(bb, &y)
	return reflect.DeepEqual(x, y)
}
