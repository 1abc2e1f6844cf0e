package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// crFixture is a project "shop" with a boolean flag "checkout", approvals
// on (production needs one approval), two editors and a viewer, and a
// change request the requester opened by changing production.
type crFixture struct {
	w                         *world
	requester, reviewer, look *domain.Member
	cr                        *app.RequestView
}

func newCRFixture(t *testing.T) *crFixture {
	t.Helper()
	w := newWorld(t)
	f := &crFixture{w: w}
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop", Name: "Shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "checkout", Name: "New checkout", Variants: []domain.Variant{
		{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}); err != nil {
		t.Fatal(err)
	}
	f.requester = w.member("rita@example.com", domain.RoleEditor)
	f.reviewer = w.member("rex@example.com", domain.RoleEditor)
	f.look = w.member("vic@example.com", domain.RoleViewer)
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.principal(f.requester), "shop", "checkout", "production", nil, app.ChangeOptions{Title: "Germany at 25 %"},
		func(c *domain.FlagConfig) error {
			c.Enabled = true
			c.Rules = []domain.Rule{{Name: "germany", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIn, Values: []string{"DE"}}},
				Allocation: domain.Allocation{Rollout: 25, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if out.Request == nil {
		t.Fatal("the production change did not open a request")
	}
	f.cr = out.Request
	return f
}

func (f *crFixture) path() string { return "/requests/" + f.cr.ID }

func (f *crFixture) stored() *domain.ChangeRequest {
	f.w.t.Helper()
	cr, err := f.w.store.GetChangeRequest(f.w.ctx, f.cr.ID)
	if err != nil {
		f.w.t.Fatal(err)
	}
	return cr
}

func TestInboxListsWhatWaitsOnTheViewer(t *testing.T) {
	f := newCRFixture(t)
	// the reviewer: waiting on them, counted in the navigation
	f.w.signIn(f.reviewer).get("/").want(200).
		has(`href="`+f.path()+`"`, "Germany at 25 %", `aria-label="1 waiting on you"`, "rita").
		lacks("Nothing waits on your review.")
	// the requester: their own request, not waiting on them
	rita := f.w.signIn(f.requester).get("/").want(200).has("Nothing waits on your review.", `href="`+f.path()+`"`)
	if strings.Contains(rita.body, "waiting on you") {
		t.Fatal("the requester's own request counts as waiting on them")
	}
	// a viewer cannot review: nothing waits on them
	f.w.signIn(f.look).get("/").want(200).has("Nothing waits on your review.")
	// once reviewed, it no longer waits
	if _, err := f.w.svc.Review(f.w.ctx, f.w.principal(f.reviewer), f.cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	f.w.signIn(f.reviewer).get("/").want(200).has("Nothing waits on your review.")
}

func TestRequestPageShowsPolicyDiffAndTimeline(t *testing.T) {
	f := newCRFixture(t)
	p := f.w.signIn(f.reviewer).get(f.path()).want(200)
	p.has("Germany at 25 %", `id="requester">rita`, "0 of 1", "any editor, manager or admin, not the requester",
		"blocks applying until the request is edited",                                // the policy
		`Rule 1, &#34;germany&#34;`, "If country in DE", "<mark>Rollout 25 %</mark>", // the rule added, rollout highlighted
		"<del>Targeting is off</del>", "<mark>Targeting is on</mark>",
		"requested the change") // the timeline
	p.has(`id="approve"`, `id="reject"`).lacks(`id="apply"`, `id="withdraw"`)
	if h := p.header.Get("Content-Security-Policy"); !strings.Contains(h, "default-src 'self'") || !strings.Contains(h, "frame-ancestors 'none'") {
		t.Fatalf("CSP: %q", h)
	}
	if strings.Contains(p.body, "<script") || strings.Contains(p.body, "style=") {
		t.Fatal("the page has inline script or style (the CSP refuses them)")
	}
}

// The actions a viewer is offered follow what the service would allow.
func TestRequestPageOffersActionsByRole(t *testing.T) {
	f := newCRFixture(t)
	// the requester: no review (with the reason), withdraw and edit offered
	f.w.signIn(f.requester).get(f.path()).want(200).
		lacks(`id="approve"`, `id="reject"`, `id="apply"`).
		has(`id="no-review"`, "the requester cannot review their own request", `id="withdraw"`, `action="`+f.path()+`/edit"`)
	// a viewer: comment only
	f.w.signIn(f.look).get(f.path()).want(200).
		lacks(`id="approve"`, `id="withdraw"`, `id="apply"`, `action="`+f.path()+`/edit"`).
		has("reviewing needs the editor role or higher", `id="add-comment"`)
	// an admin may withdraw and edit anyone's request
	admin := f.w.member("ana@example.com", domain.RoleAdmin)
	f.w.signIn(admin).get(f.path()).want(200).has(`id="approve"`, `id="withdraw"`, `action="`+f.path()+`/edit"`)
}

// The server enforces the rules whatever the page offered: forms posted by
// hand are refused as the API refuses them, and change nothing.
func TestRequestFormsEnforceTheRules(t *testing.T) {
	f := newCRFixture(t)
	rita := f.w.signIn(f.requester)
	rita.post(f.path()+"/review", url.Values{"decision": {"approve"}, "comment": {"mine is fine"}}).want(403).
		has(`id="refusal"`, "the requester cannot review their own request")
	vic := f.w.signIn(f.look)
	vic.post(f.path()+"/review", url.Values{"decision": {"approve"}, "comment": {"sure"}}).want(403)
	vic.post(f.path()+"/withdraw", nil).want(403)
	vic.post(f.path()+"/apply", nil).want(403)
	rex := f.w.signIn(f.reviewer)
	rex.post(f.path()+"/apply", nil).want(409).has("the request is not approved")
	rex.post(f.path()+"/review", url.Values{"decision": {"approve"}, "comment": {""}}).want(422).has("a comment is required")
	rex.post(f.path()+"/review", url.Values{"decision": {"maybe"}, "comment": {"hm"}}).want(422)
	if cr := f.stored(); cr.Status != domain.StatusPending || len(cr.Reviews) != 0 {
		t.Fatalf("refused forms changed the request: %s, %d reviews", cr.Status, len(cr.Reviews))
	}
	rex.post("/requests/nope/review", url.Values{"decision": {"approve"}, "comment": {"x"}}).want(404)
}

func TestApproveThenApplyFromTheConsole(t *testing.T) {
	f := newCRFixture(t)
	rex := f.w.signIn(f.reviewer)
	res := rex.post(f.path()+"/review", url.Values{"decision": {"approve"}, "comment": {"LGTM @rita@example.com"}}).want(303)
	if res.location() != f.path()+"?done=approved" {
		t.Fatalf("after approving: %q", res.location())
	}
	rex.get(res.location()).want(200).has(`id="flash"`, "You approved the request.", `id="status">approved`, "1 of 1", "LGTM")
	if cr := f.stored(); cr.Status != domain.StatusApproved || cr.Reviews[0].Channel != app.ChannelConsole {
		t.Fatalf("after approving: %s %+v", cr.Status, cr.Reviews)
	}
	rita := f.w.signIn(f.requester)
	rita.get(f.path()).want(200).has(`id="apply"`)
	rita.post(f.path()+"/apply", nil).want(303)
	if cr := f.stored(); cr.Status != domain.StatusApplied || cr.AppliedBy != "member:"+f.requester.ID {
		t.Fatalf("after applying: %s by %q", cr.Status, cr.AppliedBy)
	}
	_, live, err := f.w.store.GetFlagConfig(f.w.ctx, "shop", "checkout", "production")
	if err != nil || !live.Enabled || len(live.Rules) != 1 || live.Rules[0].Rollout != 25 {
		t.Fatalf("the live config after apply: %+v %v", live, err)
	}
	// applied: nothing left to do; the page shows what was applied and by whom
	rita.get(f.path()).want(200).has(`id="status">applied`, "applied the change", "<mark>Rollout 25 %</mark>").lacks(`id="apply"`, `id="withdraw"`, `id="approve"`)
	rita.get("/").want(200).has("Recently applied")
}

func TestRejectWithdrawCommentAndEdit(t *testing.T) {
	f := newCRFixture(t)
	rex := f.w.signIn(f.reviewer)
	rex.post(f.path()+"/comment", url.Values{"comment": {"why 25? @rita@example.com"}}).want(303)
	rex.post(f.path()+"/comment", url.Values{"comment": {"  "}}).want(422)
	rex.post(f.path()+"/review", url.Values{"decision": {"reject"}, "comment": {"not yet"}}).want(303)
	if cr := f.stored(); cr.Status != domain.StatusRejected {
		t.Fatalf("after rejecting: %s", cr.Status)
	}
	rita := f.w.signIn(f.requester)
	rita.get(f.path()).want(200).has("why 25?", "Mentioned: @rita", "rejected", "not yet")
	// an edit from a stale page is refused; from the current one it is a new revision
	cur := f.stored()
	rita.post(f.path()+"/edit", url.Values{"version": {"0"}, "title": {"stale"}, "description": {""}}).want(409)
	rita.post(f.path()+"/edit", url.Values{"version": {jsonNumber(cur.Version)}, "title": {"Germany at 20 %"}, "description": {"smaller"}}).want(303)
	if cr := f.stored(); cr.Title != "Germany at 20 %" || cr.Status != domain.StatusPending || cr.Revision != 2 {
		t.Fatalf("after editing: %q %s revision %d", cr.Title, cr.Status, cr.Revision)
	}
	rex.post(f.path()+"/withdraw", nil).want(403) // not theirs
	rita.post(f.path()+"/withdraw", nil).want(303)
	if cr := f.stored(); cr.Status != domain.StatusWithdrawn {
		t.Fatalf("after withdrawing: %s", cr.Status)
	}
	rita.get(f.path()).want(200).lacks(`id="withdraw"`, `id="approve"`, `action="`+f.path()+`/edit"`)
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// A form posted from another site, or without the session's token, is
// refused and changes nothing.
func TestForgedRequestFormsAreRefused(t *testing.T) {
	f := newCRFixture(t)
	rex := f.w.signIn(f.reviewer)
	form := url.Values{"decision": {"approve"}, "comment": {"forged"}}
	rex.send("POST", f.path()+"/review", form, nil).want(403) // no token
	form.Set("csrf", "wrong")
	rex.send("POST", f.path()+"/review", form, http.Header{"Origin": {f.w.srv.URL}}).want(403) // a wrong token
	form.Set("csrf", rex.csrf)
	rex.send("POST", f.path()+"/review", form, http.Header{"Origin": {"https://evil.example"}}).want(403) // another origin
	rex.send("POST", f.path()+"/review", form, http.Header{"Sec-Fetch-Site": {"cross-site"}}).want(403)
	// another member's token is not this session's
	other := f.w.signIn(f.look)
	form.Set("csrf", other.csrf)
	rex.send("POST", f.path()+"/review", form, http.Header{"Origin": {f.w.srv.URL}}).want(403)
	if cr := f.stored(); len(cr.Reviews) != 0 {
		t.Fatalf("a forged form reviewed: %+v", cr.Reviews)
	}
	// signed out: the form sends to the login page, it does not act
	res := f.w.anonymous().send("POST", f.path()+"/review", form, nil).want(303)
	if !strings.HasPrefix(res.location(), "/login?next=") {
		t.Fatalf("signed out: %q", res.location())
	}
}

func TestConsoleNotFoundAndMethodPages(t *testing.T) {
	f := newCRFixture(t)
	rex := f.w.signIn(f.reviewer)
	rex.get("/requests/cr_missing").want(404).has("Not found", `id="error"`)
	rex.get("/no/such/page").want(404).has("there is no page at /no/such/page")
	rex.send("DELETE", "/requests/"+f.cr.ID, nil, nil).want(405)
	rex.get("/requests?status=sideways").want(422).has("status")
	// the API keeps its own answers under /v1/
	res := rex.get("/v1/nothing-here").want(404)
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("an unknown API path answers %q", ct)
	}
	// a flash key that is not in the list shows nothing
	rex.get("/?done=%3Cscript%3E").want(200).lacks(`id="flash"`, "&lt;script")
}

func TestRequestListFilters(t *testing.T) {
	f := newCRFixture(t)
	rex := f.w.signIn(f.reviewer)
	rex.get("/requests").want(200).has(`href="` + f.path() + `"`)
	rex.get("/requests?status=pending").want(200).has(`href="` + f.path() + `"`)
	rex.get("/requests?status=applied").want(200).has("No change request here.").lacks(`href="` + f.path() + `"`)
}
