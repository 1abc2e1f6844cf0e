package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// pjFixture is a world with a project "shop" (its default environments),
// a member of each role, and each of them signed in.
type pjFixture struct {
	w                            *world
	admin, manager, editor, look *domain.Member
	ab, mb, eb, lb               *browser
}

func newPJFixture(t *testing.T) *pjFixture {
	t.Helper()
	w := newWorld(t)
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop", Name: "Shop", Description: "The web shop"}); err != nil {
		t.Fatal(err)
	}
	f := &pjFixture{w: w,
		admin:   w.member("ann@example.com", domain.RoleAdmin),
		manager: w.member("max@example.com", domain.RoleManager),
		editor:  w.member("eve@example.com", domain.RoleEditor),
		look:    w.member("vic@example.com", domain.RoleViewer),
	}
	f.ab, f.mb, f.eb, f.lb = w.signIn(f.admin), w.signIn(f.manager), w.signIn(f.editor), w.signIn(f.look)
	return f
}

func (f *pjFixture) projects() []string {
	f.w.t.Helper()
	ps, _, err := f.w.svc.ListProjects(f.w.ctx, f.w.admin, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		f.w.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func (f *pjFixture) env(key string) *domain.Environment {
	f.w.t.Helper()
	e, err := f.w.svc.GetEnvironment(f.w.ctx, f.w.admin, "shop", key)
	if err != nil {
		f.w.t.Fatal(err)
	}
	return e
}

func (f *pjFixture) settings(env string) *domain.ApprovalSettings {
	f.w.t.Helper()
	s, err := f.w.svc.GetApprovalSettings(f.w.ctx, f.w.admin, "shop", env)
	if err != nil {
		f.w.t.Fatal(err)
	}
	return s
}

func (f *pjFixture) sdkKeys(env string) []domain.SDKKey {
	f.w.t.Helper()
	ks, _, err := f.w.svc.ListSDKKeys(f.w.ctx, f.w.admin, "shop", env, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		f.w.t.Fatal(err)
	}
	return ks
}

// audited lists the audit entries that pass the filter.
func (f *pjFixture) audited(filter domain.AuditFilter) []domain.AuditEntry {
	f.w.t.Helper()
	es, _, err := f.w.svc.ListAudit(f.w.ctx, f.w.admin, filter, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		f.w.t.Fatal(err)
	}
	return es
}

func TestProjectsListShowsProjectsAndLinks(t *testing.T) {
	f := newPJFixture(t)
	p := f.lb.get("/projects").want(200).has(`id="project-shop"`, "Shop", "The web shop", `href="/projects/shop"`,
		`href="/projects/shop/environments"`, `id="org-approvals"`)
	p.lacks(`id="new-project"`, `id="toggle-approvals"`)
	f.mb.get("/projects").want(200).has(`id="new-project"`, `id="create-project"`, `id="toggle-approvals"`, `for="project-name"`, `for="project-key"`)
}

func TestProjectCreateByManager(t *testing.T) {
	f := newPJFixture(t)
	p := f.mb.post("/projects", url.Values{"name": {"Mobile App"}, "description": {"iOS and Android"}}).want(303)
	if got := p.location(); got != "/projects/mobile-app?done=project-created" {
		t.Fatalf("redirect to %q", got)
	}
	if !slices.Contains(f.projects(), "mobile-app") {
		t.Fatalf("projects %v lack mobile-app", f.projects())
	}
	f.mb.post("/projects", url.Values{"key": {"web"}, "name": {"Web"}}).want(303)
	f.lb.get("/projects").want(200).has("Mobile App", "iOS and Android", `id="project-web"`)
}

func TestProjectCreateRefusedForEditor(t *testing.T) {
	f := newPJFixture(t)
	f.eb.post("/projects", url.Values{"key": {"sneaky"}, "name": {"Sneaky"}}).want(403).has(`id="error"`)
	if slices.Contains(f.projects(), "sneaky") {
		t.Fatal("an editor created a project")
	}
}

func TestProjectCreateInvalidShowsFields(t *testing.T) {
	f := newPJFixture(t)
	p := f.mb.post("/projects", url.Values{"key": {"Not A Key!"}, "name": {""}, "description": {"kept"}}).want(422)
	p.has(`id="new-project-error"`, `id="project-key-error"`, `id="project-name-error"`, "is required", `aria-invalid="true"`,
		`value="Not A Key!"`, ">kept</textarea>")
	if len(f.projects()) != 1 {
		t.Fatalf("projects %v", f.projects())
	}
	// a key that is taken: 409, said next to the key
	f.mb.post("/projects", url.Values{"key": {"shop"}, "name": {"Another shop"}}).want(409).has(`id="project-key-error"`, `value="Another shop"`)
}

func TestOrgApprovalsSwitch(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	f.mb.get("/projects").want(200).has("Turn approvals on", `name="version" value="0"`)
	p := f.mb.post("/settings", url.Values{"approvals": {"on"}, "version": {"0"}}).want(303)
	if got := p.location(); got != "/projects?done=approvals-on" {
		t.Fatalf("redirect to %q", got)
	}
	o, err := w.svc.GetOrgSettings(w.ctx, w.admin)
	if err != nil || !o.Approvals {
		t.Fatalf("settings %+v, %v", o, err)
	}
	f.mb.get("/projects?done=approvals-on").want(200).has(`id="flash"`, "Approvals are on", "Turn approvals off")
	// the page it was rendered from is stale now
	f.mb.post("/settings", url.Values{"approvals": {"off"}, "version": {"0"}}).want(409)
	// editors see the switch, and may not turn it
	f.eb.post("/settings", url.Values{"approvals": {"off"}, "version": {strconv.FormatInt(o.Version, 10)}}).want(403)
	// a replacing write names its version
	f.mb.post("/settings", url.Values{"approvals": {"off"}}).want(422).has("version")
	if o, _ := w.svc.GetOrgSettings(w.ctx, w.admin); !o.Approvals {
		t.Fatal("approvals were turned off")
	}
	if es := f.audited(domain.AuditFilter{Actor: "member:" + f.manager.ID}); len(pjActions(es, "settings.updated")) != 1 {
		t.Fatalf("audit %+v", es)
	}
}

// Turning approvals off while they are on weakens the rules: the form's
// answer is the governance request it opened, whose page shows what
// weakens; approvals stay on until another admin approves it.
func TestOrgApprovalsOffIsAGovernanceRequest(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	f.mb.post("/settings", url.Values{"approvals": {"on"}, "version": {"0"}}).want(303)
	p := f.mb.post("/settings", url.Values{"approvals": {"off"}, "version": {"1"}}).want(303)
	loc := p.location()
	if !strings.HasPrefix(loc, "/requests/cr_") || !strings.HasSuffix(loc, "?done=governance-requested") {
		t.Fatalf("redirect to %q", loc)
	}
	f.mb.get(loc).want(200).has(`id="flash"`, "another admin must approve it", "approvals", "true", "false")
	if o, _ := w.svc.GetOrgSettings(w.ctx, w.admin); !o.Approvals {
		t.Fatal("approvals went off without a second admin")
	}
}

func TestEnvironmentsListCreateProtect(t *testing.T) {
	f := newPJFixture(t)
	p := f.eb.get("/projects/shop/environments").want(200)
	p.has(`id="env-production"`, `id="env-staging"`, `id="env-development"`, "protected",
		`href="/projects/shop/environments/production/approvals"`, `href="/projects/shop"`)
	p.lacks(`id="new-environment"`, `id="protect-staging"`, `/sdk-keys"`)
	f.ab.get("/projects/shop/environments").want(200).has(`href="/projects/shop/environments/production/sdk-keys"`)

	// managers create environments
	f.mb.get("/projects/shop/environments").want(200).has(`id="new-environment"`, `id="create-environment"`, `id="protect-staging"`)
	p = f.mb.post("/projects/shop/environments", url.Values{"name": {"QA"}, "key": {"qa"}, "protected": {"on"}}).want(303)
	if got := p.location(); got != "/projects/shop/environments?done=environment-created" {
		t.Fatalf("redirect to %q", got)
	}
	if e := f.env("qa"); !e.Protected || e.Name != "QA" {
		t.Fatalf("qa %+v", e)
	}
	f.mb.post("/projects/shop/environments", url.Values{"name": {"QA again"}, "key": {"qa"}}).want(409).has(`id="environment-key-error"`)
	f.mb.post("/projects/shop/environments", url.Values{"name": {""}, "key": {"Bad Key"}}).want(422).
		has(`id="environment-name-error"`, `id="environment-key-error"`, `value="Bad Key"`)
	f.eb.post("/projects/shop/environments", url.Values{"name": {"Mine"}}).want(403)
	if _, err := f.w.svc.GetEnvironment(f.w.ctx, f.w.admin, "shop", "mine"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("an editor's environment: %v", err)
	}

	// protect staging, with the version the page showed
	st := f.env("staging")
	if st.Protected {
		t.Fatal("staging is protected from the start")
	}
	v := strconv.FormatInt(st.Version, 10)
	p = f.mb.post("/projects/shop/environments/staging", url.Values{"protected": {"on"}, "version": {v}}).want(303)
	if got := p.location(); got != "/projects/shop/environments?done=environment-protected" {
		t.Fatalf("redirect to %q", got)
	}
	if !f.env("staging").Protected {
		t.Fatal("staging is not protected")
	}
	f.mb.get("/projects/shop/environments?done=environment-protected").want(200).has("The environment is protected now.", "Unprotect Staging")
	// the same form again is stale
	f.mb.post("/projects/shop/environments/staging", url.Values{"protected": {"off"}, "version": {v}}).want(409)
	f.eb.post("/projects/shop/environments/staging", url.Values{"protected": {"off"}, "version": {strconv.FormatInt(f.env("staging").Version, 10)}}).want(403)
	if !f.env("staging").Protected {
		t.Fatal("staging lost its protection")
	}
	if es := f.audited(domain.AuditFilter{Project: "shop", Environment: "staging"}); len(es) != 1 || es[0].Action != "environment.updated" || es[0].Actor != "member:"+f.manager.ID {
		t.Fatalf("audit %+v", es)
	}
}

func TestApprovalSettingsReadOnlyForEditor(t *testing.T) {
	f := newPJFixture(t)
	p := f.eb.get("/projects/shop/environments/production/approvals").want(200)
	p.has(`id="approval-settings-view"`, "every flag's changes", `id="read-only"`, `id="defaults"`, `id="approvals-off"`)
	p.lacks(`id="approval-settings"`, `<form method="post" action="/projects/shop/environments/production/approvals"`, `id="save-approvals"`)
	f.lb.get("/projects/shop/environments/staging/approvals").want(200).has("no change").lacks(`id="save-approvals"`)
	// and its post is refused by the service
	f.eb.post("/projects/shop/environments/production/approvals", url.Values{"version": {"0"}, "required": {"off"}, "min_approvals": {"1"},
		"reviewers": {"peer"}, "auto_approve_after": {"never"}, "apply": {"manual"}}).want(403)
	if s := f.settings("production"); s.Version != 0 || s.Required != domain.RequiredAll {
		t.Fatalf("settings %+v", s)
	}
}

// approvalForm is a full approval settings form.
func approvalForm(version int64) url.Values {
	return url.Values{
		"version": {strconv.FormatInt(version, 10)}, "required": {"tags"}, "tags": {"checkout, payments"}, "min_approvals": {"2"},
		"allow_self_approval": {"on"}, "reviewers": {"peer"}, "auto_approve_after": {"48h"}, "expire_after": {"168h"},
		"apply": {"on_approval"}, "lock_while_pending": {"on"}, "allow_unapproved_schedule_deletion": {"on"},
	}
}

func TestApprovalSettingsSavedByManager(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	// a bypass grant set through the API survives the page's save
	grant := f.settings("production")
	grant.Bypass = []domain.BypassGrant{{MemberID: f.admin.ID}}
	if _, err := w.svc.UpdateApprovalSettings(w.ctx, w.admin, "shop", "production", &grant.Version, grant); err != nil {
		t.Fatal(err)
	}
	page := f.mb.get("/projects/shop/environments/production/approvals").want(200)
	page.has(`id="approval-settings"`, `id="save-approvals"`, `id="required-all" checked`, `id="min-approvals"`, `for="min-approvals"`,
		`id="reviewer-`+f.editor.ID+`"`, `id="reviewer-`+f.admin.ID+`"`, "eve", `id="bypass-grants"`, "ann", `name="version" value="1"`)
	page.lacks(`id="reviewer-` + f.look.ID + `"`) // viewers may not review

	form := approvalForm(1)
	form.Set("reviewers", "designated")
	form["designated_reviewers"] = []string{f.editor.ID, f.manager.ID}
	p := f.mb.post("/projects/shop/environments/production/approvals", form).want(303)
	if got := p.location(); got != "/projects/shop/environments/production/approvals?done=approval-settings-saved" {
		t.Fatalf("redirect to %q", got)
	}
	s := f.settings("production")
	want := domain.ApprovalSettings{Project: "shop", Environment: "production", Required: domain.RequiredTags, Tags: []string{"checkout", "payments"},
		MinApprovals: 2, AllowSelfApproval: true, Reviewers: domain.ReviewersDesignated, DesignatedReviewers: []string{f.editor.ID, f.manager.ID},
		AutoApproveAfter: "48h", ExpireAfter: "168h", Apply: domain.ApplyOnApproval, LockWhilePending: true, AllowUnapprovedScheduleDeletion: true,
		Bypass: []domain.BypassGrant{{MemberID: f.admin.ID}}, Version: 2}
	s.UpdatedAt = time.Time{}
	if got, exp := strings.ReplaceAll(pjDump(s), " ", ""), strings.ReplaceAll(pjDump(&want), " ", ""); got != exp {
		t.Fatalf("stored\n%s\nwant\n%s", got, exp)
	}
	es := f.audited(domain.AuditFilter{Project: "shop", Environment: "production", Actor: "member:" + f.manager.ID})
	if len(es) != 1 || es[0].Action != "approval_settings.updated" {
		t.Fatalf("audit %+v", es)
	}
	f.mb.get("/projects/shop/environments/production/approvals?done=approval-settings-saved").want(200).
		has("The approval settings are saved.", `id="required-tags" checked`, `value="checkout, payments"`, `id="reviewer-`+f.editor.ID+`" checked`,
			`id="apply-on-approval" checked`, `<option value="48h" selected>`, `value="168h"`)
	f.eb.get("/projects/shop/environments/production/approvals").want(200).has("changes of flags tagged checkout, payments", "eve, max (and admins)")
}

func TestApprovalSettingsStaleVersion(t *testing.T) {
	f := newPJFixture(t)
	f.mb.post("/projects/shop/environments/staging/approvals", approvalForm(0)).want(303)
	// the second form still names version 0
	form := approvalForm(0)
	form.Set("min_approvals", "3")
	p := f.mb.post("/projects/shop/environments/staging/approvals", form).want(409)
	p.has(`id="settings-error"`, "current version is 1", `name="version" value="1"`, `value="2"`)
	if s := f.settings("staging"); s.MinApprovals != 2 || s.Version != 1 {
		t.Fatalf("settings %+v", s)
	}
	// no version at all is refused too
	form.Del("version")
	f.mb.post("/projects/shop/environments/staging/approvals", form).want(422)
}

func TestApprovalSettingsInvalidValues(t *testing.T) {
	f := newPJFixture(t)
	form := approvalForm(0)
	form.Set("min_approvals", "9")
	form.Set("expire_after", "soon")
	p := f.mb.post("/projects/shop/environments/staging/approvals", form).want(422)
	p.has(`id="settings-error"`, `id="min-approvals-error"`, "must be from 1 to 5", `id="expire-after-error"`, `value="9"`, `value="soon"`,
		`aria-invalid="true"`, `id="required-tags" checked`)
	form = approvalForm(0)
	form.Set("min_approvals", "two")
	f.mb.post("/projects/shop/environments/staging/approvals", form).want(422).has(`id="min-approvals-error"`, "whole number", `value="two"`)
	form = approvalForm(0)
	form.Set("reviewers", "designated")
	form["designated_reviewers"] = []string{f.look.ID}
	f.mb.post("/projects/shop/environments/staging/approvals", form).want(422).has(`id="reviewers-error"`, "at least editors")
	form = approvalForm(0)
	form.Set("tags", "")
	f.mb.post("/projects/shop/environments/staging/approvals", form).want(422).has(`id="tags-error"`)
	if s := f.settings("staging"); s.Version != 0 {
		t.Fatalf("settings were written: %+v", s)
	}
}

var newSecret = regexp.MustCompile(`<code id="new-sdk-key">([^<]+)</code>`)

func TestSDKKeysCreateRotateRevoke(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	f.ab.get("/projects/shop/environments/production/sdk-keys").want(200).has(`id="no-sdk-keys"`, `id="create-sdk-key"`, `for="sdk-key-name"`)

	// created: the secret is on the answer (200), once
	p := f.ab.post("/projects/shop/environments/production/sdk-keys", url.Values{"name": {"checkout service"}}).want(200)
	p.has(`class="secret"`, "shown only this once", "checkout service")
	m := newSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", p.body)
	}
	secret := m[1]
	keys := f.sdkKeys("production")
	if len(keys) != 1 || keys[0].Name != "checkout service" || keys[0].Hash != app.HashToken(secret) || !keys[0].Live(w.clock.Now()) {
		t.Fatalf("keys %+v (secret %s)", keys, secret)
	}
	id := keys[0].ID
	again := f.ab.get("/projects/shop/environments/production/sdk-keys").want(200)
	again.has(`id="key-`+id+`"`, `id="rotate-`+id+`"`, `id="revoke-`+id+`"`, `id="grace-`+id+`"`).lacks(secret, `id="new-sdk-key"`)
	f.ab.post("/projects/shop/environments/production/sdk-keys", url.Values{"name": {" "}}).want(422).has(`id="sdk-key-name-error"`)

	// rotated with a day's grace: a new secret, shown once; the old key works a day more
	p = f.ab.post("/projects/shop/environments/production/sdk-keys/"+id+"/rotate", url.Values{"grace": {"24h"}}).want(200)
	m = newSecret.FindStringSubmatch(p.body)
	if m == nil || m[1] == secret {
		t.Fatalf("no new secret on the page:\n%s", p.body)
	}
	p.has(`id="old-sdk-key"`, "works until")
	var old, next domain.SDKKey
	for _, k := range f.sdkKeys("production") {
		if k.ID == id {
			old = k
		} else {
			next = k
		}
	}
	if next.Hash != app.HashToken(m[1]) || next.Name != "checkout service" || old.ReplacedBy != next.ID {
		t.Fatalf("old %+v new %+v", old, next)
	}
	if old.ExpiresAt == nil || !old.ExpiresAt.Equal(w.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("old key expires at %v", old.ExpiresAt)
	}
	// a rotated key is not rotated twice; an unknown period is refused
	f.ab.post("/projects/shop/environments/production/sdk-keys/"+id+"/rotate", url.Values{}).want(409).has(`id="sdk-key-error"`)
	f.ab.post("/projects/shop/environments/production/sdk-keys/"+next.ID+"/rotate", url.Values{"grace": {"9999h"}}).want(422)

	// revoked: stops at once
	p = f.ab.post("/projects/shop/environments/production/sdk-keys/"+next.ID+"/revoke", nil).want(303)
	if got := p.location(); got != "/projects/shop/environments/production/sdk-keys?done=sdk-key-revoked" {
		t.Fatalf("redirect to %q", got)
	}
	for _, k := range f.sdkKeys("production") {
		if k.ID == next.ID && k.RevokedAt == nil {
			t.Fatal("the key is not revoked")
		}
	}
	f.ab.get("/projects/shop/environments/production/sdk-keys?done=sdk-key-revoked").want(200).has("The SDK key is revoked", "revoked ").lacks(`id="revoke-` + next.ID + `"`)
	if es := f.audited(domain.AuditFilter{Project: "shop", Environment: "production"}); len(es) != 3 {
		t.Fatalf("audit %+v", es)
	}
}

func TestSDKKeysForAdminsOnly(t *testing.T) {
	f := newPJFixture(t)
	k, err := f.w.svc.CreateSDKKey(f.w.ctx, f.w.admin, "shop", "production", app.SDKKeyInput{Name: "server"})
	if err != nil {
		t.Fatal(err)
	}
	base := "/projects/shop/environments/production/sdk-keys"
	for _, b := range []*browser{f.mb, f.eb, f.lb} {
		b.get(base).want(403).has(`id="error"`).lacks(k.ID)
		b.post(base, url.Values{"name": {"mine"}}).want(403)
		b.post(base+"/"+k.ID+"/rotate", url.Values{"grace": {""}}).want(403)
		b.post(base+"/"+k.ID+"/revoke", nil).want(403)
	}
	keys := f.sdkKeys("production")
	if len(keys) != 1 || keys[0].RevokedAt != nil || keys[0].ReplacedBy != "" {
		t.Fatalf("keys %+v", keys)
	}
}

func TestAuditFilters(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "blog", Name: "Blog"}); err != nil {
		t.Fatal(err)
	}
	day0 := w.clock.Now()
	// day 0: the manager protects the shop's staging
	st := f.env("staging")
	f.mb.post("/projects/shop/environments/staging", url.Values{"protected": {"on"}, "version": {strconv.FormatInt(st.Version, 10)}}).want(303)
	// day 2: the admin changes the blog's approval settings
	w.clock.Advance(48 * time.Hour)
	day2 := w.clock.Now()
	ab, lb := w.signIn(f.admin), w.signIn(f.look) // the sessions of day 0 are over
	ab.post("/projects/blog/environments/production/approvals", url.Values{"version": {"0"}, "required": {"all"}, "min_approvals": {"1"},
		"reviewers": {"peer"}, "auto_approve_after": {"never"}, "apply": {"manual"}}).want(303)
	if s, _ := w.svc.GetApprovalSettings(w.ctx, w.admin, "blog", "production"); s.Version != 1 {
		t.Fatalf("blog's settings %+v", s)
	}

	all := lb.get("/audit").want(200)
	all.has(`id="audit"`, "environment.updated", "approval_settings.updated", "max", "ann", `id="filter-actor"`, `value="member:`+f.manager.ID+`"`,
		`for="filter-from"`, `type="date"`)
	// newest first
	if strings.Index(all.body, "approval_settings.updated") > strings.Index(all.body, "environment.updated") {
		t.Fatal("the audit log is not newest first")
	}
	lb.get("/audit?project=shop").want(200).has("environment.updated", `<option value="shop" selected>`).lacks("approval_settings.updated")
	lb.get("/audit?actor=member:" + f.admin.ID).want(200).has("approval_settings.updated").lacks("environment.updated")
	lb.get("/audit?environment=staging").want(200).has("environment.updated").lacks("approval_settings.updated")

	date := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	// to is inclusive of its day; from starts at its day's midnight
	lb.get("/audit?to=" + date(day0)).want(200).has("environment.updated").lacks("approval_settings.updated")
	lb.get("/audit?from=" + date(day2)).want(200).has("approval_settings.updated").lacks("environment.updated")
	lb.get("/audit?from="+date(day0.AddDate(0, 0, 1))+"&to="+date(day2.AddDate(0, 0, -1))).want(200).has(`id="no-entries"`, "matches the filter")
	lb.get("/audit?from="+date(day0)+"&to="+date(day2)+"&project=blog").want(200).has("approval_settings.updated", `value="`+date(day0)+`"`)

	// bad filters name their parameter
	lb.get("/audit?from=yesterday").want(422).has(`id="error"`, "<code>from</code>")
	lb.get("/audit?to=" + date(day0) + "T00:00").want(422).has("<code>to</code>")
	lb.get("/audit?actor=ann").want(422).has("<code>actor</code>")
	lb.get("/audit?project=Not%20a%20key").want(422).has("<code>project</code>")
	lb.get("/audit?from=" + date(day2) + "&to=" + date(day0)).want(422).has("<code>to</code>")
	lb.get("/audit?cursor=%25%25").want(422).has("<code>cursor</code>")
}

func TestAuditPagination(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	s := f.settings("development")
	for i := range 55 {
		s.MinApprovals = 1 + i%5
		out, err := w.svc.UpdateApprovalSettings(w.ctx, w.principal(f.manager), "shop", "development", &s.Version, s)
		if err != nil {
			t.Fatal(err)
		}
		s = out.Applied
		w.clock.Advance(time.Minute)
	}
	p := f.lb.get("/audit?project=shop").want(200).has(`id="older-entries"`)
	m := regexp.MustCompile(`href="(/audit\?[^"]+)" id="older-entries"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no link to older entries")
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(next, "project=shop") || !strings.Contains(next, "cursor=") {
		t.Fatalf("older entries at %q", next)
	}
	older := f.lb.get(next).want(200).lacks(`id="older-entries"`)
	if n := strings.Count(p.body, `<li id="entry-`) + strings.Count(older.body, `<li id="entry-`); n != 55 {
		t.Fatalf("%d entries over the two pages", n)
	}
}

func TestProjectFormsRefuseForgery(t *testing.T) {
	f := newPJFixture(t)
	srv := f.w.srv.URL
	form := func() url.Values { return url.Values{"key": {"forged"}, "name": {"Forged"}} }
	// no token
	f.mb.send("POST", "/projects", form(), http.Header{"Origin": {srv}}).want(403)
	// a wrong token
	bad := form()
	bad.Set("csrf", "not-the-token")
	f.mb.send("POST", "/projects", bad, http.Header{"Origin": {srv}}).want(403)
	// the right token, from another origin
	other := form()
	other.Set("csrf", f.mb.csrf)
	f.mb.send("POST", "/projects", other, http.Header{"Origin": {"https://evil.example"}}).want(403)
	if slices.Contains(f.projects(), "forged") {
		t.Fatal("a forged form created a project")
	}
	st := f.env("staging")
	f.mb.send("POST", "/projects/shop/environments/staging", url.Values{"protected": {"on"}, "version": {strconv.FormatInt(st.Version, 10)}},
		http.Header{"Origin": {srv}}).want(403)
	f.ab.send("POST", "/projects/shop/environments/production/sdk-keys", url.Values{"name": {"forged"}, "csrf": {f.ab.csrf}},
		http.Header{"Origin": {"https://evil.example"}}).want(403)
	if f.env("staging").Protected || len(f.sdkKeys("production")) != 0 {
		t.Fatal("a forged form changed something")
	}
}

func TestUnknownProjectOrEnvironment(t *testing.T) {
	f := newPJFixture(t)
	for _, path := range []string{
		"/projects/nope/environments",
		"/projects/nope/environments/production/approvals",
		"/projects/shop/environments/nope/approvals",
	} {
		f.eb.get(path).want(404).has(`id="error"`, "not found")
	}
	f.ab.get("/projects/shop/environments/nope/sdk-keys").want(404)
	f.ab.post("/projects/shop/environments/nope/sdk-keys", url.Values{"name": {"x"}}).want(404)
	f.mb.post("/projects/nope/environments", url.Values{"name": {"QA"}}).want(404)
	f.mb.post("/projects/shop/environments/nope", url.Values{"protected": {"on"}, "version": {"1"}}).want(404)
	f.mb.post("/projects/shop/environments/nope/approvals", approvalForm(0)).want(404)
	f.ab.post("/projects/shop/environments/production/sdk-keys/sk_nope/revoke", nil).want(404)
}

// pjDump prints approval settings for comparing.
func pjDump(s *domain.ApprovalSettings) string {
	return strings.Join([]string{s.Project, s.Environment, string(s.Required), strings.Join(s.Tags, ","), strconv.Itoa(s.MinApprovals),
		strconv.FormatBool(s.AllowSelfApproval), strconv.FormatBool(s.RejectionBlocksApply), string(s.Reviewers), strings.Join(s.DesignatedReviewers, ","),
		s.AutoApproveAfter, s.ExpireAfter, string(s.Apply), strconv.FormatBool(s.LockWhilePending), strconv.FormatBool(s.APITokenBypass),
		strconv.FormatBool(s.AllowUnapprovedScheduleDeletion), pjGrants(s.Bypass), strconv.FormatInt(s.Version, 10)}, "|")
}

func pjGrants(gs []domain.BypassGrant) string {
	var out []string
	for _, g := range gs {
		out = append(out, g.MemberID+"/"+g.TokenID)
	}
	return strings.Join(out, ",")
}

// pjActions keeps the entries of one action.
func pjActions(es []domain.AuditEntry, action domain.AuditAction) []domain.AuditEntry {
	var out []domain.AuditEntry
	for _, e := range es {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}
