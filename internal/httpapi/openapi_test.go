package httpapi_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The OpenAPI document, loaded and validated once.
var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
	// specMu serialises validations: the document is shared, and kin-openapi
	// does not promise that validating against it concurrently is safe.
	specMu sync.Mutex
)

func loadSpec() (*openapi3.T, routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(httpapi.OpenAPI)
		if err != nil {
			specErr = fmt.Errorf("load openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			specErr = fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("route openapi.yaml: %w", err)
			return
		}
		specDoc, specRouter = doc, router
	})
	return specDoc, specRouter, specErr
}

func init() {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) // the e-mail link pages
	specCheck = func(t *testing.T, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
		t.Helper()
		if err := checkExchange(req, reqBody, res, resBody); err != nil {
			t.Errorf("OpenAPI: %s %s → %d does not match openapi.yaml:\n%v", req.Method, req.URL.RequestURI(), res.StatusCode, err)
		}
	}
}

// deliberatelyBad are the statuses of requests the tests make wrong on
// purpose (malformed, unauthenticated, oversized, wrongly typed or invalid):
// their requests are not validated, their responses are.
var deliberatelyBad = []int{
	http.StatusBadRequest,
	http.StatusUnauthorized,
	http.StatusRequestEntityTooLarge,
	http.StatusUnsupportedMediaType,
	http.StatusUnprocessableEntity,
}

// checkExchange validates one request and its response against the OpenAPI
// document: the route must be documented, the request must match it (unless
// the response says it was deliberately bad) and the response must match a
// documented status, its headers and its body.
func checkExchange(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) error {
	doc, router, err := loadSpec()
	if err != nil {
		return err
	}
	specMu.Lock()
	defer specMu.Unlock()
	ctx := context.Background()

	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	req.ContentLength = int64(len(reqBody))
	routed := req
	if req.Method == http.MethodHead { // served by the GET route
		routed = req.Clone(ctx)
		routed.Method = http.MethodGet
	}
	route, pathParams, err := router.FindRoute(routed)
	if err != nil {
		notFound := errors.Is(err, routers.ErrPathNotFound) && res.StatusCode == http.StatusNotFound
		notAllowed := errors.Is(err, routers.ErrMethodNotAllowed) && res.StatusCode == http.StatusMethodNotAllowed
		if !notFound && !notAllowed {
			return fmt.Errorf("the route is not in the document (%v), yet the server answered %d", err, res.StatusCode)
		}
		if notAllowed && res.Header.Get("Allow") == "" {
			return errors.New("405 without an Allow header")
		}
		return checkProblem(doc, res, resBody)
	}

	opts := &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status is an error
		MultiError:            true,
		SkipSettingDefaults:   true,
		AuthenticationFunc:    bearerPresent,
	}
	opts.WithCustomSchemaErrorFunc(schemaError)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
	if !slices.Contains(deliberatelyBad, res.StatusCode) {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                opts,
	}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response: %w\nbody: %s", err, clip(resBody))
	}
	return nil
}

// bearerPresent accepts any request with a bearer token, or with the
// session cookie: whether the credential is valid is the server's
// business, whether one is sent the document's.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if s := in.SecurityScheme; s != nil && s.Type == "apiKey" && s.In == "cookie" {
		if c, err := in.RequestValidationInput.Request.Cookie(s.Name); err != nil || c.Value == "" {
			return fmt.Errorf("no %s cookie", s.Name)
		}
		return nil
	}
	if in.SecurityScheme == nil || in.SecurityScheme.Type != "http" || !strings.EqualFold(in.SecurityScheme.Scheme, "bearer") {
		return fmt.Errorf("unexpected security scheme %q", in.SecuritySchemeName)
	}
	scheme, token, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no Authorization: Bearer <token> header")
	}
	return nil
}

// schemaError words a schema violation without repeating the schema.
func schemaError(e *openapi3.SchemaError) string {
	if p := e.JSONPointer(); len(p) > 0 {
		return "at /" + strings.Join(p, "/") + ": " + e.Reason
	}
	return e.Reason
}

// checkProblem checks that a response to an undocumented route is a problem
// document.
func checkProblem(doc *openapi3.T, res *http.Response, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("want an application/problem+json response, got Content-Type %q", res.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the problem is not JSON: %w", err)
	}
	schema := doc.Components.Schemas["Problem"]
	if schema == nil || schema.Value == nil {
		return errors.New("the document has no Problem schema")
	}
	if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("the body is not a Problem: %w\nbody: %s", err, clip(body))
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// newServer builds the API the way the tests do, for its route table.
func newServer(t *testing.T) *httpapi.Server {
	t.Helper()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	svc := app.New(store, clocktest.Clock(0, 9, 0), log)
	return httpapi.New(svc, log)
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi.yaml says OpenAPI %s; the tests validate it as 3.1", doc.OpenAPI)
	}
	onDisk, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, httpapi.OpenAPI) {
		t.Error("the embedded document differs from openapi.yaml")
	}
}

func TestOpenAPIMatchesRouteTable(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]httpapi.Route{}
	for _, rt := range newServer(t).Routes() {
		inTable[rt.Method+" "+rt.Pattern] = rt
	}
	inDoc := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			inDoc[method+" "+path] = op
		}
	}
	var missingFromDoc, missingFromTable []string
	for k, rt := range inTable {
		op, ok := inDoc[k]
		if !ok {
			missingFromDoc = append(missingFromDoc, k)
			continue
		}
		// Public routes say so with an empty security requirement; the
		// others inherit the global bearer requirement.
		public := op.Security != nil && len(*op.Security) == 0
		if public != rt.Public {
			t.Errorf("%s: public in the route table: %v, in the document: %v", k, rt.Public, public)
		}
		if op.Security != nil && len(*op.Security) > 0 {
			t.Errorf("%s: overrides the document's security requirement", k)
		}
	}
	for k := range inDoc {
		if _, ok := inTable[k]; !ok {
			missingFromTable = append(missingFromTable, k)
		}
	}
	slices.Sort(missingFromDoc)
	slices.Sort(missingFromTable)
	if len(missingFromDoc) > 0 {
		t.Errorf("routes missing from openapi.yaml:\n  %s", strings.Join(missingFromDoc, "\n  "))
	}
	if len(missingFromTable) > 0 {
		t.Errorf("operations in openapi.yaml that the server does not route:\n  %s", strings.Join(missingFromTable, "\n  "))
	}
	if len(doc.Security) != 2 || doc.Security[0]["bearer"] == nil || doc.Security[1]["session"] == nil {
		t.Errorf("the document's global security requirement should be bearer or the session cookie, is %v", doc.Security)
	}
}

func TestOpenAPIServed(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/openapi.yaml", nil, noAuth()).want(t, 200)
	if !bytes.Equal(r.body, httpapi.OpenAPI) {
		t.Fatalf("GET /openapi.yaml served %d bytes, not the document's %d", len(r.body), len(httpapi.OpenAPI))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q", ct)
	}
	onDisk, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.body, onDisk) {
		t.Error("GET /openapi.yaml is not openapi.yaml")
	}
}

// TestOpenAPICheckFails makes sure the check that every API test runs can
// fail: it must reject exchanges that contradict the document.
func TestOpenAPICheckFails(t *testing.T) {
	when := clocktest.At(0, 9, 0, 0).Format(time.RFC3339)
	project := map[string]any{"key": "shop", "name": "Shop", "description": "", "version": 1, "created_at": when, "updated_at": when}
	token := map[string]any{"id": "t_1", "name": "ci", "member_id": "m_1", "service": false, "role": "viewer", "created_by": "member:m_1", "created_at": when}
	without := func(m map[string]any, key string) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			if k != key {
				c[k] = v
			}
		}
		return c
	}
	with := func(m map[string]any, key string, v any) map[string]any {
		c := without(m, key)
		c[key] = v
		return c
	}
	problem := func(status int, code string) map[string]any {
		return map[string]any{"type": "https://countersign.dev/problems/" + code, "title": http.StatusText(status),
			"status": status, "detail": "d", "code": code, "instance": "/x", "request_id": "r"}
	}
	jsonH := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r"}}
	problemH := http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"r"}}
	withHeader := func(h http.Header, kv ...string) http.Header {
		c := h.Clone()
		for i := 0; i < len(kv); i += 2 {
			c.Set(kv[i], kv[i+1])
		}
		return c
	}
	versioned := withHeader(jsonH, "ETag", `"1"`)
	createdH := withHeader(versioned, "Location", "/v1/projects/shop")

	for _, c := range []struct {
		name         string
		method, path string
		noAuth       bool   // no Authorization header
		contentType  string // of the request body; application/json if empty
		reqBody      string
		status       int
		resHeader    http.Header
		resBody      any
		wantErr      string // "" for no error
	}{
		{name: "a good read", method: "GET", path: "/v1/projects/shop", status: 200, resHeader: versioned, resBody: project},
		{name: "a good create", method: "POST", path: "/v1/projects", reqBody: `{"name":"Shop"}`, status: 201, resHeader: createdH, resBody: project},
		{name: "a public route without a token", method: "GET", path: "/healthz", noAuth: true, status: 200, resHeader: jsonH, resBody: map[string]any{"status": "ok", "time": when}},
		{name: "a project without key", method: "GET", path: "/v1/projects/shop", status: 200, resHeader: versioned, resBody: without(project, "key"), wantErr: "key"},
		{name: "a project with an extra field", method: "GET", path: "/v1/projects/shop", status: 200, resHeader: versioned, resBody: with(project, "colour", "red"), wantErr: "colour"},
		{name: "a version that is a string", method: "GET", path: "/v1/projects/shop", status: 200, resHeader: versioned, resBody: with(project, "version", "1"), wantErr: "version"},
		{name: "a read without ETag", method: "GET", path: "/v1/projects/shop", status: 200, resHeader: jsonH, resBody: project, wantErr: "ETag"},
		{name: "a create answered 200", method: "POST", path: "/v1/projects", reqBody: `{"name":"Shop"}`, status: 200, resHeader: createdH, resBody: project, wantErr: "status"},
		{name: "a create without Location", method: "POST", path: "/v1/projects", reqBody: `{"name":"Shop"}`, status: 201, resHeader: versioned, resBody: project, wantErr: "Location"},
		{name: "a body that is not a Problem", method: "GET", path: "/v1/projects/shop", status: 404, resHeader: problemH, resBody: map[string]any{"error": "gone"}, wantErr: "doesn't match"},
		{name: "a problem as application/json", method: "GET", path: "/v1/projects/shop", status: 404, resHeader: jsonH, resBody: problem(404, "not_found"), wantErr: "Content-Type"},
		{name: "a problem with the wrong code", method: "GET", path: "/v1/projects/shop", status: 404, resHeader: problemH, resBody: problem(404, "conflict"), wantErr: "code"},
		{name: "a problem with an unknown code", method: "GET", path: "/v1/projects/shop", status: 409, resHeader: problemH, resBody: problem(409, "oops"), wantErr: "code"},
		{name: "a documented problem", method: "GET", path: "/v1/projects/shop", status: 404, resHeader: problemH, resBody: problem(404, "not_found")},
		{name: "an undocumented route", method: "GET", path: "/v1/nothing", status: 200, resHeader: jsonH, resBody: map[string]any{}, wantErr: "not in the document"},
		{name: "an unknown route answered 404", method: "GET", path: "/v1/nothing", status: 404, resHeader: problemH, resBody: problem(404, "not_found")},
		{name: "an unknown route answered 404 without a problem", method: "GET", path: "/v1/nothing", status: 404, resHeader: jsonH, resBody: map[string]any{}, wantErr: "problem+json"},
		{name: "an unknown method answered 405", method: "PUT", path: "/v1/projects", status: 405, resHeader: withHeader(problemH, "Allow", "GET, HEAD, POST"), resBody: problem(405, "method_not_allowed")},
		{name: "an unknown method answered 405 without Allow", method: "PUT", path: "/v1/projects", status: 405, resHeader: problemH, resBody: problem(405, "method_not_allowed"), wantErr: "Allow"},
		{name: "an unknown method answered 200", method: "PUT", path: "/v1/projects", status: 200, resHeader: jsonH, resBody: map[string]any{}, wantErr: "not in the document"},
		{name: "a request without a token answered 200", method: "GET", path: "/v1/projects/shop", noAuth: true, status: 200, resHeader: versioned, resBody: project, wantErr: "Bearer"},
		{name: "a request with an unknown field answered 201", method: "POST", path: "/v1/projects", reqBody: `{"name":"Shop","colour":"red"}`, status: 201, resHeader: createdH, resBody: project, wantErr: "colour"},
		{name: "a request with an unknown field answered 422", method: "POST", path: "/v1/projects", reqBody: `{"name":"Shop","colour":"red"}`, status: 422, resHeader: problemH, resBody: problem(422, "invalid")},
		{name: "a limit out of range answered 200", method: "GET", path: "/v1/projects?limit=500", status: 200, resHeader: jsonH, resBody: map[string]any{"items": []any{}}, wantErr: "limit"},
		{name: "a JSON Patch that is not an array answered 200", method: "PATCH", path: "/v1/projects/shop", contentType: "application/json-patch+json", reqBody: `{"op":"remove"}`, status: 200, resHeader: versioned, resBody: project, wantErr: "array"},
		{name: "a token list that shows a secret", method: "GET", path: "/v1/tokens", status: 200, resHeader: jsonH,
			resBody: map[string]any{"items": []any{with(token, "token", "cs_secret")}}, wantErr: "token"},
		{name: "a service token without role", method: "GET", path: "/v1/tokens", status: 200, resHeader: jsonH,
			resBody: map[string]any{"items": []any{without(with(without(token, "member_id"), "service", true), "role")}}, wantErr: "role"},
		{name: "a good token list", method: "GET", path: "/v1/tokens", status: 200, resHeader: jsonH,
			resBody: map[string]any{"items": []any{token, with(without(token, "member_id"), "service", true)}, "next_cursor": "abc"}},
		{name: "a good JSON Patch", method: "PATCH", path: "/v1/projects/shop", contentType: "application/json-patch+json", reqBody: `[{"op":"test","path":"/version","value":1}]`, status: 200, resHeader: versioned, resBody: project},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://127.0.0.1:8080"+c.path, strings.NewReader(c.reqBody))
			if err != nil {
				t.Fatal(err)
			}
			if !c.noAuth {
				req.Header.Set("Authorization", "Bearer x")
			}
			if c.reqBody != "" {
				req.Header.Set("Content-Type", cmp.Or(c.contentType, "application/json"))
			}
			body, err := json.Marshal(c.resBody)
			if err != nil {
				t.Fatal(err)
			}
			res := &http.Response{StatusCode: c.status, Header: c.resHeader, Request: req}
			err = checkExchange(req, []byte(c.reqBody), res, body)
			t.Logf("%v", err)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("want an error about %q, got none", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("want an error about %q, got %v", c.wantErr, err)
			}
		})
	}
}

// TestOpenAPIOperationsComplete checks the document's own consistency rules,
// so that an operation added later documents what every operation must.
func TestOpenAPIOperationsComplete(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.Extensions["x-html-page"] == true {
				// pages for people (e-mail action links, signing in): HTML
				// for every answer, including refusals, checked by their
				// own tests
				ok := false
				for status := range op.Responses.Map() {
					ok = ok || status[0] == '2' || status[0] == '3'
				}
				if !ok {
					t.Errorf("%s: an HTML page without a success or a redirect", name)
				}
				continue
			}
			has := func(status string) bool { return op.Responses.Value(status) != nil }
			need := func(why string, statuses ...string) {
				for _, s := range statuses {
					if !has(s) {
						t.Errorf("%s: no %s response (%s)", name, s, why)
					}
				}
			}
			params := map[string]bool{}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				params[p.Value.In+":"+p.Value.Name] = true
			}
			public := op.Security != nil && len(*op.Security) == 0
			if !public {
				need("it needs a token", "401", "403", "500")
			}
			if strings.Contains(path, "{") {
				need("it names a resource", "404")
			}
			if body := op.RequestBody; body != nil {
				need("it reads a body", "400", "413", "415", "422")
				var types []string
				for mt := range body.Value.Content {
					types = append(types, mt)
				}
				slices.Sort(types)
				want := []string{"application/json"}
				if method == http.MethodPatch {
					want = []string{"application/json", "application/json-patch+json", "application/merge-patch+json"}
				}
				if !slices.Equal(types, want) {
					t.Errorf("%s: request media types %v, want %v", name, types, want)
				}
				if !body.Value.Required {
					t.Errorf("%s: the request body is not required", name)
				}
			}
			if method == http.MethodPatch || method == http.MethodPut {
				if !params["header:If-Match"] {
					t.Errorf("%s: no If-Match parameter", name)
				}
			}
			if method == http.MethodPut {
				need("a PUT needs a version", "428")
			}
			if method == http.MethodGet && (has("200") && op.Responses.Value("200").Value.Content.Get("application/json") != nil) {
				schema := op.Responses.Value("200").Value.Content.Get("application/json").Schema
				if strings.HasSuffix(schema.Ref, "List") && (!params["query:limit"] || !params["query:cursor"]) {
					t.Errorf("%s: a list without limit and cursor parameters", name)
				}
			}
			for status, res := range op.Responses.Map() {
				if res.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s: no X-Request-Id header", name, status)
				}
				if status[0] == '4' || status[0] == '5' {
					if len(res.Value.Content) != 1 || res.Value.Content["application/problem+json"] == nil {
						t.Errorf("%s %s: an error response must be application/problem+json only", name, status)
					}
				}
			}
		}
	}
}
