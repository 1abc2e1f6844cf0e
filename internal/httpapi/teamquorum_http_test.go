package httpapi_test

import (
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// quorumRequest is what the team quorum walk reads of a request.
type quorumRequest struct {
	ID        string          `json:"id"`
	Status    domain.CRStatus `json:"status"`
	Approvals int             `json:"approvals"`
	Missing   []string        `json:"missing"`
}

// Team quorum through the HTTP API, with overlapping teams: sre (ola,
// sam) and checkout-owners (ola, cai), ola in both; production needs one
// approval from each. Without distinct_reviewers ola's one approval
// counts for both teams; with it, it fills one and missing names the
// other, until a second member of the other team approves (sam after ola
// is enough: the matching moves ola to checkout-owners). nia, an editor in
// neither team, approves but supplies neither team, whatever the overall
// quorum says.
func TestTeamQuorumWithOverlappingTeamsOverHTTP(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	a.do("PUT", prodPath, map[string]any{"enabled": true, "default_rule": map[string]any{"rollout": 10, "weights": []map[string]any{{"variant": "on", "weight": 1}}}},
		ifMatch("0")).want(t, 200)
	_, requester := a.newMemberTokenNamed("rita", domain.RoleEditor)
	ola, olaTok := a.newMemberTokenNamed("ola", domain.RoleEditor)
	sam, samTok := a.newMemberTokenNamed("sam", domain.RoleEditor)
	cai, caiTok := a.newMemberTokenNamed("cai", domain.RoleEditor)
	_, niaTok := a.newMemberTokenNamed("nia", domain.RoleEditor)
	a.do("POST", "/v1/teams", map[string]any{"key": "sre", "name": "SRE", "members": []string{ola, sam}}).want(t, 201)
	a.do("POST", "/v1/teams", map[string]any{"key": "checkout-owners", "name": "Checkout owners", "members": []string{ola, cai}}).want(t, 201)

	const settingsPath = "/v1/projects/shop/environments/production/approval-settings"
	var settings map[string]any
	a.do("GET", settingsPath, nil).want(t, 200).json(&settings)
	settings["min_approvals"] = 1
	settings["require"] = []map[string]any{{"team": "sre", "min": 1}, {"team": "checkout-owners", "min": 1}}
	settings["distinct_reviewers"] = false
	a.do("PUT", settingsPath, settings).want(t, 200).json(&settings)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)

	rollout := 10
	propose := func() quorumRequest {
		t.Helper()
		rollout += 10
		var cr quorumRequest
		a.do("PATCH", prodPath, map[string]any{"default_rule": map[string]any{"rollout": rollout}}, mergePatch(), withToken(requester)).want(t, 202).json(&cr)
		return cr
	}
	approve := func(id, tok string) quorumRequest {
		t.Helper()
		var cr quorumRequest
		a.do("POST", "/v1/change-requests/"+id+"/reviews", map[string]any{"decision": "approve", "comment": "looks right"}, withToken(tok)).want(t, 200).json(&cr)
		return cr
	}
	want := func(step string, cr quorumRequest, status domain.CRStatus, approvals int, missing ...string) {
		t.Helper()
		if missing == nil {
			missing = []string{}
		}
		if cr.Status != status || cr.Approvals != approvals || !slices.Equal(cr.Missing, missing) {
			t.Fatalf("%s: %s with %d approvals, missing %q; want %s with %d, missing %q", step, cr.Status, cr.Approvals, cr.Missing, status, approvals, missing)
		}
		var read quorumRequest
		a.do("GET", "/v1/change-requests/"+cr.ID, nil).want(t, 200).json(&read)
		if !slices.Equal(read.Missing, missing) {
			t.Fatalf("%s: read back, missing %q, want %q", step, read.Missing, missing)
		}
	}
	both := []string{"needs 1 more from sre", "needs 1 more from checkout-owners"}

	// distinct_reviewers off: nia counts for the quorum, for no team; ola
	// counts for both
	cr := propose()
	want("opened", cr, domain.StatusPending, 0, both...)
	want("nia, in neither team", approve(cr.ID, niaTok), domain.StatusPending, 1, both...)
	want("ola, in both", approve(cr.ID, olaTok), domain.StatusApproved, 2)
	a.do("POST", "/v1/change-requests/"+cr.ID+"/apply", nil, withToken(requester)).want(t, 200)

	// distinct_reviewers on (a strengthening: it applies directly)
	settings["distinct_reviewers"] = true
	a.do("PUT", settingsPath, settings).want(t, 200)

	cr = propose()
	want("opened, distinct", cr, domain.StatusPending, 0, both...)
	want("ola fills one team", approve(cr.ID, olaTok), domain.StatusPending, 1, "needs 1 more from checkout-owners")
	want("nia fills none", approve(cr.ID, niaTok), domain.StatusPending, 2, "needs 1 more from checkout-owners")
	// ola again: refused, and the request still misses checkout-owners
	a.do("POST", "/v1/change-requests/"+cr.ID+"/reviews", map[string]any{"decision": "approve", "comment": "again"}, withToken(olaTok)).
		wantProblem(t, 409, domain.CodeConflict)
	want("cai, of checkout-owners", approve(cr.ID, caiTok), domain.StatusApproved, 3)
	a.do("POST", "/v1/change-requests/"+cr.ID+"/apply", nil, withToken(requester)).want(t, 200)

	// ola and sam (of sre only): ola moves over to checkout-owners
	cr = propose()
	want("ola, distinct", approve(cr.ID, olaTok), domain.StatusPending, 1, "needs 1 more from checkout-owners")
	want("sam, of sre", approve(cr.ID, samTok), domain.StatusApproved, 2)
}
