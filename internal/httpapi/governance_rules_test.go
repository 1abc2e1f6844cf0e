package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// approvalsOnWithSecondAdmin switches approvals on and adds another admin
// (through the store: the API refuses to add one alone now), whose token
// it returns.
func (a *testAPI) approvalsOnWithSecondAdmin(t *testing.T) string {
	t.Helper()
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
	_, ada := a.newMemberTokenNamed("ada", domain.RoleAdmin)
	return ada
}

// An admin service token made while approvals are on is 202: its secret
// shown once, refused (401) until another admin approves its request and
// it is applied, listed meanwhile with its pending request; its requester
// cannot approve it, and an editor's token cannot apply it.
func TestPendingServiceTokenIsRefusedUntilApplied(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	ada := a.approvalsOnWithSecondAdmin(t)
	_, editor := a.newMemberToken(domain.RoleEditor)

	var made struct {
		ID             string `json:"id"`
		Token          string `json:"token"`
		PendingRequest string `json:"pending_request"`
		ChangeRequest  struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"change_request"`
	}
	r := a.do("POST", "/v1/tokens", map[string]any{"name": "deploy", "service": true, "role": "admin", "projects": []string{"shop"}}).want(t, 202)
	r.json(&made)
	if !strings.HasPrefix(made.Token, "cs_") || made.PendingRequest == "" || made.ChangeRequest.ID != made.PendingRequest ||
		made.ChangeRequest.Kind != "governance" || r.Header.Get("Location") != "/v1/change-requests/"+made.PendingRequest {
		t.Fatalf("the 202 answer: %s", r.body)
	}
	a.do("GET", "/v1/projects/shop", nil, withToken(made.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)
	var list struct {
		Items []struct {
			ID             string `json:"id"`
			PendingRequest string `json:"pending_request"`
		} `json:"items"`
	}
	a.do("GET", "/v1/tokens", nil).want(t, 200).json(&list)
	pendingListed := false
	for _, it := range list.Items {
		pendingListed = pendingListed || (it.ID == made.ID && it.PendingRequest == made.PendingRequest)
	}
	if !pendingListed {
		t.Fatalf("the list does not show the token pending: %+v", list.Items)
	}

	cr := "/v1/change-requests/" + made.PendingRequest
	a.do("POST", cr+"/reviews", map[string]any{"decision": "approve", "comment": "mine"}).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", cr+"/reviews", map[string]any{"decision": "approve", "comment": "agreed"}, withToken(ada)).want(t, 200)
	a.do("POST", cr+"/apply", nil, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("GET", "/v1/projects/shop", nil, withToken(made.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)
	a.do("POST", cr+"/apply", nil).want(t, 200)
	a.do("GET", "/v1/projects/shop", nil, withToken(made.Token)).want(t, 200)
	a.do("POST", cr+"/apply", nil).want(t, 200) // again: nothing more

	// an editor service token is created live, as before
	var live struct {
		Token string `json:"token"`
	}
	a.do("POST", "/v1/tokens", map[string]any{"name": "ci", "service": true, "role": "editor"}).want(t, 201).json(&live)
	a.do("GET", "/v1/projects/shop", nil, withToken(live.Token)).want(t, 200)
}

// A pending token whose request is withdrawn stays refused, and is revoked
// like any token.
func TestWithdrawnPendingTokenStaysRefused(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.approvalsOnWithSecondAdmin(t)
	var made struct {
		ID             string `json:"id"`
		Token          string `json:"token"`
		PendingRequest string `json:"pending_request"`
	}
	a.do("POST", "/v1/tokens", map[string]any{"name": "ops", "service": true, "role": "manager"}).want(t, 202).json(&made)
	a.do("POST", "/v1/change-requests/"+made.PendingRequest+"/withdraw", nil).want(t, 200)
	a.do("POST", "/v1/change-requests/"+made.PendingRequest+"/apply", nil).wantProblem(t, 409, domain.CodeConflict)
	a.do("GET", "/v1/projects/shop", nil, withToken(made.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)
	a.do("DELETE", "/v1/tokens/"+made.ID, nil).want(t, 204)
}

// While approvals are on, narrowing or removing a freeze ahead is 202 with
// a governance request, the freeze unchanged until another admin approves
// and a manager applies it; widening is 200. Another project's caller
// does not see the freeze (404, TestBOLA covers every route).
func TestFreezeRemovalNeedsASecondAdmin(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	ada := a.approvalsOnWithSecondAdmin(t)
	now := a.svc.Now()
	var fz struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	a.do("POST", "/v1/freezes", map[string]any{"name": "Release", "project": "shop", "environments": []string{"production", "staging"},
		"from": now.Add(time.Hour), "to": now.Add(4 * time.Hour)}).want(t, 201).json(&fz)
	path := "/v1/freezes/" + fz.ID

	narrow := a.do("PATCH", path, map[string]any{"environments": []string{"production"}}, mergePatch()).want(t, 202)
	if !strings.HasPrefix(narrow.Header.Get("Location"), "/v1/change-requests/") {
		t.Fatalf("no Location: %v", narrow.Header)
	}
	a.do("GET", path, nil).want(t, 200).json(&fz)
	if fz.Version != 1 {
		t.Fatalf("the freeze changed before approval: v%d", fz.Version)
	}
	a.do("PATCH", path, map[string]any{"to": now.Add(6 * time.Hour)}, mergePatch(), ifMatch("1")).want(t, 200)

	var del struct {
		ID string `json:"id"`
	}
	a.do("DELETE", path, nil).want(t, 202).json(&del)
	a.do("GET", path, nil).want(t, 200)
	a.do("POST", "/v1/change-requests/"+del.ID+"/reviews", map[string]any{"decision": "approve", "comment": "mine"}).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", "/v1/change-requests/"+del.ID+"/reviews", map[string]any{"decision": "approve", "comment": "release done"}, withToken(ada)).want(t, 200)
	a.do("POST", "/v1/change-requests/"+del.ID+"/apply", nil).want(t, 200)
	a.do("GET", path, nil).wantProblem(t, 404, domain.CodeNotFound)
	// the narrowing's request now refuses: its freeze is gone
	a.do("POST", narrow.Header.Get("Location")+"/reviews", map[string]any{"decision": "approve", "comment": "late"}, withToken(ada)).want(t, 200)
	a.do("POST", narrow.Header.Get("Location")+"/apply", nil).wantProblem(t, 409, domain.CodeConflict)
}

// Where production requires the flag's maintainers, a PATCH of the
// maintainer is 202 (a flag change request naming the maintainers as they
// are); the flag keeps its maintainer until it is approved.
func TestMaintainerPatchIsGovernedWhereMaintainersAreRequired(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
	if _, err := a.store.UpdateApprovalSettings(t.Context(), "shop", "production", func(s *domain.ApprovalSettings, _ *domain.Audit) error {
		s.RequireMaintainer = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	edID, editor := a.newMemberToken(domain.RoleEditor)
	var before struct {
		Maintainer string `json:"maintainer"`
		Version    int64  `json:"version"`
	}
	a.do("GET", "/v1/projects/shop/flags/new-checkout", nil).want(t, 200).json(&before)
	var cr struct {
		Kind   string `json:"kind"`
		Policy struct {
			Requirements []struct {
				Flag    string   `json:"flag"`
				Members []string `json:"members"`
			} `json:"requirements"`
		} `json:"policy"`
	}
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"maintainer": edID}, mergePatch(), withToken(editor)).
		want(t, http.StatusAccepted).json(&cr)
	if cr.Kind != "flag" || len(cr.Policy.Requirements) != 1 || cr.Policy.Requirements[0].Flag != "new-checkout" {
		t.Fatalf("request %+v", cr)
	}
	for _, m := range cr.Policy.Requirements[0].Members {
		if m == edID {
			t.Fatalf("the proposed maintainer counts for the requirement: %v", cr.Policy.Requirements[0].Members)
		}
	}
	var after struct {
		Maintainer string `json:"maintainer"`
		Version    int64  `json:"version"`
	}
	a.do("GET", "/v1/projects/shop/flags/new-checkout", nil).want(t, 200).json(&after)
	if after != before {
		t.Fatalf("the maintainer changed before approval: %+v → %+v", before, after)
	}
}
