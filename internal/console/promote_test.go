package console_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// Copying one environment's targeting into another from the flag page.

const flagPage = "/projects/shop/flags/checkout"

func promotePath(env string) string { return flagPage + "/environments/" + env + "/promote" }

// targetingJSON is a config's targeting, without what belongs to its place.
func targetingJSON(c *domain.FlagConfig) string {
	b, _ := json.Marshal([]any{c.Enabled, c.OffVariant, c.Rules, c.DefaultRule, c.StickyBucketing, c.ExposureEvent})
	return string(b)
}

func TestPromoteFormIsOfferedToEditorsOnly(t *testing.T) {
	fw := newFlagWorld(t)
	page := fw.ed.get(flagPage).want(200)
	// one form per environment, each offering the other environments, none
	// chosen until one is (a stray click copies nothing)
	page.has(`<form method="post" action="/projects/shop/flags/checkout/environments/staging/promote" id="promote-staging">`,
		`<label for="promote-from-staging">Copy targeting from</label>`,
		`<select id="promote-from-staging" name="from" aria-describedby="promote-help-staging" required>`,
		`<option value="">Choose an environment</option><option value="development">Development</option><option value="production">Production</option>`+"\n</select>",
		`id="promote-submit-staging">Copy into Staging</button>`, `id="promote-help-staging"`,
		`id="promote-development"`, `id="promote-production"`).lacks(" selected>")
	if got := formValues(t, page.body, "promote-production"); got.Get("from") != "" || got.Get("version") != "0" || got.Get("csrf") != fw.ed.csrf {
		t.Fatalf("the production form sends %v", got)
	}
	if strings.Contains(formSection(t, page.body, "promote-staging"), `value="staging"`) {
		t.Fatal("an environment offers to copy from itself")
	}
	fw.look.get(flagPage).want(200).lacks(`id="promote-`, "Copy targeting from")

	// an archived flag's targeting cannot change: no form
	fw.ed.get("/projects/shop/flags/old-banner").want(200).lacks(`id="promote-`)
}

// formSection is the form with the id, up to its end.
func formSection(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no form %q", id)
	}
	body = body[start:]
	return body[:strings.Index(body, "</form>")]
}

func TestPromoteIntoAnUngatedEnvironmentApplies(t *testing.T) {
	fw := newFlagWorld(t)
	fw.approvalsOn() // staging still needs no approval
	dev := fw.config("checkout", "development")
	form := formValues(t, fw.ed.get(flagPage).want(200).body, "promote-staging")
	form.Set("from", "development")
	p := fw.ed.post(promotePath("staging"), form).want(303)
	if p.location() != flagPage+"?from=development&to=staging&done=promoted" {
		t.Fatalf("redirect to %q", p.location())
	}
	fw.ed.get(p.location()).want(200).has(`<p class="flash" role="status" id="flash">Staging now has Development&#39;s targeting.</p>`)
	staging := fw.config("checkout", "staging")
	if targetingJSON(staging) != targetingJSON(dev) || staging.Version != 1 {
		t.Fatalf("staging has v%d %s, development %s", staging.Version, targetingJSON(staging), targetingJSON(dev))
	}
	if again := fw.config("checkout", "development"); again.Version != dev.Version {
		t.Fatal("the source environment changed")
	}
	// audited as done in the console, by the editor
	var found bool
	for _, e := range fw.auditAll() {
		if e.Actor == "member:"+fw.editor.ID && e.Channel == "console" && e.Environment == "staging" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no console audit entry of the editor in staging: %+v", fw.auditAll())
	}
	// the form as it was (staging's old version) is a conflict now
	form.Set("from", "production")
	fw.ed.post(promotePath("staging"), form).want(409).has(`id="promote-error-staging"`, `aria-invalid="true"`)
	if c := fw.config("checkout", "staging"); c.Version != 1 {
		t.Fatalf("a stale form changed staging: v%d", c.Version)
	}
}

func TestPromoteFlashNamesOnlyTheFlagsEnvironments(t *testing.T) {
	fw := newFlagWorld(t)
	generic := "Copied: the environment now has the other environment&#39;s targeting."
	fw.ed.get(flagPage + "?from=development&to=staging&done=promoted").want(200).has("Staging now has Development&#39;s targeting.")
	fw.ed.get(flagPage + "?from=Anyone+you+like&to=staging&done=promoted").want(200).has(generic).lacks("Anyone you like")
	fw.ed.get(flagPage + "?from=staging&to=staging&done=promoted").want(200).has(generic)
	fw.ed.get(flagPage + "?from=development&to=staging").want(200).lacks(`id="flash"`)
}

func TestPromoteIntoProductionOpensARequest(t *testing.T) {
	fw := newFlagWorld(t)
	fw.approvalsOn()
	dev := fw.config("checkout", "development")
	form := formValues(t, fw.ed.get(flagPage).want(200).body, "promote-production")
	form.Set("from", "development")
	p := fw.ed.post(promotePath("production"), form).want(303)
	rv := fw.requested(p)
	if rv.Environment != "production" || rv.Status != domain.StatusPending || rv.Title != "Promote checkout from development to production" ||
		targetingJSON(rv.Changes[0].ProposedConfig) != targetingJSON(dev) {
		t.Fatalf("request %+v", rv.ChangeRequest)
	}
	if c := fw.config("checkout", "production"); c.Enabled || c.Version != 0 {
		t.Fatalf("production changed before approval: %+v", c)
	}
	fw.ed.get(p.location()).want(200).has("Your change needs approval here", "Promote checkout from development to production")
}

func TestPromoteRefusals(t *testing.T) {
	fw := newFlagWorld(t)
	before := len(fw.auditAll())
	unchanged := func() {
		t.Helper()
		for _, env := range []string{"staging", "production"} {
			if c := fw.config("checkout", env); c.Version != 0 {
				t.Fatalf("a refused promotion changed %s: %+v", env, c)
			}
		}
		if after := len(fw.auditAll()); after != before {
			t.Fatalf("refused promotions wrote %d audit entries", after-before)
		}
	}
	post := func(b *browser, env, from string) *page {
		return b.post(promotePath(env), url.Values{"from": {from}, "version": {"0"}})
	}

	// onto itself: the form again, with the refusal at the control
	p := post(fw.ed, "staging", "staging").want(422)
	p.has(`<p class="error" role="alert" id="promote-error-staging">The targeting was not copied: Copy targeting from: is the environment promoted to; name another one</p>`,
		`<select id="promote-from-staging" name="from" aria-describedby="promote-help-staging promote-error-staging" required aria-invalid="true">`,
		`id="promote-production"`, "New checkout").lacks(`id="promote-error-production"`, `id="flash"`)
	// no environment chosen
	post(fw.ed, "staging", "").want(422).has(`id="promote-error-staging"`, "name the environment whose targeting to promote")
	// an environment the project does not have
	post(fw.ed, "staging", "qa").want(422).has(`id="promote-error-staging"`, "has no environment &#34;qa&#34;").lacks(" selected>")
	// a stale form (development is at version 1): a conflict, and the
	// environment chosen stays chosen
	p = post(fw.ed, "development", "production").want(409)
	p.has(`id="promote-error-development"`, "targeting was changed", `<option value="production" selected>Production</option>`)
	if c := fw.config("checkout", "development"); c.Version != 1 {
		t.Fatalf("a stale form changed development: v%d", c.Version)
	}
	// a version that is not one
	fw.ed.post(promotePath("staging"), url.Values{"from": {"development"}, "version": {"x"}}).want(422).has(`id="promote-error-staging"`, "Version: must be the version the page showed")
	// an environment to copy into that the project does not have: not found
	post(fw.ed, "qa", "development").want(404).has(`id="error"`)

	// a viewer is not offered the form, and a forged post is refused,
	// with the page saying why
	p = post(fw.look, "staging", "development").want(403)
	p.has(`id="promote-error-staging"`, "The targeting was not copied: promoting targeting needs the editor role or higher").
		lacks(`id="promote-staging"`)
	unchanged()
}

func TestPromoteIntoAnEnvironmentLockedByAPendingRequest(t *testing.T) {
	fw := newFlagWorld(t)
	s, err := fw.svc.GetApprovalSettings(fw.ctx, fw.admin, "shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	s.LockWhilePending = true
	if _, err := fw.svc.UpdateApprovalSettings(fw.ctx, fw.admin, "shop", "production", &s.Version, s); err != nil {
		t.Fatal(err)
	}
	cr := fw.requestProduction()
	form := formValues(t, fw.ed.get(flagPage).want(200).body, "promote-production")
	form.Set("from", "development")
	p := fw.ed.post(promotePath("production"), form).want(409)
	p.has(`id="promote-error-production"`, "The targeting was not copied: ", cr.ID)
	reqs, _, err := fw.svc.ListRequests(fw.ctx, fw.admin, domain.CRFilter{Status: domain.StatusPending}, domain.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].ID != cr.ID {
		t.Fatalf("pending requests %+v, want only %s", reqs, cr.ID)
	}
}
