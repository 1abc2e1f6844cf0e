// Package recordtest helps tests pin the stored form of records: golden
// files, and a stable JSON form of DynamoDB items.
package recordtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var update = flag.Bool("update", false, "write the golden files instead of checking them (only for a new record type, or a deliberate, migrated change of the stored format)")

// Golden checks got against the golden file path (under testdata), or writes
// it with -update. A difference means the stored format changed: data
// written before would not read back the same.
func Golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (a new record type writes its golden file with go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the stored form changed; what is stored already would no longer read back as written.\n got: %s\nwant: %s", path, got, want)
	}
}

// ItemJSON is a stable, readable form of a DynamoDB item: each attribute
// value as in DynamoDB's JSON ({"S": "..."}, {"N": "..."}, {"L": [...]},
// ...), attribute names sorted, indented, with a final newline.
func ItemJSON(it map[string]types.AttributeValue) ([]byte, error) {
	m, err := itemForm(it)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func itemForm(it map[string]types.AttributeValue) (map[string]any, error) {
	m := make(map[string]any, len(it))
	for n, v := range it {
		f, err := valueForm(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		m[n] = f
	}
	return m, nil
}

func valueForm(v types.AttributeValue) (any, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}, nil
	case *types.AttributeValueMemberB:
		return map[string]any{"B": v.Value}, nil // base64, as DynamoDB's JSON has it
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}, nil
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}, nil
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}, nil
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": v.Value}, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			f, err := valueForm(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = f
		}
		return map[string]any{"L": l}, nil
	case *types.AttributeValueMemberM:
		m, err := itemForm(v.Value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"M": m}, nil
	}
	return nil, fmt.Errorf("attribute value of type %T", v)
}

// ItemFromJSON reads an item back from ItemJSON's form.
func ItemFromJSON(raw []byte) (map[string]types.AttributeValue, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return itemFrom(m)
}

func itemFrom(m map[string]json.RawMessage) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(m))
	for n, raw := range m {
		v, err := valueFrom(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
}

func valueFrom(raw json.RawMessage) (types.AttributeValue, error) {
	var form map[string]json.RawMessage
	if err := json.Unmarshal(raw, &form); err != nil || len(form) != 1 {
		return nil, fmt.Errorf("not an attribute value: %s", raw)
	}
	for typ, v := range form {
		switch typ {
		case "S":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberS{Value: s}, err
		case "N":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberN{Value: s}, err
		case "B":
			var b []byte
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberB{Value: b}, err
		case "BOOL":
			var b bool
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberBOOL{Value: b}, err
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "SS":
			var ss []string
			err := json.Unmarshal(v, &ss)
			return &types.AttributeValueMemberSS{Value: ss}, err
		case "L":
			var l []json.RawMessage
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, err
			}
			out := make([]types.AttributeValue, len(l))
			for i, e := range l {
				av, err := valueFrom(e)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", i, err)
				}
				out[i] = av
			}
			return &types.AttributeValueMemberL{Value: out}, nil
		case "M":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return nil, err
			}
			inner, err := itemFrom(m)
			return &types.AttributeValueMemberM{Value: inner}, err
		}
		return nil, fmt.Errorf("attribute value of type %s", typ)
	}
	return nil, nil
}
