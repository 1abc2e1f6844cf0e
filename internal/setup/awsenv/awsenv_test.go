package awsenv_test

import (
	"context"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/setup/awsenv"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// What Lambda sets: the region and the role's temporary credentials.
func TestForAWS(t *testing.T) {
	cfg, err := awsenv.For(env(map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}), "")
	if err != nil || cfg.Region != "eu-west-1" {
		t.Fatalf("%+v %v", cfg, err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "ASIAEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
		t.Fatalf("credentials %+v %v", creds, err)
	}
	if cfg, err := awsenv.For(env(map[string]string{"AWS_DEFAULT_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}), ""); err != nil || cfg.Region != "us-west-2" {
		t.Fatalf("AWS_DEFAULT_REGION: %+v %v", cfg, err)
	}
	for name, kv := range map[string]map[string]string{
		"AWS_REGION":        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
		"AWS_ACCESS_KEY_ID": {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a"},
	} {
		if _, err := awsenv.For(env(kv), ""); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v", name, err)
		}
	}
}

// A local emulator needs neither; what the environment has is used.
func TestForEmulator(t *testing.T) {
	cfg, err := awsenv.For(env(nil), "http://127.0.0.1:8000")
	if err != nil || cfg.Region != awsenv.EmulatorRegion {
		t.Fatalf("%+v %v", cfg, err)
	}
	if creds, err := cfg.Credentials.Retrieve(context.Background()); err != nil || creds.AccessKeyID != "local" {
		t.Fatalf("credentials %+v %v", creds, err)
	}
	cfg, err = awsenv.For(env(map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}), "http://127.0.0.1:8000")
	if creds, _ := cfg.Credentials.Retrieve(context.Background()); err != nil || cfg.Region != "eu-central-1" || creds.AccessKeyID != "a" {
		t.Fatalf("%+v %+v %v", cfg, creds, err)
	}
}
