package consolewire_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/oidcauth"
	"github.com/countersign/countersign/internal/setup/consolewire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

func newAPI(t *testing.T) (*app.Service, *httpapi.Server, domain.Store) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := app.New(store, clocktest.Clock(0, 9, 0), slog.New(slog.NewTextHandler(io.Discard, nil)))
	return svc, consolewire.New(svc, slog.New(slog.DiscardHandler)), store
}

// What the OpenID Connect flow ends with: a session for the member the
// provider vouched for, its cookie, and a redirect; a refusal the flow can
// show.
func TestOIDCSignIn(t *testing.T) {
	svc, api, store := newAPI(t)
	if err := api.SetBaseURL("https://flags.example.com"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateMember(ctx, &domain.Member{ID: "m_ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	signIn := consolewire.OIDCSignIn(svc, api)

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "https://flags.example.com/auth/oidc/callback", nil)
	err := signIn.Complete(rec, req, oidcauth.Identity{Issuer: "https://idp.example", Subject: "1", Email: "ADA@example.com", EmailVerified: true}, "/")
	if err != nil || rec.Code != 303 || rec.Header().Get("Location") != httpapi.HomePath {
		t.Fatalf("a member: %v %d %v", err, rec.Code, rec.Header())
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != httpapi.SessionCookie || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("the cookie: %+v", cookie)
	}
	p, err := svc.AuthenticateSession(ctx, cookie.Value)
	if err != nil || p.MemberID != "m_ada" || p.Session().Channel != domain.ChannelOIDC {
		t.Fatalf("the session: %+v %v", p, err)
	}

	rec = httptest.NewRecorder()
	err = signIn.Complete(rec, req, oidcauth.Identity{Issuer: "https://idp.example", Subject: "2", Email: "eve@example.com", EmailVerified: true}, "/x")
	if !errors.Is(err, oidcauth.ErrRefused) || !strings.Contains(err.Error(), "ask an admin") || rec.Code != 200 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("an unknown identity: %v %d", err, rec.Code)
	}
}

// Identity configures the server and the service from the configuration,
// the OpenID provider included, whose button the login page then shows.
func TestIdentityWiring(t *testing.T) {
	svc, api, _ := newAPI(t)
	env := map[string]string{"COUNTERSIGN_BASE_URL": "https://flags.example.com", "COUNTERSIGN_LINK_KEY": strings.Repeat("ab", 32),
		"COUNTERSIGN_SESSION_IDLE": "1h", "COUNTERSIGN_SESSION_LIFETIME": "2h",
		"COUNTERSIGN_OIDC_ISSUER": "https://idp.example.com", "COUNTERSIGN_OIDC_CLIENT_ID": "cs", "COUNTERSIGN_OIDC_CLIENT_SECRET": "secret",
		"COUNTERSIGN_OIDC_NAME": "Okta", "COUNTERSIGN_OIDC_ALLOWED_DOMAINS": "example.com"}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.FromEnv(getenv, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := consolewire.OIDCFromEnv(getenv, cfg.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := consolewire.Identity(context.Background(), cfg, oc, nil, svc, api, clocktest.Clock(0, 9, 0), slog.New(slog.DiscardHandler), ""); err != nil {
		t.Fatal(err)
	}
	if idle, life := svc.SessionLifetimes(); idle.Hours() != 1 || life.Hours() != 2 {
		t.Fatalf("lifetimes: %s %s", idle, life)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "https://flags.example.com/login?next=/v1/projects", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "Sign in with Okta") || !strings.Contains(body, `href="/auth/oidc/login?next=%2Fv1%2Fprojects"`) {
		t.Fatalf("the login page: %d %s", rec.Code, body)
	}
	// the provider's routes reach its handler (which starts discovery: here,
	// with nobody at the issuer, it answers that sign-in is unavailable)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "https://flags.example.com/auth/oidc/callback", nil))
	if rec.Code == 404 {
		t.Fatalf("the callback is not routed to the provider: %d %s", rec.Code, rec.Body)
	}
	// provisioning follows the configuration
	ns, err := svc.SignInOIDC(context.Background(), app.OIDCIdentity{Issuer: "https://idp.example.com", Subject: "9", Email: "new@example.com", EmailVerified: true}, "")
	if err != nil || ns.Member.Role != domain.RoleViewer {
		t.Fatalf("provisioning: %+v %v", ns, err)
	}
}

// The OpenID provider's settings are read with Countersign's public
// address; none is no provider, and a half-done setup is an error.
func TestOIDCFromEnv(t *testing.T) {
	env := map[string]string{"COUNTERSIGN_OIDC_ISSUER": "https://idp.example.com", "COUNTERSIGN_OIDC_CLIENT_ID": "cs", "COUNTERSIGN_OIDC_CLIENT_SECRET": "s"}
	oc, err := consolewire.OIDCFromEnv(func(k string) string { return env[k] }, "https://flags.example.com")
	if err != nil || oc == nil || oc.BaseURL != "https://flags.example.com" || oc.Validate() != nil {
		t.Fatalf("oidc: %+v %v", oc, err)
	}
	if oc, err := consolewire.OIDCFromEnv(func(string) string { return "" }, "https://flags.example.com"); oc != nil || err != nil {
		t.Fatalf("no provider: %+v %v", oc, err)
	}
	_, err = consolewire.OIDCFromEnv(func(k string) string { return map[string]string{"COUNTERSIGN_OIDC_CLIENT_ID": "x"}[k] }, "")
	if err == nil || !strings.Contains(err.Error(), "COUNTERSIGN_OIDC_ISSUER") {
		t.Fatalf("a client id without an issuer: %v", err)
	}
}

// A client secret in Secrets Manager needs an AWS configuration; one that
// cannot be had stops the start.
func TestIdentityClientSecretARN(t *testing.T) {
	svc, api, _ := newAPI(t)
	cfg := config.Config{BaseURL: "https://flags.example.com", LinkKey: strings.Repeat("ab", 32), SessionIdle: time.Hour, SessionLifetime: 2 * time.Hour}
	oc := &oidcauth.Config{Issuer: "https://idp.example.com", ClientID: "cs", ClientSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cs", BaseURL: cfg.BaseURL,
		Scopes: oidcauth.DefaultScopes, Role: domain.RoleViewer}
	log := slog.New(slog.DiscardHandler)
	if err := consolewire.Identity(context.Background(), cfg, oc, nil, svc, api, clocktest.Clock(0, 9, 0), log, ""); err == nil {
		t.Fatal("no AWS configuration: no error")
	}
	broken := func() (aws.Config, error) { return aws.Config{}, errors.New("no region") }
	if err := consolewire.Identity(context.Background(), cfg, oc, broken, svc, api, clocktest.Clock(0, 9, 0), log, ""); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Fatalf("a broken AWS configuration: %v", err)
	}
	called := false
	ok := func() (aws.Config, error) { called = true; return aws.Config{Region: "eu-west-1"}, nil }
	if err := consolewire.Identity(context.Background(), cfg, oc, ok, svc, api, clocktest.Clock(0, 9, 0), log, ""); err != nil || !called {
		t.Fatalf("with an AWS configuration: %v (asked: %v)", err, called)
	}
}
