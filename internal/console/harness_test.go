package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The console's handler tests run the whole server (API, sessions and
// console) on a fresh embedded store, with people signed in through
// e-mailed links in browsers made of a cookie jar.

const adminToken = "cs_test_admin_token_0123456789abcdef"

// world is a running Countersign with its admin's principal.
type world struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *app.Service
	store domain.Store
	clock *clock.Manual
	admin *app.Principal // the bootstrap token's principal, for setting up
	ctx   context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := clocktest.Clock(0, 9, 0)
	log := slog.New(slog.NewTextHandler(testLogOutput(), nil))
	svc := app.New(store, clk, log)
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, adminToken); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, log)
	api.SetConsole(console.New(svc, api, log))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	admin, err := svc.Authenticate(ctx, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, srv: srv, svc: svc, store: store, clock: clk, admin: admin, ctx: ctx}
}

// member adds a member (as the admin). A manager or admin while
// approvals are on is arranged in the store: the service refuses to add
// one without a second admin.
func (w *world) member(email string, role domain.Role) *domain.Member {
	w.t.Helper()
	if o, err := w.store.GetOrgSettings(w.ctx); err == nil && o.Approvals && role.AtLeast(domain.RoleManager) {
		now := w.clock.Now()
		m := &domain.Member{ID: "m_" + strings.NewReplacer("@", "_", ".", "_").Replace(email), Email: email, Name: strings.Split(email, "@")[0],
			Role: role, CreatedAt: now, UpdatedAt: now}
		if err := w.store.CreateMember(w.ctx, m); err != nil {
			w.t.Fatal(err)
		}
		return m
	}
	m, err := w.svc.CreateMember(w.ctx, w.admin, app.MemberInput{Email: email, Name: strings.Split(email, "@")[0], Role: role})
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// principal is what the member's session acts as, for setting up through
// the service as that member.
func (w *world) principal(m *domain.Member) *app.Principal {
	return &app.Principal{MemberID: m.ID, Role: m.Role}
}

// browser is a person's browser: a cookie jar, redirects not followed.
type browser struct {
	w      *world
	client *http.Client
	csrf   string
	member *domain.Member
}

var formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn is a new browser, signed in as the member through an e-mailed link.
func (w *world) signIn(m *domain.Member) *browser {
	w.t.Helper()
	b := w.anonymous()
	b.member = m
	tok, _, err := w.svc.IssueSignInLink(w.ctx, m.ID, domain.LinkSignIn)
	if err != nil {
		w.t.Fatal(err)
	}
	page := b.get("/signin/" + tok).want(200)
	match := formCSRF.FindStringSubmatch(page.body)
	if match == nil {
		w.t.Fatalf("no form on the sign-in page: %s", page.body)
	}
	b.send("POST", "/signin/"+tok, url.Values{"csrf": {match[1]}}, nil).want(303)
	home := b.get("/").want(200)
	if match = formCSRF.FindStringSubmatch(home.body); match == nil {
		w.t.Fatalf("no CSRF token on the home page: %s", home.body)
	}
	b.csrf = match[1]
	return b
}

// anonymous is a browser nobody signed in with.
func (w *world) anonymous() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return &browser{w: w, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer with its body read.
type page struct {
	t      *testing.T
	status int
	header http.Header
	body   string
	path   string
}

func (b *browser) get(path string) *page { return b.send("GET", path, nil, nil) }

// post submits a form with the session's CSRF token, from Countersign's origin.
func (b *browser) post(path string, form url.Values) *page {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf)
	return b.send("POST", path, form, http.Header{"Origin": {b.w.srv.URL}})
}

// send sends a request as is (tests of forged forms use it directly).
func (b *browser) send(method, path string, form url.Values, h http.Header) *page {
	b.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.srv.URL+path, body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	return &page{t: b.w.t, status: res.StatusCode, header: res.Header, body: string(raw), path: path}
}

func (p *page) want(status int) *page {
	p.t.Helper()
	if p.status != status {
		p.t.Fatalf("%s: status %d, want %d\n%s", p.path, p.status, status, p.body)
	}
	return p
}

// has fails unless the page contains every string.
func (p *page) has(parts ...string) *page {
	p.t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			p.t.Fatalf("%s: page lacks %q\n%s", p.path, s, p.body)
		}
	}
	return p
}

// lacks fails if the page contains any of the strings.
func (p *page) lacks(parts ...string) *page {
	p.t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			p.t.Fatalf("%s: page contains %q\n%s", p.path, s, p.body)
		}
	}
	return p
}

// location is where a redirect leads.
func (p *page) location() string { return p.header.Get("Location") }

// testLogOutput is where the server logs during tests: nowhere, unless
// COUNTERSIGN_TEST_LOG=1 (then stderr, to see why a page failed).
func testLogOutput() io.Writer {
	if os.Getenv("COUNTERSIGN_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}

// auditAll is the whole audit log.
func (w *world) auditAll() []domain.AuditEntry {
	w.t.Helper()
	var out []domain.AuditEntry
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{}, page)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, items...)
		if next == "" {
			return out
		}
		page.Cursor = next
	}
}
