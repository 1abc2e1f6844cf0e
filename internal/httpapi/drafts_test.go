package httpapi_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// Drafts and their routes against the wrong people: another editor cannot
// see, fill, trim or submit someone's draft (404, as if it did not exist:
// no enumeration), and a write naming someone else's draft in
// X-Change-Request writes nothing live; nor can a viewer (404), who
// cannot promote several flags either (403).
func TestDraftRoutesRefuseOthers(t *testing.T) {
	a := newTestAPI(t)
	approvalsOn(t, a)
	_, owner := a.newMemberTokenNamed("owner", domain.RoleEditor)
	_, other := a.newMemberTokenNamed("other", domain.RoleEditor)
	_, viewer := a.newMemberTokenNamed("vic", domain.RoleViewer)
	var draft struct {
		ID string `json:"id"`
	}
	a.do("POST", "/v1/change-requests", map[string]any{"project": "shop", "draft": true}, withToken(owner)).want(t, 201).json(&draft)
	staging := "/v1/projects/shop/flags/new-checkout/environments/staging"
	a.do("PATCH", staging, map[string]any{"enabled": true}, mergePatch(), withToken(owner), header("X-Change-Request", draft.ID)).want(t, 202)

	var before domain.FlagConfig
	a.do("GET", staging, nil).want(t, 200).json(&before)
	a.do("GET", "/v1/change-requests/"+draft.ID, nil, withToken(other)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("PATCH", staging, map[string]any{"enabled": false, "default_rule": map[string]any{"rollout": 70}}, mergePatch(), withToken(other),
		header("X-Change-Request", draft.ID)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("DELETE", "/v1/change-requests/"+draft.ID+"/changes/0", nil, withToken(other)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("POST", "/v1/change-requests/"+draft.ID+"/submit", nil, withToken(other)).wantProblem(t, 404, domain.CodeNotFound)
	// a viewer sees no one's draft either
	a.do("POST", "/v1/change-requests/"+draft.ID+"/submit", nil, withToken(viewer)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("DELETE", "/v1/change-requests/"+draft.ID+"/changes/0", nil, withToken(viewer)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("POST", "/v1/change-requests/cr_nonexistent/submit", nil, withToken(other)).wantProblem(t, 404, domain.CodeNotFound)
	a.do("POST", "/v1/projects/shop/environments/production/promote", map[string]any{"from": "staging", "flags": []string{"new-checkout"}},
		withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)

	var after domain.FlagConfig
	a.do("GET", staging, nil).want(t, 200).json(&after)
	if after.Version != before.Version || after.DefaultRule.Rollout == 70 {
		t.Fatalf("a write naming another's draft changed staging: v%d → v%d", before.Version, after.Version)
	}
	// the owner's draft is as the owner left it, and the owner submits it
	a.do("POST", "/v1/change-requests/"+draft.ID+"/submit", nil, withToken(owner)).want(t, 200)
	a.do("GET", "/v1/change-requests/"+draft.ID, nil, withToken(other)).want(t, 200)
}
