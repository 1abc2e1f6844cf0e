package setup_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/setup"
)

// The local process: the embedded store, the API with the console, and
// sign-in with the OpenID provider its environment names.
func TestLocalWiring(t *testing.T) {
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_BASE_URL": "https://flags.example.com"}[k]
	}, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	store, closeStore, err := setup.OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	log := slog.New(slog.DiscardHandler)
	svc, api := setup.API(store, clocktest.Clock(0, 9, 0), log)
	keyFile := t.TempDir() + "/link.key"
	if err := setup.Links(cfg, svc, keyFile); err != nil {
		t.Fatal(err)
	}

	t.Setenv("COUNTERSIGN_OIDC_CLIENT_ID", "cs")
	if err := setup.Identity(context.Background(), cfg, svc, api, clocktest.Clock(0, 9, 0), log, keyFile); err == nil || !strings.Contains(err.Error(), "COUNTERSIGN_OIDC_ISSUER") {
		t.Fatalf("a half-done OpenID Connect setup: %v", err)
	}
	t.Setenv("COUNTERSIGN_OIDC_ISSUER", "https://idp.example.com")
	t.Setenv("COUNTERSIGN_OIDC_CLIENT_SECRET", "secret")
	t.Setenv("COUNTERSIGN_OIDC_NAME", "Okta")
	if err := setup.Identity(context.Background(), cfg, svc, api, clocktest.Clock(0, 9, 0), log, keyFile); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "https://flags.example.com/login", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Sign in with Okta") {
		t.Fatalf("the login page: %d %s", rec.Code, rec.Body)
	}
}
