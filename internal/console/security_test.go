package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
)

// The attack tests every console route gets, walked from the route table
// so that a new page cannot miss them.

// samplePath fills a route pattern with the fixture's names.
func samplePath(f *crFixture, pattern string) string {
	return strings.NewReplacer("{$}", "", "{project}", "shop", "{flag}", "checkout", "{environment}", "production",
		"{id}", f.cr.ID, "{key}", "k_missing", "{session}", "s_missing", "{name}", "console.css").Replace(pattern)
}

func consoleRoutes() []console.Route { return console.New(nil, nil, nil).Routes() }

// Every form refuses a post without the session's CSRF token, or from
// another site, before it does anything; every page sends a signed-out
// browser to the login page; every answer carries the security headers.
func TestEveryRouteRefusesForgedFormsAndStrangers(t *testing.T) {
	f := newCRFixture(t)
	admin := f.w.member("ana@example.com", domain.RoleAdmin)
	b := f.w.signIn(admin)
	anon := f.w.anonymous()
	before := len(f.w.auditAll())
	for _, rt := range consoleRoutes() {
		path := samplePath(f, rt.Pattern)
		switch rt.Method {
		case "POST":
			b.send("POST", path, url.Values{"name": {"x"}}, http.Header{"Origin": {f.w.srv.URL}}).want(403)
			b.send("POST", path, url.Values{"csrf": {b.csrf}}, http.Header{"Origin": {"https://evil.example"}}).want(403)
			b.send("POST", path, url.Values{"csrf": {b.csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}).want(403)
			res := anon.send("POST", path, url.Values{}, nil).want(303)
			if res.location() != "/login?next=%2F" {
				t.Errorf("POST %s signed out: to %q", rt.Pattern, res.location())
			}
		case "GET":
			res := anon.get(path).want(303)
			if !strings.HasPrefix(res.location(), "/login?next=%2F") {
				t.Errorf("GET %s signed out: to %q", rt.Pattern, res.location())
			}
			page := b.get(path)
			if page.status >= 500 {
				t.Errorf("GET %s: %d", path, page.status)
			}
			for h, want := range map[string]string{"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY",
				"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if !strings.Contains(page.header.Get(h), want) {
					t.Errorf("GET %s: %s is %q", path, h, page.header.Get(h))
				}
			}
			if strings.Contains(page.body, "<script") || strings.Contains(page.body, " style=") || strings.Contains(page.body, "<style") {
				t.Errorf("GET %s: inline script or style, which the CSP refuses", path)
			}
		default:
			t.Errorf("route %s %s: the console uses GET and POST only", rt.Method, rt.Pattern)
		}
	}
	if after := len(f.w.auditAll()); after != before {
		t.Fatalf("refused forms wrote %d audit entries", after-before)
	}
}

// What people type is shown as text, never as markup.
func TestTypedTextIsEscaped(t *testing.T) {
	f := newCRFixture(t)
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	if _, err := f.w.svc.Comment(f.w.ctx, f.w.principal(f.reviewer), f.cr.ID, "look "+evil); err != nil {
		t.Fatal(err)
	}
	title := "Title " + evil
	if _, err := f.w.svc.EditRequest(f.w.ctx, f.w.principal(f.requester), f.cr.ID, nil, app.EditInput{Title: &title}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{f.path(), "/", "/requests"} {
		f.w.signIn(f.reviewer).get(path).want(200).lacks("<script>alert", "<img src=x").has("&lt;script&gt;alert(1)&lt;/script&gt;")
	}
}

// The assets are the only public part of the console: typed, versioned,
// cacheable, and nothing else is reachable through their route.
func TestAssets(t *testing.T) {
	f := newCRFixture(t)
	home := f.w.signIn(f.reviewer).get("/").want(200)
	i := strings.Index(home.body, `href="/assets/console.css?v=`)
	if i < 0 {
		t.Fatal("the page does not link its stylesheet")
	}
	href := home.body[i+len(`href="`):]
	href = href[:strings.Index(href, `"`)]
	css := f.w.anonymous().get(href).want(200)
	if css.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(css.header.Get("Cache-Control"), "immutable") || len(css.body) < 1000 {
		t.Fatalf("the stylesheet: %v %d bytes", css.header, len(css.body))
	}
	for _, p := range []string{"/assets/nope.css", "/assets/..%2Fconsole.go", "/assets/%2e%2e%2Ftemplates%2Flayout.html"} {
		if res := f.w.anonymous().get(p); res.status != 404 && res.status != 303 {
			t.Errorf("GET %s: %d", p, res.status)
		}
	}
}

// The login page's next is where the console sends a signed-out browser;
// it stays on this site whatever the path was.
func TestSignedOutRedirectStaysOnSite(t *testing.T) {
	f := newCRFixture(t)
	for _, p := range []string{"//evil.example/", "/%2F%2Fevil.example", "/requests?x=//evil.example"} {
		res := f.w.anonymous().get(p)
		if res.status == 301 || res.status == 307 || res.status == 308 {
			// net/http cleans the path first: it must stay a path here
			if loc := res.location(); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
				t.Errorf("GET %s: cleaned to %q", p, loc)
			}
			continue
		}
		if res.status != 303 || !strings.HasPrefix(res.location(), "/login?next=") {
			t.Errorf("GET %s signed out: %d %q", p, res.status, res.location())
			continue
		}
		next, _ := url.QueryUnescape(strings.TrimPrefix(res.location(), "/login?next="))
		if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
			t.Errorf("GET %s signed out: next %q leaves the site", p, next)
		}
	}
}
