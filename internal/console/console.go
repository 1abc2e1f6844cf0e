// Package console is Countersign's web console: server-rendered pages
// (html/template) for the people who review and change flags. Every page
// works without JavaScript: forms POST and redirect with 303. It is
// served by the console function on AWS (with the sign-in pages,
// httpapi.NewPages) and by the local runtime, at every path the JSON API
// and those pages do not own (httpapi.Server.SetConsole).
//
// The console calls the same application service as the API, as the
// signed-in member: every rule (roles, reviews, approvals) is enforced
// there, and a page only decides what to offer.
package console

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/pathmux"
	"github.com/countersign/countersign/internal/problem"
)

// Sessions is how the console learns who is signed in, and checks a
// form's CSRF token: the API's cookie sessions (*httpapi.Server).
type Sessions interface {
	// BrowserSession is the principal of the request's session cookie, nil
	// without a working one.
	BrowserSession(w http.ResponseWriter, r *http.Request) *app.Principal
	// CheckFormCSRF refuses a form post from another origin or without
	// the session's CSRF token.
	CheckFormCSRF(r *http.Request, sent string, p *app.Principal) error
}

// Route is one page or form of the console.
type Route struct {
	Method, Pattern string
	handler         handler
}

// handler serves one route for a signed-in viewer; an error it returns
// becomes an error page (fail).
type handler func(w http.ResponseWriter, r *http.Request, v *viewer) error

// Console is the web console.
type Console struct {
	svc    *app.Service
	auth   Sessions
	log    *slog.Logger
	router pathmux.Router
	routes []Route
}

// maxForm bounds a posted form.
const maxForm = 256 << 10

// New builds the console over the application service.
func New(svc *app.Service, auth Sessions, log *slog.Logger) *Console {
	c := &Console{svc: svc, auth: auth, log: log}
	c.routes = c.routeTable()
	notFound := c.wrap(func(w http.ResponseWriter, r *http.Request, v *viewer) error {
		return domain.Errorf(domain.CodeNotFound, "there is no page at %s", r.URL.Path)
	})
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			secureHeaders(w)
			w.Header().Set("Allow", "GET, HEAD, POST")
			c.fail(w, r, nil, domain.Errorf(domain.CodeMethodNotAllowed, "the console's pages take GET and POST, not %s", r.Method))
			return
		}
		notFound.ServeHTTP(w, r)
	})
	// One pattern per path, its routes picked by method (HEAD taking
	// GET's), the others answered as at any path without a page. The
	// patterns go to the console's own router rather than a ServeMux:
	// registering them with ServeMux (a conflict check and a
	// runtime.Caller each) was about a fifth of the console function's
	// main before its first event (docs/benchmarks.md, "Fourth round").
	paths := make(map[string]*byMethod, len(c.routes))
	c.router.Grow(len(c.routes) + 1)
	for _, rt := range c.routes {
		m := paths[rt.Pattern]
		if m == nil {
			m = &byMethod{other: other}
			paths[rt.Pattern] = m
			c.router.Add(rt.Pattern, m)
		}
		m.set(rt, c.wrap(rt.handler))
	}
	c.router.Add(assetPattern, &byMethod{get: http.HandlerFunc(serveAsset), other: other})
	c.router.Other = other
	return c
}

// assetPattern is where the console's stylesheet, script and icons are.
const assetPattern = "/assets/{name}"

// Match is the pattern of the console's route for a request's path ("" when
// no route has it: the console's not-found page): tests compare it with
// ServeMux's choice.
func (c *Console) Match(escapedPath string) string { return c.router.Match(escapedPath) }

// byMethod is the routes of one path by method: the console's pages take
// GET (and HEAD) and POST; other is every other method.
type byMethod struct{ get, post, other http.Handler }

// set adds rt's handler h; a route the table holds twice, or of a method
// the console does not take, is a mistake in the table.
func (m *byMethod) set(rt Route, h http.Handler) {
	slot := &m.get
	switch rt.Method {
	case http.MethodGet:
	case http.MethodPost:
		slot = &m.post
	default:
		panic("console: route " + rt.Method + " " + rt.Pattern + ": the console takes GET and POST")
	}
	if *slot != nil {
		panic("console: route " + rt.Method + " " + rt.Pattern + " is in the table twice")
	}
	*slot = h
}

func (m *byMethod) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := m.other
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && m.get != nil:
		h = m.get
	case r.Method == http.MethodPost && m.post != nil:
		h = m.post
	}
	h.ServeHTTP(w, r)
}

// Routes lists the console's pages and forms (a test walks them all).
func (c *Console) Routes() []Route { return slices.Clone(c.routes) }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.router.ServeHTTP(w, r) }

// routeTable is every page (GET) and form (POST) of the console.
func (c *Console) routeTable() []Route {
	return slices.Concat(c.requestRoutes(), c.accountRoutes(), c.flagRoutes(), c.projectRoutes(), c.peopleRoutes())
}

// wrap signs the viewer in (or sends them to /login), checks a form's
// CSRF token, and turns a returned error into an error page.
func (c *Console) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		p := c.auth.BrowserSession(w, r)
		if p == nil {
			// Not signed in: sign in, then come back here (GET), or to the
			// page the form was on (the post itself is not replayed).
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				next = "/"
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if p.MemberID == "" || p.Session() == nil {
			c.fail(w, r, nil, domain.Errorf(domain.CodeForbidden, "the console is for members signed in with a session"))
			return
		}
		p.Channel = app.ChannelConsole // what they do here is audited as done in the console
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, nil, domain.Errorf(domain.CodeMalformed, "the form could not be read"))
				return
			}
			if err := c.auth.CheckFormCSRF(r, r.PostForm.Get("csrf"), p); err != nil {
				c.fail(w, r, nil, err)
				return
			}
		}
		v, err := c.newViewer(r.Context(), p, r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if err := h(w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	})
}

// secureHeaders are on every console answer: nothing from another origin,
// no framing, no caching of pages that show a member's data.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// errorTitles name the error page by code.
var errorTitles = map[domain.Code]string{
	domain.CodeNotFound: "Not found", domain.CodeForbidden: "Not allowed", domain.CodeConflict: "Not done",
	domain.CodeInvalid: "Not done", domain.CodeMalformed: "Not done", domain.CodeGone: "Gone",
	domain.CodeRateLimited: "Please wait", domain.CodeMethodNotAllowed: "Not allowed", domain.CodeTooLarge: "Too large",
}

// errorView is what the error page shows.
type errorView struct {
	Message string
	Fields  []domain.FieldError
}

// fail answers with the error page, its status from the error's code (the
// same mapping as the API's); an internal error is logged and shows only
// the request's id.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		id := w.Header().Get("X-Request-Id")
		c.log.ErrorContext(r.Context(), "console page failed", "err", err, "path", r.URL.Path, "request_id", id)
		de = &domain.Error{Code: domain.CodeInternal, Message: "something went wrong on our side; try again later (request " + id + ")"}
	}
	title := errorTitles[de.Code]
	if title == "" {
		title = "Error"
	}
	if de.RetryAfter > 0 {
		w.Header().Set("Retry-After", strings.TrimSpace(strings.TrimSuffix(de.RetryAfter.Round(1e9).String(), "s")))
	}
	if rerr := c.render(w, v, problem.Status(de.Code), "error", title, errorView{Message: de.Message, Fields: de.Fields}); rerr != nil {
		c.log.ErrorContext(r.Context(), "rendering the error page failed", "err", rerr)
	}
}

// done redirects (303) after a form did its work, with a message for the
// next page (flash).
func done(w http.ResponseWriter, r *http.Request, path, flash string) error {
	if flash != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}
