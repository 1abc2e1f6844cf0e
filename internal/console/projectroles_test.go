package console_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A project's pages offer what the viewer's role in that project allows
// (their project role, or their organisation role where they have none),
// the role the service authorises with; the organisation's pages offer
// what their organisation role allows.

// roleWorld is two projects, "shop" and "other", each with its default
// environments and a flag "checkout".
type roleWorld struct{ *world }

func newRoleWorld(t *testing.T) *roleWorld {
	t.Helper()
	w := newWorld(t)
	for _, key := range []string{"shop", "other"} {
		if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: key, Name: strings.ToUpper(key[:1]) + key[1:]}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.CreateFlag(w.ctx, w.admin, key, app.FlagInput{Key: "checkout", Name: "Checkout", Variants: []domain.Variant{
			{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
			t.Fatal(err)
		}
	}
	return &roleWorld{w}
}

// withProjectRoles adds a member with an organisation role and project
// roles, as an admin does.
func (rw *roleWorld) withProjectRoles(email string, org domain.Role, projects map[string]domain.Role) *domain.Member {
	rw.t.Helper()
	m, err := rw.svc.CreateMember(rw.ctx, rw.admin, app.MemberInput{Email: email, Name: strings.Split(email, "@")[0], Role: org, Projects: projects})
	if err != nil {
		rw.t.Fatal(err)
	}
	return m
}

func (rw *roleWorld) env(project, key string) *domain.Environment {
	rw.t.Helper()
	e, err := rw.svc.GetEnvironment(rw.ctx, rw.admin, project, key)
	if err != nil {
		rw.t.Fatal(err)
	}
	return e
}

func (rw *roleWorld) config(project, env string) *domain.FlagConfig {
	rw.t.Helper()
	c, err := rw.svc.GetFlagConfig(rw.ctx, rw.admin, project, "checkout", env)
	if err != nil {
		rw.t.Fatal(err)
	}
	return c
}

// the manager forms of the environments page, and its Protection column
var managerForms = []string{`<th scope="col">Protection</th>`, `id="protect-form-production"`, `id="origins-production"`, `id="new-environment"`}

// the edit forms and links of a flag's page
var flagEditForms = []string{`id="archive"`, `id="maintainer-team-form"`, `id="client-exposure-form"`, `id="edit-production"`, `id="promote-production"`}

func TestProjectManagerByProjectRoleGetsTheManagerForms(t *testing.T) {
	rw := newRoleWorld(t)
	pat := rw.withProjectRoles("pat@example.com", domain.RoleViewer, map[string]domain.Role{"shop": domain.RoleManager})
	b := rw.signIn(pat)

	page := b.get("/projects/shop/environments").want(200).has(managerForms...)
	// the allowed origins form, as the page renders it, saves
	form := formValues(t, page.body, "origins-production")
	form.Set("allowed_origins", "https://app.example.com")
	if got := b.post("/projects/shop/environments/production", form).want(303).location(); got != "/projects/shop/environments?done=allowed-origins-saved" {
		t.Fatalf("redirect to %q", got)
	}
	if e := rw.env("shop", "production"); !slices.Equal(e.AllowedOrigins, []string{"https://app.example.com"}) {
		t.Fatalf("origins %q", e.AllowedOrigins)
	}
	b.get("/projects/shop/environments/production/approvals").want(200).has(`id="approval-settings"`)

	// in the other project, where the organisation role (viewer) is theirs,
	// none of them, and the service agrees
	other := b.get("/projects/other/environments").want(200).lacks(managerForms...)
	if !strings.Contains(other.body, `id="allowed-origins-production"`) {
		t.Fatalf("the other project's environments are not shown:\n%s", other.body)
	}
	b.get("/projects/other/environments/production/approvals").want(200).lacks(`id="approval-settings"`)
	b.post("/projects/other/environments/production", originsForm("https://app.example.com", rw.env("other", "production").Version)).want(403)
	if e := rw.env("other", "production"); len(e.AllowedOrigins) != 0 {
		t.Fatalf("a viewer of the project saved its origins: %q", e.AllowedOrigins)
	}
	// the organisation's page keeps the organisation role
	b.get("/projects").want(200).lacks(`id="org-settings"`, `id="new-project"`)
}

func TestProjectAdminByProjectRoleGetsTheSDKKeysLink(t *testing.T) {
	rw := newRoleWorld(t)
	ada := rw.withProjectRoles("ada@example.com", domain.RoleEditor, map[string]domain.Role{"shop": domain.RoleAdmin})
	b := rw.signIn(ada)
	b.get("/projects/shop/environments").want(200).has(`id="sdk-keys-production"`)
	b.get("/projects/other/environments").want(200).lacks(`id="sdk-keys-production"`)
	// the organisation's pages keep the organisation role
	b.get("/members").want(200).lacks(`id="invite"`, `action="/members"`)
}

// The domain lets a project role lower any organisation role but admin
// (an organisation admin is an admin everywhere): a manager who is a
// viewer in one project is offered nothing to change there.
func TestDemotedInAProjectGetsNoEditForms(t *testing.T) {
	rw := newRoleWorld(t)
	dee := rw.withProjectRoles("dee@example.com", domain.RoleManager, map[string]domain.Role{"shop": domain.RoleViewer})
	b := rw.signIn(dee)

	b.get("/projects/shop/environments").want(200).lacks(managerForms...)
	b.get("/projects/shop/environments/production/approvals").want(200).lacks(`id="approval-settings"`)
	b.get("/projects/shop").want(200).lacks(`id="new-flag-form"`)
	b.get("/projects/shop/flags/checkout").want(200).lacks(flagEditForms...).has("See the targeting form")
	b.get("/projects/shop/flags/checkout/targeting/production").want(200).has(`id="read-only"`).lacks(`id="save"`)
	// the service refuses them too
	before := rw.env("shop", "production")
	b.post("/projects/shop/environments/production", originsForm("https://app.example.com", before.Version)).want(403)
	if e := rw.env("shop", "production"); e.Version != before.Version {
		t.Fatalf("a viewer of the project changed an environment: %+v", e)
	}

	// elsewhere their organisation role is theirs
	b.get("/projects/other/environments").want(200).has(managerForms...)
	b.get("/projects/other/flags/checkout").want(200).has(flagEditForms...)
	b.get("/projects").want(200).has(`id="org-settings"`, `id="new-project"`)
}

func TestEditorByProjectRoleGetsTheFlagEditLinks(t *testing.T) {
	rw := newRoleWorld(t)
	ed := rw.withProjectRoles("ed@example.com", domain.RoleViewer, map[string]domain.Role{"shop": domain.RoleEditor})
	b := rw.signIn(ed)

	b.get("/projects/shop").want(200).has(`id="new-flag-form"`)
	b.get("/projects/shop/flags/checkout").want(200).has(flagEditForms...)
	page := b.get("/projects/shop/flags/checkout/targeting/staging").want(200).has(`id="save"`).lacks(`id="read-only"`)
	form := formValues(t, page.body, "targeting")
	form.Set("enabled", "on")
	form.Set("action", "save")
	if got := b.post("/projects/shop/flags/checkout/targeting/staging", form).want(303).location(); got != "/projects/shop/flags/checkout?done=saved" {
		t.Fatalf("redirect to %q", got)
	}
	if c := rw.config("shop", "staging"); !c.Enabled {
		t.Fatalf("the targeting was not saved: %+v", c)
	}
	// not a manager there: no manager form
	b.get("/projects/shop/environments").want(200).lacks(managerForms...)

	// in the other project they are a viewer
	b.get("/projects/other").want(200).lacks(`id="new-flag-form"`)
	b.get("/projects/other/flags/checkout").want(200).lacks(flagEditForms...)
	b.get("/projects/other/flags/checkout/targeting/staging").want(200).has(`id="read-only"`).lacks(`id="save"`)
}

// A member kept out of a project (project role none) meets its targeting
// form as one of a project that does not exist, and changes nothing.
func TestTargetingFormOfAProjectKeptOutOfIsNotFound(t *testing.T) {
	rw := newRoleWorld(t)
	nia := rw.withProjectRoles("nia@example.com", domain.RoleViewer, map[string]domain.Role{"shop": domain.RoleNone})
	b := rw.signIn(nia)
	form := url.Values{"enabled": {"on"}, "action": {"save"}, "version": {"1"}}
	missing := b.post("/projects/nope/flags/checkout/targeting/staging", form).want(404)
	got := b.post("/projects/shop/flags/checkout/targeting/staging", form).want(404)
	if strings.ReplaceAll(got.body, "shop", "nope") != missing.body {
		t.Fatalf("a project kept out of answers otherwise than a missing one:\n%s\n%s", got.body, missing.body)
	}
	if c := rw.config("shop", "staging"); c.Enabled {
		t.Fatal("a member kept out of the project changed its targeting")
	}
}
