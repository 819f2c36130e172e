package jsonpatch

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	const base = `{"_id":"a","n":9007199254740993,"s":"x","arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`
	tests := []struct {
		name string
		ops  string
		want string // the document after the patch; "" when an error is wanted
		err  string // part of the error
	}{
		{"replace a field", `[{"op":"replace","path":"/s","value":true}]`,
			`{"_id":"a","n":9007199254740993,"s":true,"arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"add a nested field", `[{"op":"add","path":"/obj/new","value":{"x":[1]}}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2,"new":{"x":[1]}}}`, ""},
		{"insert into an array", `[{"op":"add","path":"/arr/1","value":9}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[1,9,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"append to an array", `[{"op":"add","path":"/arr/-","value":4}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[1,2,3,4],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"remove from an array", `[{"op":"remove","path":"/arr/0"}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"escaped pointer tokens", `[{"op":"remove","path":"/obj/a~1b"},{"op":"remove","path":"/obj/t~0"}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[1,2,3],"obj":{"k":"v"}}`, ""},
		{"move", `[{"op":"move","from":"/s","path":"/obj/s"}]`,
			`{"_id":"a","n":9007199254740993,"arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2,"s":"x"}}`, ""},
		{"copy", `[{"op":"copy","from":"/arr","path":"/arr2"}]`,
			`{"_id":"a","n":9007199254740993,"s":"x","arr":[1,2,3],"arr2":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"test passes then replace", `[{"op":"test","path":"/arr/2","value":3.0},{"op":"replace","path":"/n","value":1}]`,
			`{"_id":"a","n":1,"s":"x","arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"ops are case-insensitive (Rockset's docs write them in capitals)", `[{"op":"REPLACE","path":"/s","value":"y"}]`,
			`{"_id":"a","n":9007199254740993,"s":"y","arr":[1,2,3],"obj":{"k":"v","a/b":1,"t~":2}}`, ""},
		{"test fails and nothing applies", `[{"op":"replace","path":"/s","value":"y"},{"op":"test","path":"/s","value":"x"}]`, "", "test failed"},
		{"replace a missing field", `[{"op":"replace","path":"/missing","value":1}]`, "", "does not exist"},
		{"remove a missing field", `[{"op":"remove","path":"/obj/missing"}]`, "", "does not exist"},
		{"index out of range", `[{"op":"add","path":"/arr/7","value":1}]`, "", "out of range"},
		{"leading zero index", `[{"op":"remove","path":"/arr/01"}]`, "", "not a number"},
		{"into a scalar", `[{"op":"add","path":"/s/x","value":1}]`, "", "not an object or array"},
		{"path without slash", `[{"op":"add","path":"s","value":1}]`, "", "must start with /"},
		{"unknown op", `[{"op":"increment","path":"/n","value":1}]`, "", "unknown op"},
		{"missing value", `[{"op":"add","path":"/z"}]`, "", "value is required"},
		{"missing from", `[{"op":"move","path":"/z"}]`, "", "from is required"},
		{"move into itself", `[{"op":"move","from":"/obj","path":"/obj/k/x"}]`, "", "into itself"},
		{"_id cannot change", `[{"op":"replace","path":"/_id","value":"b"}]`, "", "_id cannot be changed"},
		{"_id cannot go", `[{"op":"remove","path":"/_id"}]`, "", "_id cannot be changed"},
		{"whole document cannot go", `[{"op":"remove","path":""}]`, "", "whole document"},
		{"the document must stay an object", `[{"op":"replace","path":"","value":[1]}]`, "", "no longer an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := decode[map[string]any]([]byte(base))
			if err != nil {
				t.Fatal(err)
			}
			var ops []Op
			if err := json.Unmarshal([]byte(tc.ops), &ops); err != nil {
				t.Fatal(err)
			}
			got, err := Apply(doc, ops)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalJSON(got, mustDecode(t, tc.want)) {
				b, _ := json.Marshal(got)
				t.Errorf("got %s\nwant %s", b, tc.want)
			}
			if b, _ := json.Marshal(got); !strings.Contains(string(b), "9007199254740993") && strings.Contains(tc.want, "9007199254740993") {
				t.Errorf("a 64-bit integer lost precision: %s", b)
			}
			if b, _ := json.Marshal(doc); string(b) != string(mustMarshal(t, mustDecode(t, base))) {
				t.Errorf("the input document changed: %s", b)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := decode[any]([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzApply: any patch on any document either fails or yields an object
// with the same _id, and never panics.
func FuzzApply(f *testing.F) {
	f.Add(`{"_id":"a","x":[1,{"y":2}]}`, `[{"op":"add","path":"/x/1/y","value":3}]`)
	f.Add(`{"_id":"a"}`, `[{"op":"move","from":"/_id","path":"/b"}]`)
	f.Fuzz(func(t *testing.T, docText, opsText string) {
		doc, err := decode[map[string]any]([]byte(docText))
		if err != nil || doc == nil {
			return
		}
		var ops []Op
		if json.Unmarshal([]byte(opsText), &ops) != nil {
			return
		}
		out, err := Apply(doc, ops)
		if err == nil && !equalJSON(out["_id"], doc["_id"]) {
			t.Fatalf("_id changed: %v -> %v", doc["_id"], out["_id"])
		}
	})
}
