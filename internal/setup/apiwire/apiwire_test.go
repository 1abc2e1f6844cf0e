package apiwire_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

func newService(t *testing.T) (*app.Service, domain.Store) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return app.New(store, clocktest.Clock(0, 9, 0), slog.New(slog.DiscardHandler)), store
}

// The api function serves the JSON API and no page: the pages for people
// are the console function's (internal/setup/consolewire).
func TestNewServesTheJSONAPIOnly(t *testing.T) {
	svc, _ := newService(t)
	api := apiwire.New(svc, slog.New(slog.DiscardHandler))
	for _, rt := range api.Routes() {
		if rt.Pattern != "/healthz" && rt.Pattern != "/openapi.yaml" && !strings.HasPrefix(rt.Pattern, "/v1/") {
			t.Errorf("the api function routes %s %s", rt.Method, rt.Pattern)
		}
	}
	for _, path := range []string{"/", "/login", "/signin/x", "/a/x", "/auth/oidc/callback", "/projects"} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", "https://flags.example.com"+path, nil))
		if rec.Code != 404 || !strings.Contains(rec.Header().Get("Content-Type"), "problem+json") {
			t.Errorf("GET %s: %d %s %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "https://flags.example.com/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("GET /healthz: %d %s", rec.Code, rec.Body)
	}
}

// Sessions sets the public address and the lifetimes, and refuses an
// address that is not one.
func TestSessions(t *testing.T) {
	svc, _ := newService(t)
	api := apiwire.New(svc, slog.New(slog.DiscardHandler))
	cfg := config.Config{BaseURL: "https://flags.example.com", SessionIdle: time.Hour, SessionLifetime: 2 * time.Hour}
	if err := apiwire.Sessions(cfg, svc, api); err != nil {
		t.Fatal(err)
	}
	if idle, life := svc.SessionLifetimes(); idle != time.Hour || life != 2*time.Hour {
		t.Fatalf("lifetimes: %s %s", idle, life)
	}
	if err := apiwire.Sessions(config.Config{BaseURL: "not a url"}, svc, api); err == nil || !strings.Contains(err.Error(), "COUNTERSIGN_BASE_URL") {
		t.Fatalf("a bad base URL: %v", err)
	}
}

// Bootstrap makes the first admin only when the configuration names one.
func TestBootstrap(t *testing.T) {
	svc, store := newService(t)
	ctx := context.Background()
	if err := apiwire.Bootstrap(ctx, config.Config{}, svc); err != nil {
		t.Fatal(err)
	}
	if ms, _, err := store.ListMembers(ctx, domain.Page{}); err != nil || len(ms) != 0 {
		t.Fatalf("without AdminToken or AdminEmail: %v %v", ms, err)
	}
	token := "cs_bootstrap_token_0123456789abcdef"
	for range 2 { // idempotent
		if err := apiwire.Bootstrap(ctx, config.Config{AdminToken: token}, svc); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := svc.Authenticate(ctx, token); err != nil || p.Role != domain.RoleAdmin {
		t.Fatalf("the bootstrap token: %+v %v", p, err)
	}
}
