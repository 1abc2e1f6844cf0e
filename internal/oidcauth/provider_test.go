package oidcauth

// These tests sign in through a real OpenID provider: oidc-provider (the
// OpenID Certified npm package), run by scripts/oidc/provider.mjs. `make
// test` starts it (scripts/oidc-provider.sh start) and exports its issuer
// as COUNTERSIGN_OIDC_TEST_ISSUER; without it they fail when
// COUNTERSIGN_REQUIRE_OIDC=1 (make test) and are skipped otherwise. By hand:
//
//	scripts/oidc-provider.sh start
//	COUNTERSIGN_OIDC_TEST_ISSUER=$(scripts/oidc-provider.sh endpoint) go test ./internal/oidcauth/
//
// The test plays the browser with net/http and a cookie jar: it calls the
// handler's login route, follows the redirect to the provider, fills its
// sign-in and consent forms, stops at the redirect back to Countersign and
// hands that to the handler's callback. What the browser walk
// (scripts/oidc-test.sh) cannot do easily is done here: the token
// endpoint's answer is rewritten on its way to Countersign (a forged ID
// token), the service clock is moved past the ID token's expiry, the
// authorization request is altered (another nonce, another PKCE challenge).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/oidcauth/oidctest"
)

// The client of scripts/oidc/provider.mjs.
const (
	testClientID     = oidctest.ClientID
	testClientSecret = oidctest.ClientSecret
	testRedirect     = oidctest.RedirectURL
)

// syncBuffer is a log sink the handler writes to from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a Handler on the real provider, with a SignIn that knows the
// members ada@example.com and grace@example.com.
type harness struct {
	t      *testing.T
	issuer string
	h      *Handler
	clk    *clock.Manual
	logs   *syncBuffer

	mu       sync.Mutex
	signedIn []Identity
	nexts    []string
	// onToken, when set, sees (and may rewrite) the token endpoint's JSON
	// answer on its way to the handler.
	onToken func(body map[string]any)
	// failDiscovery makes that many discovery requests fail first.
	failDiscovery int
	discoveries   int
	tokenRequests []tokenRequest
}

// tokenRequest is what the handler sent the token endpoint.
type tokenRequest struct{ authorization, form string }

var members = map[string]bool{"ada@example.com": true, "grace@example.com": true}

func newHarness(t *testing.T, edit ...func(*Config)) *harness {
	t.Helper()
	hs := &harness{t: t, issuer: oidctest.Issuer(t), logs: &syncBuffer{},
		// The provider stamps iat and exp from the wall clock, so the
		// service clock here follows it (and is moved when a test says so).
		clk: clock.NewOffset()}
	cfg := Config{Issuer: hs.issuer, ClientID: testClientID, ClientSecret: testClientSecret, RedirectURL: testRedirect,
		Scopes: DefaultScopes, Role: domain.RoleViewer, Name: "Test provider"}
	for _, e := range edit {
		e(&cfg)
	}
	signIn := SignInFunc(func(w http.ResponseWriter, r *http.Request, id Identity, next string) error {
		if !members[id.Email] {
			return Refused("No member of this Countersign has the address "+id.Email+".", errors.New("unknown member"))
		}
		hs.mu.Lock()
		hs.signedIn = append(hs.signedIn, id)
		hs.nexts = append(hs.nexts, next)
		hs.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "countersign_session", Value: "s-" + id.Subject, Path: "/", HttpOnly: true})
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	})
	h, err := New(cfg, Deps{
		SignIn: signIn, Clock: hs.clk, Key: []byte("flow-cookie-key-for-tests-0123456789"),
		Log:        slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient: &http.Client{Transport: hs, Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler log:\n%s", hs.logs.String())
		}
	})
	return hs
}

// RoundTrip is the handler's way to the provider: it counts (and may fail)
// discovery requests and passes token answers through onToken.
func (hs *harness) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/.well-known/openid-configuration") {
		hs.mu.Lock()
		hs.discoveries++
		fail := hs.discoveries <= hs.failDiscovery
		hs.mu.Unlock()
		if fail {
			return nil, errors.New("connection refused (the test's provider is down)")
		}
	}
	if req.URL.Path == "/token" && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		hs.mu.Lock()
		hs.tokenRequests = append(hs.tokenRequests, tokenRequest{req.Header.Get("Authorization"), string(body)})
		hs.mu.Unlock()
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	hs.mu.Lock()
	onToken := hs.onToken
	hs.mu.Unlock()
	if err != nil || onToken == nil || req.URL.Path != "/token" || res.StatusCode != http.StatusOK {
		return res, err
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, err
	}
	onToken(body)
	raw, _ = json.Marshal(body)
	res.Body = io.NopCloser(bytes.NewReader(raw))
	res.ContentLength = int64(len(raw))
	res.Header.Set("Content-Length", fmt.Sprint(len(raw)))
	return res, nil
}

func (hs *harness) setOnToken(f func(body map[string]any)) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.onToken = f
}

// start calls the login route and answers the provider's authorization URL
// and the flow cookie.
func (hs *harness) start(next string) (*url.URL, *http.Cookie) {
	hs.t.Helper()
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LoginPath+"?next="+url.QueryEscape(next), nil))
	if rec.Code != http.StatusFound {
		hs.t.Fatalf("login answered %d: %s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), hs.issuer+"/") {
		hs.t.Fatalf("login redirected to %q, not to the provider %s", rec.Header().Get("Location"), hs.issuer)
	}
	var flowCookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == cookieName {
			flowCookie = c
		}
	}
	if flowCookie == nil {
		hs.t.Fatalf("login set no %s cookie: %v", cookieName, rec.Header().Values("Set-Cookie"))
	}
	return loc, flowCookie
}

// atProvider signs in at the provider as login (the browser's part) and
// answers the URL it sends the browser back to.
func (hs *harness) atProvider(authURL *url.URL, login string, abort bool) *url.URL {
	hs.t.Helper()
	return oidctest.AtProvider(hs.t, authURL.String(), login, abort)
}

// callback hands the provider's answer to the handler, with the flow
// cookie when there is one, as a browser would (Accept: text/html).
func (hs *harness) callback(back *url.URL, flowCookie *http.Cookie) *httptest.ResponseRecorder {
	hs.t.Helper()
	req := httptest.NewRequest(http.MethodGet, CallbackPath+"?"+back.RawQuery, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if flowCookie != nil {
		req.AddCookie(&http.Cookie{Name: flowCookie.Name, Value: flowCookie.Value})
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return rec
}

// signIn is the whole walk for login, with edit applied to the
// authorization URL's query first.
func (hs *harness) signIn(login string, edit func(url.Values)) *httptest.ResponseRecorder {
	hs.t.Helper()
	authURL, flowCookie := hs.start("/v1/session")
	if edit != nil {
		q := authURL.Query()
		edit(q)
		authURL.RawQuery = q.Encode()
	}
	return hs.callback(hs.atProvider(authURL, login, false), flowCookie)
}

func (hs *harness) identities() []Identity {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]Identity(nil), hs.signedIn...)
}

// refused checks that rec is a refusal with status, logged with reason, and
// that nobody was signed in.
func (hs *harness) refused(rec *httptest.ResponseRecorder, status int, reason string) {
	hs.t.Helper()
	if rec.Code != status {
		hs.t.Fatalf("want %d, got %d: %s", status, rec.Code, rec.Body)
	}
	if ids := hs.identities(); len(ids) != 0 {
		hs.t.Fatalf("signed in %v, want nobody", ids)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "countersign_session" {
			hs.t.Fatalf("a session cookie was set: %v", c)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		hs.t.Errorf("Content-Type %q, want the HTML page", ct)
	}
	if want := fmt.Sprintf("reason=%q", reason); !strings.Contains(hs.logs.String(), want) && !strings.Contains(hs.logs.String(), "reason="+reason+" ") {
		hs.t.Errorf("the log does not give the reason %s:\n%s", want, hs.logs.String())
	}
	flowCleared(hs.t, rec)
}

// flowCleared checks that the callback's answer deletes the flow cookie.
func flowCleared(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == cookieName && c.MaxAge < 0 && c.Path == cookiePath {
			return
		}
	}
	t.Errorf("the callback did not clear the flow cookie: %v", rec.Header().Values("Set-Cookie"))
}

func TestProviderKnownMemberSignsIn(t *testing.T) {
	hs := newHarness(t)
	rec := hs.signIn("ada", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/v1/session" {
		t.Fatalf("want 303 to /v1/session, got %d %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	ids := hs.identities()
	want := Identity{Issuer: hs.issuer, Subject: "ada", Email: "ada@example.com", Name: "Ada Lovelace", EmailVerified: true}
	if len(ids) != 1 || ids[0] != want {
		t.Fatalf("signed in %+v, want %+v", ids, want)
	}
	if hs.nexts[0] != "/v1/session" {
		t.Errorf("next %q", hs.nexts[0])
	}
	flowCleared(t, rec)
	if rp := rec.Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q: the callback URL carries the code", rp)
	}
	// one token request: client_secret_basic (what the provider lists
	// first), the PKCE verifier in the form, the secret not
	if len(hs.tokenRequests) != 1 {
		t.Fatalf("%d token requests, want 1", len(hs.tokenRequests))
	}
	tr := hs.tokenRequests[0]
	form, _ := url.ParseQuery(tr.form)
	if !strings.HasPrefix(tr.authorization, "Basic ") || form.Get("client_secret") != "" || len(form.Get("code_verifier")) < 43 ||
		form.Get("grant_type") != "authorization_code" || form.Get("redirect_uri") != testRedirect {
		t.Errorf("token request: Authorization %q, form %v", tr.authorization, form)
	}
}

// Grace's provider puts her e-mail only in the userinfo answer (as Okta
// does): the handler asks userinfo, with the access token.
func TestProviderEmailFromUserinfo(t *testing.T) {
	hs := newHarness(t)
	var idTokenHadEmail bool
	hs.setOnToken(func(body map[string]any) {
		_, idTokenHadEmail = jwtClaims(t, body["id_token"].(string))["email"]
	})
	rec := hs.signIn("grace", nil)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("want 303, got %d: %s", rec.Code, rec.Body)
	}
	if idTokenHadEmail {
		t.Fatal("grace's ID token has an e-mail: the userinfo path was not tested")
	}
	if ids := hs.identities(); len(ids) != 1 || ids[0].Email != "grace@example.com" || ids[0].Subject != "grace" || ids[0].Name != "Grace Hopper" {
		t.Fatalf("signed in %+v", ids)
	}
}

func TestProviderUnknownIdentityRefused(t *testing.T) {
	hs := newHarness(t)
	rec := hs.signIn("eve", nil)
	hs.refused(rec, http.StatusForbidden, "refused")
	if !strings.Contains(rec.Body.String(), "No member of this Countersign has the address eve@example.com.") {
		t.Errorf("the page does not say why: %s", rec.Body)
	}
}

func TestProviderUnverifiedEmailRefused(t *testing.T) {
	hs := newHarness(t)
	// ada-unverified claims ada's address without having verified it
	rec := hs.signIn("ada-unverified", nil)
	hs.refused(rec, http.StatusForbidden, "email not verified")
	if !strings.Contains(rec.Body.String(), "has not verified its e-mail address") {
		t.Errorf("page: %s", rec.Body)
	}
}

func TestProviderNoEmailRefused(t *testing.T) {
	hs := newHarness(t)
	hs.refused(hs.signIn("noemail", nil), http.StatusForbidden, "no email")
}

// Forged ID tokens, put into the token endpoint's real answer for ada.
func TestProviderForgedIDTokenRefused(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forgeries := map[string]func(t *testing.T, raw string) string{
		"signature bytes flipped": func(t *testing.T, raw string) string {
			h, p, s := splitJWT(t, raw)
			sig, _ := base64.RawURLEncoding.DecodeString(s)
			sig[len(sig)/2] ^= 0x01
			return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
		},
		"re-signed with another key under the provider's kid": func(t *testing.T, raw string) string {
			h, p, _ := splitJWT(t, raw)
			return h + "." + p + "." + rs256(t, otherKey, h+"."+p)
		},
		"claims changed, signature kept": func(t *testing.T, raw string) string {
			h, _, s := splitJWT(t, raw)
			c := jwtClaims(t, raw)
			c["email"], c["sub"] = "grace@example.com", "grace"
			return h + "." + encodeJSON(t, c) + "." + s
		},
		"alg none": func(t *testing.T, raw string) string {
			_, p, _ := splitJWT(t, raw)
			return encodeJSON(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + p + "."
		},
		"HS256 with the client secret as key": func(t *testing.T, raw string) string {
			h, p, _ := splitJWT(t, raw)
			header := map[string]any{}
			_ = json.Unmarshal(decodeSegment(t, h), &header)
			header["alg"] = "HS256"
			h = encodeJSON(t, header)
			m := hmac.New(sha256.New, []byte(testClientSecret))
			m.Write([]byte(h + "." + p))
			return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		},
	}
	for name, forge := range forgeries {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t)
			hs.setOnToken(func(body map[string]any) { body["id_token"] = forge(t, body["id_token"].(string)) })
			hs.refused(hs.signIn("ada", nil), http.StatusForbidden, "id token invalid")
		})
	}
}

// The service clock, not the wall clock, decides whether an ID token has
// expired: the clock is moved one second past the real token's exp while
// the token is on its way (so the flow cookie, checked before, is still
// fresh), and the token is refused.
func TestProviderExpiredIDTokenRefused(t *testing.T) {
	hs := newHarness(t)
	hs.setOnToken(func(body map[string]any) {
		exp := int64(jwtClaims(t, body["id_token"].(string))["exp"].(float64))
		hs.clk.Set(time.Unix(exp+1, 0))
	})
	hs.refused(hs.signIn("ada", nil), http.StatusForbidden, "id token expired")

	// and one second before exp the same walk signs in
	hs2 := newHarness(t)
	hs2.setOnToken(func(body map[string]any) {
		exp := int64(jwtClaims(t, body["id_token"].(string))["exp"].(float64))
		hs2.clk.Set(time.Unix(exp-1, 0))
	})
	if rec := hs2.signIn("ada", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("a token one second before its exp: want 303, got %d: %s", rec.Code, rec.Body)
	}
}

// The provider is asked for another nonce than the one in the flow cookie:
// the ID token it signs carries that one and is refused.
func TestProviderNonceMismatchRefused(t *testing.T) {
	hs := newHarness(t)
	rec := hs.signIn("ada", func(q url.Values) {
		if q.Get("nonce") == "" {
			t.Fatal("the authorization request has no nonce")
		}
		q.Set("nonce", randomString())
	})
	hs.refused(rec, http.StatusForbidden, "nonce mismatch")
}

// The authorization request carries an S256 challenge of the verifier in
// the flow cookie; with another challenge the provider refuses the code
// exchange (the provider requires PKCE of this client).
func TestProviderPKCE(t *testing.T) {
	hs := newHarness(t)
	rec := hs.signIn("ada", func(q url.Values) {
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			t.Fatalf("the authorization request has no S256 challenge: %v", q)
		}
		q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	})
	hs.refused(rec, http.StatusBadRequest, "code exchange refused")
}

func TestProviderStateMismatchRefused(t *testing.T) {
	hs := newHarness(t)

	// the state in the answer is not the flow's
	authURL, flowCookie := hs.start("/")
	back := hs.atProvider(authURL, "ada", false)
	q := back.Query()
	q.Set("state", randomString())
	tampered := *back
	tampered.RawQuery = q.Encode()
	hs.refused(hs.callback(&tampered, flowCookie), http.StatusBadRequest, "state mismatch")

	// the answer without the flow cookie (replayed in another browser)
	hs.refused(hs.callback(back, nil), http.StatusBadRequest, "no flow cookie")

	// the answer to one sign-in with the cookie of another
	_, otherCookie := hs.start("/")
	hs.refused(hs.callback(back, otherCookie), http.StatusBadRequest, "state mismatch")

	// a missing state
	q = back.Query()
	q.Del("state")
	noState := *back
	noState.RawQuery = q.Encode()
	hs.refused(hs.callback(&noState, flowCookie), http.StatusBadRequest, "state mismatch")

	// and another issuer in iss (RFC 9207)
	q = back.Query()
	q.Set("iss", "https://evil.example")
	otherIss := *back
	otherIss.RawQuery = q.Encode()
	hs.refused(hs.callback(&otherIss, flowCookie), http.StatusBadRequest, "iss mismatch")
}

func TestProviderCallbackReplayRefused(t *testing.T) {
	hs := newHarness(t)
	authURL, flowCookie := hs.start("/v1/session")
	back := hs.atProvider(authURL, "ada", false)
	if rec := hs.callback(back, flowCookie); rec.Code != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", rec.Code, rec.Body)
	}
	hs.mu.Lock()
	hs.signedIn = nil
	hs.mu.Unlock()
	// the same answer with the same (stolen) flow cookie: the code works once
	hs.refused(hs.callback(back, flowCookie), http.StatusBadRequest, "code exchange refused")
}

func TestProviderMissingCodeRefused(t *testing.T) {
	hs := newHarness(t)
	authURL, flowCookie := hs.start("/")
	back := hs.atProvider(authURL, "ada", false)
	q := back.Query()
	q.Del("code")
	back.RawQuery = q.Encode()
	hs.refused(hs.callback(back, flowCookie), http.StatusBadRequest, "no code")
}

func TestProviderUserCancelled(t *testing.T) {
	hs := newHarness(t)
	authURL, flowCookie := hs.start("/")
	back := hs.atProvider(authURL, "", true)
	if back.Query().Get("error") != "access_denied" {
		t.Fatalf("the provider answered %s", back)
	}
	hs.refused(hs.callback(back, flowCookie), http.StatusForbidden, "provider refused")
}

// The flow cookie lives ten minutes on the service clock.
func TestProviderFlowExpires(t *testing.T) {
	hs := newHarness(t)
	authURL, flowCookie := hs.start("/")
	back := hs.atProvider(authURL, "ada", false)
	hs.clk.Advance(flowLifetime + time.Second)
	hs.refused(hs.callback(back, flowCookie), http.StatusBadRequest, "flow cookie")
}

// Countersign starts while the provider is down: sign-in answers 503 until
// discovery works, retried after a pause on the service clock.
func TestProviderDiscoveryIsLazyAndRetried(t *testing.T) {
	var secretReads int
	hs := newHarness(t, func(c *Config) {
		c.ClientSecret = ""
		c.ClientSecretFunc = func(ctx context.Context) (string, error) { secretReads++; return testClientSecret, nil }
	})
	hs.failDiscovery = 1
	if hs.discoveries != 0 {
		t.Fatal("New contacted the provider")
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LoginPath, nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"provider_unavailable"`) {
		t.Fatalf("with the provider down: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "connection refused") {
		t.Fatalf("the answer shows the cause: %s", rec.Body)
	}
	// at once again: no new attempt yet
	rec = httptest.NewRecorder()
	hs.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LoginPath, nil))
	if rec.Code != http.StatusServiceUnavailable || hs.discoveries != 1 {
		t.Fatalf("retried at once: %d, %d discoveries", rec.Code, hs.discoveries)
	}
	hs.clk.Advance(2 * time.Second)
	if rec := hs.signIn("ada", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("after the provider came back: %d %s", rec.Code, rec.Body)
	}
	if hs.discoveries != 2 || secretReads != 1 {
		t.Fatalf("%d discoveries and %d secret reads, want 2 and 1", hs.discoveries, secretReads)
	}
}

// --- JWT helpers

func splitJWT(t *testing.T, raw string) (string, string, string) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", raw)
	}
	return parts[0], parts[1], parts[2]
}

func decodeSegment(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	_, p, _ := splitJWT(t, raw)
	c := map[string]any{}
	if err := json.Unmarshal(decodeSegment(t, p), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func encodeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func rs256(t *testing.T, key *rsa.PrivateKey, signingInput string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}
