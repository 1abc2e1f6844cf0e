package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// bypassFixture is a project "shop" with a flag "checkout", approvals on,
// rita (editor) holding production's bypass grant, rex (editor) who may
// acknowledge, vic (viewer), and rita's bypass of production: the review
// after it.
type bypassFixture struct {
	w              *world
	rita, rex, vic *domain.Member
	id             string // the review after
}

func newBypassFixture(t *testing.T) *bypassFixture {
	t.Helper()
	w := newWorld(t)
	f := &bypassFixture{w: w}
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop", Name: "Shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "checkout", Name: "New checkout", Variants: []domain.Variant{
		{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
		t.Fatal(err)
	}
	f.rita = w.member("rita@example.com", domain.RoleEditor)
	f.rex = w.member("rex@example.com", domain.RoleEditor)
	f.vic = w.member("vic@example.com", domain.RoleViewer)
	// the grant while approvals are off (it applies directly then)
	s, err := w.svc.GetApprovalSettings(w.ctx, w.admin, "shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	s.Bypass = []domain.BypassGrant{{MemberID: f.rita.ID}}
	if _, err := w.svc.UpdateApprovalSettings(w.ctx, w.admin, "shop", "production", &s.Version, s); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}); err != nil {
		t.Fatal(err)
	}
	f.id = f.bypass("INC-7 checkout down")
	return f
}

// bypass turns checkout on in production as rita, with a reason: the id
// of the review after it opens.
func (f *bypassFixture) bypass(reason string) string {
	f.w.t.Helper()
	w := f.w
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.principal(f.rita), "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: reason},
		func(c *domain.FlagConfig) error { c.Enabled = !c.Enabled; return nil })
	if err != nil || out.Applied == nil {
		w.t.Fatalf("bypass: %+v %v", out, err)
	}
	list, _, err := w.svc.ListRequests(w.ctx, w.admin, domain.CRFilter{Status: domain.StatusReviewAfter}, domain.Page{Limit: 100})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, cr := range list {
		if cr.Bypass != nil && cr.Bypass.Reason == reason {
			return cr.ID
		}
	}
	w.t.Fatalf("the bypass %q opened no review after", reason)
	return ""
}

func (f *bypassFixture) path() string { return "/requests/" + f.id }

func (f *bypassFixture) stored() *domain.ChangeRequest {
	f.w.t.Helper()
	cr, err := f.w.store.GetChangeRequest(f.w.ctx, f.id)
	if err != nil {
		f.w.t.Fatal(err)
	}
	return cr
}

// The review after a bypass shows the bypass and its due time; only a
// member who may acknowledge it (not the one who bypassed, not a viewer)
// is offered the Acknowledge button, which acknowledges it once, audited
// as done in the console.
func TestReviewAfterPageOffersAcknowledgeToOtherReviewers(t *testing.T) {
	f := newBypassFixture(t)
	due := f.stored().Bypass.ReviewDueAt.UTC().Format("2006-01-02 15:04 UTC")
	// who bypassed: told why not, no form
	f.w.signIn(f.rita).get(f.path()).want(200).
		has(`id="review-after"`, "INC-7 checkout down", `id="review-due">`+due, `id="no-acknowledge"`, "cannot acknowledge their own bypass").
		lacks(`id="acknowledge"`, `action="`+f.path()+`/acknowledge"`, `id="approve"`, `id="overdue"`)
	// a viewer: no form either
	f.w.signIn(f.vic).get(f.path()).want(200).has(`id="no-acknowledge"`, "editor role").lacks(`id="acknowledge"`)
	// another editor: the button, and the request in their inbox
	rex := f.w.signIn(f.rex)
	rex.get(f.path()).want(200).has(`id="acknowledge-form"`, `action="`+f.path()+`/acknowledge"`, `id="acknowledge"`, `for="acknowledge-comment"`,
		"<del>Targeting is off</del>", "<mark>Targeting is on</mark>", // what the bypass changed, though it is live already
		"Who may acknowledge").
		lacks(`id="approve"`, `id="no-acknowledge"`, `id="approvals"`, "Nothing differs from the live state")
	rex.get("/").want(200).has(`id="acknowledge-h"`, `href="`+f.path()+`"`)
	f.w.signIn(f.rita).get("/").want(200).lacks(`id="acknowledge-h"`)

	// a comment is required; the refusal shows on the page
	rex.post(f.path()+"/acknowledge", url.Values{"comment": {""}}).want(422).has(`id="refusal"`)
	if f.stored().Status != domain.StatusReviewAfter {
		t.Fatal("an empty comment acknowledged the bypass")
	}
	// rita's own post is refused by the service whatever the page showed
	f.w.signIn(f.rita).post(f.path()+"/acknowledge", url.Values{"comment": {"fine by me"}}).want(403).has("own bypass")

	p := rex.post(f.path()+"/acknowledge", url.Values{"comment": {"looked at the diff: right call"}}).want(303)
	if got := p.location(); got != f.path()+"?done=acknowledged" {
		t.Fatalf("redirect to %q", got)
	}
	cr := f.stored()
	if cr.Status != domain.StatusApplied || cr.Timeline[len(cr.Timeline)-1].Type != domain.EventAcknowledged {
		t.Fatalf("after the acknowledgement: %s %+v", cr.Status, cr.Timeline)
	}
	var acked []domain.AuditEntry
	for _, e := range f.w.auditAll() {
		if e.Action == domain.ActionRequestAcknowledged {
			acked = append(acked, e)
		}
	}
	if len(acked) != 1 || acked[0].Channel != app.ChannelConsole || acked[0].Actor != "member:"+f.rex.ID || acked[0].ChangeRequest != f.id {
		t.Fatalf("audited %+v", acked)
	}
	rex.get(f.path()+"?done=acknowledged").want(200).has("You acknowledged the bypass", `id="acknowledged"`, "acknowledged the bypass").
		lacks(`id="acknowledge"`)
	// once only
	rex.post(f.path()+"/acknowledge", url.Values{"comment": {"again"}}).want(409).has(`id="refusal"`)
}

// The Acknowledge form is refused without the session's CSRF token, with
// another member's token, or from another site, and acknowledges nothing.
func TestAcknowledgeFormRefusesForgery(t *testing.T) {
	f := newBypassFixture(t)
	rex, vic := f.w.signIn(f.rex), f.w.signIn(f.vic)
	origin := http.Header{"Origin": {f.w.srv.URL}}
	for name, res := range map[string]*page{
		"no token":      rex.send("POST", f.path()+"/acknowledge", url.Values{"comment": {"ok"}}, origin),
		"another's":     rex.send("POST", f.path()+"/acknowledge", url.Values{"comment": {"ok"}, "csrf": {vic.csrf}}, origin),
		"another site":  rex.send("POST", f.path()+"/acknowledge", url.Values{"comment": {"ok"}, "csrf": {rex.csrf}}, http.Header{"Origin": {"https://evil.example"}}),
		"cross-site":    rex.send("POST", f.path()+"/acknowledge", url.Values{"comment": {"ok"}, "csrf": {rex.csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}),
		"made-up token": rex.send("POST", f.path()+"/acknowledge", url.Values{"comment": {"ok"}, "csrf": {strings.Repeat("a", len(rex.csrf))}}, origin),
	} {
		if res.status != 403 {
			t.Errorf("%s: %d", name, res.status)
		}
	}
	if cr := f.stored(); cr.Status != domain.StatusReviewAfter || len(cr.Timeline) != 1 {
		t.Fatalf("a forged form acted: %s %+v", cr.Status, cr.Timeline)
	}
}

// A review after past its due time (by the service's clock) is marked
// overdue on its page and in the lists, and the list's overdue filter
// shows those only.
func TestOverdueReviewAfterIsShownAndFiltered(t *testing.T) {
	f := newBypassFixture(t)
	rex := f.w.signIn(f.rex)
	rex.get("/requests?overdue=true").want(200).has(`id="overdue" checked`, "No review after a bypass is overdue.").lacks(`href="` + f.path() + `"`)
	rex.get(f.path()).want(200).has(`class="note" role="status" id="review-after"`).lacks(`id="overdue"`)

	f.w.clock.Advance(24*time.Hour + time.Minute) // due after 24 hours; not swept: the page judges by the clock
	later := f.bypass("INC-8 second outage")      // a newer one, not yet due
	rex = f.w.signIn(f.rex)                       // the session ended after 12 hours idle
	p := rex.get(f.path()).want(200)
	p.has(`class="error" role="status" id="review-after"`, `id="overdue"`, "Nobody has acknowledged it", `id="acknowledge"`)
	list := rex.get("/requests?overdue=true").want(200)
	list.has(`href="`+f.path()+`"`, `<span class="badge overdue">overdue</span>`).lacks(`href="/requests/` + later + `"`)
	rex.get("/requests?status=review_after").want(200).has(`href="/requests/`+later+`"`, `href="`+f.path()+`"`)

	// acknowledged, it is no longer overdue
	rex.post(f.path()+"/acknowledge", url.Values{"comment": {"late, but right"}}).want(303)
	rex.get("/requests?overdue=true").want(200).lacks(`href="` + f.path() + `"`)
}

// A member of another project only meets a review after of this one as
// a request that does not exist: its page and its Acknowledge form are
// 404, the same as for a made-up id, and nothing is acknowledged.
func TestAcknowledgeFormOfAnotherProjectIsNotFound(t *testing.T) {
	f := newBypassFixture(t)
	if _, err := f.w.svc.CreateProject(f.w.ctx, f.w.admin, app.ProjectInput{Key: "other", Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	olga, err := f.w.svc.CreateMember(f.w.ctx, f.w.admin, app.MemberInput{Email: "olga@example.com", Name: "olga", Role: domain.RoleNone,
		Projects: map[string]domain.Role{"other": domain.RoleEditor}})
	if err != nil {
		t.Fatal(err)
	}
	b := f.w.signIn(olga)
	missing := b.post("/requests/cr_made_up/acknowledge", url.Values{"comment": {"ok"}}).want(404)
	got := b.post(f.path()+"/acknowledge", url.Values{"comment": {"ok"}}).want(404)
	if strings.ReplaceAll(got.body, f.id, "cr_made_up") != missing.body {
		t.Fatalf("another project's request answers otherwise than a missing one:\n%s\n%s", got.body, missing.body)
	}
	b.get(f.path()).want(404)
	b.get("/requests?overdue=true&status=review_after").want(200).lacks(f.id)
	if cr := f.stored(); cr.Status != domain.StatusReviewAfter {
		t.Fatalf("acknowledged by another project's member: %s", cr.Status)
	}
}
