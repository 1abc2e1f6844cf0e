package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

const segmentsPath = "/v1/projects/shop/segments"

// Bad bodies are 422 problems naming the field at fault.
func TestSegmentHTTPValidation(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.do("POST", segmentsPath, map[string]any{"key": "Bad Key!", "name": "x"}).wantProblem(t, 422, domain.CodeInvalid, "/key")
	a.do("POST", segmentsPath, map[string]any{"key": "dup", "name": "x", "included": []string{"a"}, "excluded": []string{"b", "a"}}).
		wantProblem(t, 422, domain.CodeInvalid, "/excluded/1")
	a.do("POST", segmentsPath, map[string]any{"key": "empty", "name": "x", "included": []string{"a", ""}}).
		wantProblem(t, 422, domain.CodeInvalid, "/included/1")
	a.do("POST", segmentsPath, map[string]any{"key": "long", "name": "x", "excluded": []string{strings.Repeat("k", domain.MaxSegmentKeyLength+1)}}).
		wantProblem(t, 422, domain.CodeInvalid, "/excluded/0")
	many := make([]string, domain.MaxSegmentKeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	a.do("POST", segmentsPath, map[string]any{"key": "big", "name": "Big", "included": many}).wantProblem(t, 422, domain.CodeInvalid, "/included")
	a.do("POST", segmentsPath, map[string]any{"key": "nested", "name": "x", "rules": []map[string]any{{"conditions": []map[string]any{
		{"attribute": "user_id", "operator": "not_in_segment", "values": []string{"other"}}}}}}).
		wantProblem(t, 422, domain.CodeInvalid, "/rules/0/conditions/0/operator")
	a.do("POST", segmentsPath, map[string]any{"key": "x", "name": "x", "colour": "red"}).wantProblem(t, 422, domain.CodeInvalid, "/colour")

	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "Beta"}).want(t, 201)
	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "again"}).wantProblem(t, 409, domain.CodeConflict)
	// PUT names its version, and its project and key are the URL's
	a.do("PUT", segmentsPath+"/beta", map[string]any{"name": "Beta"}).wantProblem(t, 428, domain.CodePrecondition)
	a.do("PUT", segmentsPath+"/beta", map[string]any{"name": "Beta", "key": "other", "version": 1}).wantProblem(t, 422, domain.CodeInvalid, "/key")
	a.do("PUT", segmentsPath+"/beta", map[string]any{"name": "Beta", "included": []string{"x", "x"}, "version": 1}).
		wantProblem(t, 422, domain.CodeInvalid, "/included/1")
	a.do("PATCH", segmentsPath+"/beta", map[string]any{"key": "other"}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/key")
	a.do("PATCH", segmentsPath+"/beta", `[{"op":"add","path":"/rules/-","value":{"conditions":[{"attribute":"age","operator":"gt","values":["old"]}]}}]`, jsonPatch()).
		wantProblem(t, 422, domain.CodeInvalid, "/rules/0/conditions/0/values/0")
	// none of the refusals wrote
	var s httpapi.SegmentView
	a.do("GET", segmentsPath+"/beta", nil).want(t, 200).json(&s)
	if s.Version != 1 {
		t.Fatalf("a refused write changed the segment: %+v", s)
	}
	a.do("PATCH", segmentsPath+"/beta", map[string]any{"included": []string{"user-1"}}, mergePatch(), ifMatch("1")).want(t, 200).json(&s)
	a.do("PUT", segmentsPath+"/beta", map[string]any{"name": "Beta"}, ifMatch("1")).wantProblem(t, 409, domain.CodeConflict)
	if s.Version != 2 || len(s.Included) != 1 || s.Excluded == nil || s.Rules == nil {
		t.Fatalf("after the patch: %+v", s)
	}
}

// A segment that targeting names is not deleted: 409 naming the flag and
// environment.
func TestSegmentHTTPDeleteInUse(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "Beta", "included": []string{"user-1"}}).want(t, 201)
	_, err := a.store.UpdateFlagConfig(t.Context(), "shop", "new-checkout", "staging", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Rules = []domain.Rule{{Name: "beta", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := a.do("DELETE", segmentsPath+"/beta", nil).wantProblem(t, 409, domain.CodeConflict)
	if !strings.Contains(p.Detail, `flag "new-checkout" in staging`) {
		t.Fatalf("the conflict does not name the flag and environment: %q", p.Detail)
	}
	a.do("GET", segmentsPath+"/beta", nil).want(t, 200)
	a.do("DELETE", segmentsPath+"/nope", nil).wantProblem(t, 404, domain.CodeNotFound)
}

// Viewers read segments and write none; editors write them.
func TestSegmentHTTPRoles(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	_, viewer := a.newMemberToken(domain.RoleViewer)
	_, editor := a.newMemberToken(domain.RoleEditor)
	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "Beta"}, withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "Beta"}, withToken(editor)).want(t, 201)
	a.do("GET", segmentsPath, nil, withToken(viewer)).want(t, 200)
	a.do("GET", segmentsPath+"/beta", nil, withToken(viewer)).want(t, 200)
	a.do("PUT", segmentsPath+"/beta", map[string]any{"name": "B"}, ifMatch("1"), withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", segmentsPath+"/beta", map[string]any{"name": "B"}, mergePatch(), withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("DELETE", segmentsPath+"/beta", nil, withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", segmentsPath+"/beta", map[string]any{"name": "B"}, mergePatch(), withToken(editor)).want(t, 200)
	a.do("DELETE", segmentsPath+"/beta", nil, withToken(editor)).want(t, 204)
	a.do("GET", segmentsPath+"/beta", nil, noAuth()).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// A segment of one project is not reached through another project's path.
func TestSegmentHTTPProjectIsolation(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.project("other")
	a.do("POST", segmentsPath, map[string]any{"key": "beta", "name": "Beta", "included": []string{"user-1"}}).want(t, 201)
	other := "/v1/projects/other/segments"
	a.do("GET", other+"/beta", nil).wantProblem(t, 404, domain.CodeNotFound)
	a.do("PUT", other+"/beta", map[string]any{"name": "x"}, ifMatch("1")).wantProblem(t, 404, domain.CodeNotFound)
	a.do("PATCH", other+"/beta", map[string]any{"name": "x"}, mergePatch()).wantProblem(t, 404, domain.CodeNotFound)
	a.do("DELETE", other+"/beta", nil).wantProblem(t, 404, domain.CodeNotFound)
	var l httpapi.List[httpapi.SegmentView]
	a.do("GET", other, nil).want(t, 200).json(&l)
	if len(l.Items) != 0 {
		t.Fatalf("project other lists %+v", l.Items)
	}
	// a body naming the other project does not move the write there
	a.do("PUT", other+"/beta", map[string]any{"project": "shop", "name": "x", "version": 1}).wantProblem(t, 422, domain.CodeInvalid, "/project")
	a.do("PUT", segmentsPath+"/beta", map[string]any{"project": "other", "name": "x", "version": 1}).wantProblem(t, 422, domain.CodeInvalid, "/project")
	a.do("GET", "/v1/projects/nope/segments", nil).wantProblem(t, 404, domain.CodeNotFound)
	var s httpapi.SegmentView
	a.do("GET", segmentsPath+"/beta", nil).want(t, 200).json(&s)
	if s.Project != "shop" || s.Version != 1 || s.Name != "Beta" {
		t.Fatalf("shop's segment: %+v", s)
	}
}
