package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/countersign/countersign/internal/domain"
)

// PATCH accepts both standard formats, chosen by Content-Type:
// application/merge-patch+json (RFC 7396; plain application/json is read as
// a merge patch) and application/json-patch+json (RFC 6902, every operation
// including test, which makes a patch conditional).
const (
	mediaMergePatch = "application/merge-patch+json"
	mediaJSONPatch  = "application/json-patch+json"
	mediaJSON       = "application/json"
)

// patchRequest is a read PATCH body, applied later to the current resource
// inside the store's read-modify-write.
type patchRequest struct {
	body  []byte
	media string
	ops   []jsonPatchOp // a JSON Patch's operations
}

func readPatch(w http.ResponseWriter, r *http.Request) (*patchRequest, error) {
	body, mt, err := readBody(w, r, mediaMergePatch, mediaJSONPatch, mediaJSON)
	if err != nil {
		return nil, err
	}
	var probe any
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, malformed(err)
	}
	if mt == mediaJSONPatch {
		if _, ok := probe.([]any); !ok {
			return nil, domain.Errorf(domain.CodeMalformed, "a JSON Patch (RFC 6902) is an array of operations")
		}
		ops, err := decodeJSONPatch(body)
		if err != nil {
			return nil, domain.Wrap(domain.CodeMalformed, err, "the JSON Patch is not a valid RFC 6902 document")
		}
		return &patchRequest{body: body, media: mt, ops: ops}, nil
	} else if _, ok := probe.(map[string]any); !ok {
		return nil, domain.Errorf(domain.CodeMalformed, "a JSON Merge Patch (RFC 7396) for this resource is a JSON object")
	}
	return &patchRequest{body: body, media: mt}, nil
}

// applyPatch patches cur in place. Fields named in
// readOnly must come out unchanged (not removed, not null); "version" may be
// sent as a precondition (a merge patch's "version", or a JSON Patch "test"
// of /version) and a different value is a stale-version conflict, while one
// removed or set to null (which a merge patch's null does) is invalid.
func applyPatch[T any](p *patchRequest, kind string, cur *T, readOnly ...string) error {
	if shownCheck != nil {
		shownCheck(cur)
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	var patched []byte
	if p.media == mediaJSONPatch {
		tree, err := decodeValue(doc)
		if err != nil {
			return err
		}
		tree, err = applyJSONPatch(tree, p.ops) // decoded and checked by readPatch
		if errors.Is(err, errPatchTestFailed) {
			return domain.Errorf(domain.CodeConflict, "a test operation of the JSON Patch failed: the %s is not in the state the patch expects; read it again", kind)
		}
		if errors.Is(err, errPatchCopyLimit) {
			return domain.Errorf(domain.CodeInvalid, "the copy operations of the JSON Patch copy more than %d KiB", patchCopyLimit>>10)
		}
		if err != nil {
			return domain.Wrap(domain.CodeInvalid, err, "the JSON Patch cannot be applied to the current "+kind+": a path does not exist or an operation is not possible")
		}
		if patched, err = json.Marshal(tree); err != nil {
			return err
		}
	} else {
		patched, err = jsonpatch.MergePatch(doc, p.body)
		if err != nil {
			return domain.Wrap(domain.CodeInvalid, err, "the merge patch cannot be applied")
		}
	}

	var before, after map[string]json.RawMessage
	if err := json.Unmarshal(doc, &before); err != nil {
		return err
	}
	// A JSON null decodes into a nil map without an error.
	if err := json.Unmarshal(patched, &after); err != nil || after == nil {
		return domain.Errorf(domain.CodeInvalid, "the patch must leave the %s a JSON object", kind)
	}
	current, _ := strconv.ParseInt(string(before["version"]), 10, 64)
	if raw := after["version"]; !bytes.Equal(raw, before["version"]) {
		sent, err := strconv.ParseInt(string(raw), 10, 64) // "" when it was removed
		if err != nil {
			var v domain.Validation
			v.Add("/version", "must be the integer version you read")
			return v.Err()
		}
		return domain.StaleVersion(kind, sent, current)
	}
	var v domain.Validation
	for _, name := range readOnly {
		if !sameJSON(before[name], after[name]) {
			v.Add("/"+name, "is read-only")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	// Decode into a fresh value so that nothing of the old one lingers
	// (json.Unmarshal merges into maps and existing structs).
	var fresh T
	if err := strictUnmarshal(patched, &fresh); err != nil {
		return err
	}
	*cur = fresh
	return nil
}

// patchView patches a domain value through its view: the document a patch
// applies to is the view's JSON, as the API shows the resource, and the
// patched document, read back into the view, becomes the new value.
func patchView[D, V any](p *patchRequest, kind string, cur *D, view func(*D) V, back func(*V) D, readOnly ...string) error {
	doc := view(cur)
	if err := applyPatch(p, kind, &doc, readOnly...); err != nil {
		return err
	}
	*cur = back(&doc)
	return nil
}

// sameJSON reports whether two members of a JSON object hold the same value.
// A missing member (after a merge patch's null or a JSON Patch remove) counts
// as null: a read-only field that had a value and disappears or becomes null
// has changed. (Not jsonpatch.Equal: it panics on a missing value or null.)
func sameJSON(a, b json.RawMessage) bool {
	va, errA := decodeMember(a)
	vb, errB := decodeMember(b)
	return errA == nil && errB == nil && jsonEqual(va, vb)
}

// decodeMember decodes a member of a JSON object; a missing one is null.
func decodeMember(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	return decodeValue(raw)
}
