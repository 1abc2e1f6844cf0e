package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// specCheck, set by openapi_test.go, validates every request and response the
// tests make against the OpenAPI document.
var specCheck func(t *testing.T, req *http.Request, reqBody []byte, res *http.Response, resBody []byte)

const adminToken = "cs_test_admin_token_0123456789abcdef"

// testAPI is the API on a fresh embedded store, with an admin token.
type testAPI struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *app.Service
	store domain.Store
	clock *clock.Manual
	token string // sent when a request does not say otherwise
	api   *httpapi.Server
	// client sends the requests; nil is http.DefaultClient (a browser's
	// has a cookie jar and does not follow redirects: auth_test.go).
	client *http.Client
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := clocktest.Clock(0, 9, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clk, log)
	if _, err := svc.Bootstrap(context.Background(), adminToken); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, log)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &testAPI{t: t, srv: srv, svc: svc, store: store, clock: clk, token: adminToken, api: api}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r *response) json(v any) {
	if err := json.Unmarshal(r.body, v); err != nil {
		panic("response is not JSON: " + string(r.body))
	}
}

func (r *response) problem() httpapi.Problem {
	var p httpapi.Problem
	r.json(&p)
	return p
}

type opt func(*http.Request)

func header(k, v string) opt { return func(r *http.Request) { r.Header.Set(k, v) } }
func withToken(tok string) opt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
func contentType(ct string) opt        { return header("Content-Type", ct) }
func ifMatch(version string) opt       { return header("If-Match", `"`+version+`"`) }
func noAuth() opt                      { return func(r *http.Request) { r.Header.Del("Authorization") } }
func mergePatch() opt                  { return contentType("application/merge-patch+json") }
func jsonPatch() opt                   { return contentType("application/json-patch+json") }
func (a *testAPI) url(p string) string { return a.srv.URL + p }

// do sends a request; body is JSON-encoded unless it is a string (sent as is)
// or nil. Every exchange is checked against the OpenAPI document.
func (a *testAPI) do(method, path string, body any, opts ...opt) *response {
	a.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			a.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, a.url(path), bytes.NewReader(raw))
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		if o != nil {
			o(req)
		}
	}
	client := a.client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if specCheck != nil {
		check, _ := http.NewRequest(method, a.url(path), bytes.NewReader(raw))
		check.Header = req.Header.Clone()
		specCheck(a.t, check, raw, res, resBody)
	}
	return &response{Response: res, body: resBody}
}

// want fails the test unless the response has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: want status %d, got %d: %s", r.Request.Method, r.Request.URL.Path, status, r.StatusCode, r.body)
	}
	return r
}

// wantProblem fails unless the response is a problem with status and code,
// and, when pointers are given, names exactly those fields.
func (r *response) wantProblem(t *testing.T, status int, code domain.Code, pointers ...string) httpapi.Problem {
	t.Helper()
	r.want(t, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("want application/problem+json, got %q", ct)
	}
	p := r.problem()
	if p.Code != code || p.Status != status || p.Detail == "" || p.Type == "" {
		t.Fatalf("want problem %d %s with a detail, got %+v", status, code, p)
	}
	if len(pointers) > 0 {
		var got []string
		for _, f := range p.Errors {
			if f.Pointer != "" {
				got = append(got, f.Pointer)
			} else {
				got = append(got, "?"+f.Parameter)
			}
		}
		if strings.Join(got, " ") != strings.Join(pointers, " ") {
			t.Fatalf("want field errors at %v, got %v (%s)", pointers, got, r.body)
		}
	}
	return p
}

func principalFor(m domain.Member) *app.Principal {
	return &app.Principal{MemberID: m.ID, Role: m.Role, TokenID: "t_test"}
}

func tokenInput(name string) app.TokenInput { return app.TokenInput{Name: name} }

// newMemberTokenNamed is newMemberToken for a member of a given name.
func (a *testAPI) newMemberTokenNamed(name string, role domain.Role) (memberID, token string) {
	a.t.Helper()
	m := a.addMember(name, role)
	tok, err := a.svc.CreateToken(a.t.Context(), principalFor(m), tokenInput("t-"+name))
	if err != nil {
		a.t.Fatal(err)
	}
	return m.ID, tok.Secret
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// addMember adds a member named name with role: through the API, or, for
// a manager or admin while approvals are on (which the API turns into a
// second admin's decision), arranged in the store.
func (a *testAPI) addMember(name string, role domain.Role) domain.Member {
	a.t.Helper()
	o, err := a.store.GetOrgSettings(a.t.Context())
	if err != nil {
		a.t.Fatal(err)
	}
	if !o.Approvals || !role.AtLeast(domain.RoleManager) {
		var m domain.Member
		a.do("POST", "/v1/members", map[string]any{"email": name + "@example.com", "name": name, "role": role}).want(a.t, 201).json(&m)
		return m
	}
	now := a.clock.Now()
	m := domain.Member{ID: "m_" + strings.ReplaceAll(name, "-", "_"), Email: name + "@example.com", Name: name, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := a.store.CreateMember(a.t.Context(), &m); err != nil {
		a.t.Fatal(err)
	}
	return m
}
