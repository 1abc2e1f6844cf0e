package console_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// FuzzConsoleForms posts any form body to every form (POST route) of the
// console, through the whole server (API, sessions, console), signed in
// as the admin, the editor who opened the pending change request, or a
// viewer (actor's low two bits). The form's CSRF token is put first
// unless actor's bit 2 is set; then "CSRF" in the body stands for it.
// Properties:
//
//   - nothing panics and nothing is answered 5xx;
//   - every answer is a console page (HTML from the layout) with the
//     console's security headers, or a 303 to a path of this site;
//   - a refusal (4xx) says why on the page (the error page, or the form
//     again with its alert), and writes nothing to the store.
//
// The route is "POST PATTERN" of the console's route table (the path is
// then made from the setup's resources), or "POST /a/path" sent as it is;
// anything else picks a form by its hash. The setup fails when a form of
// the table has no seeds, or its valid seed is refused.
func FuzzConsoleForms(f *testing.F) {
	w := newFormsFuzz(f)
	w.checkSeedsReachEveryForm(f)
	for _, s := range w.seeds {
		for _, form := range s.forms {
			f.Add(s.route, s.actor, []byte(form))
		}
	}
	for i, form := range []string{"", "%", "a=%zz", "csrf=", "version=-1", "version=99999999999999999999", "version=1e3", "=&=&&",
		strings.Repeat("x=1&", 300), "rule.999999999999999999999.name=x", "rule.-1.cond.-1.attribute=x"} {
		s := w.seeds[i*5%len(w.seeds)]
		f.Add(s.route, s.actor, []byte(form))
	}
	f.Add("POST /projects/shop/flags/new-checkout/targeting/production", uint8(1), []byte("version=0&enabled=on&default.rollout=100&default.weight.on=1"))
	f.Add("POST /requests/nope/review", uint8(0), []byte("decision=approve&comment=x"))
	f.Add("POST /projects/shop/environments/production/approvals", uint8(0), []byte("version=0&required=all&min_approvals=1&reviewers=any&apply=on_approval"))
	f.Add("POST /members/m_nope/role", uint8(0), []byte("role=admin"))
	f.Add("POST /projects/shop", uint8(0), []byte("x=1"))
	f.Fuzz(func(t *testing.T, route string, actor uint8, form []byte) {
		w.run(t, route, actor, form)
	})
}

type formSeed struct {
	route        string
	actor        uint8
	forms        []string // the first is accepted (below 400) unless invalidFirst
	invalidFirst bool
}

type formsFuzz struct {
	store    *formsStore
	handler  http.Handler
	log      *formsLog
	routes   map[string]console.Route
	keys     []string
	sessions [3]string // admin, editor, viewer: session cookie values
	csrf     [3]string
	params   map[string]string
	seeds    []formSeed
}

const formsAdminToken = "cs_fuzz_console_admin_0123456789abcdef"

var formCSRFToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newFormsFuzz(tb testing.TB) *formsFuzz {
	ctx := context.Background()
	w := &formsFuzz{store: newFormsStore(tb), log: &formsLog{}, routes: map[string]console.Route{}}
	log := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := app.New(w.store, clocktest.Clock(0, 9, 0), log)
	if _, err := svc.Bootstrap(ctx, formsAdminToken); err != nil {
		tb.Fatal(err)
	}
	api := httpapi.New(svc, log)
	cons := console.New(svc, api, log)
	api.SetConsole(cons)
	w.handler = api
	for _, rt := range cons.Routes() {
		if rt.Method == http.MethodPost {
			k := rt.Method + " " + rt.Pattern
			w.routes[k] = rt
			w.keys = append(w.keys, k)
		}
	}
	slices.Sort(w.keys)

	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	admin, err := svc.Authenticate(ctx, formsAdminToken)
	must(err)
	_, err = svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"})
	must(err)
	_, err = svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "new-checkout", Name: "New checkout", Variants: []domain.Variant{{Key: "on"}, {Key: "control"}}})
	must(err)
	_, err = svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true})
	must(err)
	var members []*domain.Member
	for _, role := range []domain.Role{domain.RoleEditor, domain.RoleViewer} {
		m, err := svc.CreateMember(ctx, admin, app.MemberInput{Email: string(role) + "@example.com", Name: string(role), Role: role})
		must(err)
		members = append(members, m)
	}
	editor := &app.Principal{MemberID: members[0].ID, Role: domain.RoleEditor, TokenID: "t_setup"}
	out, err := svc.ChangeFlagConfig(ctx, editor, "shop", "new-checkout", "production", nil, app.ChangeOptions{Title: "Turn it on"},
		func(c *domain.FlagConfig) error {
			c.Enabled = true
			c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
			return nil
		})
	must(err)
	if out.Request == nil {
		tb.Fatal("setup: the change to production did not open a request")
	}
	key, err := svc.CreateSDKKey(ctx, admin, "shop", "production", app.SDKKeyInput{Name: "fuzz"})
	must(err)
	_, err = svc.CreateTeam(ctx, admin, app.TeamInput{Key: "sre", Name: "SRE", Members: []string{members[0].ID}})
	must(err)
	tok, err := svc.CreateToken(ctx, editor, app.TokenInput{Name: "editor's"})
	must(err)

	// sign the three in, through e-mailed links, in a browser each
	srv := httptest.NewServer(api)
	defer srv.Close()
	adminID := admin.MemberID
	for i, id := range []string{adminID, members[0].ID, members[1].ID} {
		w.sessions[i], w.csrf[i] = signInForFuzz(tb, svc, srv.URL, id)
	}
	sessions, _, err := svc.ListMemberSessions(ctx, admin, members[1].ID, domain.Page{})
	must(err)
	if len(sessions) != 1 {
		tb.Fatalf("setup: the viewer has %d sessions", len(sessions))
	}
	w.params = map[string]string{"{project}": "shop", "{flag}": "new-checkout", "{environment}": "staging", "{key}": key.ID, "{session}": sessions[0].ID}
	ids := map[string]string{"/requests/": out.Request.ID, "/members/": members[1].ID, "/tokens/": tok.ID}
	for prefix, id := range ids {
		w.params[prefix] = id
	}
	// every page once more as each, so that no input meets a first use
	for i := range w.sessions {
		if res := w.send("GET", "/", i, ""); res.Code != 200 {
			tb.Fatalf("setup: the inbox: %d %s", res.Code, res.Body)
		}
	}
	w.store.snap()

	targeting := "version=0&enabled=on&off_variant=control&default.rollout=50&default.order=on%2Ccontrol&default.weight.on=1&default.weight.control=1" +
		"&rule.0.name=staff&rule.0.cond.0.attribute=email&rule.0.cond.0.operator=ends_with&rule.0.cond.0.values=%40example.com&rule.0.rollout=100&rule.0.weight.on=1"
	approvals := "version=0&required=tags&tags=checkout%2C+payments&min_approvals=2&allow_self_approval=on&reviewers=peer&auto_approve_after=48h" +
		"&expire_after=168h&apply=on_approval&lock_while_pending=on&allow_unapproved_schedule_deletion=on"
	w.seeds = []formSeed{
		{route: "POST /account/email", forms: []string{"email=off", "email=on&version=1", "email=off&version=x"}},
		{route: "POST /projects", forms: []string{"key=fz&name=Fuzz&description=d", "key=shop&name=again", "key=Bad+Key!&name="}},
		{route: "POST /settings", forms: []string{"approvals=off&version=1", "approvals=on", "approvals=on&version=7"}},
		{route: "POST /projects/{project}/environments", forms: []string{"key=qa&name=QA&protected=on", "key=staging&name=again", "name="}},
		{route: "POST /projects/{project}/environments/{environment}", forms: []string{"protected=on&version=1", "protected=maybe&version=1", "protected=on",
			"allowed_origins=https%3A%2F%2Fapp.example.com%0D%0A%0D%0Ahttp%3A%2F%2Flocalhost%3A3000&version=1", "allowed_origins=&version=1",
			"allowed_origins=*%0Ahttps%3A%2F%2Fapp.example.com%2F%0Anull%0Ahttps%3A%2F%2F*.example.com%0AHTTPS%3A%2F%2FApp.example.com%3A443&version=1",
			"allowed_origins=*&protected=off&version=1", "allowed_origins=https%3A%2F%2Fa.example%0Ahttps%3A%2F%2Fa.example&version=9",
			"allowed_origins=" + strings.Repeat("https%3A%2F%2Fa.example%0A", 30) + "&version=1", "allowed_origins=x&protected=maybe&version=1"}},
		{route: "POST /projects/{project}/environments/{environment}/approvals", forms: []string{approvals,
			"version=0&required=tags&tags=&min_approvals=two&reviewers=peer&apply=on_approval",
			"version=0&required=all&min_approvals=9&reviewers=designated&designated_reviewers=m_nobody&auto_approve_after=-1h&expire_after=soon&apply=never",
			"version=0&required=all&min_approvals=0&reviewers=peer&auto_approve_after=never&apply=manual&require_team=sre&require_min=1&require_team=&require_min=1" +
				"&require_team=nope&require_min=9&require_team=sre&distinct_reviewers=on&require_maintainer=on&review_after_bypass=200h"}},
		{route: "POST /projects/{project}/environments/{environment}/sdk-keys", forms: []string{"name=second", "name=", "name=" + strings.Repeat("n", 500),
			"name=storefront&kind=client", "name=x&kind=public", "name=&kind=CLIENT", "name=both&kind=client&kind=server"}},
		{route: "POST /projects/{project}/environments/{environment}/sdk-keys/{key}/rotate", forms: []string{"grace=1h", "grace=", "grace=-1h", "grace=1000000h"}},
		{route: "POST /projects/{project}/environments/{environment}/sdk-keys/{key}/revoke", forms: []string{""}},
		{route: "POST /projects/{project}/flags", forms: []string{"key=fz&name=Fuzz&tags=a%2Cb&kind=boolean",
			"key=fz2&name=Colours&kind=custom&variants=blue%3D%22blue%22%0Agreen%3D%7B%22g%22%3A1%7D", "name=x&kind=custom&variants=off%3D1%0Aa%3D%0A%3D%3D",
			"name=x&kind=custom&variants=a%3D%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B%5B"}},
		{route: "POST /projects/{project}/flags/{flag}/archive", forms: []string{"", "archived=0&version=1", "archived=0&version=x"}},
		{route: "POST /projects/{project}/flags/{flag}/maintainer-team", forms: []string{"maintainer_team=sre&version=1", "maintainer_team=nope&version=1",
			"maintainer_team=sre&version=x", "maintainer_team=&version=9", "maintainer_team=Bad+Key!&version=1"}},
		{route: "POST /projects/{project}/flags/{flag}/client-exposure", forms: []string{"client_exposed=on&version=1", "version=1",
			"client_exposed=on&version=9", "client_exposed=on", "client_exposed=on&version=x", "client_exposed=&client_exposed=on&version=1"}},
		{route: "POST /projects/{project}/flags/{flag}/environments/{environment}/promote", actor: 1, forms: []string{"from=development&version=0",
			"from=staging&version=0", "from=qa", "from=production&version=7", "from=&version=x", "from=production&from=development"}},
		{route: "POST /projects/{project}/flags/{flag}/targeting/{environment}", actor: 1, forms: []string{targeting,
			"action=add&" + targeting, "version=0&default.rollout=abc&default.weight.on=-1&rule.0.cond.0.attribute=age&rule.0.cond.0.operator=gt&rule.0.cond.0.values=NaN",
			"version=0&rule.0.cond.0.attribute=v&rule.0.cond.0.operator=semver_gt&rule.0.cond.0.values=1.2%2C%5C&rule.0.weight.nope=1&rule.0.rollout=101",
			"version=0&rule.0.remove=1&rule.0.name=gone&rule.40.name=far&rule.5.cond.60.attribute=x", "version=5&enabled=on",
			"request=" + out.Request.ID + "&version=1&title=Renamed&" + targeting}},
		{route: "POST /members", forms: []string{"email=new%40example.com&name=New&role=viewer", "email=viewer%40example.com&name=Again&role=viewer", "email=x&name=&role=owner"}},
		{route: "POST /members/{id}/role", forms: []string{"role=editor", "role=admin&version=1&from=member", "role=owner", "role=editor&version=x"}},
		{route: "POST /members/{id}/remove", forms: []string{"", "from=member"}},
		{route: "POST /members/{id}/invite", forms: []string{"", "from=member"}},
		{route: "POST /members/{id}/unsuppress", forms: []string{"", "version=1&from=member", "version=x"}},
		{route: "POST /members/{id}/unsuppress", forms: []string{"from=member", "version=1", "version=x"}},
		{route: "POST /members/{id}/sessions/{session}/end", forms: []string{""}},
		{route: "POST /tokens", forms: []string{"name=mine", "name=capped&role=viewer", "name=&role=root"}},
		{route: "POST /tokens/{id}/revoke", forms: []string{""}},
		{route: "POST /requests/{id}/review", forms: []string{"decision=approve&comment=looks+right", "decision=approve", "decision=maybe&comment=x", "decision=reject&comment=" + strings.Repeat("c", 3000)}},
		{route: "POST /requests/{id}/comment", actor: 2, forms: []string{"comment=hello+%40editor", "comment=", "comment=" + strings.Repeat("%40m ", 200)}},
		{route: "POST /requests/{id}/apply", forms: []string{""}, invalidFirst: true},
		{route: "POST /requests/{id}/acknowledge", forms: []string{"comment=seen", "comment=", "comment=" + strings.Repeat("c", 3000)}, invalidFirst: true},
		{route: "POST /requests/{id}/withdraw", actor: 1, forms: []string{"", "x=1"}},
		{route: "POST /requests/{id}/edit", actor: 1, forms: []string{"title=Go+live&description=now&version=1", "title=&version=1", "title=x&version=99", "title=x&version=-5"}},
	}
	return w
}

// signInForFuzz signs a member in through an e-mailed link, as a browser
// does, and returns the session cookie and the console's CSRF token.
func signInForFuzz(tb testing.TB, svc *app.Service, base, memberID string) (session, csrf string) {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string, form url.Values) string {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := client.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 400 {
			tb.Fatalf("setup: %s %s: %d %s", method, path, res.StatusCode, raw)
		}
		return string(raw)
	}
	link, _, err := svc.IssueSignInLink(context.Background(), memberID, domain.LinkSignIn)
	if err != nil {
		tb.Fatal(err)
	}
	m := formCSRFToken.FindStringSubmatch(get("GET", "/signin/"+link, nil))
	if m == nil {
		tb.Fatal("setup: no form on the sign-in page")
	}
	get("POST", "/signin/"+link, url.Values{"csrf": {m[1]}})
	if m = formCSRFToken.FindStringSubmatch(get("GET", "/", nil)); m == nil {
		tb.Fatal("setup: no CSRF token in the console")
	}
	u, _ := url.Parse(base + "/")
	for _, c := range jar.Cookies(u) {
		if c.Name == httpapi.SessionCookie {
			return c.Value, m[1]
		}
	}
	tb.Fatal("setup: no session cookie")
	return "", ""
}

// path is the form's path for the setup's resources.
func (w *formsFuzz) path(pattern string) string {
	for prefix, id := range w.params {
		if strings.HasPrefix(prefix, "/") && strings.HasPrefix(pattern, prefix+"{id}") {
			pattern = strings.Replace(pattern, "{id}", url.PathEscape(id), 1)
		}
	}
	if strings.Contains(pattern, "/sdk-keys") {
		pattern = strings.Replace(pattern, "{environment}", "production", 1)
	}
	for k, v := range w.params {
		if strings.HasPrefix(k, "{") {
			pattern = strings.ReplaceAll(pattern, k, url.PathEscape(v))
		}
	}
	return pattern
}

func (w *formsFuzz) target(route string) string {
	if rt, ok := w.routes[route]; ok {
		return w.path(rt.Pattern)
	}
	if p, ok := strings.CutPrefix(route, "POST "); ok && strings.HasPrefix(p, "/") {
		return p
	}
	h := fnv.New32a()
	h.Write([]byte(route))
	return w.path(w.routes[w.keys[int(h.Sum32()%uint32(len(w.keys)))]].Pattern)
}

func (w *formsFuzz) send(method, path string, actor int, form string) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, "http://countersign.test"+path, strings.NewReader(form))
	if err != nil {
		return nil
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://countersign.test")
	}
	req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: w.sessions[actor]})
	req.RemoteAddr = "192.0.2.7:4711"
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, req)
	return rec
}

// form is the body the input sends: the CSRF token first, unless actor
// says not to; "CSRF" stands for the token.
func (w *formsFuzz) form(actor uint8, body []byte) string {
	i := int(actor % 3)
	form := strings.ReplaceAll(string(body), "CSRF", url.QueryEscape(w.csrf[i]))
	if actor&4 == 0 {
		form = "csrf=" + url.QueryEscape(w.csrf[i]) + "&" + form
	}
	return form
}

// apiPaths are where the API, not the console, answers.
var apiPaths = []string{"/v1/", "/a/", "/signin/", "/login", "/logout", "/auth/", "/healthz", "/openapi.yaml"}

var actorNames = []string{"the admin", "the editor", "a viewer"}

func (w *formsFuzz) run(t testing.TB, route string, actor uint8, body []byte) {
	path := w.target(route)
	for _, api := range apiPaths {
		if strings.HasPrefix(path, api) {
			return // the API's, not the console's (FuzzAPIBodies, FuzzActionLink)
		}
	}
	form := w.form(actor, body)
	before := w.store.txid()
	w.log.take()
	res := w.send(http.MethodPost, path, int(actor%3), form)
	if res == nil {
		return // not a request (the path does not parse)
	}
	after := w.store.txid()
	if after != before {
		defer w.store.reset()
	}
	desc := func() string {
		return fmt.Sprintf("POST %s as %s with %q\n→ %d %s %s\nlog: %s", path, actorNames[actor%3], clipForm(form),
			res.Code, res.Header().Get("Location"), clipForm(res.Body.String()), w.log.take())
	}
	page := res.Body.String()
	mt, _, _ := mime.ParseMediaType(res.Header().Get("Content-Type"))
	switch {
	case res.Code >= 500:
		t.Fatalf("a server error:\n%s", desc())
	case res.Code >= 300 && res.Code < 400:
		// a form done (303), or the mux cleaning a fuzzed path
		loc := res.Header().Get("Location")
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Fatalf("a redirect off the site:\n%s", desc())
		}
	case res.Header().Get("X-Frame-Options") != "DENY" || res.Header().Get("Content-Security-Policy") == "":
		t.Fatalf("an answer without the console's security headers:\n%s", desc())
	case mt != "text/html" || !strings.HasPrefix(page, "<!doctype html>"):
		t.Fatalf("not a console page:\n%s", desc())
	case res.Code >= 400 && !strings.Contains(page, `id="error"`) && !strings.Contains(page, `role="alert"`):
		t.Fatalf("a refusal that does not say why:\n%s", desc())
	}
	if res.Code >= 400 && after != before {
		t.Fatalf("refused, yet the store was written (transaction %d → %d):\n%s", before, after, desc())
	}
}

// checkSeedsReachEveryForm fails the target when a form of the console
// has no seeds, or when its valid seed is refused.
func (w *formsFuzz) checkSeedsReachEveryForm(tb testing.TB) {
	seeded := map[string]bool{}
	for _, s := range w.seeds {
		seeded[s.route] = true
		if _, ok := w.routes[s.route]; !ok {
			tb.Errorf("the seeds' form %s is not in the console's route table", s.route)
			continue
		}
		if s.invalidFirst {
			continue
		}
		res := w.send(http.MethodPost, w.target(s.route), int(s.actor%3), w.form(s.actor, []byte(s.forms[0])))
		if res.Code >= 400 {
			tb.Errorf("%s: the valid seed %q is refused: %d %s\nlog: %s", s.route, s.forms[0], res.Code, clipForm(res.Body.String()), w.log.take())
		}
		w.store.reset()
	}
	for _, k := range w.keys {
		if !seeded[k] {
			tb.Errorf("the console's form %s has no seeds in FuzzConsoleForms: add them", k)
		}
	}
	if tb.Failed() {
		tb.FailNow()
	}
}

func clipForm(s string) string {
	if len(s) > 800 {
		return s[:800] + "…"
	}
	return s
}

// ---- the store, put back between inputs ----

// formsStore is a domain.Store whose bbolt file is put back to a snapshot
// after every input that wrote (the service keeps the *formsStore; the
// embedded store is swapped under it; inputs run one at a time). Whether
// an input wrote is read from the file: the id of the last committed write
// transaction, in bbolt's meta pages, moves with any write.
type formsStore struct {
	domain.Store
	tb       testing.TB
	dir      string
	cur      *boltstore.Store
	snapshot []byte
}

func newFormsStore(tb testing.TB) *formsStore {
	s := &formsStore{tb: tb, dir: tb.TempDir()}
	s.open()
	tb.Cleanup(func() { s.cur.Close() })
	return s
}

func (s *formsStore) path() string { return filepath.Join(s.dir, "countersign.db") }

func (s *formsStore) open() {
	st, err := boltstore.Open(s.dir)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.cur, s.Store = st, st
}

func (s *formsStore) snap() {
	if err := s.cur.Close(); err != nil {
		s.tb.Fatal(err)
	}
	raw, err := os.ReadFile(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	s.snapshot = raw
	s.open()
}

func (s *formsStore) reset() {
	if err := s.cur.Close(); err != nil {
		s.tb.Fatal(err)
	}
	if err := os.WriteFile(s.path(), s.snapshot, 0o600); err != nil {
		s.tb.Fatal(err)
	}
	s.open()
}

// txid reads bbolt's two meta pages and returns the larger transaction
// id: a meta page is the 16-byte page header, then magic, version, page
// size, flags (4 bytes each), the root bucket (16), the freelist and
// high-water page ids (8 each) and the transaction id (8), in the
// machine's byte order.
func (s *formsStore) txid() uint64 {
	id, err := boltTxID(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	return id
}

func boltTxID(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var meta [2][80]byte
	if _, err := io.ReadFull(f, meta[0][:]); err != nil {
		return 0, err
	}
	ne := binary.NativeEndian
	if _, err := f.ReadAt(meta[1][:], int64(ne.Uint32(meta[0][24:]))); err != nil {
		return 0, err
	}
	const magic = 0xED0CDAED
	if ne.Uint32(meta[0][16:]) != magic || ne.Uint32(meta[1][16:]) != magic {
		return 0, errors.New("not a bbolt file: no meta page")
	}
	return max(ne.Uint64(meta[0][64:]), ne.Uint64(meta[1][64:])), nil
}

// formsLog keeps what the server logs at warning level and above during
// one input, to show with a failure.
type formsLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *formsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *formsLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}
