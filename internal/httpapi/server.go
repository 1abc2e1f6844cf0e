// Package httpapi is Countersign's HTTP API: one http.Handler that serves
// API Gateway (through lambdahttp) and the local runtime alike.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/pathmux"
)

// Route is one entry of the route table: the router is built from it, and a
// test compares it with the OpenAPI document.
type Route struct {
	Method  string
	Pattern string
	// Public routes need no API token.
	Public bool
	// Scope says how the route is held to the projects its caller may
	// read (TestEveryRouteHasAProjectCheck).
	Scope   Scope
	handler func(w http.ResponseWriter, r *http.Request, p *app.Principal) error
}

// Scope is what a route touches, and so how it checks the caller's role
// in projects.
type Scope int

const (
	scopeUnset Scope = iota
	// ScopePublic: no principal (the route authenticates otherwise, or
	// not at all).
	ScopePublic
	// ScopeOrg: the organisation (members, tokens, teams, settings, dead
	// letters); the use case checks the organisation role.
	ScopeOrg
	// ScopeOwn: the caller's own session; any principal.
	ScopeOwn
	// ScopeProject: {project} in the path. The wrapper answers 404 to a
	// caller who may not read the project, before the handler; the use
	// case checks the role it needs there.
	ScopeProject
	// ScopeRequest: {id} of a change request; the use case reads the
	// request and answers 404 outside the projects the caller may read.
	ScopeRequest
	// ScopeBody: the project is named in the body; the use case checks
	// the caller's role there (404 without one).
	ScopeBody
	// ScopeListed: a list across projects, filtered to those the caller
	// may read (domain.ProjectSet).
	ScopeListed
	// ScopeFreeze: {freeze} of a change freeze; the use case reads the
	// freeze and answers 404 outside the projects the caller may read.
	ScopeFreeze
)

// Server is the API.
type Server struct {
	svc    *app.Service
	log    *slog.Logger
	routes []Route
	router pathmux.Router // the routes' patterns

	origin   string         // the base URL's origin; "" derives it from each request (session.go)
	secure   bool           // cookies are Secure (when origin is set)
	provider SignInProvider // OpenID Connect, when configured (auth.go)
	console  http.Handler   // the web console (internal/console), when set
}

// New builds the whole of it over svc: the JSON API (NewAPI's routes) and
// the pages for people (NewPages' routes), with the console (SetConsole)
// at every other path outside /v1/. The local process serves this.
func New(svc *app.Service, log *slog.Logger) *Server {
	s := &Server{svc: svc, log: log}
	return s.handle(s.routeTable())
}

// NewAPI builds the JSON API alone (the api function): /healthz,
// /openapi.yaml and /v1/; every other path answers a not-found problem. It
// never reaches a page, so a program that serves only this does not link
// html/template's execution (which keeps every exported method of every
// type in the binary).
func NewAPI(svc *app.Service, log *slog.Logger) *Server {
	s := &Server{svc: svc, log: log}
	return s.handle(s.apiRoutes())
}

// NewPages builds the pages for people alone (the console function):
// signing in (/login, /signin/{token}, /logout, /auth/oidc/), e-mail
// action links (/a/{token}), and the console (SetConsole) at every other
// path outside /v1/, where the API's paths answer a not-found problem.
func NewPages(svc *app.Service, log *slog.Logger) *Server {
	s := &Server{svc: svc, log: log}
	return s.handle(s.pageRoutes())
}

// handle builds the router of routes: one pattern per path, whose handler
// (byMethod) picks the route by the request's method (HEAD takes GET's)
// and answers any other method 405 with Allow. The patterns go to a
// pathmux.Router, not the ServeMux: registering them there (a conflict
// check and a runtime.Caller each) was most of the api function's start
// before its first event (docs/benchmarks.md, "Lambda binaries and cold
// start"). Paths are cleaned and redirected as a ServeMux did before the
// router sees them (dispatch).
func (s *Server) handle(routes []Route) *Server {
	s.secure = true
	s.routes = routes
	paths := map[string]*byMethod{}
	var order []string
	for _, rt := range s.routes {
		m := paths[rt.Pattern]
		if m == nil {
			m = &byMethod{s: s, routes: map[string]http.Handler{}}
			paths[rt.Pattern] = m
			order = append(order, rt.Pattern)
		}
		if _, dup := m.routes[rt.Method]; dup {
			panic("httpapi: route " + rt.Method + " " + rt.Pattern + " is in the table twice")
		}
		m.routes[rt.Method] = s.wrap(rt)
	}
	s.router.Grow(len(order))
	for _, pattern := range order {
		m := paths[pattern]
		methods := slices.Collect(maps.Keys(m.routes))
		if m.routes[http.MethodGet] != nil && m.routes[http.MethodHead] == nil {
			methods = append(methods, http.MethodHead)
		}
		sort.Strings(methods)
		m.allow = strings.Join(methods, ", ")
		s.router.Add(pattern, m)
	}
	return s
}

// dispatch cleans the path and redirects as a ServeMux of "/v1/" and "/"
// did (pathmux.RedirectAsServeMux), then serves the route of the path; a
// path without one is the console's outside /v1/ when it has one, else
// 404.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	switch {
	case pathmux.RedirectAsServeMux(w, r, "/v1/"), s.router.Serve(w, r):
	case s.console != nil && !pathmux.InSubtree(r.URL.EscapedPath(), "/v1/"):
		s.console.ServeHTTP(w, r)
	default:
		writeError(r.Context(), w, r, s.log, domain.Errorf(domain.CodeNotFound, "no such route: %s %s", r.Method, r.URL.Path))
	}
}

// Match is the pattern of the route for a request's (clean, escaped)
// path, "" when none has it: tests compare it with ServeMux's choice.
func (s *Server) Match(escapedPath string) string { return s.router.Match(escapedPath) }

// byMethod is the routes of one path, by method.
type byMethod struct {
	s      *Server
	routes map[string]http.Handler
	allow  string // the methods it answers, HEAD included with GET
}

func (m *byMethod) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := m.routes[r.Method]
	if h == nil && r.Method == http.MethodHead {
		h = m.routes[http.MethodGet]
	}
	if h == nil {
		w.Header().Set("Allow", m.allow)
		writeError(r.Context(), w, r, m.s.log, domain.Errorf(codeMethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, m.allow))
		return
	}
	h.ServeHTTP(w, r)
}

// SetConsole serves the web console (internal/console) at every path the
// API does not own; paths under /v1/ stay the API's (unknown ones answer a
// problem, not a page).
func (s *Server) SetConsole(h http.Handler) { s.console = h }

// Routes returns the route table.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

func (s *Server) routeTable() []Route {
	return slices.Concat(s.apiRoutes(), s.pageRoutes())
}

// pageRoutes are the pages for people (HTML, forms), served by the console
// function on AWS.
func (s *Server) pageRoutes() []Route {
	return []Route{
		// e-mail action links: the token is the credential
		{Method: "GET", Pattern: "/a/{token}", Public: true, Scope: ScopePublic, handler: s.showLink},
		{Method: "POST", Pattern: "/a/{token}", Public: true, Scope: ScopePublic, handler: s.actOnLink},

		// signing in (auth.go): the pages for people
		{Method: "GET", Pattern: "/login", Public: true, Scope: ScopePublic, handler: s.loginPage},
		{Method: "POST", Pattern: "/login", Public: true, Scope: ScopePublic, handler: s.loginSubmit},
		{Method: "GET", Pattern: "/signin/{token}", Public: true, Scope: ScopePublic, handler: s.signInPage},
		{Method: "POST", Pattern: "/signin/{token}", Public: true, Scope: ScopePublic, handler: s.signInSubmit},
		{Method: "POST", Pattern: "/logout", Public: true, Scope: ScopePublic, handler: s.logoutSubmit},
		{Method: "GET", Pattern: "/auth/oidc/login", Public: true, Scope: ScopePublic, handler: s.oidc},
		{Method: "GET", Pattern: "/auth/oidc/callback", Public: true, Scope: ScopePublic, handler: s.oidc},
	}
}

// apiRoutes are the JSON API, served by the api function on AWS.
func (s *Server) apiRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/healthz", Public: true, Scope: ScopePublic, handler: s.health},
		{Method: "GET", Pattern: "/openapi.yaml", Public: true, Scope: ScopePublic, handler: s.openAPI},

		// signing in, the API's side (auth.go)
		{Method: "POST", Pattern: "/v1/auth/email-link", Public: true, Scope: ScopePublic, handler: s.requestEmailLink},
		{Method: "GET", Pattern: "/v1/session", Scope: ScopeOwn, handler: s.getSession},
		{Method: "DELETE", Pattern: "/v1/session", Scope: ScopeOwn, handler: s.deleteSession},

		{Method: "GET", Pattern: "/v1/projects", Scope: ScopeListed, handler: s.listProjects},
		{Method: "POST", Pattern: "/v1/projects", Scope: ScopeOrg, handler: s.createProject},
		{Method: "GET", Pattern: "/v1/projects/{project}", Scope: ScopeProject, handler: s.getProject},
		{Method: "PATCH", Pattern: "/v1/projects/{project}", Scope: ScopeProject, handler: s.patchProject},
		{Method: "DELETE", Pattern: "/v1/projects/{project}", Scope: ScopeProject, handler: s.deleteProject},

		{Method: "GET", Pattern: "/v1/projects/{project}/environments", Scope: ScopeProject, handler: s.listEnvironments},
		{Method: "POST", Pattern: "/v1/projects/{project}/environments", Scope: ScopeProject, handler: s.createEnvironment},
		{Method: "GET", Pattern: "/v1/projects/{project}/environments/{environment}", Scope: ScopeProject, handler: s.getEnvironment},
		{Method: "PATCH", Pattern: "/v1/projects/{project}/environments/{environment}", Scope: ScopeProject, handler: s.patchEnvironment},

		{Method: "GET", Pattern: "/v1/projects/{project}/flags", Scope: ScopeProject, handler: s.listFlags},
		{Method: "POST", Pattern: "/v1/projects/{project}/flags", Scope: ScopeProject, handler: s.createFlag},
		{Method: "GET", Pattern: "/v1/projects/{project}/flags/{flag}", Scope: ScopeProject, handler: s.getFlag},
		{Method: "PATCH", Pattern: "/v1/projects/{project}/flags/{flag}", Scope: ScopeProject, handler: s.patchFlag},
		{Method: "DELETE", Pattern: "/v1/projects/{project}/flags/{flag}", Scope: ScopeProject, handler: s.deleteFlag},

		{Method: "GET", Pattern: "/v1/projects/{project}/segments", Scope: ScopeProject, handler: s.listSegments},
		{Method: "POST", Pattern: "/v1/projects/{project}/segments", Scope: ScopeProject, handler: s.createSegment},
		{Method: "GET", Pattern: "/v1/projects/{project}/segments/{segment}", Scope: ScopeProject, handler: s.getSegment},
		{Method: "PUT", Pattern: "/v1/projects/{project}/segments/{segment}", Scope: ScopeProject, handler: s.putSegment},
		{Method: "PATCH", Pattern: "/v1/projects/{project}/segments/{segment}", Scope: ScopeProject, handler: s.patchSegment},
		{Method: "DELETE", Pattern: "/v1/projects/{project}/segments/{segment}", Scope: ScopeProject, handler: s.deleteSegment},

		{Method: "GET", Pattern: "/v1/projects/{project}/flags/{flag}/environments/{environment}", Scope: ScopeProject, handler: s.getFlagConfig},
		{Method: "PUT", Pattern: "/v1/projects/{project}/flags/{flag}/environments/{environment}", Scope: ScopeProject, handler: s.putFlagConfig},
		{Method: "PATCH", Pattern: "/v1/projects/{project}/flags/{flag}/environments/{environment}", Scope: ScopeProject, handler: s.patchFlagConfig},
		{Method: "POST", Pattern: "/v1/projects/{project}/flags/{flag}/environments/{environment}/promote", Scope: ScopeProject, handler: s.promoteFlagConfig},

		{Method: "GET", Pattern: "/v1/members", Scope: ScopeOrg, handler: s.listMembers},
		{Method: "POST", Pattern: "/v1/members", Scope: ScopeOrg, handler: s.createMember},
		{Method: "GET", Pattern: "/v1/members/{member}", Scope: ScopeOrg, handler: s.getMember},
		{Method: "PATCH", Pattern: "/v1/members/{member}", Scope: ScopeOrg, handler: s.patchMember},
		{Method: "DELETE", Pattern: "/v1/members/{member}", Scope: ScopeOrg, handler: s.deleteMember},
		{Method: "POST", Pattern: "/v1/members/{member}/invitation", Scope: ScopeOrg, handler: s.inviteMember},
		{Method: "GET", Pattern: "/v1/members/{member}/sessions", Scope: ScopeOrg, handler: s.listMemberSessions},
		{Method: "DELETE", Pattern: "/v1/members/{member}/sessions/{session}", Scope: ScopeOrg, handler: s.deleteMemberSession},

		{Method: "GET", Pattern: "/v1/tokens", Scope: ScopeOrg, handler: s.listTokens},
		{Method: "POST", Pattern: "/v1/tokens", Scope: ScopeOrg, handler: s.createToken},
		{Method: "DELETE", Pattern: "/v1/tokens/{token}", Scope: ScopeOrg, handler: s.deleteToken},

		{Method: "GET", Pattern: "/v1/teams", Scope: ScopeOrg, handler: s.listTeams},
		{Method: "POST", Pattern: "/v1/teams", Scope: ScopeOrg, handler: s.createTeam},
		{Method: "GET", Pattern: "/v1/teams/{team}", Scope: ScopeOrg, handler: s.getTeam},
		{Method: "PATCH", Pattern: "/v1/teams/{team}", Scope: ScopeOrg, handler: s.patchTeam},
		{Method: "DELETE", Pattern: "/v1/teams/{team}", Scope: ScopeOrg, handler: s.deleteTeam},

		{Method: "GET", Pattern: "/v1/freezes", Scope: ScopeListed, handler: s.listFreezes},
		{Method: "POST", Pattern: "/v1/freezes", Scope: ScopeBody, handler: s.createFreeze},
		{Method: "GET", Pattern: "/v1/freezes/{freeze}", Scope: ScopeFreeze, handler: s.getFreeze},
		{Method: "PATCH", Pattern: "/v1/freezes/{freeze}", Scope: ScopeFreeze, handler: s.patchFreeze},
		{Method: "DELETE", Pattern: "/v1/freezes/{freeze}", Scope: ScopeFreeze, handler: s.deleteFreeze},

		{Method: "GET", Pattern: "/v1/settings", Scope: ScopeOrg, handler: s.getSettings},
		{Method: "PUT", Pattern: "/v1/settings", Scope: ScopeOrg, handler: s.putSettings},
		{Method: "GET", Pattern: "/v1/projects/{project}/environments/{environment}/approval-settings", Scope: ScopeProject, handler: s.getApprovalSettings},
		{Method: "PUT", Pattern: "/v1/projects/{project}/environments/{environment}/approval-settings", Scope: ScopeProject, handler: s.putApprovalSettings},

		{Method: "GET", Pattern: "/v1/change-requests", Scope: ScopeListed, handler: s.listChangeRequests},
		{Method: "POST", Pattern: "/v1/change-requests", Scope: ScopeBody, handler: s.createChangeRequest},
		{Method: "GET", Pattern: "/v1/change-requests/{id}", Scope: ScopeRequest, handler: s.getChangeRequest},
		{Method: "PATCH", Pattern: "/v1/change-requests/{id}", Scope: ScopeRequest, handler: s.patchChangeRequest},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/reviews", Scope: ScopeRequest, handler: s.reviewChangeRequest},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/acknowledge", Scope: ScopeRequest, handler: s.acknowledgeChangeRequest},
		{Method: "GET", Pattern: "/v1/change-requests/{id}/comments", Scope: ScopeRequest, handler: s.listComments},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/comments", Scope: ScopeRequest, handler: s.addComment},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/apply", Scope: ScopeRequest, handler: s.applyChangeRequest},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/withdraw", Scope: ScopeRequest, handler: s.withdrawChangeRequest},
		{Method: "POST", Pattern: "/v1/change-requests/{id}/submit", Scope: ScopeRequest, handler: s.submitChangeRequest},
		{Method: "POST", Pattern: "/v1/projects/{project}/environments/{environment}/promote", Scope: ScopeProject, handler: s.promoteFlags},
		{Method: "DELETE", Pattern: "/v1/change-requests/{id}/changes/{n}", Scope: ScopeRequest, handler: s.removeChange},
		{Method: "GET", Pattern: "/v1/audit", Scope: ScopeListed, handler: s.listAudit},
		{Method: "GET", Pattern: "/v1/notifications/dead-letters", Scope: ScopeOrg, handler: s.listDeadLetters},

		{Method: "GET", Pattern: "/v1/projects/{project}/environments/{environment}/sdk-keys", Scope: ScopeProject, handler: s.listSDKKeys},
		{Method: "POST", Pattern: "/v1/projects/{project}/environments/{environment}/sdk-keys", Scope: ScopeProject, handler: s.createSDKKey},
		{Method: "DELETE", Pattern: "/v1/projects/{project}/environments/{environment}/sdk-keys/{key}", Scope: ScopeProject, handler: s.deleteSDKKey},
		{Method: "POST", Pattern: "/v1/projects/{project}/environments/{environment}/sdk-keys/{key}/rotate", Scope: ScopeProject, handler: s.rotateSDKKey},
	}
}

// ServeHTTP serves the API with request ids, access logs and panic recovery.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", id)
	// no answer is ever sniffed into something it does not say it is
	w.Header().Set("X-Content-Type-Options", "nosniff")
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wrote {
				writeError(ctx, sw, r, s.log, fmt.Errorf("panic: %v", v))
			}
		}
		s.log.InfoContext(ctx, "request", "method", r.Method, "path", RedactPath(r.URL.Path), "status", sw.status,
			"duration_ms", time.Since(start).Milliseconds(), "request_id", id)
	}()
	s.dispatch(sw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p *app.Principal
		if !rt.Public {
			var err error
			p, err = s.authenticate(w, r)
			if err != nil {
				if domain.ErrorCode(err) == domain.CodeUnauthenticated {
					w.Header().Set("WWW-Authenticate", `Bearer realm="countersign"`)
				}
				writeError(ctx, w, r, s.log, err)
				return
			}
		}
		if rt.Scope == ScopeProject {
			// no role in the project: it does not exist for this caller
			if key := r.PathValue("project"); !p.CanRead(key) {
				writeError(ctx, w, r, s.log, domain.NotFound("project", key))
				return
			}
		}
		if err := rt.handler(w, r, p); err != nil {
			writeError(ctx, w, r, s.log, err)
		}
	})
}

// ---- response helpers ----

// shownCheck, when set (by this package's tests), sees every value the API
// encodes for clients: response bodies, problems, and the documents
// patches apply to. The tests refuse any that holds a domain struct rather
// than a view (views.go).
var shownCheck func(v any)

func writeJSON(w http.ResponseWriter, status int, v any) error {
	if shownCheck != nil {
		shownCheck(v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeVersioned writes a resource with its version as ETag.
func writeVersioned(w http.ResponseWriter, status int, version int64, v any) error {
	w.Header().Set("ETag", etag(version))
	return writeJSON(w, status, v)
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// List is the shape of every list response.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func writeList[T any](w http.ResponseWriter, items []T, next string) error {
	if items == nil {
		items = []T{}
	}
	return writeJSON(w, http.StatusOK, List[T]{Items: items, NextCursor: next})
}

// matchesURL refuses a whole document sent back whose identity fields
// (name → value sent) differ from the URL's (name → value in the URL); an
// empty value sent means "not sent".
func matchesURL(fields ...[3]string) error {
	var v domain.Validation
	for _, f := range fields {
		if f[1] != "" && f[1] != f[2] {
			v.Add("/"+f[0], "is %q in the URL", f[2])
		}
	}
	return v.Err()
}

// listed serves a plain list route: page parameters in, one page out,
// each item shown by view.
func listed[T, V any](w http.ResponseWriter, r *http.Request, list func(domain.Page) ([]T, string, error), view func(*T) V) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := list(pg)
	if err != nil {
		return err
	}
	return writeList(w, mapSlice(items, view), next)
}

// page reads limit and cursor query parameters.
func page(r *http.Request) (domain.Page, error) {
	q := r.URL.Query()
	p := domain.Page{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > domain.MaxPageLimit {
			var v domain.Validation
			v.AddParameter("limit", "must be an integer from 1 to %d", domain.MaxPageLimit)
			return p, v.Err()
		}
		p.Limit = n
	}
	return p, nil
}

// expectedVersion reads the version the client read, from If-Match (an ETag
// from this API, or *) and/or a version in the body; both must agree.
func expectedVersion(r *http.Request, body *int64) (*int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return body, nil
	}
	raw := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		var v domain.Validation
		v.AddParameter("If-Match", "must be an ETag this API sent, like \"3\"")
		return nil, v.Err()
	}
	if body != nil && *body != n {
		var v domain.Validation
		v.Add("/version", "says %d but If-Match says %d", *body, n)
		return nil, v.Err()
	}
	return &n, nil
}

// requiredVersion is expectedVersion for writes that replace a whole
// document: without a version they would overwrite blindly, so 428.
func requiredVersion(r *http.Request, body *int64, what string) (*int64, error) {
	v, err := expectedVersion(r, body)
	if err == nil && v == nil {
		return nil, domain.Errorf(domain.CodePrecondition, "a PUT replaces the whole %s: send the version you read, as If-Match: \"<version>\" or \"version\" in the body (0 if never written)", what)
	}
	return v, err
}

func boolParam(r *http.Request, name string) (*bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		var v domain.Validation
		v.AddParameter(name, "must be true or false")
		return nil, v.Err()
	}
	return &b, nil
}

// credentialPaths are the routes whose last segment is a credential: an
// e-mail action link and a sign-in link act for whoever holds them.
var credentialPaths = []string{"/a/", "/signin/"}

// RedactPath is a request path as logs may keep it: the credential in an
// action or sign-in link is replaced, so that a log reader cannot act with
// it. Query strings are never logged.
func RedactPath(p string) string {
	for _, prefix := range credentialPaths {
		if strings.HasPrefix(p, prefix) && len(p) > len(prefix) {
			return prefix + "[redacted]"
		}
	}
	return p
}
