package console_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// flagWorld is a project "shop" with the flags checkout (payments, two
// rules in development), search-v2 (search) and old-banner (archived), an
// editor and a viewer signed in.
type flagWorld struct {
	*world
	editor, viewer *domain.Member
	ed, look       *browser
}

// requested is the change request a form's answer p redirected to
// ("/requests/<id>?done=requested"), read as the admin.
func (fw *flagWorld) requested(p *page) *app.RequestView {
	fw.t.Helper()
	id, ok := strings.CutPrefix(p.location(), "/requests/")
	if !ok || !strings.HasSuffix(id, "?done=requested") {
		fw.t.Fatalf("redirect to %q", p.location())
	}
	rv, err := fw.svc.GetRequest(fw.ctx, fw.admin, strings.TrimSuffix(id, "?done=requested"))
	if err != nil {
		fw.t.Fatal(err)
	}
	return rv
}

func newFlagWorld(t *testing.T) *flagWorld {
	t.Helper()
	w := newWorld(t)
	fw := &flagWorld{world: w}
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop", Name: "Shop"}); err != nil {
		t.Fatal(err)
	}
	fw.createFlag("checkout", "New checkout", "payments")
	fw.createFlag("search-v2", "Search v2", "search")
	fw.createFlag("old-banner", "Old banner", "marketing")
	if _, err := w.svc.ArchiveFlag(w.ctx, w.admin, "shop", "old-banner"); err != nil {
		t.Fatal(err)
	}
	fw.setTargeting("checkout", "development", func(c *domain.FlagConfig) {
		c.Enabled = true
		c.Rules = []domain.Rule{
			{Name: "germany", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE", "AT"}}},
				Allocation: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "control", Weight: 4}, {Variant: "on", Weight: 1}}}},
			{Name: "staff", Conditions: []domain.Condition{{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@shop.example", `odd,one\out`}}},
				Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}},
		}
		c.DefaultRule = domain.Allocation{Rollout: 25, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
	})
	fw.editor = w.member("eve@example.com", domain.RoleEditor)
	fw.viewer = w.member("vic@example.com", domain.RoleViewer)
	fw.ed = w.signIn(fw.editor)
	fw.look = w.signIn(fw.viewer)
	return fw
}

func (fw *flagWorld) createFlag(key, name string, tags ...string) {
	fw.t.Helper()
	if _, err := fw.svc.CreateFlag(fw.ctx, fw.admin, "shop", app.FlagInput{Key: key, Name: name, Tags: tags, Variants: []domain.Variant{
		{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
		fw.t.Fatal(err)
	}
}

func (fw *flagWorld) setTargeting(flag, env string, change func(*domain.FlagConfig)) {
	fw.t.Helper()
	out, err := fw.svc.ChangeFlagConfig(fw.ctx, fw.admin, "shop", flag, env, nil, app.ChangeOptions{}, func(c *domain.FlagConfig) error {
		change(c)
		return nil
	})
	if err != nil || out.Applied == nil {
		fw.t.Fatalf("setting %s in %s: %v %+v", flag, env, err, out)
	}
}

func (fw *flagWorld) config(flag, env string) *domain.FlagConfig {
	fw.t.Helper()
	c, err := fw.svc.GetFlagConfig(fw.ctx, fw.admin, "shop", flag, env)
	if err != nil {
		fw.t.Fatal(err)
	}
	return c
}

// approvalsOn turns the organisation's approvals on: production (protected)
// then needs one approval.
func (fw *flagWorld) approvalsOn() {
	fw.t.Helper()
	if _, err := fw.svc.UpdateOrgSettings(fw.ctx, fw.admin, nil, app.OrgSettingsInput{Approvals: true}); err != nil {
		fw.t.Fatal(err)
	}
}

// requestProduction opens a change request for checkout in production,
// as the editor.
func (fw *flagWorld) requestProduction() *app.RequestView {
	fw.t.Helper()
	fw.approvalsOn()
	out, err := fw.svc.ChangeFlagConfig(fw.ctx, fw.principal(fw.editor), "shop", "checkout", "production", nil, app.ChangeOptions{Title: "Checkout for the Dutch"},
		func(c *domain.FlagConfig) error {
			c.Enabled = true
			c.Rules = []domain.Rule{{Name: "dutch", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"NL"}}},
				Allocation: domain.Allocation{Rollout: 10, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
			return nil
		})
	if err != nil || out.Request == nil {
		fw.t.Fatalf("opening a request: %v %+v", err, out)
	}
	return out.Request
}

const editorPath = "/projects/shop/flags/checkout/targeting/"

// ---- reading a form the way a browser submits it ----

var (
	formInputRe  = regexp.MustCompile(`<input [^>]*>`)
	formAttrRe   = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	formSelectRe = regexp.MustCompile(`(?s)<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>`)
	formOptionRe = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// formValues is what a browser would send for the form with the id: its
// inputs (checkboxes when checked) and selects, no button.
func formValues(t *testing.T, body, id string) url.Values {
	t.Helper()
	start := strings.Index(body, `id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no form %q in\n%s", id, body)
	}
	body = body[start:]
	body = body[:strings.Index(body, "</form>")]
	out := url.Values{}
	for _, tag := range formInputRe.FindAllString(body, -1) {
		attrs := map[string]string{}
		for _, m := range formAttrRe.FindAllStringSubmatch(tag, -1) {
			attrs[m[1]] = html.UnescapeString(m[2])
		}
		if attrs["name"] == "" || (attrs["type"] == "checkbox" && !strings.Contains(tag, " checked")) {
			continue
		}
		out.Add(attrs["name"], attrs["value"])
	}
	for _, m := range formSelectRe.FindAllStringSubmatch(body, -1) {
		if opt := formOptionRe.FindStringSubmatch(m[2]); opt != nil {
			out.Set(m[1], html.UnescapeString(opt[1]))
		} else if first := regexp.MustCompile(`<option value="([^"]*)"`).FindStringSubmatch(m[2]); first != nil {
			out.Set(m[1], html.UnescapeString(first[1]))
		}
	}
	return out
}

// ---- the list ----

func TestFlagListSearchTagAndArchived(t *testing.T) {
	fw := newFlagWorld(t)
	list := fw.look.get("/projects/shop").want(200)
	list.has("New checkout", "Search v2", `href="/projects/shop/environments"`, "2 rules · default 25 % → on", "Development", "Production").
		lacks("Old banner", `id="new-flag-form"`)
	fw.look.get("/projects/shop?q=CHECK").want(200).has("New checkout", "1 flag matches").lacks("Search v2")
	fw.look.get("/projects/shop?q=search").want(200).has("Search v2").lacks("New checkout")
	fw.look.get("/projects/shop?tag=payments").want(200).has("New checkout").lacks("Search v2")
	fw.look.get("/projects/shop?tag=nothing").want(200).has("No flag matches.").lacks("New checkout")
	fw.look.get("/projects/shop?archived=1").want(200).has("Old banner", "Archived flags").lacks("New checkout", "Search v2")
	fw.ed.get("/projects/shop").want(200).has(`id="new-flag-form"`, `name="csrf"`)
}

func TestFlagListPendingBadge(t *testing.T) {
	fw := newFlagWorld(t)
	cr := fw.requestProduction()
	page := fw.look.get("/projects/shop").want(200)
	page.has(`<a href="/requests/`+cr.ID+`"><span class="badge pending">request pending</span></a>`, "1 request pending")
	// only the flag and environment of the request carry it
	if n := strings.Count(page.body, ">request pending<"); n != 1 {
		t.Fatalf("%d pending badges, want 1", n)
	}
	fw.look.get("/projects/shop/flags/checkout").want(200).has("Checkout for the Dutch", `<a href="/requests/`+cr.ID+`"><span class="badge pending">request pending</span></a>`)

	// a flag-level change (a served variant's value) is pending for the flag as a whole
	out, err := fw.svc.ChangeFlag(fw.ctx, fw.admin, "shop", "search-v2", nil, app.ChangeOptions{Title: "Search says yes"}, func(f *domain.Flag) error {
		f.Variants[0].Value = json.RawMessage(`"yes"`)
		return nil
	})
	if err != nil || out.Request == nil {
		t.Fatalf("no flag-level request: %v %+v", err, out)
	}
	fw.look.get("/projects/shop").want(200).has(`<a href="/requests/`+out.Request.ID+`"><span class="badge pending">flag change pending</span></a>`, "2 requests pending")
	fw.look.get("/projects/shop/flags/search-v2").want(200).has("Search says yes")
}

func TestFlagListPaginatesAndSearchesEveryPage(t *testing.T) {
	fw := newFlagWorld(t)
	for i := range 30 {
		fw.createFlag(fmt.Sprintf("bulk-%03d", i), fmt.Sprintf("Bulk %03d", i))
	}
	nextOf := func(p *page) string {
		t.Helper()
		next := regexp.MustCompile(`href="([^"]+)" id="next-page"`).FindStringSubmatch(p.body)
		if next == nil {
			t.Fatalf("%s: no next page link", p.path)
		}
		return html.UnescapeString(next[1])
	}
	first := fw.look.get("/projects/shop").want(200).has("Bulk 000", "Bulk 024").lacks("Bulk 025", "Search v2", `id="first-page"`)
	fw.look.get(nextOf(first)).want(200).has("Search v2", "Bulk 025", "Bulk 029", `id="first-page"`).lacks("Bulk 024", `id="next-page"`)
	// a search finds flags of every page, and pages by itself
	fw.look.get("/projects/shop?q=search").want(200).has("Search v2", "1 flag matches").lacks(`id="next-page"`, "Bulk 000")
	found := fw.look.get("/projects/shop?q=BULK").want(200).has("30 flags match", "Bulk 000", "Bulk 024").lacks("Bulk 025")
	fw.look.get(nextOf(found)).want(200).has("30 flags match", "Bulk 025", "Bulk 029").lacks("Bulk 024", "Search v2", `id="next-page"`)
}

func TestFlagPagesNotFound(t *testing.T) {
	fw := newFlagWorld(t)
	fw.look.get("/projects/nope").want(404).has(`id="error"`)
	fw.look.get("/projects/shop/flags/nope").want(404).has(`id="error"`)
	fw.ed.get(editorPath + "nope").want(404)
	fw.ed.get("/projects/shop/flags/nope/targeting/development").want(404)
}

// ---- a flag ----

func TestFlagPageShowsVariantsAndTargeting(t *testing.T) {
	fw := newFlagWorld(t)
	page := fw.ed.get("/projects/shop/flags/checkout").want(200)
	page.has("New checkout", "payments", `<dd id="maintainer">Administrator</dd>`, `<code>on</code>`, `<code>true</code>`, `<code>control</code>`,
		`Rule 1, &#34;germany&#34;`, "If country is DE, AT", "Rollout 50 %", `Serves &#34;control&#34;, weight 4 (80 %)`,
		"If email ends with @shop.example", `href="/projects/shop/flags/checkout/targeting/development" id="edit-development"`,
		`id="archive"`, "No change request for this flag is pending.")
	fw.look.get("/projects/shop/flags/checkout").want(200).has("If country is DE, AT").lacks(`id="edit-development"`, `id="archive"`)
}

func TestFlagArchiveAndRestore(t *testing.T) {
	fw := newFlagWorld(t)
	fw.look.post("/projects/shop/flags/checkout/archive", url.Values{"archived": {"1"}}).want(403)
	p := fw.ed.post("/projects/shop/flags/checkout/archive", url.Values{"archived": {"1"}}).want(303)
	if p.location() != "/projects/shop/flags/checkout?done=flag-archived" {
		t.Fatalf("redirect to %q", p.location())
	}
	fw.ed.get(p.location()).want(200).has(`id="archived-badge"`, `id="restore"`, `id="flash"`)
	fw.ed.get("/projects/shop?archived=1").want(200).has("New checkout")
	fw.ed.post("/projects/shop/flags/checkout/archive", url.Values{"archived": {"0"}}).want(303)
	if f, _ := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", "checkout"); f.Archived {
		t.Fatal("the flag is still archived")
	}
}

func TestFlagCreate(t *testing.T) {
	fw := newFlagWorld(t)
	p := fw.ed.post("/projects/shop/flags", url.Values{"name": {"Dark mode"}, "tags": {"ui, beta"}, "kind": {"boolean"}}).want(303)
	if p.location() != "/projects/shop/flags/dark-mode?done=flag-created" {
		t.Fatalf("redirect to %q", p.location())
	}
	f, err := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", "dark-mode")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Variants) != 2 || f.Variants[0].Key != "on" || string(f.Variants[1].Value) != "false" || strings.Join(f.Tags, ",") != "ui,beta" || f.Maintainer != fw.editor.ID {
		t.Fatalf("created %+v", f)
	}
	fw.ed.post("/projects/shop/flags", url.Values{"key": {"colour"}, "name": {"Colour"}, "kind": {"custom"},
		"variants": {"blue=\"#00f\"\nred = \"#f00\"\n"}}).want(303)
	if f, _ := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", "colour"); f == nil || len(f.Variants) != 2 || string(f.Variants[1].Value) != `"#f00"` {
		t.Fatalf("created %+v", f)
	}
}

func TestFlagCreateInvalidShowsTheForm(t *testing.T) {
	fw := newFlagWorld(t)
	p := fw.ed.post("/projects/shop/flags", url.Values{"name": {"Bad tags"}, "tags": {"Not A Slug"}, "kind": {"boolean"}}).want(422)
	p.has(`role="alert"`, `<a href="#new-tags">Tags</a>`, "a tag must be lower-case letters", `id="new-tags-error"`, `value="Not A Slug"`, "New checkout", " open>")
	fw.ed.post("/projects/shop/flags", url.Values{"name": {"Colours"}, "kind": {"custom"}, "variants": {"blue=#00f"}}).want(422).
		has("is not JSON", `id="new-variants-error"`)
	fw.ed.post("/projects/shop/flags", url.Values{"key": {"checkout"}, "name": {"Again"}}).want(409).has("already exists")
	fw.look.post("/projects/shop/flags", url.Values{"name": {"Viewer flag"}}).want(403)
	if _, err := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", "bad-tags"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused flag exists: %v", err)
	}
}

// ---- the targeting editor ----

func TestTargetingEditorRendersTheRules(t *testing.T) {
	fw := newFlagWorld(t)
	page := fw.ed.get(editorPath + "development").want(200)
	page.has(`<form method="post" action="/projects/shop/flags/checkout/targeting/development" id="targeting">`,
		`id="enabled" name="enabled" value="on" checked`, `<select id="off_variant" name="off_variant">`,
		`id="rule-0-name" name="rule.0.name" value="germany"`, `id="rule-1-name" name="rule.1.name" value="staff"`,
		`id="rule-2-name" name="rule.2.name" value=""`, // the blank rule slot
		`id="rule-0-cond-0-attribute" name="rule.0.cond.0.attribute" value="country"`,
		`id="rule-0-cond-0-values" name="rule.0.cond.0.values" value="DE, AT"`,
		`id="rule-0-cond-1-attribute" name="rule.0.cond.1.attribute" value=""`, // a blank condition
		`<option value="ends_with" selected>ends with</option>`, `value="@shop.example, odd\,one\\out"`, `<option value="gt">gt (greater than, numbers)</option>`,
		`id="rule-0-rollout" name="rule.0.rollout" value="50"`,
		`id="rule-0-weight-control" name="rule.0.weight.control" value="4"`, `id="rule-0-weight-on" name="rule.0.weight.on" value="1"`,
		`name="rule.0.order" value="control,on"`, `id="rule-0-remove" name="rule.0.remove"`,
		`id="default-rollout" name="default.rollout" value="25"`, `id="default-weight-on" name="default.weight.on" value="1"`,
		`id="default-weight-control" name="default.weight.control" value=""`,
		`name="version" value="1"`, `id="title" name="title"`, `id="save"`, `id="add-rule"`,
		"No approval is needed in Development").
		lacks(`id="rule-3-name"`, "style=", "<script")
	for _, op := range domain.Operators() {
		page.has(`<option value="` + string(op) + `"`)
	}
	// a round trip through the form changes nothing
	before := fw.config("checkout", "development")
	form := formValues(t, page.body, "targeting")
	form.Set("action", "save")
	fw.ed.post(editorPath+"development", form).want(303)
	after := fw.config("checkout", "development")
	same := func(c *domain.FlagConfig) string {
		b, _ := json.Marshal([]any{c.Enabled, c.OffVariant, c.Rules, c.DefaultRule, c.StickyBucketing, c.ExposureEvent})
		return string(b)
	}
	if same(before) != same(after) || after.Version != before.Version+1 {
		t.Fatalf("saving the form unchanged changed the targeting:\n%s\n%s", same(before), same(after))
	}
}

func TestTargetingSaveAppliesWhereNoApprovalIsNeeded(t *testing.T) {
	fw := newFlagWorld(t)
	form := formValues(t, fw.ed.get(editorPath+"staging").want(200).body, "targeting")
	form.Set("enabled", "on")
	form.Set("rule.0.name", "beta testers")
	form.Set("rule.0.cond.0.attribute", "plan")
	form.Set("rule.0.cond.0.operator", "in")
	form.Set("rule.0.cond.0.values", "beta, pro")
	form.Set("rule.0.rollout", "12.5")
	form.Set("rule.0.weight.on", "1")
	form.Set("default.rollout", "0")
	form.Set("action", "save")
	p := fw.ed.post(editorPath+"staging", form).want(303)
	if p.location() != "/projects/shop/flags/checkout?done=saved" {
		t.Fatalf("redirect to %q", p.location())
	}
	fw.ed.get(p.location()).want(200).has(`id="flash"`, "If plan in beta, pro", "Rollout 12.5 %")
	c := fw.config("checkout", "staging")
	if !c.Enabled || len(c.Rules) != 1 || c.Rules[0].Name != "beta testers" || c.Rules[0].Rollout != 12.5 ||
		strings.Join(c.Rules[0].Conditions[0].Values, "|") != "beta|pro" || c.Rules[0].Conditions[0].Operator != domain.OpIn ||
		len(c.Rules[0].Weights) != 1 || c.Rules[0].Weights[0] != (domain.Weight{Variant: "on", Weight: 1}) {
		t.Fatalf("stored %+v", c)
	}
	// removing a rule
	form = formValues(t, fw.ed.get(editorPath+"development").want(200).body, "targeting")
	form.Set("rule.0.remove", "1")
	form.Set("action", "save")
	fw.ed.post(editorPath+"development", form).want(303)
	if c := fw.config("checkout", "development"); len(c.Rules) != 1 || c.Rules[0].Name != "staff" {
		t.Fatalf("after removing rule 1: %+v", c.Rules)
	}
}

func TestTargetingSaveOpensARequestWhereApprovalIsNeeded(t *testing.T) {
	fw := newFlagWorld(t)
	fw.approvalsOn()
	page := fw.ed.get(editorPath+"production").want(200).has("Approvals are required in Production", "1 approval", `id="save">Request this change`)
	form := formValues(t, page.body, "targeting")
	form.Set("enabled", "on")
	form.Set("rule.0.cond.0.attribute", "country")
	form.Set("rule.0.cond.0.values", "DE")
	form.Set("rule.0.rollout", "25")
	form.Set("rule.0.weight.on", "1")
	form.Set("title", "Germany at 25 %")
	form.Set("action", "save")
	p := fw.ed.post(editorPath+"production", form).want(303)
	rv := fw.requested(p)
	if rv.Title != "Germany at 25 %" || rv.Status != domain.StatusPending || len(rv.Changes[0].ProposedConfig.Rules) != 1 || rv.Changes[0].ProposedConfig.Rules[0].Rollout != 25 {
		t.Fatalf("request %+v", rv.ChangeRequest)
	}
	if c := fw.config("checkout", "production"); c.Enabled || c.Version != 0 {
		t.Fatalf("production changed before approval: %+v", c)
	}
	fw.ed.get(p.location()).want(200).has("Germany at 25 %", "Your change needs approval here")
}

func TestTargetingAddGivesBlankSlotsAndSavesNothing(t *testing.T) {
	fw := newFlagWorld(t)
	form := formValues(t, fw.ed.get(editorPath+"development").want(200).body, "targeting")
	form.Set("rule.2.name", "typed but not saved")
	form.Set("action", "add")
	page := fw.ed.post(editorPath+"development", form).want(200)
	page.has(`id="rule-2-name" name="rule.2.name" value="typed but not saved"`, `id="rule-3-name" name="rule.3.name" value=""`,
		`id="rule-0-cond-2-attribute"`, `id="rule-3-cond-0-attribute"`, `id="rule-3-weight-on"`).lacks(`role="alert"`)
	if c := fw.config("checkout", "development"); c.Version != 1 || len(c.Rules) != 2 {
		t.Fatalf("add saved something: %+v", c)
	}
	// the grown form saves like the original: blank slots are ignored
	form = formValues(t, page.body, "targeting")
	form.Set("rule.2.name", "")
	form.Set("action", "save")
	fw.ed.post(editorPath+"development", form).want(303)
	if c := fw.config("checkout", "development"); len(c.Rules) != 2 || len(c.Rules[0].Conditions) != 1 {
		t.Fatalf("blank slots were saved: %+v", c.Rules)
	}
}

func TestTargetingInvalidShowsProblemsNextToFields(t *testing.T) {
	fw := newFlagWorld(t)
	form := formValues(t, fw.ed.get(editorPath+"development").want(200).body, "targeting")
	form.Set("rule.1.cond.0.attribute", "9 lives")
	form.Set("rule.0.cond.0.operator", "gt")
	form.Set("default.rollout", "101")
	form.Set("action", "save")
	page := fw.ed.post(editorPath+"development", form).want(422)
	page.has(`role="alert"`, "The targeting was not saved: 4 problems",
		`<a href="#rule-1-cond-0-attribute">Rule 2, condition 1, attribute</a>`, "must be an attribute name",
		`id="rule-1-cond-0-attribute" name="rule.1.cond.0.attribute" value="9 lives" placeholder="country" autocomplete="off" aria-invalid="true" aria-describedby="rule-1-cond-0-attribute-error"`,
		`<a href="#rule-0-cond-0-values">`, "compares numbers", `id="rule-0-cond-0-values-error"`,
		`<a href="#default-rollout">Default rule, rollout</a>`, "must be a percentage from 0 to 100", `id="default-rollout-error"`,
		`value="101"`)
	// a field that does not parse is refused before the service sees it
	form.Set("rule.0.cond.0.operator", "is")
	form.Set("default.rollout", "25")
	form.Set("rule.1.weight.on", "lots")
	fw.ed.post(editorPath+"development", form).want(422).has(`<a href="#rule-1-weight-on">Rule 2, weight of on</a>`, "must be a whole number")
	if c := fw.config("checkout", "development"); c.Version != 1 {
		t.Fatalf("a refused form saved: %+v", c)
	}
}

func TestTargetingStaleVersionIsAConflict(t *testing.T) {
	fw := newFlagWorld(t)
	form := formValues(t, fw.ed.get(editorPath+"development").want(200).body, "targeting")
	fw.setTargeting("checkout", "development", func(c *domain.FlagConfig) { c.Enabled = false })
	form.Set("action", "save")
	fw.ed.post(editorPath+"development", form).want(409).has(`role="alert"`, "The targeting was not saved: targeting was changed", `id="start-again"`, `id="targeting"`)
	if c := fw.config("checkout", "development"); c.Enabled {
		t.Fatal("the stale form overwrote the newer targeting")
	}
}

func TestTargetingViewerReadsButCannotSave(t *testing.T) {
	fw := newFlagWorld(t)
	page := fw.look.get(editorPath + "development").want(200)
	page.has(`id="read-only"`, `<fieldset id="targeting-fields" disabled>`, `value="germany"`).lacks(`id="save"`)
	form := formValues(t, page.body, "targeting")
	form.Set("action", "save")
	form.Set("rule.0.name", "viewer was here")
	fw.look.post(editorPath+"development", form).want(403)
	if c := fw.config("checkout", "development"); c.Rules[0].Name != "germany" {
		t.Fatal("a viewer changed the targeting")
	}
}

func TestTargetingFormWithoutCSRFIsRefused(t *testing.T) {
	fw := newFlagWorld(t)
	form := formValues(t, fw.ed.get(editorPath+"development").want(200).body, "targeting")
	form.Del("csrf")
	form.Set("rule.0.name", "forged")
	form.Set("action", "save")
	fw.ed.send("POST", editorPath+"development", form, http.Header{"Origin": {fw.srv.URL}}).want(403)
	form.Set("csrf", fw.ed.csrf)
	fw.ed.send("POST", editorPath+"development", form, http.Header{"Origin": {"https://evil.example"}}).want(403)
	if c := fw.config("checkout", "development"); c.Rules[0].Name != "germany" || c.Version != 1 {
		t.Fatal("a forged form changed the targeting")
	}
}

func TestTargetingEditsARequestsProposal(t *testing.T) {
	fw := newFlagWorld(t)
	cr := fw.requestProduction()
	path := editorPath + "production?request=" + cr.ID
	page := fw.ed.get(path).want(200)
	page.has("You are editing the proposal of change request", `name="request" value="`+cr.ID+`"`,
		`id="rule-0-name" name="rule.0.name" value="dutch"`, `id="rule-0-rollout" name="rule.0.rollout" value="10"`, `value="Checkout for the Dutch"`)
	form := formValues(t, page.body, "targeting")
	form.Set("action", "save")
	// the service's problems with a proposal land next to their fields too
	form.Set("rule.0.rollout", "120")
	fw.ed.post(editorPath+"production", form).want(422).has("The proposal was not saved", `<a href="#rule-0-rollout">Rule 1, rollout</a>`, `id="rule-0-rollout-error"`)
	form.Set("rule.0.rollout", "20")
	p := fw.ed.post(editorPath+"production", form).want(303)
	if p.location() != "/requests/"+cr.ID+"?done=edited" {
		t.Fatalf("redirect to %q", p.location())
	}
	rv, err := fw.svc.GetRequest(fw.ctx, fw.admin, cr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Changes[0].ProposedConfig.Rules[0].Rollout != 20 || rv.Revision != cr.Revision+1 {
		t.Fatalf("proposal %+v, revision %d", rv.Changes[0].ProposedConfig.Rules, rv.Revision)
	}
	// the production editor itself lists the pending request
	fw.ed.get(editorPath+"production").want(200).has(`id="pending-requests"`, "Checkout for the Dutch", "edit its proposal")
	// a request of another flag or environment is not edited here
	fw.ed.get(editorPath + "staging?request=" + cr.ID).want(404)
	// the form as it was (an old revision) is refused
	fw.ed.post(editorPath+"production", form).want(409)
}
