package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// JSON Patch (RFC 6902) is applied here, on the decoded document, rather
// than with github.com/evanphx/json-patch, whose test operation dereferences
// nil nodes and panics (a test without a value; a test of an array holding a
// null, such as [null, "a"]) inside the store's write transaction. Values are
// decoded with their numbers kept as written, so nothing is rounded.

// jsonPatchOp is one operation of a JSON Patch, checked by decodeJSONPatch.
type jsonPatchOp struct {
	op    string
	path  []string        // the reference tokens of "path" (RFC 6901), unescaped; empty is the whole document
	from  []string        // move and copy
	value json.RawMessage // add, replace and test; decoded afresh each time the patch is applied
}

var (
	errPatchTestFailed = errors.New("a test operation failed")
	errPatchCopyLimit  = errors.New("the copy operations copy too much")
	errPatchMissing    = errors.New("the path does not exist")
	errPatchIndex      = errors.New("not an index of the array")
	errPatchNotParent  = errors.New("the path goes through a value that is neither an object nor an array")
)

// patchCopyLimit bounds what the copy operations of one patch copy in all:
// each can double the document, so a short patch could grow it without bound.
const patchCopyLimit = MaxBodyBytes

// decodeJSONPatch reads an RFC 6902 document: an array of operations, each
// with a known "op", a "path" that is a JSON pointer, a "from" for move and
// copy and a "value" for add, replace and test. Other members are ignored;
// a member named twice is refused, since parsers disagree on which one
// counts (a proxy and this server would read different patches).
func decodeJSONPatch(body []byte) ([]jsonPatchOp, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, err
	}
	ops := make([]jsonPatchOp, 0, len(items))
	for i, item := range items {
		if name, twice := repeatedMember(item); twice {
			return nil, fmt.Errorf("operation %d names %q twice", i, name)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(item, &m); err != nil || m == nil {
			return nil, fmt.Errorf("operation %d is not an object", i)
		}
		var op jsonPatchOp
		var ok bool
		if op.op, ok = stringMember(m, "op"); !ok {
			return nil, fmt.Errorf("operation %d has no op", i)
		}
		if op.path, ok = pointerMember(m, "path"); !ok {
			return nil, fmt.Errorf("operation %d has no path that is a JSON pointer", i)
		}
		switch op.op {
		case "add", "replace", "test":
			if op.value, ok = m["value"]; !ok {
				return nil, fmt.Errorf("operation %d (%s) has no value", i, op.op)
			}
		case "move", "copy":
			if op.from, ok = pointerMember(m, "from"); !ok {
				return nil, fmt.Errorf("operation %d (%s) has no from that is a JSON pointer", i, op.op)
			}
		case "remove":
		default:
			return nil, fmt.Errorf("operation %d: unknown op %q", i, op.op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// repeatedMember finds a member name that the JSON object obj holds twice.
func repeatedMember(obj json.RawMessage) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := t.(string)
		if seen[name] {
			return name, true
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func pointerMember(m map[string]json.RawMessage, name string) ([]string, bool) {
	s, ok := stringMember(m, name)
	if !ok {
		return nil, false
	}
	return parsePointer(s)
}

// parsePointer splits a JSON pointer (RFC 6901) into its reference tokens.
func parsePointer(s string) ([]string, bool) {
	if s == "" {
		return []string{}, true
	}
	if s[0] != '/' {
		return nil, false
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, false
			}
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, true
}

// decodeValue decodes one JSON value with its numbers as json.Number.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// applyJSONPatch applies ops to doc (a decoded value) in order and returns
// the result; doc is changed in place. A failed test is errPatchTestFailed.
func applyJSONPatch(doc any, ops []jsonPatchOp) (any, error) {
	copied := 0
	for _, op := range ops {
		var err error
		switch op.op {
		case "add", "replace", "test":
			var v any
			if v, err = decodeValue(op.value); err != nil {
				return nil, err
			}
			switch op.op {
			case "add":
				doc, err = patchAdd(doc, op.path, v)
			case "replace":
				doc, err = patchReplace(doc, op.path, v)
			default:
				cur, gerr := patchGet(doc, op.path)
				if gerr != nil || !jsonEqual(cur, v) {
					return nil, errPatchTestFailed
				}
			}
		case "remove":
			if len(op.path) == 0 {
				return nil, errors.New("the whole document cannot be removed")
			}
			doc, _, err = patchRemove(doc, op.path)
		case "move":
			if slices.Equal(op.from, op.path) {
				_, err = patchGet(doc, op.from)
				break
			}
			if len(op.from) < len(op.path) && slices.Equal(op.from, op.path[:len(op.from)]) {
				return nil, errors.New("a value cannot be moved into itself")
			}
			var v any
			if doc, v, err = patchRemove(doc, op.from); err == nil {
				doc, err = patchAdd(doc, op.path, v)
			}
		case "copy":
			var v any
			if v, err = patchGet(doc, op.from); err != nil {
				break
			}
			// a deep copy: later operations must not change both
			var raw []byte
			if raw, err = json.Marshal(v); err != nil {
				break
			}
			if copied += len(raw); copied > patchCopyLimit {
				return nil, errPatchCopyLimit
			}
			if v, err = decodeValue(raw); err == nil {
				doc, err = patchAdd(doc, op.path, v)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// arrayIndex reads the reference token of an array element: a decimal index
// without leading zeros below n, or n itself for "-" (the end) when end.
func arrayIndex(token string, n int, end bool) (int, error) {
	if token == "-" && end {
		return n, nil
	}
	if token == "" || len(token) > 1 && token[0] == '0' {
		return 0, errPatchIndex
	}
	for _, c := range []byte(token) {
		if c < '0' || c > '9' {
			return 0, errPatchIndex
		}
	}
	i, err := strconv.Atoi(token)
	if err != nil || i > n || i == n && !end {
		return 0, errPatchIndex
	}
	return i, nil
}

func patchGet(doc any, path []string) (any, error) {
	for _, token := range path {
		switch c := doc.(type) {
		case map[string]any:
			v, ok := c[token]
			if !ok {
				return nil, errPatchMissing
			}
			doc = v
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, err
			}
			doc = c[i]
		default:
			return nil, errPatchNotParent
		}
	}
	return doc, nil
}

// patchAt calls change with the object or array that holds the last token of
// path (path is not empty) and puts what it returns in that one's place.
func patchAt(doc any, path []string, change func(parent any, token string) (any, error)) (any, error) {
	if len(path) == 1 {
		return change(doc, path[0])
	}
	switch c := doc.(type) {
	case map[string]any:
		child, ok := c[path[0]]
		if !ok {
			return nil, errPatchMissing
		}
		child, err := patchAt(child, path[1:], change)
		if err != nil {
			return nil, err
		}
		c[path[0]] = child
		return c, nil
	case []any:
		i, err := arrayIndex(path[0], len(c), false)
		if err != nil {
			return nil, err
		}
		child, err := patchAt(c[i], path[1:], change)
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, errPatchNotParent
}

func patchAdd(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return patchAt(doc, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			c[token] = v
			return c, nil
		case []any:
			i, err := arrayIndex(token, len(c), true)
			if err != nil {
				return nil, err
			}
			return slices.Insert(c, i, v), nil
		}
		return nil, errPatchNotParent
	})
}

func patchReplace(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return patchAt(doc, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			if _, ok := c[token]; !ok {
				return nil, errPatchMissing
			}
			c[token] = v
			return c, nil
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, err
			}
			c[i] = v
			return c, nil
		}
		return nil, errPatchNotParent
	})
}

// patchRemove removes the value at path (not empty) and returns it.
func patchRemove(doc any, path []string) (any, any, error) {
	var removed any
	doc, err := patchAt(doc, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			v, ok := c[token]
			if !ok {
				return nil, errPatchMissing
			}
			removed = v
			delete(c, token)
			return c, nil
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, err
			}
			removed = c[i]
			return slices.Delete(c, i, i+1), nil
		}
		return nil, errPatchNotParent
	})
	return doc, removed, err
}

// jsonEqual compares two decoded JSON values as RFC 6902's test does:
// objects by their members in any order, arrays element by element, numbers
// by their value (as written when they do not fit a float64).
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		fa, errA := strconv.ParseFloat(string(a), 64)
		fb, errB := strconv.ParseFloat(string(b), 64)
		return errA == nil && errB == nil && fa == fb
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !jsonEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return false
}
