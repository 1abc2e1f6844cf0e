package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// An object naming a member twice is refused: parsers disagree on which
// one counts, and the last one must not quietly win.
func TestDuplicateMembersRefused(t *testing.T) {
	a := newTestAPI(t)
	res := a.do("POST", "/v1/members", `{"email":"eve@example.com","name":"Eve","role":"viewer","role":"admin"}`)
	p := res.wantProblem(t, 422, domain.CodeInvalid)
	if !strings.Contains(p.Detail, `"role" twice`) {
		t.Fatalf("the refusal: %+v", p)
	}
	var l struct{ Items []domain.Member }
	a.do("GET", "/v1/members", nil).want(t, 200).json(&l)
	for _, m := range l.Items {
		if m.Email == "eve@example.com" {
			t.Fatalf("a body with a duplicate member created %+v", m)
		}
	}
	// nested objects too, and in a merge patch
	a.do("POST", "/v1/projects", map[string]any{"key": "shop", "name": "Shop"}).want(t, 201)
	a.do("PATCH", "/v1/projects/shop", `{"name":"A","description":{"x":1,"x":2}}`, mergePatch()).wantProblem(t, 422, domain.CodeInvalid)
	// the same key in two different objects is fine
	a.do("PATCH", "/v1/projects/shop", `{"name":"Shop two","description":"d"}`, mergePatch()).want(t, 200)
}

// A body nested deeper than MaxJSONDepth is refused before it is parsed
// for real, in any JSON entry point.
func TestDeepBodiesRefused(t *testing.T) {
	a := newTestAPI(t)
	a.do("POST", "/v1/projects", map[string]any{"key": "shop", "name": "Shop"}).want(t, 201)
	deep := `{"description":` + strings.Repeat(`{"a":`, 9000) + `1` + strings.Repeat(`}`, 9000) + `}`
	a.do("PATCH", "/v1/projects/shop", deep, mergePatch()).wantProblem(t, 422, domain.CodeInvalid)
	a.do("POST", "/v1/projects", `{"key":"x","name":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`).wantProblem(t, 422, domain.CodeInvalid)
	// at the limit it is only the content that decides
	ok := `{"description":` + strings.Repeat(`{"a":`, httpapi.MaxJSONDepth-2) + `1` + strings.Repeat(`}`, httpapi.MaxJSONDepth-2) + `}`
	res := a.do("PATCH", "/v1/projects/shop", ok, mergePatch())
	if p := res.problem(); res.StatusCode != 422 || strings.Contains(p.Detail, "deep") {
		t.Fatalf("a body at the depth limit: %d %+v", res.StatusCode, p)
	}
}

// Every API answer says its type is not to be sniffed.
func TestAPIAnswersAreNotSniffed(t *testing.T) {
	a := newTestAPI(t)
	for _, path := range []string{"/healthz", "/v1/projects", "/v1/nothing", "/openapi.yaml"} {
		res := a.do("GET", path, nil)
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The access log never keeps a credential: an action link's or a sign-in
// link's token is replaced.
func TestAccessLogRedactsLinkTokens(t *testing.T) {
	a := newTestAPI(t)
	var logs lockedBuffer
	api := httpapi.New(a.svc, slog.New(slog.NewJSONHandler(&logs, nil)))
	srv := httptest.NewServer(api)
	defer srv.Close()
	const secret = "Zm9vYmFyYmF6cXV4c2VjcmV0dG9rZW4xMjM0NTY3ODkw"
	for _, path := range []string{"/a/" + secret, "/signin/s.m_1." + secret} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	out := logs.String()
	if strings.Contains(out, secret) || !strings.Contains(out, `"path":"/a/[redacted]"`) || !strings.Contains(out, `"path":"/signin/[redacted]"`) {
		t.Fatalf("the access log:\n%s", out)
	}
	if got := httpapi.RedactPath("/v1/projects/a/flags"); got != "/v1/projects/a/flags" {
		t.Fatalf("an ordinary path: %q", got)
	}
}

// Failed token authentications are limited per client address; a valid
// token is never limited, and the window passes.
func TestFailedTokenAuthenticationsAreLimited(t *testing.T) {
	a := newTestAPI(t)
	bad := withToken("cs_not_a_token_0123456789abcdefghijkl")
	for i := range app.MaxAuthFailures {
		if res := a.do("GET", "/v1/projects", nil, bad); res.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i+1, res.StatusCode)
		}
	}
	res := a.do("GET", "/v1/projects", nil, bad)
	res.wantProblem(t, 429, domain.CodeRateLimited)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	a.do("GET", "/v1/projects", nil).want(t, 200) // the admin's valid token
	a.clock.Advance(app.AuthFailureWindow)
	if res := a.do("GET", "/v1/projects", nil, bad); res.StatusCode != 401 {
		t.Fatalf("after the window: %d", res.StatusCode)
	}
}
