package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// ---- helpers ----

// peopleAdmin is the bootstrap admin member: the only admin of a new world.
func (w *world) peopleAdmin() *domain.Member {
	w.t.Helper()
	m, err := w.svc.GetMember(w.ctx, w.admin, w.admin.MemberID)
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// storedMember reads a member from the store, nil when there is none.
func (w *world) storedMember(id string) *domain.Member {
	w.t.Helper()
	m, err := w.store.GetMember(w.ctx, id)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// storedMemberByEmail finds a member by address in the store.
func (w *world) storedMemberByEmail(email string) *domain.Member {
	w.t.Helper()
	ms, _, err := w.store.ListMembers(w.ctx, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == email {
			return &m
		}
	}
	return nil
}

// peopleAudit lists the audit entries with action about member.
func (w *world) peopleAudit(action domain.AuditAction, member string) []domain.AuditEntry {
	w.t.Helper()
	entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{}, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []domain.AuditEntry
	for _, e := range entries {
		if e.Action == action && e.Member == member {
			out = append(out, e)
		}
	}
	return out
}

// storedTokens lists a member's tokens in the store.
func (w *world) storedTokens(member string) []domain.Token {
	w.t.Helper()
	ts, _, err := w.store.ListTokens(w.ctx, member, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	return ts
}

// bearerGet calls the API with a token, and no cookie.
func (w *world) bearerGet(secret, path string) *page {
	return w.anonymous().send("GET", path, nil, http.Header{"Authorization": {"Bearer " + secret}})
}

var (
	peopleFormTag  = regexp.MustCompile(`<form\b[^>]*>`)
	peopleIDAttr   = regexp.MustCompile(`\sid="([^"]+)"`)
	peopleNewToken = regexp.MustCompile(`id="new-token"[^>]*>([^<]+)<`)
)

// peopleForms are the page's form tags.
func (p *page) peopleForms() []string { return peopleFormTag.FindAllString(p.body, -1) }

// peopleUniqueIDs fails when an element id is on the page twice.
func (p *page) peopleUniqueIDs() *page {
	p.t.Helper()
	seen := map[string]bool{}
	for _, m := range peopleIDAttr.FindAllStringSubmatch(p.body, -1) {
		if seen[m[1]] {
			p.t.Fatalf("%s: id %q twice", p.path, m[1])
		}
		seen[m[1]] = true
	}
	return p
}

// peopleNoInline fails on what the CSP would block.
func (p *page) peopleNoInline() *page {
	p.t.Helper()
	return p.lacks(" style=", "<style", "<script")
}

// ---- members ----

func TestMembersReadOnlyForNonAdmins(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleViewer)
	bob := w.member("bob@example.com", domain.RoleManager)
	for _, m := range []*domain.Member{ada, bob} {
		p := w.signIn(m).get("/members").want(200).peopleUniqueIDs().peopleNoInline()
		p.has("ada@example.com", "bob@example.com", "admin@localhost.localdomain", ">viewer<", ">manager<", ">admin<",
			"Only admins add, change and remove members.")
		if forms := p.peopleForms(); len(forms) != 1 || !strings.Contains(forms[0], `action="/logout"`) {
			t.Fatalf("%s sees forms other than sign-out: %q", m.Email, forms)
		}
		p.lacks(`id="invite"`, "/role", "/remove", "/invite", "session")
	}
}

func TestMembersAdminSeesForms(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	root := w.peopleAdmin()
	w.signIn(ada) // a live session to count
	p := w.signIn(root).get("/members").want(200).peopleUniqueIDs().peopleNoInline()
	p.has(`<form method="post" action="/members" id="invite"`, `id="invite-email"`, `for="invite-email"`,
		`for="invite-name"`, `for="invite-role"`, `id="invite-submit"`,
		`id="role-form-`+ada.ID+`"`, `action="/members/`+ada.ID+`/role"`, `name="version" value="1"`,
		`<label for="role-`+ada.ID+`">Role of ada</label>`, `id="change-role-`+ada.ID+`"`,
		`id="reinvite-`+ada.ID+`">Send ada a new invitation</button>`,
		`id="remove-`+ada.ID+`">Remove ada</button>`,
		`id="sessions-of-`+ada.ID+`">1 live session</a>`)
	// every form carries the CSRF token
	for _, f := range regexp.MustCompile(`(?s)<form\b.*?</form>`).FindAllString(p.body, -1) {
		if !strings.Contains(f, `name="csrf"`) {
			t.Fatalf("a form without the CSRF token: %s", f)
		}
	}
}

func TestInviteCreatesTheMemberAndInvites(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(w.peopleAdmin())
	p := b.post("/members", url.Values{"email": {" grace@example.com "}, "name": {"Grace Hopper"}, "role": {"editor"}}).want(303)
	if p.location() != "/members?done=member-added" {
		t.Fatalf("redirect to %q", p.location())
	}
	m := w.storedMemberByEmail("grace@example.com")
	if m == nil || m.Role != domain.RoleEditor || m.Name != "Grace Hopper" {
		t.Fatalf("member %+v", m)
	}
	if n := len(w.peopleAudit(domain.ActionMemberInvited, m.ID)); n != 1 {
		t.Fatalf("%d invitations audited, want 1", n)
	}
	if n := len(w.peopleAudit(domain.ActionMemberCreated, m.ID)); n != 1 {
		t.Fatalf("%d creations audited, want 1", n)
	}
	b.get(p.location()).want(200).has(`id="flash"`, "an invitation is on its way", "Grace Hopper")
}

func TestInviteInvalidShowsTheFieldMessages(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(w.peopleAdmin())
	p := b.post("/members", url.Values{"email": {"not an address"}, "name": {"Nemo"}, "role": {"owner"}}).want(422)
	p.peopleUniqueIDs().has(`id="refusal"`, `id="invite-email-error"`, "must be a plain e-mail address",
		`id="invite-role-error"`, "must be one of admin, manager, editor, viewer",
		`value="not an address"`, `value="Nemo"`, `aria-invalid="true"`)
	if m := w.storedMemberByEmail("not an address"); m != nil {
		t.Fatalf("member created: %+v", m)
	}
	// the same address twice: the store's conflict
	w.member("ada@example.com", domain.RoleViewer)
	b.post("/members", url.Values{"email": {"ada@example.com"}, "name": {"Ada 2"}, "role": {"viewer"}}).want(409).
		has(`id="refusal"`, "a member with e-mail ada@example.com already exists")
}

func TestRoleChangeIsAudited(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	root := w.peopleAdmin()
	b := w.signIn(root)
	p := b.post("/members/"+ada.ID+"/role", url.Values{"role": {"manager"}, "version": {"1"}}).want(303)
	if p.location() != "/members?done=member-role" {
		t.Fatalf("redirect to %q", p.location())
	}
	if got := w.storedMember(ada.ID); got.Role != domain.RoleManager || got.Version != 2 {
		t.Fatalf("member %+v", got)
	}
	entries := w.peopleAudit(domain.ActionMemberUpdated, ada.ID)
	if len(entries) != 1 || entries[0].Actor != "member:"+root.ID || entries[0].Diff == nil {
		t.Fatalf("audit %+v", entries)
	}
	b.get(p.location()).want(200).has("The role is changed.", `id="role-of-`+ada.ID+`">manager<`, `name="version" value="2"`)
	// from the member's page, back to it
	p = b.post("/members/"+ada.ID+"/role", url.Values{"role": {"viewer"}, "version": {"2"}, "from": {"member"}}).want(303)
	if p.location() != "/members/"+ada.ID+"?done=member-role" {
		t.Fatalf("redirect to %q", p.location())
	}
}

func TestRoleChangeWithAStaleVersionIsRefused(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	b := w.signIn(w.peopleAdmin())
	if _, err := w.svc.UpdateMember(w.ctx, w.admin, ada.ID, nil, func(m *domain.Member) error { m.Name = "Ada L."; return nil }); err != nil {
		t.Fatal(err)
	}
	b.post("/members/"+ada.ID+"/role", url.Values{"role": {"admin"}, "version": {"1"}}).want(409).
		peopleUniqueIDs().has(`id="refusal"`, "you sent version 1, the current version is 2", `id="role-form-`+ada.ID+`"`)
	if got := w.storedMember(ada.ID); got.Role != domain.RoleEditor {
		t.Fatalf("role changed: %+v", got)
	}
	// an unknown role is the app's 422
	b.post("/members/"+ada.ID+"/role", url.Values{"role": {"owner"}, "version": {"2"}}).want(422).
		has("Role: must be one of admin, manager, editor, viewer")
}

func TestTheLastAdminStays(t *testing.T) {
	w := newWorld(t)
	root := w.peopleAdmin()
	b := w.signIn(root)
	b.post("/members/"+root.ID+"/role", url.Values{"role": {"editor"}, "version": {"1"}}).want(409).
		has(`id="refusal"`, "is the last admin")
	b.post("/members/"+root.ID+"/remove", nil).want(409).
		has(`id="refusal"`, "is the last admin and cannot be removed")
	if got := w.storedMember(root.ID); got == nil || got.Role != domain.RoleAdmin {
		t.Fatalf("admin now %+v", got)
	}
	b.get("/members").want(200) // still signed in
}

func TestNonAdminsCannotManageMembers(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleViewer)
	eve := w.member("eve@example.com", domain.RoleManager)
	b := w.signIn(eve)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/members/" + ada.ID + "/role", url.Values{"role": {"admin"}, "version": {"1"}}},
		{"/members/" + eve.ID + "/role", url.Values{"role": {"admin"}, "version": {"1"}}}, // herself
		{"/members/" + ada.ID + "/remove", nil},
		{"/members/" + ada.ID + "/invite", nil},
		{"/members", url.Values{"email": {"mallory@example.com"}, "name": {"Mallory"}, "role": {"admin"}}},
	} {
		p := b.post(tc.path, tc.form).want(403)
		p.has(`id="refusal"`).lacks(`id="invite"`)
	}
	if got := w.storedMember(ada.ID); got == nil || got.Role != domain.RoleViewer || got.Version != 1 {
		t.Fatalf("ada now %+v", got)
	}
	if got := w.storedMember(eve.ID); got.Role != domain.RoleManager {
		t.Fatalf("eve now %+v", got)
	}
	if w.storedMemberByEmail("mallory@example.com") != nil {
		t.Fatal("mallory was added")
	}
	if n := len(w.peopleAudit(domain.ActionMemberInvited, ada.ID)); n != 1 {
		t.Fatalf("%d invitations, want the first only", n)
	}
}

func TestRemoveAndInviteAgain(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	adaBrowser := w.signIn(ada)
	b := w.signIn(w.peopleAdmin())

	p := b.post("/members/"+ada.ID+"/invite", nil).want(303)
	if p.location() != "/members?done=member-reinvited" {
		t.Fatalf("redirect to %q", p.location())
	}
	if n := len(w.peopleAudit(domain.ActionMemberInvited, ada.ID)); n != 2 {
		t.Fatalf("%d invitations audited, want 2", n)
	}

	p = b.post("/members/"+ada.ID+"/remove", url.Values{"from": {"member"}}).want(303)
	if p.location() != "/members?done=member-removed" {
		t.Fatalf("redirect to %q", p.location())
	}
	if w.storedMember(ada.ID) != nil {
		t.Fatal("ada is still a member")
	}
	if n := len(w.peopleAudit(domain.ActionMemberRemoved, ada.ID)); n != 1 {
		t.Fatalf("%d removals audited", n)
	}
	b.get(p.location()).want(200).has("The member is removed").lacks("ada@example.com")
	adaBrowser.get("/members").want(303) // her session ended
	// a member who is gone is not found
	b.post("/members/"+ada.ID+"/invite", nil).want(404)
	b.get("/members/" + ada.ID).want(404)
}

func TestMemberPageAndSessions(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	bob := w.member("bob@example.com", domain.RoleEditor)
	adaBrowser := w.signIn(ada)
	sessions, _, err := w.svc.ListMemberSessions(w.ctx, w.admin, ada.ID, domain.Page{Limit: 10})
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions %v %v", sessions, err)
	}
	sid := sessions[0].ID

	// ada sees her own sessions, not bob's, and no management forms
	adaBrowser.get("/members/"+ada.ID).want(200).peopleUniqueIDs().peopleNoInline().
		has(`id="sessions"`, "this session", `id="end-session-`+sid+`"`).lacks(`id="role-form-`)
	adaBrowser.get("/members/"+bob.ID).want(200).has("bob@example.com").lacks(`id="sessions-h"`, "<table")
	// nor can she end them
	adaBrowser.post("/members/"+bob.ID+"/sessions/"+sid+"/end", nil).want(403)

	// the admin does both
	b := w.signIn(w.peopleAdmin())
	b.get("/members/"+ada.ID).want(200).peopleUniqueIDs().
		has(`id="role-form-`+ada.ID+`"`, `name="from" value="member"`, `id="remove-`+ada.ID+`"`, `id="end-session-`+sid+`"`, "1 live session")
	p := b.post("/members/"+ada.ID+"/sessions/"+sid+"/end", nil).want(303)
	if p.location() != "/members/"+ada.ID+"?done=session-ended" {
		t.Fatalf("redirect to %q", p.location())
	}
	adaBrowser.get("/").want(303)
	b.get(p.location()).want(200).has("The session is ended.", "0 live sessions", "ended ").lacks(`id="end-session-` + sid + `"`)
	b.post("/members/"+ada.ID+"/sessions/s_nothing/end", nil).want(404)
}

// ---- tokens ----

func TestTokenSecretIsShownOnceAndWorks(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	b := w.signIn(ada)
	b.get("/tokens").want(200).peopleUniqueIDs().peopleNoInline().
		has(`id="no-tokens"`, `id="create-token"`, `for="token-name"`, `for="token-role"`, `value="editor"`).
		lacks(`value="manager"`, `value="admin"`, `id="service-tokens"`)

	p := b.post("/tokens", url.Values{"name": {"deploy script"}, "role": {""}}).want(200).peopleUniqueIDs()
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	m := peopleNewToken.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", p.body)
	}
	secret := m[1]
	p.has(`class="secret mono" id="new-token"`, "deploy script", "yours, as your role changes")
	if strings.Count(p.body, secret) != 1 {
		t.Fatal("the secret is on the page more than once")
	}
	ts := w.storedTokens(ada.ID)
	if len(ts) != 1 || ts[0].Name != "deploy script" || ts[0].Role != "" {
		t.Fatalf("tokens %+v", ts)
	}

	w.bearerGet(secret, "/v1/projects").want(200)
	b.get("/tokens").want(200).has("deploy script", `id="revoke-`+ts[0].ID+`">Revoke deploy script</button>`).
		lacks(secret, `id="new-token"`)

	p = b.post("/tokens/"+ts[0].ID+"/revoke", nil).want(303)
	if p.location() != "/tokens?done=token-revoked" {
		t.Fatalf("redirect to %q", p.location())
	}
	w.bearerGet(secret, "/v1/projects").want(401)
	b.get(p.location()).want(200).has("The token is revoked", "revoked ").lacks(`id="revoke-` + ts[0].ID + `"`)
}

func TestTokenCapAndValidation(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	b := w.signIn(ada)
	b.post("/tokens", url.Values{"name": {"too strong"}, "role": {"admin"}}).want(403).
		has(`id="refusal"`, "cannot have more rights").lacks(`id="new-token"`)
	b.post("/tokens", url.Values{"name": {""}, "role": {"viewer"}}).want(422).
		has(`id="token-name-error"`, "is required", `aria-invalid="true"`).lacks(`id="new-token"`)
	if ts := w.storedTokens(ada.ID); len(ts) != 0 {
		t.Fatalf("tokens %+v", ts)
	}
	p := b.post("/tokens", url.Values{"name": {"read only"}, "role": {"viewer"}}).want(200).has(`id="new-token"`, "at most viewer")
	if ts := w.storedTokens(ada.ID); len(ts) != 1 || ts[0].Role != domain.RoleViewer {
		t.Fatalf("tokens %+v", ts)
	}
	secret := peopleNewToken.FindStringSubmatch(p.body)[1]
	w.bearerGet(secret, "/v1/projects").want(200)
}

func TestOthersCannotRevokeAToken(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	bob := w.member("bob@example.com", domain.RoleManager)
	tok, err := w.svc.CreateToken(w.ctx, w.principal(ada), app.TokenInput{Name: "ada's"})
	if err != nil {
		t.Fatal(err)
	}
	bb := w.signIn(bob)
	bb.get("/tokens").want(200).lacks("ada&#39;s", tok.ID)
	bb.post("/tokens/"+tok.ID+"/revoke", nil).want(404)
	if ts := w.storedTokens(ada.ID); ts[0].RevokedAt != nil {
		t.Fatal("bob revoked ada's token")
	}
	w.bearerGet(tok.Secret, "/v1/projects").want(200)

	// admins see service tokens and may revoke anyone's
	svcTok, err := w.svc.CreateToken(w.ctx, w.admin, app.TokenInput{Name: "ci", Role: domain.RoleEditor, Service: true})
	if err != nil {
		t.Fatal(err)
	}
	b := w.signIn(w.peopleAdmin())
	b.get("/tokens").want(200).peopleUniqueIDs().has(`id="service-tokens"`, `id="token-`+svcTok.ID+`"`, "editor (service token)",
		`value="admin"`)
	b.post("/tokens/"+tok.ID+"/revoke", nil).want(303)
	w.bearerGet(tok.Secret, "/v1/projects").want(401)
	b.post("/tokens/"+svcTok.ID+"/revoke", nil).want(303)
	w.bearerGet(svcTok.Secret, "/v1/projects").want(401)
}

// ---- forged forms ----

func TestForgedFormsChangeNothing(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	root := w.peopleAdmin()
	b := w.signIn(root)
	tok, err := w.svc.CreateToken(w.ctx, w.principal(root), app.TokenInput{Name: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	origin := http.Header{"Origin": {w.srv.URL}}
	evil := http.Header{"Origin": {"https://evil.example"}}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/members", url.Values{"email": {"mallory@example.com"}, "name": {"Mallory"}, "role": {"admin"}}},
		{"/members/" + ada.ID + "/role", url.Values{"role": {"admin"}, "version": {"1"}}},
		{"/members/" + ada.ID + "/remove", url.Values{}},
		{"/members/" + ada.ID + "/invite", url.Values{}},
		{"/tokens", url.Values{"name": {"stolen"}}},
		{"/tokens/" + tok.ID + "/revoke", url.Values{}},
	} {
		// no token
		b.send("POST", tc.path, tc.form, origin).want(403).lacks(`id="new-token"`)
		// a wrong token
		forged := url.Values{"csrf": {"not-the-token"}}
		for k, v := range tc.form {
			forged[k] = v
		}
		b.send("POST", tc.path, forged, origin).want(403)
		// the right token, from another site
		withToken := url.Values{"csrf": {b.csrf}}
		for k, v := range tc.form {
			withToken[k] = v
		}
		b.send("POST", tc.path, withToken, evil).want(403).lacks(`id="new-token"`)
	}
	if w.storedMemberByEmail("mallory@example.com") != nil {
		t.Fatal("mallory was added")
	}
	if got := w.storedMember(ada.ID); got == nil || got.Role != domain.RoleEditor || got.Version != 1 {
		t.Fatalf("ada now %+v", got)
	}
	if n := len(w.peopleAudit(domain.ActionMemberInvited, ada.ID)); n != 1 {
		t.Fatalf("%d invitations", n)
	}
	ts := w.storedTokens(root.ID)
	for _, x := range ts {
		if x.Name == "stolen" {
			t.Fatal("a token was created")
		}
		if x.ID == tok.ID && x.RevokedAt != nil {
			t.Fatal("the token was revoked")
		}
	}
}
