package httpapi_test

import (
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// teamRead is what these tests read of a team.
type teamRead struct {
	Members []string `json:"members"`
	Name    string   `json:"name"`
	Version int64    `json:"version"`
}

// governedTeamRequest is what these tests read of a team governance
// request.
type governedTeamRequest struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Status  domain.CRStatus `json:"status"`
	Changes []struct {
		Governance struct {
			What    string `json:"what"`
			Team    string `json:"team"`
			NewTeam struct {
				Members []string `json:"members"`
			} `json:"new_team"`
			Weakens []struct {
				Pointer string `json:"pointer"`
			} `json:"weakens"`
		} `json:"governance"`
	} `json:"changes"`
}

// The reviewer's scenario: production's approval settings require one
// approval from sre (ola, sam). A manager alone swaps sre's members for
// a friend of theirs (a merge patch replacing the list), or adds the
// friend (a JSON Patch): each answers 202 with a governance request, and
// sre is as it was, so the friend cannot satisfy sre. The manager cannot
// approve it, nor can the friend (even an admin); another admin approves,
// the manager applies, and only then is sre swapped. Renaming sre, or
// taking a member out, applies at once; with approvals off the swap does
// too.
func TestManagerAloneCannotSwapARequiredTeam(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	ola, _ := a.newMemberTokenNamed("ola", domain.RoleEditor)
	sam, _ := a.newMemberTokenNamed("sam", domain.RoleEditor)
	_, manager := a.newMemberTokenNamed("max", domain.RoleManager)
	friend, friendTok := a.newMemberTokenNamed("fred", domain.RoleAdmin)
	a.do("POST", "/v1/teams", map[string]any{"key": "sre", "name": "SRE", "members": []string{ola, sam}}).want(t, 201)
	const settingsPath = "/v1/projects/shop/environments/production/approval-settings"
	var settings map[string]any
	a.do("GET", settingsPath, nil).want(t, 200).json(&settings)
	settings["require"] = []map[string]any{{"team": "sre", "min": 1}}
	a.do("PUT", settingsPath, settings).want(t, 200)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
	var before teamRead
	a.do("GET", "/v1/teams/sre", nil).want(t, 200).json(&before)

	unchanged := func(step string) {
		t.Helper()
		var now teamRead
		a.do("GET", "/v1/teams/sre", nil).want(t, 200).json(&now)
		if now.Version != before.Version || !slices.Equal(now.Members, []string{ola, sam}) {
			t.Fatalf("%s: sre changed without a second person: %+v", step, now)
		}
	}
	governed := func(step string, r *response, wantMembers []string) governedTeamRequest {
		t.Helper()
		var cr governedTeamRequest
		r.want(t, 202).json(&cr)
		g := cr.Changes[0].Governance
		if cr.Kind != "governance" || cr.Status != domain.StatusPending || g.What != "team" || g.Team != "sre" ||
			!slices.Equal(g.NewTeam.Members, wantMembers) || len(g.Weakens) == 0 || g.Weakens[0].Pointer != "/members" ||
			r.Header.Get("Location") != "/v1/change-requests/"+cr.ID {
			t.Fatalf("%s: %s", step, r.body)
		}
		unchanged(step)
		return cr
	}

	swap := governed("the swap", a.do("PATCH", "/v1/teams/sre", map[string]any{"members": []string{friend}}, mergePatch(), withToken(manager)), []string{friend})
	governed("the addition", a.do("PATCH", "/v1/teams/sre", `[{"op":"add","path":"/members/-","value":"`+friend+`"}]`, jsonPatch(), withToken(manager)),
		[]string{ola, sam, friend})

	path := "/v1/change-requests/" + swap.ID
	a.do("POST", path+"/reviews", map[string]any{"decision": "approve", "comment": "mine"}, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", path+"/reviews", map[string]any{"decision": "approve", "comment": "let me in"}, withToken(friendTok)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", path+"/apply", nil, withToken(manager)).wantProblem(t, 409, domain.CodeConflict) // not approved
	unchanged("before a second admin approved")
	a.do("POST", path+"/reviews", map[string]any{"decision": "approve", "comment": "agreed"}).want(t, 200)
	a.do("POST", path+"/apply", nil, withToken(manager)).want(t, 200)
	var after teamRead
	a.do("GET", "/v1/teams/sre", nil).want(t, 200).json(&after)
	if after.Version != before.Version+1 || !slices.Equal(after.Members, []string{friend}) {
		t.Fatalf("applied: %+v", after)
	}

	// what applies at once: a rename, a member taken out
	a.do("PATCH", "/v1/teams/sre", map[string]any{"name": "Site reliability"}, mergePatch(), withToken(manager)).want(t, 200)
	a.do("PATCH", "/v1/teams/sre", map[string]any{"members": []string{}}, mergePatch(), withToken(manager)).want(t, 200)
	// a team in use is not deleted
	a.do("DELETE", "/v1/teams/sre", nil, withToken(manager)).wantProblem(t, 409, domain.CodeConflict)

	// approvals off: the manager's swap applies
	var org struct {
		Version int64 `json:"version"`
	}
	a.do("GET", "/v1/settings", nil).want(t, 200).json(&org)
	var off governedTeamRequest
	a.do("PUT", "/v1/settings", map[string]any{"approvals": false, "version": org.Version}).want(t, 202).json(&off)
	a.do("POST", "/v1/change-requests/"+off.ID+"/reviews", map[string]any{"decision": "approve", "comment": "ok"}, withToken(friendTok)).want(t, 200)
	a.do("POST", "/v1/change-requests/"+off.ID+"/apply", nil).want(t, 200)
	a.do("PATCH", "/v1/teams/sre", map[string]any{"members": []string{ola}}, mergePatch(), withToken(manager)).want(t, 200)
}
