package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 256 << 10

// readBody reads the whole body, refusing content types other than those
// allowed (media types without parameters) and bodies over MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request, allowed ...string) ([]byte, string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	ok := false
	for _, a := range allowed {
		if mt == a {
			ok = true
		}
	}
	if !ok {
		return nil, "", domain.Errorf(domain.CodeUnsupportedType, "send the body as %s (Content-Type was %q)", strings.Join(allowed, " or "), ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, "", domain.Errorf(domain.CodeTooLarge, "the body is larger than %d KiB", MaxBodyBytes>>10)
	}
	if err != nil {
		return nil, "", domain.Wrap(domain.CodeMalformed, err, "the body could not be read")
	}
	if err := checkJSONShape(body); err != nil {
		return nil, "", err
	}
	return body, mt, nil
}

// MaxJSONDepth bounds how deeply a body's arrays and objects nest. The
// deepest document the API takes (a config: rules, conditions, values) is
// five levels; variant values are the caller's JSON, and 32 leaves them
// room. Deeper bodies are refused before anything parses them for real
// (a merge patch 9 000 levels deep cost seconds inside a store's write).
// A patch can still build something deeper out of bodies within the bound
// (a JSON Patch adding into a value another operation added): what is
// stored is held to it by the domain's validation
// (domain.MaxVariantValueDepth), which shares this constant.
const MaxJSONDepth = domain.MaxJSONDepth

// checkJSONShape refuses, in one pass over the tokens, a body nested deeper
// than MaxJSONDepth and an object naming a member twice (parsers disagree
// on which one counts: `"role":"viewer","role":"admin"` must not become
// admin). Syntax errors are left to the decoding that follows.
func checkJSONShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token in an object is a key
	}
	var stack []*frame
	path := func() string {
		return fmt.Sprintf("at depth %d", len(stack))
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // not JSON: the decoder that follows says why
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) == MaxJSONDepth {
					return domain.Errorf(domain.CodeInvalid, "the body nests arrays and objects more than %d deep", MaxJSONDepth)
				}
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, key: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			k, _ := tok.(string)
			if top.keys[k] {
				var v domain.Validation
				v.Add("", "names the member %q twice in one object (%s)", k, path())
				return v.Err()
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		top.key = true // a value ends; the next string is a key
	}
}

// decodeJSON reads a JSON body into v strictly: malformed JSON is 400,
// unknown fields and wrong types are 422 naming each field by JSON pointer.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, _, err := readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	return strictUnmarshal(body, v)
}

// strictUnmarshal is json.Unmarshal that refuses unknown fields, trailing
// data and type mismatches with pointers to the fields at fault.
func strictUnmarshal(data []byte, v any) error {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.CodeMalformed, "the body must hold exactly one JSON value")
	}
	var val domain.Validation
	unknownFields(&val, "", generic, reflect.TypeOf(v))
	if err := val.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			val.Add(fieldPointer(te.Field), "must be %s, not %s", jsonKind(te.Type), te.Value)
			return val.Err()
		}
		return malformed(err)
	}
	return nil
}

func malformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return domain.Wrap(domain.CodeMalformed, err, fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset))
	}
	return domain.Wrap(domain.CodeMalformed, err, "the body is not valid JSON")
}

// fieldPointer turns encoding/json's dotted field path into a JSON pointer.
func fieldPointer(field string) string {
	if field == "" {
		return ""
	}
	return "/" + strings.ReplaceAll(field, ".", "/")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	timeType       = reflect.TypeOf(time.Time{})
)

// unknownFields walks a decoded JSON value beside the Go type it is meant
// for and records every object key the type has no field for, and every
// timestamp that is not RFC 3339 (encoding/json would only say the body is
// not valid, without the field).
func unknownFields(v *domain.Validation, ptr string, val any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return
	}
	if t == timeType {
		if s, ok := val.(string); ok {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				v.Add(ptr, "must be an RFC 3339 timestamp, such as 2026-11-22T09:00:00Z")
			}
		}
		return
	}
	switch x := val.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, e := range x {
				unknownFields(v, ptr+"/"+escapePointer(k), e, t.Elem())
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for k, e := range x {
				ft, ok := fields[k]
				if !ok {
					v.Add(ptr+"/"+escapePointer(k), "unknown field %q", k)
					continue
				}
				unknownFields(v, ptr+"/"+escapePointer(k), e, ft)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range x {
				unknownFields(v, ptr+"/"+strconv.Itoa(i), e, t.Elem())
			}
		}
	}
}

// jsonFields maps JSON names to field types, following embedded structs the
// way encoding/json does (shallower fields win).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var embedded []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			embedded = append(embedded, f)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	for _, f := range embedded {
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct {
			continue
		}
		for k, v := range jsonFields(ft) {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
