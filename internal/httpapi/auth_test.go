package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/lambdahttp"
)

// The security tests of signing in: e-mailed links, sessions, CSRF, the
// limits, and what must never leak.

// browser is a person's browser on the API: a cookie jar, no token, and
// redirects not followed (so that they can be checked).
func (a *testAPI) browser() *testAPI {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	b := *a
	b.token = ""
	b.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &b
}

// cookie is the browser's cookie of that name, nil without one.
func (a *testAPI) cookie(name string) *http.Cookie {
	u, _ := url.Parse(a.srv.URL + "/")
	for _, c := range a.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func form() opt                 { return contentType("application/x-www-form-urlencoded") }
func csrfHeader(tok string) opt { return header("X-CSRF-Token", tok) }

var formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// member adds a member through the API (as the admin) and returns it.
func (a *testAPI) member(email string, role domain.Role) domain.Member {
	a.t.Helper()
	var m domain.Member
	a.do("POST", "/v1/members", map[string]any{"email": email, "name": strings.Split(email, "@")[0], "role": role}).want(a.t, 201).json(&m)
	return m
}

// link issues a member's sign-in link as the notifier does when it mails
// one, and returns its path.
func (a *testAPI) link(memberID string, purpose domain.LinkPurpose) string {
	a.t.Helper()
	tok, _, err := a.svc.IssueSignInLink(context.Background(), memberID, purpose)
	if err != nil {
		a.t.Fatal(err)
	}
	return "/signin/" + tok
}

// press opens a sign-in link's page in the browser and presses its button.
func (a *testAPI) press(path, next string) *response {
	a.t.Helper()
	page := a.do("GET", path, nil).want(a.t, 200)
	m := formCSRF.FindStringSubmatch(string(page.body))
	if m == nil {
		a.t.Fatalf("no form on the sign-in page: %s", page.body)
	}
	return a.do("POST", path, url.Values{"csrf": {m[1]}, "next": {next}}.Encode(), form())
}

// signedIn is a new browser signed in as the member, with its session's
// CSRF token.
func (a *testAPI) signedIn(memberID string) (b *testAPI, csrf string) {
	a.t.Helper()
	b = a.browser()
	b.press(a.link(memberID, domain.LinkSignIn), "").want(a.t, 303)
	var s struct {
		CSRFToken string `json:"csrf_token"`
	}
	b.do("GET", "/v1/session", nil).want(a.t, 200).json(&s)
	return b, s.CSRFToken
}

// auditActions lists the actions of the audit log, oldest first.
func (a *testAPI) auditActions() []domain.AuditEntry {
	a.t.Helper()
	var l struct{ Items []domain.AuditEntry }
	a.do("GET", "/v1/audit?limit=200", nil).want(a.t, 200).json(&l)
	slices.Reverse(l.Items)
	return l.Items
}

func countAction(entries []domain.AuditEntry, action domain.AuditAction) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// The whole e-mailed link: ten GETs change nothing, the POST signs in, the
// session answers, the link is then used up.
func TestSignInLinkGetChangesNothingPostSignsIn(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	path := a.link(m.ID, domain.LinkInvitation)
	b := a.browser()

	before := a.auditActions()
	var csrf string
	for range 10 {
		page := b.do("GET", path, nil).want(t, 200)
		body := string(page.body)
		if !strings.Contains(body, `<button type="submit" id="signin">Sign in</button>`) || !strings.Contains(body, "ada@example.com") || strings.Contains(body, "<script") {
			t.Fatalf("the sign-in page: %s", body)
		}
		if page.Header.Get("Referrer-Policy") != "same-origin" || page.Header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("the page's headers: %v", page.Header)
		}
		csrf = formCSRF.FindStringSubmatch(body)[1]
	}
	if after := a.auditActions(); len(after) != len(before) {
		t.Fatalf("GETs wrote audit entries: %d → %d", len(before), len(after))
	}
	var sessions struct{ Items []httpapi.SessionView }
	a.do("GET", "/v1/members/"+m.ID+"/sessions", nil).want(t, 200).json(&sessions)
	if len(sessions.Items) != 0 {
		t.Fatalf("GETs started sessions: %+v", sessions.Items)
	}

	res := b.do("POST", path, url.Values{"csrf": {csrf}, "next": {"/v1/session"}}.Encode(), form()).want(t, 303)
	if loc := res.Header.Get("Location"); loc != "/v1/session" {
		t.Fatalf("redirected to %q", loc)
	}
	var s httpapi.CurrentSessionView
	b.do("GET", "/v1/session", nil).want(t, 200).json(&s)
	if s.Member.ID != m.ID || s.Member.Email != "ada@example.com" || s.Member.Role != domain.RoleEditor || s.Channel != "email" || s.CSRFToken == "" {
		t.Fatalf("the session: %+v", s)
	}
	if want := a.clock.Now().Add(domain.DefaultSessionLifetime); !s.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %s, want %s", s.ExpiresAt, want)
	}
	if want := a.clock.Now().Add(domain.DefaultSessionIdleTimeout); !s.IdleExpiresAt.Equal(want) {
		t.Fatalf("idle until %s, want %s", s.IdleExpiresAt, want)
	}
	// every API route works with the session: a read
	b.do("GET", "/v1/projects", nil).want(t, 200)

	// replayed: gone, in either method, and the session stays one
	page := b.do("POST", path, url.Values{"csrf": {csrf}}.Encode(), form()).want(t, 410)
	if !strings.Contains(string(page.body), "used already") {
		t.Fatalf("a used link: %s", page.body)
	}
	b.do("GET", path, nil).want(t, 410)
	a.do("GET", "/v1/members/"+m.ID+"/sessions", nil).want(t, 200).json(&sessions)
	if len(sessions.Items) != 1 {
		t.Fatalf("sessions after a replay: %+v", sessions.Items)
	}
	entries := a.auditActions()
	var signedIn *domain.AuditEntry
	for i := range entries {
		if entries[i].Action == domain.ActionSignedIn {
			signedIn = &entries[i]
		}
	}
	if signedIn == nil || signedIn.Channel != "email" || signedIn.Member != m.ID || signedIn.Actor != "member:"+m.ID {
		t.Fatalf("the sign-in is audited with channel email: %+v", signedIn)
	}
}

// Refusals of a sign-in link's form: without the browser's cookie (a form
// posted from another site), with a wrong token, from another origin. None
// uses the link up.
func TestSignInFormRefusals(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleViewer)
	path := a.link(m.ID, domain.LinkSignIn)
	b := a.browser()
	page := b.do("GET", path, nil).want(t, 200)
	csrf := formCSRF.FindStringSubmatch(string(page.body))[1]

	// login CSRF: another site posts the attacker's link from the victim's
	// browser, which has no cookie of that page
	stranger := a.browser()
	stranger.do("POST", path, url.Values{"csrf": {csrf}}.Encode(), form()).want(t, 403)
	b.do("POST", path, url.Values{"csrf": {"forged"}}.Encode(), form()).want(t, 403)
	b.do("POST", path, "csrf=", form()).want(t, 403)
	b.do("POST", path, url.Values{"csrf": {csrf}}.Encode(), form(), header("Origin", "https://evil.example")).want(t, 403)
	b.do("POST", path, url.Values{"csrf": {csrf}}.Encode(), form(), header("Sec-Fetch-Site", "cross-site")).want(t, 403)
	// another link's form
	other := a.link(a.member("bob@example.com", domain.RoleViewer).ID, domain.LinkSignIn)
	b.do("POST", other, url.Values{"csrf": {csrf}}.Encode(), form()).want(t, 403)
	if b.cookie(httpapi.SessionCookie) != nil {
		t.Fatal("a refused form set a session cookie")
	}
	// the link still works
	b.do("POST", path, url.Values{"csrf": {csrf}}.Encode(), form(), header("Origin", a.srv.URL)).want(t, 303)
}

// Links that no longer work, made-up ones, and links of members who do not
// exist all get the same page: nobody learns whether a member exists.
func TestSignInLinkRefusalsDoNotTellMembership(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleViewer)
	real := a.link(m.ID, domain.LinkSignIn)
	secret := real[strings.LastIndex(real, ".")+1:]
	tampered := strings.TrimSuffix(real, secret) + strings.Repeat("a", len(secret))
	stranger := "/signin/s.m_nosuchmember2345." + secret
	b := a.browser()
	var bodies []string
	for _, p := range []string{tampered, stranger, "/signin/garbage", "/signin/s." + m.ID + ".short", "/signin/i." + m.ID + "." + secret} {
		r := b.do("GET", p, nil).want(t, 410)
		bodies = append(bodies, string(r.body))
	}
	for _, body := range bodies[1:] {
		if body != bodies[0] {
			t.Fatalf("refusals differ:\n%s\n%s", bodies[0], body)
		}
	}
	if strings.Contains(bodies[0], "ada") {
		t.Fatalf("the refusal names the member: %s", bodies[0])
	}
	b.do("GET", real, nil).want(t, 200)
}

// A new invitation replaces the old link; removing the member kills theirs.
func TestInvitationReplacesLinkAndRemovalKillsIt(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	first := a.link(m.ID, domain.LinkInvitation)
	a.browser().do("GET", first, nil).want(t, 200)

	r := a.do("POST", "/v1/members/"+m.ID+"/invitation", nil).want(t, 202)
	if !strings.Contains(string(r.body), "no longer works") {
		t.Fatalf("the answer: %s", r.body)
	}
	a.browser().do("GET", first, nil).want(t, 410)
	if n := countAction(a.auditActions(), domain.ActionMemberInvited); n != 2 {
		t.Fatalf("member.invited entries: %d, want 2 (creation, new invitation)", n)
	}
	second := a.link(m.ID, domain.LinkInvitation) // what the notifier mails
	a.browser().do("GET", second, nil).want(t, 200)
	// only admins invite; unknown members are 404
	_, editor := a.newMemberToken(domain.RoleEditor)
	a.do("POST", "/v1/members/"+m.ID+"/invitation", nil, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", "/v1/members/m_nobody/invitation", nil).wantProblem(t, 404, domain.CodeNotFound)

	a.do("DELETE", "/v1/members/"+m.ID, nil).want(t, 204)
	a.browser().do("GET", second, nil).want(t, 410)
	b := a.browser()
	b.do("POST", second, url.Values{"csrf": {"x"}}.Encode(), form()).want(t, 410)
}

// A removed member's session and a member whose role was lowered are
// refused (401) and their sessions end.
func TestSessionEndsWithMemberOrRole(t *testing.T) {
	a := newTestAPI(t)
	gone := a.member("gone@example.com", domain.RoleEditor)
	lowered := a.member("lowered@example.com", domain.RoleEditor)
	raised := a.member("raised@example.com", domain.RoleViewer)
	bGone, _ := a.signedIn(gone.ID)
	bLowered, _ := a.signedIn(lowered.ID)
	bRaised, _ := a.signedIn(raised.ID)

	a.do("DELETE", "/v1/members/"+gone.ID, nil).want(t, 204)
	bGone.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	if c := bGone.cookie(httpapi.SessionCookie); c != nil {
		t.Fatalf("the cookie of an ended session is not cleared: %v", c)
	}

	a.do("PATCH", "/v1/members/"+lowered.ID, map[string]any{"role": "viewer"}, mergePatch()).want(t, 200)
	bLowered.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	var l struct{ Items []httpapi.SessionView }
	a.do("GET", "/v1/members/"+lowered.ID+"/sessions", nil).want(t, 200).json(&l)
	if len(l.Items) != 1 || l.Items[0].RevokedAt == nil {
		t.Fatalf("the lowered member's session is not revoked: %+v", l.Items)
	}

	// a raised role keeps the session, with the new role
	a.do("PATCH", "/v1/members/"+raised.ID, map[string]any{"role": "editor"}, mergePatch()).want(t, 200)
	var s httpapi.CurrentSessionView
	bRaised.do("GET", "/v1/session", nil).want(t, 200).json(&s)
	if s.Member.Role != domain.RoleEditor {
		t.Fatalf("role after raising: %s", s.Member.Role)
	}
}

// The check at authentication holds even when revoking at the change did
// not happen (the store's revoke failed, or another instance): a session
// whose member's role is lower than the session's is refused.
func TestSessionRoleCheckedAtAuthentication(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	b, _ := a.signedIn(m.ID)
	// lower the role behind the application's back
	if _, err := a.store.UpdateMember(context.Background(), m.ID, func(m *domain.Member) error { m.Role = domain.RoleViewer; return nil }); err != nil {
		t.Fatal(err)
	}
	b.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	// and a member removed behind its back
	gone := a.member("gone@example.com", domain.RoleViewer)
	b, _ = a.signedIn(gone.ID)
	if err := a.store.DeleteMember(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	b.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// Sessions end after the idle timeout, and after the absolute lifetime
// however busy.
func TestSessionExpiry(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleViewer)

	idle, _ := a.signedIn(m.ID)
	a.clock.Advance(domain.DefaultSessionIdleTimeout - time.Minute)
	idle.do("GET", "/v1/projects", nil).want(t, 200) // used: the idle timeout moves on
	a.clock.Advance(domain.DefaultSessionIdleTimeout - time.Minute)
	idle.do("GET", "/v1/projects", nil).want(t, 200)
	a.clock.Advance(domain.DefaultSessionIdleTimeout + time.Second)
	idle.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)

	busy, _ := a.signedIn(m.ID)
	start := a.clock.Now()
	for a.clock.Now().Sub(start) < domain.DefaultSessionLifetime-11*time.Hour {
		a.clock.Advance(11 * time.Hour)
		busy.do("GET", "/v1/projects", nil).want(t, 200)
	}
	a.clock.Set(start.Add(domain.DefaultSessionLifetime))
	busy.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// Session lifetimes are configurable.
func TestSessionLifetimesConfigurable(t *testing.T) {
	a := newTestAPI(t)
	a.svc.SetSessionLifetimes(30*time.Minute, 2*time.Hour)
	m := a.member("ada@example.com", domain.RoleViewer)
	b, _ := a.signedIn(m.ID)
	var s httpapi.CurrentSessionView
	b.do("GET", "/v1/session", nil).want(t, 200).json(&s)
	if !s.IdleExpiresAt.Equal(a.clock.Now().Add(30*time.Minute)) || !s.ExpiresAt.Equal(a.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("the session's ends: %+v", s)
	}
	a.clock.Advance(31 * time.Minute)
	b.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// Cookie-authenticated changes need the session's CSRF token and a
// same-origin Origin; reads do not; bearer tokens need neither.
func TestCSRF(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleManager)
	b, csrf := a.signedIn(m.ID)
	body := func(key string) map[string]any { return map[string]any{"key": key, "name": key} }

	b.do("POST", "/v1/projects", body("missing")).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", body("wrong"), csrfHeader("not-the-token")).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", body("wrong"), csrfHeader(csrf+"x")).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", body("cross"), csrfHeader(csrf), header("Origin", "https://evil.example")).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", body("cross"), csrfHeader(csrf), header("Origin", "null")).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", body("cross"), csrfHeader(csrf), header("Sec-Fetch-Site", "cross-site")).wantProblem(t, 403, domain.CodeForbidden)
	// another member's CSRF token does not fit this session
	other, otherCSRF := a.signedIn(a.member("bob@example.com", domain.RoleManager).ID)
	b.do("POST", "/v1/projects", body("swapped"), csrfHeader(otherCSRF)).wantProblem(t, 403, domain.CodeForbidden)
	_ = other
	a.do("GET", "/v1/projects/missing", nil).wantProblem(t, 404, domain.CodeNotFound) // nothing was written

	b.do("POST", "/v1/projects", body("same-origin"), csrfHeader(csrf), header("Origin", a.srv.URL)).want(t, 201)
	b.do("POST", "/v1/projects", body("no-origin"), csrfHeader(csrf)).want(t, 201)
	b.do("GET", "/v1/projects/no-origin", nil).want(t, 200) // reads need no token
	b.do("DELETE", "/v1/session", nil).wantProblem(t, 403, domain.CodeForbidden)

	// a bearer token needs neither, even with a session cookie beside it
	_, tok := a.newMemberToken(domain.RoleManager)
	b.do("POST", "/v1/projects", body("bearer"), withToken(tok), header("Origin", "https://evil.example")).want(t, 201)
	a.do("POST", "/v1/projects", body("bearer-only"), withToken(tok)).want(t, 201)
}

// The base URL decides the origin: a request from another host name of the
// same server is refused.
func TestCSRFOriginIsTheBaseURL(t *testing.T) {
	a := newTestAPI(t)
	if err := a.api.SetBaseURL("http://flags.example.test:8080"); err != nil {
		t.Fatal(err)
	}
	m := a.member("ada@example.com", domain.RoleManager)
	b, csrf := a.signedIn(m.ID)
	b.do("POST", "/v1/projects", map[string]any{"key": "x", "name": "x"}, csrfHeader(csrf), header("Origin", a.srv.URL)).wantProblem(t, 403, domain.CodeForbidden)
	b.do("POST", "/v1/projects", map[string]any{"key": "x", "name": "x"}, csrfHeader(csrf), header("Origin", "http://flags.example.test:8080")).want(t, 201)
}

// A cookie the browser had before signing in is never kept: the sign-in
// sets a new id, and the old one does not work.
func TestSessionFixation(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	b := a.browser()
	u, _ := url.Parse(a.srv.URL + "/")
	planted := "attacker-chosen-session-value-0123456789abcdef"
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: planted, Path: "/"}})
	b.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: planted, Path: "/"}})

	b.press(a.link(m.ID, domain.LinkSignIn), "").want(t, 303)
	got := b.cookie(httpapi.SessionCookie)
	if got == nil || got.Value == planted {
		t.Fatalf("the sign-in kept the planted cookie: %v", got)
	}
	b.do("GET", "/v1/session", nil).want(t, 200)
	attacker := a.browser()
	attacker.client.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: planted, Path: "/"}})
	attacker.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)

	// signing in again in the same browser ends the session before
	first := got.Value
	b.press(a.link(m.ID, domain.LinkSignIn), "").want(t, 303)
	if second := b.cookie(httpapi.SessionCookie); second == nil || second.Value == first {
		t.Fatalf("a second sign-in kept the session id")
	}
	old := a.browser()
	old.client.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: first, Path: "/"}})
	old.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// next is followed only to a path on this site.
func TestSignInRedirectOnlySameOrigin(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleViewer)
	for next, want := range map[string]string{
		"":                             httpapi.HomePath,
		"/v1/projects?limit=5":         "/v1/projects?limit=5",
		"/account":                     "/account",
		"//evil.example":               httpapi.HomePath,
		"///evil.example":              httpapi.HomePath,
		"https://evil.example/":        httpapi.HomePath,
		"http:/evil.example":           httpapi.HomePath,
		`/\evil.example`:               httpapi.HomePath,
		`\\evil.example`:               httpapi.HomePath,
		"javascript:alert(1)":          httpapi.HomePath,
		"/\t/evil.example":             httpapi.HomePath,
		"/%2F%2Fevil.example":          httpapi.HomePath,
		"evil.example":                 httpapi.HomePath,
		" /evil":                       httpapi.HomePath,
		"/x?next=https://evil.example": "/x?next=https://evil.example",
	} {
		b := a.browser()
		res := b.press(a.link(m.ID, domain.LinkSignIn), next).want(t, 303)
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next %q: redirected to %q, want %q", next, got, want)
		}
		if got := httpapi.SafeNext(next); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// The session cookie's flags: HttpOnly, SameSite=Lax, Path=/, and Secure
// unless the base URL is plain http on loopback.
func TestSessionCookieFlags(t *testing.T) {
	for _, c := range []struct {
		base   string
		secure bool
	}{
		{"", false}, // derived from the request: http://127.0.0.1
		{"http://127.0.0.1:8080", false},
		{"http://localhost:8080", false},
		{"http://[::1]:8080", false},
		{"https://flags.example.com", true},
		{"https://127.0.0.1:8443", true},
		{"http://flags.example.com", true}, // plain http off loopback: Secure anyway (the cookie then does not work: use https)
	} {
		t.Run(c.base, func(t *testing.T) {
			a := newTestAPI(t)
			if err := a.api.SetBaseURL(c.base); err != nil {
				t.Fatal(err)
			}
			m := a.member("ada@example.com", domain.RoleViewer)
			b := a.browser()
			path := a.link(m.ID, domain.LinkSignIn)
			page := b.do("GET", path, nil).want(t, 200)
			csrf := formCSRF.FindStringSubmatch(string(page.body))[1]
			nonce := findCookie(page.Header, "countersign_signin")
			if nonce == nil || !nonce.HttpOnly || nonce.SameSite != http.SameSiteLaxMode || nonce.Secure != c.secure {
				t.Fatalf("the sign-in form's cookie: %+v", nonce)
			}
			req := "csrf=" + url.QueryEscape(csrf)
			res := b.do("POST", path, req, form(), header("Cookie", "countersign_signin="+nonce.Value)).want(t, 303)
			sc := findCookie(res.Header, httpapi.SessionCookie)
			if sc == nil {
				t.Fatalf("no session cookie: %v", res.Header["Set-Cookie"])
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Secure != c.secure || sc.MaxAge != int(domain.DefaultSessionLifetime/time.Second) || sc.Domain != "" {
				t.Fatalf("cookie %s: HttpOnly %v SameSite %v Path %q Secure %v (want %v) MaxAge %d Domain %q",
					res.Header["Set-Cookie"], sc.HttpOnly, sc.SameSite, sc.Path, sc.Secure, c.secure, sc.MaxAge, sc.Domain)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("a response that sets a session is cacheable")
			}
		})
	}
	a := newTestAPI(t)
	for _, bad := range []string{"ftp://x", "not a url", "https://"} {
		if err := a.api.SetBaseURL(bad); err == nil {
			t.Errorf("SetBaseURL(%q) accepted", bad)
		}
	}
}

func findCookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Sign-out: DELETE /v1/session (with the CSRF token) and the account
// page's button.
func TestSignOut(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleViewer)
	b, csrf := a.signedIn(m.ID)
	res := b.do("DELETE", "/v1/session", nil, csrfHeader(csrf)).want(t, 204)
	if c := findCookie(res.Header, httpapi.SessionCookie); c == nil || c.MaxAge >= 0 {
		t.Fatalf("sign-out does not clear the cookie: %v", res.Header["Set-Cookie"])
	}
	b.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)

	// the form's POST (the console's sign-out button), without JavaScript
	b, pageCSRF := a.signedIn(m.ID)
	b.do("POST", "/logout", "csrf=wrong", form()).want(t, 403)
	b.do("POST", "/logout", "csrf="+url.QueryEscape(pageCSRF), form(), header("Origin", "https://evil.example")).want(t, 403)
	b.do("GET", "/v1/session", nil).want(t, 200)
	res = b.do("POST", "/logout", "csrf="+url.QueryEscape(pageCSRF), form(), header("Origin", a.srv.URL)).want(t, 303)
	if res.Header.Get("Location") != "/login?signed_out=1" {
		t.Fatalf("after sign-out: %q", res.Header.Get("Location"))
	}
	b.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	if n := countAction(a.auditActions(), domain.ActionSignedOut); n != 2 {
		t.Fatalf("auth.signed_out entries: %d, want 2", n)
	}
	// with a token there is no session to end
	a.do("GET", "/v1/session", nil).wantProblem(t, 404, domain.CodeNotFound)
	a.do("DELETE", "/v1/session", nil).wantProblem(t, 404, domain.CodeNotFound)
}

// A signed-in member makes and revokes their own tokens with the session;
// the secret is shown once and works as a bearer token.
func TestPersonalTokensFromSession(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	b, csrf := a.signedIn(m.ID)

	b.do("POST", "/v1/tokens", map[string]any{"name": "laptop"}).wantProblem(t, 403, domain.CodeForbidden)
	var tok httpapi.TokenView
	b.do("POST", "/v1/tokens", map[string]any{"name": "laptop"}, csrfHeader(csrf)).want(t, 201).json(&tok)
	if tok.Token == "" || tok.MemberID != m.ID || tok.CreatedBy != "member:"+m.ID {
		t.Fatalf("the token: %+v", tok)
	}
	a.do("GET", "/v1/projects", nil, withToken(tok.Token)).want(t, 200)
	var own struct{ Items []httpapi.TokenView }
	b.do("GET", "/v1/tokens", nil).want(t, 200).json(&own)
	if len(own.Items) != 1 || own.Items[0].ID != tok.ID || own.Items[0].Token != "" {
		t.Fatalf("own tokens: %+v", own.Items)
	}

	// admins list and revoke any member's tokens, never reading a secret
	var theirs struct{ Items []httpapi.TokenView }
	r := a.do("GET", "/v1/tokens?member="+m.ID, nil).want(t, 200)
	r.json(&theirs)
	if len(theirs.Items) != 1 || strings.Contains(string(r.body), tok.Token) {
		t.Fatalf("the admin's list: %s", r.body)
	}
	_, viewer := a.newMemberToken(domain.RoleViewer)
	a.do("GET", "/v1/tokens?member="+m.ID, nil, withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	b.do("GET", "/v1/tokens?member="+m.ID, nil).want(t, 200)

	b.do("DELETE", "/v1/tokens/"+tok.ID, nil).wantProblem(t, 403, domain.CodeForbidden)
	b.do("DELETE", "/v1/tokens/"+tok.ID, nil, csrfHeader(csrf)).want(t, 204)
	a.do("GET", "/v1/projects", nil, withToken(tok.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)

	var second httpapi.TokenView
	b.do("POST", "/v1/tokens", map[string]any{"name": "ci"}, csrfHeader(csrf)).want(t, 201).json(&second)
	a.do("DELETE", "/v1/tokens/"+second.ID, nil).want(t, 204)
	a.do("GET", "/v1/projects", nil, withToken(second.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)
}

// Admins list and end any member's sessions, members their own; nobody
// reads a secret, a hash or another's CSRF token.
func TestMemberSessions(t *testing.T) {
	a := newTestAPI(t)
	m := a.member("ada@example.com", domain.RoleEditor)
	other := a.member("bob@example.com", domain.RoleEditor)
	b, csrf := a.signedIn(m.ID)
	b2, _ := a.signedIn(m.ID)
	bob, _ := a.signedIn(other.ID)

	r := a.do("GET", "/v1/members/"+m.ID+"/sessions", nil).want(t, 200)
	var l struct{ Items []httpapi.SessionView }
	r.json(&l)
	if len(l.Items) != 2 {
		t.Fatalf("sessions: %s", r.body)
	}
	var s httpapi.CurrentSessionView
	b.do("GET", "/v1/session", nil).want(t, 200).json(&s)
	if strings.Contains(string(r.body), s.CSRFToken) || strings.Contains(string(r.body), "hash") || strings.Contains(string(r.body), b.cookie(httpapi.SessionCookie).Value) {
		t.Fatalf("the list shows a secret: %s", r.body)
	}
	var own struct{ Items []httpapi.SessionView }
	b.do("GET", "/v1/members/"+m.ID+"/sessions", nil).want(t, 200).json(&own)
	current := 0
	for _, x := range own.Items {
		if x.Current {
			current++
			if x.ID != s.ID {
				t.Fatalf("current is %s, the session is %s", x.ID, s.ID)
			}
		}
	}
	if current != 1 {
		t.Fatalf("own list: %+v", own.Items)
	}
	bob.do("GET", "/v1/members/"+m.ID+"/sessions", nil).wantProblem(t, 403, domain.CodeForbidden)

	// the member ends their other session; the admin ends bob's
	var second httpapi.CurrentSessionView
	b2.do("GET", "/v1/session", nil).want(t, 200).json(&second)
	b.do("DELETE", "/v1/members/"+m.ID+"/sessions/"+second.ID, nil, csrfHeader(csrf)).want(t, 204)
	b2.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	b.do("GET", "/v1/session", nil).want(t, 200)
	var bobs struct{ Items []httpapi.SessionView }
	a.do("GET", "/v1/members/"+other.ID+"/sessions", nil).want(t, 200).json(&bobs)
	a.do("DELETE", "/v1/members/"+other.ID+"/sessions/"+bobs.Items[0].ID, nil).want(t, 204)
	bob.do("GET", "/v1/session", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
	// a session of someone else, under the wrong member: 404
	a.do("DELETE", "/v1/members/"+other.ID+"/sessions/"+s.ID, nil).wantProblem(t, 404, domain.CodeNotFound)
	if n := countAction(a.auditActions(), domain.ActionSessionRevoked); n != 2 {
		t.Fatalf("auth.session_revoked entries: %d, want 2", n)
	}
}

// Asking for a link answers the same to members and strangers, on the API
// and on the page, and takes about as long.
func TestSignInLinkRequestsDoNotTellMembership(t *testing.T) {
	a := newTestAPI(t)
	const rounds = 24
	for i := range rounds {
		a.member(fmt.Sprintf("member%d@example.com", i), domain.RoleViewer)
	}
	anon := a.browser()
	var memberJSON, strangerJSON, memberPage, strangerPage *response
	var member, stranger []time.Duration
	for i := range rounds {
		a.clock.Advance(app.SignInLinkWindow) // a fresh window for the client address (all requests come from 127.0.0.1)
		for _, who := range []string{"member", "stranger"} {
			addr := fmt.Sprintf("%s%d@example.com", who, i)
			start := time.Now() // wall clock: measures how long the request takes
			r := anon.do("POST", "/v1/auth/email-link", map[string]any{"email": addr}).want(t, 202)
			took := time.Since(start) // wall clock: measures how long the request takes
			p := anon.do("POST", "/login", "email="+url.QueryEscape(strings.ToUpper(addr)), form()).want(t, 202)
			if who == "member" {
				member, memberJSON, memberPage = append(member, took), r, p
			} else {
				stranger, strangerJSON, strangerPage = append(stranger, took), r, p
			}
		}
	}
	if string(memberJSON.body) != string(strangerJSON.body) || memberJSON.Header.Get("Content-Type") != strangerJSON.Header.Get("Content-Type") {
		t.Fatalf("the API answers differ:\n%s\n%s", memberJSON.body, strangerJSON.body)
	}
	if string(memberPage.body) != string(strangerPage.body) {
		t.Fatalf("the pages differ:\n%s\n%s", memberPage.body, strangerPage.body)
	}
	mm, sm := median(member), median(stranger)
	t.Logf("POST /v1/auth/email-link on bbolt, median of %d: member %s, stranger %s", rounds, mm, sm)
	if hi, lo := max(mm, sm), min(mm, sm); hi-lo > 2*time.Millisecond && hi > 2*lo {
		t.Errorf("members and strangers take measurably different times: member %s, stranger %s", mm, sm)
	}
	// only members were told: one sign_in_link_requested per member request
	if n := countAction(a.auditActions(), domain.ActionSignInLinkRequested); n != 2*rounds {
		t.Fatalf("auth.sign_in_link_requested entries: %d, want %d", n, 2*rounds)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// lambdaPost sends POST /v1/auth/email-link through the Lambda adapter,
// from sourceIP.
func lambdaPost(t *testing.T, h http.Handler, sourceIP, email string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/v1/auth/email-link", Body: `{"email":"` + email + `"}`,
		Headers: map[string]string{"content-type": "application/json", "host": "api.example.test"}}
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.SourceIP = "POST", "/v1/auth/email-link", sourceIP
	res, err := lambdahttp.Handler(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Five requests in fifteen minutes per address and per client address; the
// sixth is 429 with Retry-After. On Lambda the client address is API
// Gateway's sourceIp.
func TestSignInLinkRateLimits(t *testing.T) {
	a := newTestAPI(t)
	a.member("ada@example.com", domain.RoleViewer)
	// per address, from six client addresses
	for i := 1; i <= app.SignInLinkLimit; i++ {
		if res := lambdaPost(t, a.api, fmt.Sprintf("198.51.100.%d", i), "ada@example.com"); res.StatusCode != 202 {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, res.Body)
		}
	}
	res := lambdaPost(t, a.api, "198.51.100.99", "Ada@Example.com")
	if res.StatusCode != 429 || res.Headers["Retry-After"] != "900" || res.Headers["Content-Type"] != "application/problem+json" || !strings.Contains(res.Body, `"code":"rate_limited"`) {
		t.Fatalf("the 6th request for an address: %d %v %s", res.StatusCode, res.Headers, res.Body)
	}
	// a stranger's address is limited alike
	for i := 1; i <= app.SignInLinkLimit; i++ {
		lambdaPost(t, a.api, fmt.Sprintf("203.0.113.%d", i), "nobody@example.com")
	}
	if res := lambdaPost(t, a.api, "203.0.113.99", "nobody@example.com"); res.StatusCode != 429 {
		t.Fatalf("the 6th request for a stranger's address: %d", res.StatusCode)
	}
	// per client address, six addresses
	for i := 1; i <= app.SignInLinkLimit; i++ {
		if res := lambdaPost(t, a.api, "192.0.2.7", fmt.Sprintf("x%d@example.com", i)); res.StatusCode != 202 {
			t.Fatalf("request %d from one client: %d", i, res.StatusCode)
		}
	}
	if res := lambdaPost(t, a.api, "192.0.2.7", "y@example.com"); res.StatusCode != 429 || res.Headers["Retry-After"] == "" {
		t.Fatalf("the 6th request from one client: %d %v", res.StatusCode, res.Headers)
	}
	// the wait shrinks with time, and ends with the window
	a.clock.Advance(10 * time.Minute)
	if res := lambdaPost(t, a.api, "192.0.2.7", "y@example.com"); res.Headers["Retry-After"] != "300" {
		t.Fatalf("Retry-After 10 minutes on: %v", res.Headers)
	}
	a.clock.Advance(5 * time.Minute)
	if res := lambdaPost(t, a.api, "192.0.2.7", "y@example.com"); res.StatusCode != 202 {
		t.Fatalf("after the window: %d %s", res.StatusCode, res.Body)
	}

	// the page and the API share the limits (here: 127.0.0.1's)
	b := a.browser()
	for i := 1; i <= app.SignInLinkLimit; i++ {
		b.do("POST", "/login", fmt.Sprintf("email=page%d@example.com", i), form()).want(t, 202)
	}
	page := b.do("POST", "/login", "email=page6@example.com", form()).want(t, 429)
	if page.Header.Get("Retry-After") == "" || !strings.Contains(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("the page's 429: %v", page.Header)
	}
	b.do("POST", "/v1/auth/email-link", map[string]any{"email": "api@example.com"}).wantProblem(t, 429, domain.CodeRateLimited)
}

// Input that is no address is refused by field, for members and strangers
// alike.
func TestSignInLinkRequestValidation(t *testing.T) {
	a := newTestAPI(t)
	anon := a.browser()
	anon.do("POST", "/v1/auth/email-link", map[string]any{"email": "not an address"}).wantProblem(t, 422, domain.CodeInvalid, "/email")
	anon.do("POST", "/v1/auth/email-link", map[string]any{}).wantProblem(t, 422, domain.CodeInvalid, "/email")
	anon.do("POST", "/v1/auth/email-link", map[string]any{"email": "a@example.com", "admin": true}).wantProblem(t, 422, domain.CodeInvalid, "/admin")
	anon.do("POST", "/v1/auth/email-link", `{"email":`).wantProblem(t, 400, domain.CodeMalformed)
	anon.do("POST", "/login", "email=nope", form()).want(t, 422)
	page := anon.do("GET", "/login", nil).want(t, 200)
	if !strings.Contains(string(page.body), `<form method="post" action="/login">`) || strings.Contains(string(page.body), "<script") {
		t.Fatalf("the login page: %s", page.body)
	}
	if strings.Contains(string(page.body), `id="oidc"`) {
		t.Fatal("the login page offers a provider that is not configured")
	}
	anon.do("GET", "/auth/oidc/login", nil).want(t, 404)
}
