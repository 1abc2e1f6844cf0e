package httpapi

import (
	"encoding/json"
	"errors"
	"testing"
)

// The examples of RFC 6902 appendix A, and the cases the JSON Patch package
// used before panicked on.
func TestApplyJSONPatch(t *testing.T) {
	for _, c := range []struct {
		name, doc, patch, want string // want "" means the patch is refused
		testFailed             bool
	}{
		{"A.1 add an object member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`, false},
		{"A.2 add an array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`, false},
		{"A.3 remove an object member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`, false},
		{"A.4 remove an array element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`, false},
		{"A.5 replace a value", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`, false},
		{"A.6 move a value", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`, false},
		{"A.7 move an array element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`, false},
		{"A.8 test a value", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			`{"baz":"qux","foo":["a",2,"c"]}`, false},
		{"A.9 test a value: error", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, "", true},
		{"A.10 add a nested member object", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"foo":"bar","child":{"grandchild":{}}}`, false},
		{"A.11 ignore unrecognized elements", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`, `{"foo":"bar","baz":"qux"}`, false},
		{"A.12 add to a nonexistent target", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, "", false},
		{"A.14 ~ escape ordering", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`, false},
		{"A.15 comparing strings and numbers", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`, "", true},
		{"A.16 add an array value", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`, false},

		{"replace the whole document", `{"a":1}`, `[{"op":"replace","path":"","value":[1]}]`, `[1]`, false},
		{"remove the whole document", `{"a":1}`, `[{"op":"remove","path":""}]`, "", false},
		{"remove a missing member", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, "", false},
		{"replace a missing member", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, "", false},
		{"- is only for add", `{"a":[1]}`, `[{"op":"replace","path":"/a/-","value":2}]`, "", false},
		{"no leading zeros", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/01"}]`, "", false},
		{"no negative indices", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/-1"}]`, "", false},
		{"add past the end", `{"a":[1]}`, `[{"op":"add","path":"/a/2","value":2}]`, "", false},
		{"add at the end", `{"a":[1]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2]}`, false},
		{"through a string", `{"a":"x"}`, `[{"op":"add","path":"/a/b","value":2}]`, "", false},
		{"move into itself", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/c"}]`, "", false},
		{"move onto itself", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":{"b":1}}`, false},
		{"a copy is deep", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"replace","path":"/c/b","value":2}]`, `{"a":{"b":1},"c":{"b":2}}`, false},
		{"copy the whole document", `{"a":1}`, `[{"op":"copy","from":"","path":"/c"}]`, `{"a":1,"c":{"a":1}}`, false},
		{"test an array holding null", `{"a":[null,"x"]}`, `[{"op":"test","path":"/a","value":[null,"x"]}]`, `{"a":[null,"x"]}`, false},
		{"test an array against null", `{"a":[null,"x"]}`, `[{"op":"test","path":"/a","value":null}]`, "", true},
		{"test the whole document", `{"a":[null]}`, `[{"op":"test","path":"","value":{"a":[null]}}]`, `{"a":[null]}`, false},
		{"test a missing member", `{"a":1}`, `[{"op":"test","path":"/b","value":null}]`, "", true},
		{"numbers are equal by value", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0}]`, `{"a":1}`, false},
		{"large numbers are kept", `{"a":1}`, `[{"op":"add","path":"/b","value":123456789012345678901234567890}]`, `{"a":1,"b":123456789012345678901234567890}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops, err := decodeJSONPatch([]byte(c.patch))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			doc, err := decodeValue([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := applyJSONPatch(doc, ops)
			if c.want == "" {
				if err == nil {
					t.Fatalf("applied, want it refused: %v", got)
				}
				if errors.Is(err, errPatchTestFailed) != c.testFailed {
					t.Fatalf("error %v, want a failed test: %v", err, c.testFailed)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			want, _ := decodeValue([]byte(c.want))
			if !jsonEqual(got, want) {
				out, _ := json.Marshal(got)
				t.Fatalf("got %s, want %s", out, c.want)
			}
		})
	}
}

func TestDecodeJSONPatchRefuses(t *testing.T) {
	for _, body := range []string{
		`[{"op":"test","path":""}]`, // test needs a value
		`[{"op":"add","path":"/a"}]`,
		`[{"op":"replace","path":"/a"}]`,
		`[{"op":"move","path":"/a"}]`,
		`[{"op":"copy","path":"/a","from":"a"}]`,
		`[{"op":"remove"}]`,
		`[{"op":"remove","path":"a"}]`,
		`[{"op":"remove","path":"/a~2"}]`,
		`[{"op":"remove","path":"/a~"}]`,
		`[{"op":"remove","path":null}]`,
		`[{"op":null,"path":"/a"}]`,
		`[{"op":"explode","path":"/a"}]`,
		`[null]`,
		`[1]`,
		`{"op":"remove","path":"/a"}`,
		`[{"op":"test","path":"/a","value":1,"op":"remove"}]`, // a member named twice
		`[{"op":"remove","path":"/a","path":"/b"}]`,
		`[{"op":"add","path":"/a","value":1,"value":2}]`,
	} {
		if _, err := decodeJSONPatch([]byte(body)); err == nil {
			t.Errorf("%s: decoded, want it refused", body)
		}
	}
}
