package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
)

func fromEnv(env map[string]string) (config.Config, error) {
	return config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
}

func TestIdentityDefaults(t *testing.T) {
	c, err := fromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionIdle != 12*time.Hour || c.SessionLifetime != 7*24*time.Hour || c.AdminEmail != "" || c.OIDC != nil {
		t.Fatalf("defaults: idle %s, lifetime %s, admin %q, oidc %v", c.SessionIdle, c.SessionLifetime, c.AdminEmail, c.OIDC)
	}
	c, err = fromEnv(map[string]string{"COUNTERSIGN_SESSION_IDLE": "30m", "COUNTERSIGN_SESSION_LIFETIME": "24h", "COUNTERSIGN_ADMIN_EMAIL": "boss@example.com"})
	if err != nil || c.SessionIdle != 30*time.Minute || c.SessionLifetime != 24*time.Hour || c.AdminEmail != "boss@example.com" {
		t.Fatalf("set: %+v %v", c, err)
	}
}

func TestIdentityErrors(t *testing.T) {
	for env, want := range map[[2]string]string{
		{"COUNTERSIGN_SESSION_IDLE", "soon"}:         "COUNTERSIGN_SESSION_IDLE",
		{"COUNTERSIGN_SESSION_IDLE", "10s"}:          "COUNTERSIGN_SESSION_IDLE",
		{"COUNTERSIGN_SESSION_IDLE", "200h"}:         "must not be longer",
		{"COUNTERSIGN_SESSION_LIFETIME", "-1h"}:      "COUNTERSIGN_SESSION_LIFETIME",
		{"COUNTERSIGN_ADMIN_EMAIL", "Boss <b@x.io>"}: "COUNTERSIGN_ADMIN_EMAIL",
		{"COUNTERSIGN_ADMIN_EMAIL", "nobody"}:        "COUNTERSIGN_ADMIN_EMAIL",
		{"COUNTERSIGN_OIDC_CLIENT_ID", "x"}:          "COUNTERSIGN_OIDC_ISSUER",
	} {
		_, err := fromEnv(map[string]string{env[0]: env[1]})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: %v, want an error naming %s", env[0], env[1], err, want)
		}
	}
}

func TestOIDCConfigGetsTheBaseURL(t *testing.T) {
	c, err := fromEnv(map[string]string{"COUNTERSIGN_BASE_URL": "https://flags.example.com", "COUNTERSIGN_OIDC_ISSUER": "https://idp.example.com",
		"COUNTERSIGN_OIDC_CLIENT_ID": "cs", "COUNTERSIGN_OIDC_CLIENT_SECRET": "s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDC == nil || c.OIDC.BaseURL != "https://flags.example.com" || c.OIDC.Validate() != nil {
		t.Fatalf("oidc: %+v", c.OIDC)
	}
}
