package console_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// teamsFor makes the teams sre (the editor) and checkout-owners (the
// editor and the manager).
func teamsFor(f *pjFixture) {
	f.w.t.Helper()
	for _, in := range []app.TeamInput{
		{Key: "sre", Name: "SRE", Members: []string{f.editor.ID}},
		{Key: "checkout-owners", Name: "Checkout owners", Members: []string{f.editor.ID, f.manager.ID}},
	} {
		if _, err := f.w.svc.CreateTeam(f.w.ctx, f.w.admin, in); err != nil {
			f.w.t.Fatal(err)
		}
	}
}

// teamForm is approvalForm with team requirements, rows as the page
// sends them (require_team and require_min, row by row, empty rows too).
func teamForm(version int64, rows ...string) url.Values {
	form := approvalForm(version)
	for len(rows) < 2*domain.MaxTeamRequirements {
		rows = append(rows, "", "1")
	}
	for i := 0; i < len(rows); i += 2 {
		form.Add("require_team", rows[i])
		form.Add("require_min", rows[i+1])
	}
	return form
}

// The approval settings page edits the team requirements (a team and a
// count per row), distinct_reviewers and require_maintainer, and
// review_after_bypass; editors read them.
func TestApprovalSettingsPageEditsTeamRequirements(t *testing.T) {
	f := newPJFixture(t)
	teamsFor(f)
	page := f.mb.get("/projects/shop/environments/production/approvals").want(200)
	page.has(`id="team-requirements"`, `id="require-team-1"`, `id="require-team-5"`, `aria-label="Team of requirement 1"`,
		`<option value="sre">SRE (sre)</option>`, `<option value="checkout-owners">Checkout owners (checkout-owners)</option>`,
		`id="distinct-reviewers"`, `id="require-maintainer"`, `id="review-after-bypass"`, `value="24h"`).
		lacks(`id="require-team-6"`, `id="no-teams"`)

	form := teamForm(0, "sre", "1", "", "1", "checkout-owners", "2")
	form.Set("min_approvals", "0")
	form.Set("distinct_reviewers", "on")
	form.Set("require_maintainer", "on")
	form.Set("review_after_bypass", "12h")
	f.mb.post("/projects/shop/environments/production/approvals", form).want(303)
	s := f.settings("production")
	wantRequire := []domain.TeamRequirement{{Team: "sre", Min: 1}, {Team: "checkout-owners", Min: 2}}
	if !slices.Equal(s.Require, wantRequire) || !s.DistinctReviewers || !s.RequireMaintainer || s.MinApprovals != 0 || s.ReviewAfterBypass != "12h" {
		t.Fatalf("stored %+v", s)
	}
	f.mb.get("/projects/shop/environments/production/approvals").want(200).
		has(`<option value="sre" selected>SRE (sre)</option>`, `<option value="checkout-owners" selected>`, `id="require-min-2" name="require_min" value="2"`,
			`id="distinct-reviewers" checked`, `id="require-maintainer" checked`, `value="12h"`)
	f.eb.get("/projects/shop/environments/production/approvals").want(200).
		has(`id="view-require">1 from sre, 2 from checkout-owners, each by a distinct reviewer`, `id="view-require-maintainer">needed`, "within 12h").
		lacks(`id="require-team-1"`)

	// an unknown team, a team twice, a count out of range: refused, shown
	// beside the rows, nothing written
	bad := teamForm(s.Version, "", "1", "sre", "9", "checkout-owners", "1", "sre", "1")
	f.mb.post("/projects/shop/environments/production/approvals", bad).want(422).
		has(`id="require-error">row 1: must be from 1 to 5; row 3: team &#34;sre&#34; is required twice`,
			`id="require-min-1" name="require_min" value="9"`) // shown again without the empty row
	bad = teamForm(s.Version, "nope", "1")
	f.mb.post("/projects/shop/environments/production/approvals", bad).want(422).
		has(`id="require-error">row 1: no team has key &#34;nope&#34;`, `<option value="nope" selected>nope (no such team)</option>`)
	if again := f.settings("production"); again.Version != s.Version {
		t.Fatalf("a refused form was written: %+v", again)
	}
}

// While approvals are on, a weakening of the team settings from the page
// (a team requirement removed or lowered, distinct reviewers or the
// maintainers' approval turned off) becomes a governance request, and the
// page goes to it; the settings stay as they were.
func TestTeamSettingsWeakeningIsGoverned(t *testing.T) {
	f := newPJFixture(t)
	teamsFor(f)
	form := teamForm(0, "sre", "1", "checkout-owners", "2")
	form.Set("distinct_reviewers", "on")
	form.Set("require_maintainer", "on")
	f.mb.post("/projects/shop/environments/production/approvals", form).want(303)
	if _, err := f.w.svc.UpdateOrgSettings(f.w.ctx, f.w.admin, nil, app.OrgSettingsInput{Approvals: true}); err != nil {
		t.Fatal(err)
	}
	s := f.settings("production")
	weakenings := map[string]func(url.Values){
		"a team removed":              func(v url.Values) { v["require_team"][1] = "" },
		"a team's count lowered":      func(v url.Values) { v["require_min"][1] = "1" },
		"distinct reviewers off":      func(v url.Values) { v.Del("distinct_reviewers") },
		"maintainers' approval off":   func(v url.Values) { v.Del("require_maintainer") },
		"a longer review after":       func(v url.Values) { v.Set("review_after_bypass", "48h") },
		"the teams gone, quorum kept": func(v url.Values) { v["require_team"] = make([]string, domain.MaxTeamRequirements) },
	}
	for name, weaken := range weakenings {
		form := teamForm(s.Version, "sre", "1", "checkout-owners", "2")
		form.Set("distinct_reviewers", "on")
		form.Set("require_maintainer", "on")
		weaken(form)
		p := f.mb.post("/projects/shop/environments/production/approvals", form).want(303)
		loc := p.location()
		id, ok := strings.CutPrefix(strings.TrimSuffix(loc, "?done=governance-requested"), "/requests/")
		if !ok || !strings.HasSuffix(loc, "?done=governance-requested") {
			t.Fatalf("%s: redirect to %q", name, loc)
		}
		cr, err := f.w.store.GetChangeRequest(f.w.ctx, id)
		if err != nil || cr.Kind != domain.KindGovernance || cr.Status != domain.StatusPending {
			t.Fatalf("%s: request %+v %v", name, cr, err)
		}
		if now := f.settings("production"); now.Version != s.Version {
			t.Fatalf("%s: the weakening was written: %+v", name, now)
		}
		f.mb.get(loc).want(200).has("another admin must approve it", "A change to the rules").lacks(`href="/projects/shop/flags/"`) // no link without a flag
		f.mb.get("/requests?status=pending").want(200).has(`href="/requests/`+id+`"`, `<span class="muted">the rules</span>`).lacks(`href="/projects/shop/flags/"`)
		if _, err := f.w.svc.Withdraw(f.w.ctx, f.w.principal(f.manager), id); err != nil {
			t.Fatal(err)
		}
	}
	// a strengthening applies directly
	form = teamForm(s.Version, "sre", "2", "checkout-owners", "2")
	form.Set("distinct_reviewers", "on")
	form.Set("require_maintainer", "on")
	f.mb.post("/projects/shop/environments/production/approvals", form).want(303)
	if now := f.settings("production"); now.Version != s.Version+1 || now.Require[0].Min != 2 {
		t.Fatalf("the strengthening: %+v", now)
	}
}

// The flag page shows the flag's maintainer team and lets editors change
// it: a team that does not exist is refused beside the form, a viewer's
// post is refused, a stale form is refused.
func TestFlagPageEditsMaintainerTeam(t *testing.T) {
	f := newPJFixture(t)
	teamsFor(f)
	if _, err := f.w.svc.CreateFlag(f.w.ctx, f.w.admin, "shop", app.FlagInput{Key: "checkout", Name: "Checkout", Variants: []domain.Variant{
		{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
		t.Fatal(err)
	}
	flag := func() *domain.Flag {
		t.Helper()
		fl, err := f.w.svc.GetFlag(f.w.ctx, f.w.admin, "shop", "checkout")
		if err != nil {
			t.Fatal(err)
		}
		return fl
	}
	const path = "/projects/shop/flags/checkout"
	f.eb.get(path).want(200).has(`id="maintainer-team"><span class="muted">(none)`, `id="maintainer-team-form"`, `for="maintainer-team-select"`,
		`<option value="sre">SRE (sre)</option>`)
	f.lb.get(path).want(200).lacks(`id="maintainer-team-form"`)
	v := strconv.FormatInt(flag().Version, 10)

	f.lb.post(path+"/maintainer-team", url.Values{"maintainer_team": {"sre"}, "version": {v}}).want(403)
	f.eb.post(path+"/maintainer-team", url.Values{"maintainer_team": {"nope"}, "version": {v}}).want(422).
		has(`id="maintainer-team-error"`, `no team has key &#34;nope&#34;`, `aria-invalid="true"`)
	if fl := flag(); fl.MaintainerTeam != "" {
		t.Fatalf("refused posts wrote %q", fl.MaintainerTeam)
	}
	p := f.eb.post(path+"/maintainer-team", url.Values{"maintainer_team": {"sre"}, "version": {v}}).want(303)
	if got := p.location(); got != path+"?done=maintainer-team-saved" {
		t.Fatalf("redirect to %q", got)
	}
	if fl := flag(); fl.MaintainerTeam != "sre" {
		t.Fatalf("maintainer team %q", fl.MaintainerTeam)
	}
	f.lb.get(path).want(200).has(`id="maintainer-team">SRE (sre)</dd>`)
	f.eb.get(path).want(200).has(`<option value="sre" selected>`)
	// the same form again names a version that moved on
	f.eb.post(path+"/maintainer-team", url.Values{"maintainer_team": {""}, "version": {v}}).want(409).has(`id="maintainer-team-error"`)
	if fl := flag(); fl.MaintainerTeam != "sre" {
		t.Fatalf("a stale form wrote %q", fl.MaintainerTeam)
	}
}
