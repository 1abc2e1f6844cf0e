package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// arrays is n arrays, one in the other, the innermost empty.
func arrays(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// The depth bound holds for what is stored, not only for each body: JSON
// Patch operations that add into a value another one added, successive
// patches, or a merge patch within the body bound cannot store a variant
// value nested deeper than domain.MaxVariantValueDepth: 422, naming the
// value, and nothing is written. A change request's proposal likewise.
func TestPatchesCannotBuildDeepVariantValues(t *testing.T) {
	a := newTestAPI(t)
	a.do("POST", "/v1/projects", map[string]any{"key": "shop", "name": "Shop"}).want(t, 201)
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"key": "deep", "name": "Deep",
		"variants": []map[string]any{{"key": "a", "value": "x"}, {"key": "b", "value": "y"}}}).want(t, 201)
	var before domain.Flag
	a.do("GET", "/v1/projects/shop/flags/deep", nil).want(t, 200).json(&before)

	const k = 20 // each body nests 2+k deep, well within httpapi.MaxJSONDepth
	into := "/variants/1/value" + strings.Repeat("/0", k-1) + "/-"
	if 2+k > httpapi.MaxJSONDepth || 2*k <= domain.MaxVariantValueDepth {
		t.Fatalf("the test needs bodies within %d that build a value deeper than %d", httpapi.MaxJSONDepth, domain.MaxVariantValueDepth)
	}
	// one JSON Patch: add a value, then add into its innermost array
	patch := fmt.Sprintf(`[{"op":"replace","path":"/variants/1/value","value":%s},{"op":"add","path":%q,"value":%s}]`, arrays(k), into, arrays(k))
	a.do("PATCH", "/v1/projects/shop/flags/deep", patch, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/variants/1/value")
	// ... or a copy of it into itself, deepening it without sending depth
	patch = fmt.Sprintf(`[{"op":"replace","path":"/variants/1/value","value":%s},{"op":"copy","from":"/variants/1/value","path":%q}]`, arrays(k), into)
	a.do("PATCH", "/v1/projects/shop/flags/deep", patch, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/variants/1/value")
	// two patches: the first is fine, the second deepens what it stored
	a.do("PATCH", "/v1/projects/shop/flags/deep", fmt.Sprintf(`[{"op":"replace","path":"/variants/1/value","value":%s}]`, arrays(k)), jsonPatch()).want(t, 200)
	a.do("PATCH", "/v1/projects/shop/flags/deep", fmt.Sprintf(`[{"op":"add","path":%q,"value":%s}]`, into, arrays(k)), jsonPatch()).
		wantProblem(t, 422, domain.CodeInvalid, "/variants/1/value")
	// a merge patch within the body bound whose value is over the value bound
	d := domain.MaxVariantValueDepth + 1
	merge := fmt.Sprintf(`{"variants":[{"key":"a","value":"x"},{"key":"b","value":%s}]}`, arrays(d))
	a.do("PATCH", "/v1/projects/shop/flags/deep", merge, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/variants/1/value")
	// at the bound it is stored
	merge = fmt.Sprintf(`{"variants":[{"key":"a","value":"x"},{"key":"b","value":%s}]}`, arrays(domain.MaxVariantValueDepth))
	a.do("PATCH", "/v1/projects/shop/flags/deep", merge, mergePatch()).want(t, 200)

	var after domain.Flag
	a.do("GET", "/v1/projects/shop/flags/deep", nil).want(t, 200).json(&after)
	if after.Version != before.Version+2 || string(after.Variants[1].Value) != arrays(domain.MaxVariantValueDepth) {
		t.Fatalf("only the two allowed patches were written: version %d (was %d), value %s", after.Version, before.Version, after.Variants[1].Value)
	}
	// what is stored fits every body that carries it back: the flag whole
	body, _ := json.Marshal(map[string]any{"key": "copy", "name": "Copy", "variants": after.Variants})
	a.do("POST", "/v1/projects/shop/flags", string(body)).want(t, 201)

	// a change request's proposal: the same bound, named under proposed_flag
	proposed := after
	proposed.Variants = []domain.Variant{{Key: "a", Value: json.RawMessage(`"x"`)}, {Key: "b", Value: json.RawMessage(arrays(k))}}
	res := a.do("POST", "/v1/change-requests", map[string]any{"project": "shop", "flag": "deep", "title": "t", "proposed_flag": proposed})
	var cr struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	res.want(t, 201).json(&cr)
	a.do("PATCH", "/v1/change-requests/"+cr.ID, fmt.Sprintf(`[{"op":"add","path":"/proposed_flag%s","value":%s}]`, into, arrays(k)), jsonPatch()).
		wantProblem(t, 422, domain.CodeInvalid, "/proposed_flag/variants/1/value")
}
