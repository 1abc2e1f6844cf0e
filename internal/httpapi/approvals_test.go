package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// approvalsOn turns the organisation switch on and gives the shop project a
// flag serving 10 % in production.
func approvalsOn(t *testing.T, a *testAPI) {
	a.project("shop")
	a.flag("shop", twoVariants)
	a.do("PUT", "/v1/projects/shop/flags/new-checkout/environments/production", map[string]any{
		"enabled": true, "default_rule": map[string]any{"rollout": 10, "weights": []map[string]any{{"variant": "on", "weight": 1}}},
	}, ifMatch("0")).want(t, 200)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
}

const prodPath = "/v1/projects/shop/flags/new-checkout/environments/production"

// The end-to-end walk of the issue: an editor proposes 10 % → 50 % in
// production, cannot approve it, two reviewers approve, it applies, and the
// audit names the applier and both approvers.
func TestChangeRequestEndToEnd(t *testing.T) {
	a := newTestAPI(t)
	approvalsOn(t, a)
	var settings domain.ApprovalSettings
	a.do("GET", "/v1/projects/shop/environments/production/approval-settings", nil).want(t, 200).json(&settings)
	settings.MinApprovals = 2
	a.do("PUT", "/v1/projects/shop/environments/production/approval-settings", settings).want(t, 200)

	editorID, editor := a.newMemberToken(domain.RoleEditor)
	r1, reviewer1 := a.newMemberTokenNamed("rev1", domain.RoleEditor)
	r2, reviewer2 := a.newMemberTokenNamed("rev2", domain.RoleManager)

	r := a.do("PATCH", prodPath, map[string]any{"default_rule": map[string]any{"rollout": 50}}, mergePatch(), withToken(editor),
		header("Countersign-Change-Title", "Go to half"), header("Countersign-Notify-Reviewers", r1))
	r.want(t, 202)
	var cr app.RequestView
	r.json(&cr)
	if cr.Status != domain.StatusPending || cr.Title != "Go to half" || r.Header.Get("Location") != "/v1/change-requests/"+cr.ID ||
		len(cr.Diff.Summary) != 1 || !strings.Contains(cr.Diff.Summary[0], "10 % → 50 %") || cr.NotifyReviewers[0] != r1 {
		t.Fatalf("proposal: %s", r.body)
	}
	var live domain.FlagConfig
	a.do("GET", prodPath, nil).want(t, 200).json(&live)
	if live.DefaultRule.Rollout != 10 {
		t.Fatal("the proposal must not be live")
	}

	review := func(tok, decision, comment string) *response {
		return a.do("POST", "/v1/change-requests/"+cr.ID+"/reviews", map[string]any{"decision": decision, "comment": comment}, withToken(tok))
	}
	review(editor, "approve", "mine").wantProblem(t, 403, domain.CodeForbidden)
	review(reviewer1, "approve", "").wantProblem(t, 422, domain.CodeInvalid, "/comment")
	review(reviewer1, "approve", "looks right").want(t, 200).json(&cr)
	if cr.Status != domain.StatusPending || cr.Approvals != 1 {
		t.Fatalf("after one of two approvals: %+v", cr.ChangeRequest)
	}
	review(reviewer1, "approve", "again").wantProblem(t, 409, domain.CodeConflict)
	a.do("POST", "/v1/change-requests/"+cr.ID+"/comments", map[string]any{"comment": "@" + r2 + " your turn"}, withToken(reviewer1)).want(t, 201)
	review(reviewer2, "approve", "ok").want(t, 200).json(&cr)
	if cr.Status != domain.StatusApproved || !cr.Applicable {
		t.Fatalf("after two approvals: %+v", cr.ChangeRequest)
	}
	var applied app.RequestView
	a.do("POST", "/v1/change-requests/"+cr.ID+"/apply", nil, withToken(editor)).want(t, 200).json(&applied)
	if applied.Status != domain.StatusApplied || applied.AppliedBy != "member:"+editorID {
		t.Fatalf("applied: %+v", applied.ChangeRequest)
	}
	a.do("GET", prodPath, nil).want(t, 200).json(&live)
	if live.DefaultRule.Rollout != 50 || live.Version != 2 {
		t.Fatalf("live after apply: %+v", live)
	}
	// a retried apply gets the same answer and no new version
	a.do("POST", "/v1/change-requests/"+cr.ID+"/apply", nil, withToken(editor)).want(t, 200)
	a.do("GET", prodPath, nil).want(t, 200).json(&live)
	if live.Version != 2 {
		t.Fatalf("retried apply bumped the version to %d", live.Version)
	}

	var audit httpapi.List[domain.AuditEntry]
	a.do("GET", "/v1/audit?project=shop&flag=new-checkout&environment=production", nil).want(t, 200).json(&audit)
	var entry *domain.AuditEntry
	for i := range audit.Items {
		if audit.Items[i].Action == "change_request.applied" {
			entry = &audit.Items[i]
		}
	}
	if entry == nil || entry.Actor != "member:"+editorID || entry.Requester != "member:"+editorID || len(entry.Approvers) != 2 ||
		!strings.Contains(strings.Join(entry.Approvers, " "), r1) || !strings.Contains(strings.Join(entry.Approvers, " "), r2) {
		t.Fatalf("audit entry of the apply: %+v", entry)
	}

	var comments httpapi.List[domain.TimelineEvent]
	a.do("GET", "/v1/change-requests/"+cr.ID+"/comments", nil).want(t, 200).json(&comments)
	if len(comments.Items) != 1 || len(comments.Items[0].Mentions) != 1 || comments.Items[0].Mentions[0] != r2 {
		t.Fatalf("comments: %+v", comments.Items)
	}
	var list httpapi.List[domain.ChangeRequest]
	a.do("GET", "/v1/change-requests?status=applied&project=shop&reviewer="+r1, nil).want(t, 200).json(&list)
	if len(list.Items) != 1 || list.Items[0].ID != cr.ID {
		t.Fatalf("list: %+v", list.Items)
	}
	a.do("GET", "/v1/change-requests?status=nope", nil).wantProblem(t, 422, domain.CodeInvalid, "?status")
	a.do("GET", "/v1/audit?from=yesterday", nil).wantProblem(t, 422, domain.CodeInvalid, "?from")
	a.do("GET", "/v1/change-requests/cr_nope", nil).wantProblem(t, 404, domain.CodeNotFound)
}

func TestSettingsRoutes(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	_, editor := a.newMemberToken(domain.RoleEditor)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true}, ifMatch("0"), withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true}).wantProblem(t, 428, domain.CodePrecondition)
	var o domain.OrgSettings
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true}, ifMatch("0")).want(t, 200).json(&o)
	a.do("GET", "/v1/settings", nil).want(t, 200).json(&o)
	if !o.Approvals || o.Version != 1 {
		t.Fatalf("org settings: %+v", o)
	}
	a.do("PUT", "/v1/settings", map[string]any{"approvals": false, "version": 0}).wantProblem(t, 409, domain.CodeConflict)

	path := "/v1/projects/shop/environments/production/approval-settings"
	var s domain.ApprovalSettings
	a.do("GET", path, nil).want(t, 200).json(&s)
	if s.Required != domain.RequiredAll || s.Version != 0 {
		t.Fatalf("protected default: %+v", s)
	}
	s.MinApprovals, s.Reviewers, s.DesignatedReviewers, s.ExpireAfter = 9, "nobody", []string{}, "soon"
	a.do("PUT", path, s).wantProblem(t, 422, domain.CodeInvalid, "/min_approvals", "/reviewers", "/expire_after")
	viewerID, _ := a.newMemberTokenNamed("vic", domain.RoleViewer)
	s.MinApprovals, s.Reviewers, s.DesignatedReviewers, s.ExpireAfter = 2, domain.ReviewersDesignated, []string{viewerID}, "168h"
	a.do("PUT", path, s).wantProblem(t, 422, domain.CodeInvalid, "/designated_reviewers/0")
	s.Reviewers = domain.ReviewersPeer
	s.DesignatedReviewers = nil
	a.do("PUT", path, s, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PUT", path, s).want(t, 200).json(&s)
	if s.MinApprovals != 2 || s.Version != 1 || s.ExpireAfter != "168h" {
		t.Fatalf("after put: %+v", s)
	}
	var audit httpapi.List[domain.AuditEntry]
	a.do("GET", "/v1/audit", nil).want(t, 200).json(&audit)
	actions := []string{}
	for _, e := range audit.Items {
		actions = append(actions, string(e.Action))
	}
	if !strings.Contains(strings.Join(actions, " "), "approval_settings.updated") || !strings.Contains(strings.Join(actions, " "), "settings.updated") {
		t.Fatalf("settings changes must be audited: %v", actions)
	}
}

// No route changes what users see in a gated environment without a request
// (Flagsmith#8367). Every route of the router must be classified here, so a
// new route cannot slip past this test.
func TestNoRouteBypassesApproval(t *testing.T) {
	a := newTestAPI(t)
	approvalsOn(t, a)
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"key": "other", "name": "Other", "variants": []map[string]any{{"key": "x"}}}).want(t, 201)
	_, editor := a.newMemberToken(domain.RoleEditor)

	// What users see: production targeting plus the flag's serving fields.
	snapshot := func() string {
		var c domain.FlagConfig
		a.do("GET", prodPath, nil).want(t, 200).json(&c)
		var f domain.Flag
		a.do("GET", "/v1/projects/shop/flags/new-checkout", nil).want(t, 200).json(&f)
		vals := []string{}
		for _, v := range f.Variants {
			vals = append(vals, v.Key+"="+string(v.Value))
		}
		return strings.Join([]string{
			string(mustJSON(c.Rules)), string(mustJSON(c.DefaultRule)), c.OffVariant, boolStr(c.Enabled), boolStr(c.StickyBucketing), c.ExposureEvent,
			f.BucketingSalt, f.BucketingUnit, strings.Join(vals, ","), strings.Join(f.Tags, ","),
		}, "|")
	}
	before := snapshot()

	// Each write route, with the most dangerous body we can think of for it.
	attempts := map[string]func(){
		"PUT /v1/projects/{project}/flags/{flag}/environments/{environment}": func() {
			a.do("PUT", prodPath, map[string]any{"enabled": false}, ifMatch("1"), withToken(editor)).want(t, 202)
		},
		"PATCH /v1/projects/{project}/flags/{flag}/environments/{environment}": func() {
			a.do("PATCH", prodPath, map[string]any{"default_rule": map[string]any{"rollout": 100}}, mergePatch(), withToken(editor)).want(t, 202)
			a.do("PATCH", prodPath, `[{"op":"replace","path":"/enabled","value":false}]`, jsonPatch(), withToken(editor)).want(t, 202)
		},
		"POST /v1/projects/{project}/flags/{flag}/environments/{environment}/promote": func() {
			// staging's targeting (never configured: off) proposed for production
			a.do("POST", prodPath+"/promote", map[string]any{"from": "staging"}, withToken(editor)).want(t, 202)
		},
		"PATCH /v1/projects/{project}/flags/{flag}": func() {
			a.do("PATCH", "/v1/projects/shop/flags/new-checkout", `[{"op":"replace","path":"/variants/0/value","value":false}]`, jsonPatch(), withToken(editor)).want(t, 202)
			a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"bucketing_salt": "reshuffle"}, mergePatch(), withToken(editor)).want(t, 202)
			a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"bucketing_unit": "device_id"}, mergePatch(), withToken(editor)).want(t, 202)
			a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"description": "labels apply directly"}, mergePatch(), withToken(editor)).want(t, 200)
		},
		"DELETE /v1/projects/{project}/flags/{flag}": func() {
			a.do("DELETE", "/v1/projects/shop/flags/other", nil, withToken(editor)).want(t, 200) // archiving is not gated
		},
		"POST /v1/change-requests": func() {
			a.do("POST", "/v1/change-requests", map[string]any{"project": "shop", "flag": "new-checkout", "environment": "production",
				"proposed_config": map[string]any{"enabled": false, "default_rule": map[string]any{"rollout": 0, "weights": []any{}}}}, withToken(editor)).want(t, 201)
		},
		"PATCH /v1/change-requests/{id}":        func() {}, // edits a proposal only (TestChangeRequestEndToEnd)
		"POST /v1/change-requests/{id}/reviews": func() {}, // approval alone applies only with apply on_approval (app tests)
		// acknowledging a bypass's review after applies nothing: the
		// bypass applied already (app breakglass_test.go)
		"POST /v1/change-requests/{id}/acknowledge": func() {},
		"POST /v1/change-requests/{id}/comments":    func() {},
		"POST /v1/change-requests/{id}/withdraw":    func() {},
		// a draft's submission opens it for review; removing a change edits
		// a request (a new revision): neither applies anything
		"POST /v1/change-requests/{id}/submit": func() {},
		// a promotion of several flags opens a request, also where no
		// approval is needed
		"POST /v1/projects/{project}/environments/{environment}/promote": func() {
			a.do("POST", "/v1/projects/shop/environments/production/promote", map[string]any{"from": "staging", "flags": []string{"new-checkout"}}, withToken(editor)).want(t, 201)
		},
		"DELETE /v1/change-requests/{id}/changes/{n}": func() {},
		"POST /v1/change-requests/{id}/apply":         func() {}, // the one way in: checked by every apply test
		"POST /a/{token}": func() { // an e-mail link acts through the same review and apply rules (localrun's e-mail test)
			a.do("POST", "/a/not-a-token", "csrf=x&comment=y", contentType("application/x-www-form-urlencoded"), noAuth()).want(t, 403)
		},
		"PUT /v1/settings": func() {}, // turning approvals off is a manager's settings change, audited
		"PUT /v1/projects/{project}/environments/{environment}/approval-settings": func() {},
		"PATCH /v1/projects/{project}/environments/{environment}": func() {
			// unprotecting production is a settings change, like PUT
			// approval-settings: managers only
			a.do("PATCH", "/v1/projects/shop/environments/production", map[string]any{"protected": false}, mergePatch(), withToken(editor)).
				wantProblem(t, 403, domain.CodeForbidden)
		},
		"POST /v1/projects":                        func() {},
		"PATCH /v1/projects/{project}":             func() {},
		"DELETE /v1/projects/{project}":            func() { a.do("DELETE", "/v1/projects/shop", nil).want(t, 409) },
		"POST /v1/projects/{project}/environments": func() {},
		"POST /v1/projects/{project}/flags":        func() {},
		// Segments: targeting that names a segment serves what the segment
		// says, so changing or deleting a segment that production's
		// targeting uses changes what users see there. Not gated yet:
		// approval of segment changes is the next step (issue 15,
		// "Segments"; app.Service.writeSegment is where the gate goes). No
		// targeting here names a segment, so these writes change nothing
		// users see; a delete of a segment in use is refused (409,
		// TestSegmentHTTPDeleteInUse).
		"POST /v1/projects/{project}/segments": func() {
			a.do("POST", "/v1/projects/shop/segments", map[string]any{"key": "beta", "name": "Beta"}, withToken(editor)).want(t, 201)
		},
		"PUT /v1/projects/{project}/segments/{segment}": func() {
			a.do("PUT", "/v1/projects/shop/segments/beta", map[string]any{"name": "Beta", "included": []string{"user-1"}}, ifMatch("1"), withToken(editor)).want(t, 200)
		},
		"PATCH /v1/projects/{project}/segments/{segment}": func() {
			a.do("PATCH", "/v1/projects/shop/segments/beta", map[string]any{"excluded": []string{"user-2"}}, mergePatch(), withToken(editor)).want(t, 200)
		},
		"DELETE /v1/projects/{project}/segments/{segment}": func() {
			a.do("DELETE", "/v1/projects/shop/segments/beta", nil, withToken(editor)).want(t, 204)
		},
		"POST /v1/members":            func() {},
		"PATCH /v1/members/{member}":  func() {},
		"DELETE /v1/members/{member}": func() {},
		"POST /v1/tokens": func() {
			// an admin service token waits for a second admin
			// (TestPendingServiceTokenIsRefusedUntilApplied)
			a.do("POST", "/v1/tokens", map[string]any{"name": "root", "service": true, "role": "admin"}).want(t, 202)
		},
		"DELETE /v1/tokens/{token}": func() {},
		// Teams change no flag's serving (adding members to a team a
		// requirement names needs a second admin while approvals are on:
		// TestManagerAloneCannotSwapARequiredTeam).
		"POST /v1/teams": func() {
			a.do("POST", "/v1/teams", map[string]any{"key": "payments", "name": "Payments"}).want(t, 201)
		},
		"PATCH /v1/teams/{team}": func() {
			a.do("PATCH", "/v1/teams/payments", map[string]any{"name": "Payments team"}, mergePatch()).want(t, 200)
		},
		"DELETE /v1/teams/{team}": func() { a.do("DELETE", "/v1/teams/payments", nil).want(t, 204) },
		// Freezes only ever hold changes back: creating or changing one
		// changes no flag's serving (removing one lets held changes apply
		// when they are approved, never without approval).
		"POST /v1/freezes": func() {
			now := a.svc.Now()
			var fz struct {
				ID string `json:"id"`
			}
			a.do("POST", "/v1/freezes", map[string]any{"name": "Soon", "project": "shop", "from": now.Add(time.Hour), "to": now.Add(2 * time.Hour)}).want(t, 201).json(&fz)
			a.do("PATCH", "/v1/freezes/"+fz.ID, map[string]any{"name": "Later"}, mergePatch()).want(t, 200)
			// narrowing or removing a freeze ahead needs a second admin
			// while approvals are on (TestFreezeRemovalNeedsASecondAdmin)
			a.do("PATCH", "/v1/freezes/"+fz.ID, map[string]any{"to": now.Add(90 * time.Minute)}, mergePatch()).want(t, 202)
			a.do("DELETE", "/v1/freezes/"+fz.ID, nil).want(t, 202)
		},
		"PATCH /v1/freezes/{freeze}":                                                   func() {},
		"DELETE /v1/freezes/{freeze}":                                                  func() {},
		"POST /v1/projects/{project}/environments/{environment}/sdk-keys":              func() {}, // keys read, they do not write
		"DELETE /v1/projects/{project}/environments/{environment}/sdk-keys/{key}":      func() {},
		"POST /v1/projects/{project}/environments/{environment}/sdk-keys/{key}/rotate": func() {},
		// signing in and out changes who is in, never what users see
		"POST /login":                                    func() {},
		"POST /signin/{token}":                           func() {},
		"POST /logout":                                   func() {},
		"POST /v1/auth/email-link":                       func() {},
		"DELETE /v1/session":                             func() {},
		"POST /v1/members/{member}/invitation":           func() {},
		"DELETE /v1/members/{member}/sessions/{session}": func() {},
	}
	for _, rt := range httpapi.New(nil, nil).Routes() {
		if rt.Method == "GET" {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		attempt, ok := attempts[key]
		if !ok {
			t.Errorf("route %s is not classified by this test: say whether it can change what users see", key)
			continue
		}
		attempt()
		if after := snapshot(); after != before {
			t.Fatalf("%s changed what users see without an approved request:\nbefore %s\nafter  %s", key, before, after)
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestDeadLettersRoute(t *testing.T) {
	a := newTestAPI(t)
	_, editor := a.newMemberToken(domain.RoleEditor)
	a.do("GET", "/v1/notifications/dead-letters", nil, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	var l httpapi.List[domain.OutboxItem]
	a.do("GET", "/v1/notifications/dead-letters?limit=10", nil).want(t, 200).json(&l)
	if len(l.Items) != 0 {
		t.Fatalf("no dead letters yet: %+v", l.Items)
	}
}
