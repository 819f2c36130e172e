package store

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestScanShape(t *testing.T) {
	tests := []struct {
		name      string
		a, b      string
		sameShape bool
	}{
		{"values differ, shape same", `{"a":1,"b":"x"}`, `{"a":2,"b":"y"}`, true},
		{"array lengths of one element shape", `{"h":[{"t":"a"}]}`, `{"h":[{"t":"a"},{"t":"b"},{"t":"c"}]}`, true},
		{"whitespace", `{"a":1}`, " {\n\"a\" : 7 }\t", true},
		{"new key", `{"a":1}`, `{"a":1,"b":1}`, false},
		{"int vs float", `{"a":1}`, `{"a":1.5}`, false},
		{"string vs number", `{"a":"1"}`, `{"a":1}`, false},
		{"null vs value", `{"a":null}`, `{"a":1}`, false},
		{"empty vs filled array", `{"h":[]}`, `{"h":[1]}`, false},
		{"nested key", `{"u":{"n":"x"}}`, `{"u":{"m":"x"}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa, _, _, err := scanShape([]byte(tc.a), nil)
			if err != nil {
				t.Fatal(err)
			}
			fb, _, _, err := scanShape([]byte(tc.b), nil)
			if err != nil {
				t.Fatal(err)
			}
			if (fa == fb) != tc.sameShape {
				t.Errorf("same fingerprint = %v, want %v", fa == fb, tc.sameShape)
			}
		})
	}
	_, vals, _, err := scanShape([]byte(`{"x":{"_id":"inner"},"_id":"outer","timestamp_ms":"1700000000000"}`), []string{"_id", "timestamp_ms", "missing"})
	if err != nil || string(vals[0]) != `"outer"` || string(vals[1]) != `"1700000000000"` || vals[2] != nil {
		t.Fatalf("values = %q, %v", vals, err)
	}
}

// FuzzScanShape: on any input the scanner neither panics nor accepts what
// is not a JSON object, and it accepts every valid JSON object.
func FuzzScanShape(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}],"c":"\"q\""}`, `[1]`, `{"a":}`, `{"a":1}x`, `"s"`, `{"a":-1.5e3,"b":true,"c":false}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, err := scanShape(b, []string{"a"})
		isObject := json.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if isObject && err != nil {
			t.Fatalf("valid object %q refused: %v", b, err)
		}
		if isObject {
			if _, err := docStructure(b); err != nil {
				t.Fatalf("valid object %q has no structure: %v", b, err)
			}
		}
	})
}
