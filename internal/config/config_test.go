package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
)

func fromEnv(env map[string]string) (config.Config, error) {
	return config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
}

func TestIdentityDefaults(t *testing.T) {
	c, err := fromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionIdle != 12*time.Hour || c.SessionLifetime != 7*24*time.Hour || c.AdminEmail != "" {
		t.Fatalf("defaults: idle %s, lifetime %s, admin %q", c.SessionIdle, c.SessionLifetime, c.AdminEmail)
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
	} {
		_, err := fromEnv(map[string]string{env[0]: env[1]})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: %v, want an error naming %s", env[0], env[1], err, want)
		}
	}
}

func TestSMTP(t *testing.T) {
	c, err := fromEnv(map[string]string{"COUNTERSIGN_SMTP_URL": " smtps://ada@mail.example.com ", "COUNTERSIGN_SMTP_PASSWORD": " p w ", "COUNTERSIGN_SMTP_CA_FILE": "/etc/ca.pem"})
	if err != nil || c.SMTPURL != "smtps://ada@mail.example.com" || c.SMTPPassword != " p w " || c.SMTPCAFile != "/etc/ca.pem" {
		t.Fatalf("%q %q %q %v", c.SMTPURL, c.SMTPPassword, c.SMTPCAFile, err)
	}
	for _, env := range []map[string]string{
		{"COUNTERSIGN_SMTP_URL": "mail.example.com:587"},
		{"COUNTERSIGN_SMTP_URL": "http://ada:secret@mail.example.com"},
		{"COUNTERSIGN_SMTP_URL": "smtp://mail.example.com", "COUNTERSIGN_SES_ENDPOINT": "http://127.0.0.1:8005"},
		{"COUNTERSIGN_SMTP_PASSWORD": "secret"},
		{"COUNTERSIGN_SMTP_CA_FILE": "/etc/ca.pem"},
	} {
		_, err := fromEnv(env)
		if err == nil || !strings.Contains(err.Error(), "COUNTERSIGN_SMTP_") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: %v, want an error about the SMTP settings that shows no password", env, err)
		}
	}
}

// The table names the stack in every line: it is the custom metrics'
// dimension (internal/metrics), so a stack's alarms see its own metrics.
func TestLoggerNamesTheTable(t *testing.T) {
	var buf bytes.Buffer
	log := config.Config{Stage: "prod", Table: "countersign-prod"}.Logger(&buf)
	metrics.Count(context.Background(), log, metrics.SweepFailures, 1)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line[metrics.Dimension] != "countersign-prod" || line["stage"] != "prod" {
		t.Fatalf("line: %s", buf.String())
	}
	buf.Reset()
	config.Config{Stage: "dev"}.Logger(&buf).Info("local")
	if strings.Contains(buf.String(), `"table"`) {
		t.Fatalf("no table, no attribute: %s", buf.String())
	}
}
