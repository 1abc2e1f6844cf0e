package oidcauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

func TestSafeNext(t *testing.T) {
	kept := []string{"/", "/v1/session", "/v1/projects?limit=5&cursor=a%2Fb", "/console#flags", "/a/b/c"}
	for _, s := range kept {
		if got := SafeNext(s); got != s {
			t.Errorf("SafeNext(%q) = %q, want it kept", s, got)
		}
	}
	refused := []string{
		"", "//evil.example", "//evil.example/x", "/\\evil.example", "/\\/evil.example", "\\\\evil.example",
		"https://evil.example", "http:/evil.example", "javascript:alert(1)", "evil.example", "v1/session",
		"/\t/evil.example", "/\n/evil.example", "/\r\n//evil.example", "/x\x00", "/ x", "/x\\y",
		"///evil.example", "/%2F%2Fevil.example", "/%5C%5Cevil.example", "/" + strings.Repeat("a", maxNextLen), "\u2028/x", "/\u2028",
	}
	for _, s := range refused {
		if got := SafeNext(s); got != "/" {
			t.Errorf("SafeNext(%q) = %q, want /", s, got)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(env(nil))
	if c != nil || err != nil {
		t.Fatalf("without an issuer: %v, %v; want nil, nil (off)", c, err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{EnvClientID: "x"})); err == nil || !strings.Contains(err.Error(), EnvIssuer) {
		t.Fatalf("a client id without an issuer: %v", err)
	}

	base := map[string]string{EnvIssuer: "https://idp.example.com/realms/x", EnvClientID: "cs", EnvClientSecret: "s3cret"}
	c, err = ConfigFromEnv(env(base))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Issuer: "https://idp.example.com/realms/x", Name: DefaultName, ClientID: "cs", ClientSecret: "s3cret",
		Scopes: []string{"openid", "email", "profile"}, Role: domain.RoleViewer}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
	c.BaseURL = "https://countersign.example.com/"
	if c.redirectURL() != "https://countersign.example.com/auth/oidc/callback" {
		t.Fatalf("redirect URL %q", c.redirectURL())
	}

	full := map[string]string{EnvIssuer: "https://idp.example.com", EnvClientID: "cs", EnvClientSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-AbCdEf",
		EnvRedirectURL: "https://cs.example.com/auth/oidc/callback", EnvScopes: "openid,email  profile groups", EnvName: "Okta",
		EnvAllowedDomains: " Example.com, @example.org ,", EnvRole: "Editor"}
	c, err = ConfigFromEnv(env(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Okta" || c.ClientSecretARN == "" || c.RedirectURL != full[EnvRedirectURL] || c.Role != domain.RoleEditor ||
		!reflect.DeepEqual(c.Scopes, []string{"openid", "email", "profile", "groups"}) ||
		!reflect.DeepEqual(c.AllowedDomains, []string{"example.com", "example.org"}) {
		t.Fatalf("full: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a redirect URL needs no base URL: %v", err)
	}

	bad := map[string]map[string]string{
		"issuer not a URL":           {EnvIssuer: "idp.example.com"},
		"issuer over plain http":     {EnvIssuer: "http://idp.example.com"},
		"no client id":               {EnvClientID: ""},
		"no secret":                  {EnvClientSecret: ""},
		"secret and ARN":             {EnvClientSecretARN: "arn:aws:secretsmanager:eu-west-1:1:secret:x"},
		"ARN not an ARN":             {EnvClientSecret: "", EnvClientSecretARN: "my-secret"},
		"redirect elsewhere":         {EnvRedirectURL: "https://cs.example.com/callback"},
		"redirect over plain http":   {EnvRedirectURL: "http://cs.example.com/auth/oidc/callback"},
		"scopes without openid":      {EnvScopes: "email profile"},
		"a domain that is not one":   {EnvAllowedDomains: "example.com, not a domain"},
		"provisioned admins":         {EnvRole: "admin"},
		"a role that does not exist": {EnvRole: "owner"},
	}
	for name, change := range bad {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range change {
			m[k] = v
		}
		if _, err := ConfigFromEnv(env(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// plain http is fine on loopback (a provider or Countersign on this machine)
	c, err = ConfigFromEnv(env(map[string]string{EnvIssuer: "http://127.0.0.1:9400", EnvClientID: "cs", EnvClientSecret: "s"}))
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = "http://localhost:8080"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.BaseURL = ""
	if err := c.Validate(); err == nil {
		t.Fatal("neither a redirect URL nor a base URL: accepted")
	}
	c.BaseURL = "http://countersign.example.com"
	if err := c.Validate(); err == nil {
		t.Fatal("a plain http base URL off loopback: accepted")
	}
}

func testHandler(t *testing.T, baseURL string) *Handler {
	t.Helper()
	h, err := New(Config{Issuer: "https://idp.example.com", ClientID: "cs", ClientSecret: "s", BaseURL: baseURL, Role: domain.RoleViewer},
		Deps{SignIn: SignInFunc(func(http.ResponseWriter, *http.Request, Identity, string) error { return nil }),
			Clock: clocktest.Clock(0, 9, 0), Key: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewChecksItsInputs(t *testing.T) {
	cfg := Config{Issuer: "https://idp.example.com", ClientID: "cs", ClientSecret: "s", BaseURL: "https://cs.example.com", Role: domain.RoleViewer}
	signIn := SignInFunc(func(http.ResponseWriter, *http.Request, Identity, string) error { return nil })
	if _, err := New(cfg, Deps{SignIn: signIn, Key: []byte("0123456789abcdef")}); err == nil {
		t.Error("no clock: accepted")
	}
	if _, err := New(cfg, Deps{Clock: clocktest.Clock(0, 0, 0), Key: []byte("0123456789abcdef")}); err == nil {
		t.Error("no SignIn: accepted")
	}
	if _, err := New(cfg, Deps{SignIn: signIn, Clock: clocktest.Clock(0, 0, 0), Key: []byte("short")}); err == nil {
		t.Error("a short key: accepted")
	}
	h := testHandler(t, "https://cs.example.com")
	if h.Name() != DefaultName || !h.secure {
		t.Errorf("name %q, secure %v", h.Name(), h.secure)
	}
	if testHandler(t, "http://127.0.0.1:8080").secure {
		t.Error("the flow cookie is Secure on plain http loopback, where the browser would drop it")
	}
}

func TestLoginURL(t *testing.T) {
	h := testHandler(t, "https://cs.example.com")
	for next, want := range map[string]string{
		"/v1/session":           "/auth/oidc/login?next=%2Fv1%2Fsession",
		"//evil.example":        "/auth/oidc/login?next=%2F",
		"/flags?tag=a b&x=1#go": "/auth/oidc/login?next=%2F",
		"/flags?tag=a&x=1":      "/auth/oidc/login?next=%2Fflags%3Ftag%3Da%26x%3D1",
	} {
		if got := h.LoginURL(next); got != want {
			t.Errorf("LoginURL(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestFlowCookieSealing(t *testing.T) {
	s, err := newSealer([]byte("0123456789abcdef"), "https://idp.example.com", "cs")
	if err != nil {
		t.Fatal(err)
	}
	now := clocktest.At(0, 9, 0, 0)
	f := flow{V: flowVersion, State: "state-4f9a1c", Nonce: "nonce-8e2b7d", Verifier: "verifier-3c5d9e", Next: "/next-page-6a1f", Expires: now.Add(flowLifetime).Unix()}
	v, err := s.seal(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{f.State, f.Nonce, f.Verifier, f.Next} {
		if strings.Contains(v, secret) {
			t.Errorf("the sealed cookie shows %q", secret)
		}
	}
	if got, err := s.open(v, now.Unix()); err != nil || got != f {
		t.Fatalf("open: %+v, %v", got, err)
	}
	if _, err := s.open(v, now.Add(flowLifetime).Unix()); !errors.Is(err, errBadFlow) {
		t.Errorf("at its expiry: %v", err)
	}
	raw := []byte(v)
	raw[len(raw)/2] ^= 1
	if _, err := s.open(string(raw), now.Unix()); !errors.Is(err, errBadFlow) {
		t.Errorf("a changed cookie: %v", err)
	}
	other, _ := newSealer([]byte("another key 0123456789"), "https://idp.example.com", "cs")
	if _, err := other.open(v, now.Unix()); !errors.Is(err, errBadFlow) {
		t.Errorf("another key: %v", err)
	}
	otherClient, _ := newSealer([]byte("0123456789abcdef"), "https://idp.example.com", "another-client")
	if _, err := otherClient.open(v, now.Unix()); !errors.Is(err, errBadFlow) {
		t.Errorf("made for another client: %v", err)
	}
	for _, junk := range []string{"", "x", "not base64 !", strings.Repeat("A", 40)} {
		if _, err := s.open(junk, now.Unix()); !errors.Is(err, errBadFlow) {
			t.Errorf("open(%q): %v", junk, err)
		}
	}
}

func TestCallbackWithoutFlowProblemJSON(t *testing.T) {
	h := testHandler(t, "https://cs.example.com")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, CallbackPath+"?code=c&state=s", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: "forged"})
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var p problemDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "malformed" || p.Status != 400 || p.Instance != CallbackPath {
		t.Fatalf("problem %+v, %v", p, err)
	}
	flowCleared(t, rec)
	if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode {
		t.Errorf("the clearing cookie %+v", c)
	}
}

func TestRoutesAndMethods(t *testing.T) {
	h := testHandler(t, "https://cs.example.com")
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, LoginPath, http.StatusMethodNotAllowed},
		{http.MethodPost, CallbackPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/auth/oidc/other", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.status)
		}
	}
	if got := Routes(); !reflect.DeepEqual(got, []Route{{"GET", LoginPath}, {"GET", CallbackPath}}) {
		t.Errorf("Routes() = %v", got)
	}
}

func TestWantsHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true,
		"application/json": false, "": false, "*/*": false, "application/problem+json, text/html;q=0.1": true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", accept)
		if wantsHTML(r) != want {
			t.Errorf("Accept %q: %v", accept, !want)
		}
	}
}

func TestFlexBool(t *testing.T) {
	for in, want := range map[string]bool{`true`: true, `false`: false, `"true"`: true, `"TRUE"`: true, `"false"`: false, `1`: false, `null`: false, `"yes"`: false} {
		var c claims
		if err := json.Unmarshal([]byte(`{"email_verified":`+in+`}`), &c); err != nil || bool(c.EmailVerified) != want {
			t.Errorf("email_verified %s: %v, %v", in, c.EmailVerified, err)
		}
	}
}

// The login route sends the browser to the provider with everything the
// flow needs, and the cookie it sets is scoped and flagged.
func TestLoginRedirect(t *testing.T) {
	hs := newHarness(t)
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LoginPath+"?next=//evil.example", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q := loc.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirect,
		"scope": "openid email profile", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s %q is not 256 random bits", k, q.Get(k))
		}
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("the login redirect may be cached")
	}
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != cookieName || c[0].Path != cookiePath || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode ||
		c[0].Secure || c[0].MaxAge != int(flowLifetime/time.Second) {
		t.Fatalf("flow cookie %+v", c)
	}
	f, err := hs.h.seal.open(c[0].Value, hs.clk.Now().Unix())
	if err != nil || f.Next != "/" || f.State != q.Get("state") || f.Nonce != q.Get("nonce") {
		t.Fatalf("the cookie holds %+v (%v): next must be /, state and nonce those sent", f, err)
	}
}
