package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// patchRoute is one PATCH route with a resource to patch, the token to patch
// it with and the read-only fields of what its PATCH applies to.
type patchRoute struct {
	path     string
	token    string
	readOnly []string
}

// patchRoutes makes one resource for every PATCH route of the router and
// fails the test for a PATCH route it does not know.
func patchRoutes(t *testing.T, a *testAPI) map[string]patchRoute {
	t.Helper()
	approvalsOn(t, a) // project shop, flag new-checkout, approvals in production
	viewerID, viewer := a.newMemberToken(domain.RoleViewer)
	_, editor := a.newMemberToken(domain.RoleEditor)
	var cr app.RequestView
	a.do("PATCH", prodPath, map[string]any{"default_rule": map[string]any{"rollout": 50}}, mergePatch(), withToken(editor)).want(t, 202).json(&cr)
	a.do("POST", "/v1/projects/shop/segments", map[string]any{"key": "beta", "name": "Beta"}, withToken(editor)).want(t, 201)
	a.do("POST", "/v1/teams", map[string]any{"key": "ops", "name": "Ops", "members": []string{viewerID}}).want(t, 201)
	var fz struct {
		ID string `json:"id"`
	}
	a.do("POST", "/v1/freezes", map[string]any{"name": "Ahead", "project": "shop", "from": a.svc.Now().Add(time.Hour), "to": a.svc.Now().Add(2 * time.Hour)}).want(t, 201).json(&fz)

	routes := map[string]patchRoute{
		"/v1/projects/{project}": {"/v1/projects/shop", adminToken, []string{"key", "created_at", "updated_at"}},
		"/v1/projects/{project}/environments/{environment}": {"/v1/projects/shop/environments/staging", adminToken,
			[]string{"project", "key", "created_at", "updated_at"}},
		"/v1/projects/{project}/flags/{flag}": {"/v1/projects/shop/flags/new-checkout", editor, []string{"project", "key", "created_at", "updated_at"}},
		"/v1/projects/{project}/flags/{flag}/environments/{environment}": {"/v1/projects/shop/flags/new-checkout/environments/staging", editor,
			[]string{"project", "flag", "environment", "updated_at"}},
		"/v1/projects/{project}/segments/{segment}": {"/v1/projects/shop/segments/beta", editor, []string{"project", "key", "created_at", "updated_at"}},
		// a viewer may patch their own member record
		"/v1/members/{member}": {"/v1/members/" + viewerID, viewer, []string{"id", "created_at", "updated_at"}},
		"/v1/teams/{team}":     {"/v1/teams/ops", adminToken, []string{"key", "created_at", "updated_at"}},
		"/v1/freezes/{freeze}": {"/v1/freezes/" + fz.ID, adminToken, []string{"id", "active", "next_window", "created_by", "created_at", "updated_at"}},
		// a change request's PATCH applies to its editable part only
		// (title, description, the proposal, reviewers, schedule): nothing
		// in it is read-only but the version
		"/v1/change-requests/{id}": {"/v1/change-requests/" + cr.ID, editor, nil},
	}
	seen := 0
	for _, rt := range httpapi.New(a.svc, nil).Routes() {
		if rt.Method != http.MethodPatch {
			continue
		}
		seen++
		if _, ok := routes[rt.Pattern]; !ok {
			t.Fatalf("PATCH %s: add it to patchRoutes", rt.Pattern)
		}
	}
	if seen != len(routes) {
		t.Fatalf("patchRoutes knows %d PATCH routes, the router has %d", len(routes), seen)
	}
	return routes
}

// A read-only field removed or set to null is refused like one changed:
// 422 naming the field, on every PATCH route and with every media type
// (it used to panic while comparing the missing field, a 500).
func TestPatchRemovingReadOnlyFields(t *testing.T) {
	a := newTestAPI(t)
	for pattern, rt := range patchRoutes(t, a) {
		t.Run(pattern, func(t *testing.T) {
			before := a.do("GET", rt.path, nil, withToken(rt.token)).want(t, 200).Header.Get("ETag")
			for _, field := range rt.readOnly {
				ptr := "/" + field
				a.do("PATCH", rt.path, map[string]any{field: nil}, mergePatch(), withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid, ptr)
				a.do("PATCH", rt.path, map[string]any{field: nil}, withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid, ptr) // application/json
				a.do("PATCH", rt.path, []map[string]any{{"op": "remove", "path": ptr}}, jsonPatch(), withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid, ptr)
				a.do("PATCH", rt.path, []map[string]any{{"op": "replace", "path": ptr, "value": nil}}, jsonPatch(), withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid, ptr)
			}
			if len(rt.readOnly) > 1 {
				all := map[string]any{}
				var ops []map[string]any
				for _, field := range rt.readOnly {
					all[field] = nil
					ops = append(ops, map[string]any{"op": "remove", "path": "/" + field})
				}
				a.do("PATCH", rt.path, all, mergePatch(), withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid)
				if p := a.do("PATCH", rt.path, ops, jsonPatch(), withToken(rt.token)).wantProblem(t, 422, domain.CodeInvalid); len(p.Errors) != len(rt.readOnly) {
					t.Fatalf("removing %v: want an error for each, got %+v", rt.readOnly, p.Errors)
				}
			}
			if after := a.do("GET", rt.path, nil, withToken(rt.token)).want(t, 200).Header.Get("ETag"); after != before {
				t.Fatalf("refused patches changed the resource: ETag %s, then %s", before, after)
			}
		})
	}
}

// Odd but well-formed patches of the version, or of the whole document, get
// a 4xx answer, never a 500: a version removed, null (which removes it from
// a merge patch) or out of range is 422 naming it.
func TestPatchOddVersionsAndDocuments(t *testing.T) {
	a := newTestAPI(t)
	for pattern, rt := range patchRoutes(t, a) {
		t.Run(pattern, func(t *testing.T) {
			patch := func(body any, media opt) *response {
				return a.do("PATCH", rt.path, body, media, withToken(rt.token))
			}
			before := a.do("GET", rt.path, nil, withToken(rt.token)).want(t, 200).Header.Get("ETag")
			patch(map[string]any{"version": nil}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/version")
			patch(map[string]any{"version": nil}, nil).wantProblem(t, 422, domain.CodeInvalid, "/version") // application/json
			patch(`[{"op":"remove","path":"/version"}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/version")
			patch(`[{"op":"replace","path":"/version","value":null}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/version")
			patch(`{"version": 99999999999999999999}`, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/version")
			patch(`[{"op":"replace","path":"/version","value":1.5}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/version")
			patch(`{"version": 1e400}`, mergePatch()).wantProblem(t, 400, domain.CodeMalformed) // beyond float64: refused as it is read
			patch(`[{"op":"replace","path":"","value":null}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid)
			patch(`[{"op":"replace","path":"","value":[1]}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid)
			patch(`[{"op":"remove","path":""}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid)
			patch(`[{"op":"test","path":""}]`, jsonPatch()).wantProblem(t, 400, domain.CodeMalformed) // test needs a value
			patch(`[{"op":"test","path":"","value":null}]`, jsonPatch()).wantProblem(t, 409, domain.CodeConflict)
			patch(`[{"op":"test","path":"/version","value":[null,"a"]}]`, jsonPatch()).wantProblem(t, 409, domain.CodeConflict)
			patch(`[{"op":"copy","from":"","path":"/copy"}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid, "/copy")
			if after := a.do("GET", rt.path, nil, withToken(rt.token)).want(t, 200).Header.Get("ETag"); after != before {
				t.Fatalf("refused patches changed the resource: ETag %s, then %s", before, after)
			}
		})
	}
}
