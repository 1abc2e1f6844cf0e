// Command api is the management API as a Lambda function behind an API
// Gateway HTTP API (payload format 2.0): the HTTP API, the web console and
// sign-in. It writes the outbox and sends nothing itself (the notifier
// does), so it links neither SES nor EventBridge.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/lambdabase"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign api:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	b, err := lambdabase.Load(ctx, os.Getenv)
	if err != nil {
		return err
	}
	cfg := b.Config
	svc, err := appwire.Service(cfg, b.Store, clock.System{}, b.Log, "")
	if err != nil {
		return err
	}
	api := apiwire.New(svc, b.Log)
	oc, err := apiwire.OIDCFromEnv(os.Getenv, cfg.BaseURL)
	if err != nil {
		return err
	}
	awsCfg := func() (aws.Config, error) { return b.AWS("") }
	if err := apiwire.Identity(ctx, cfg, oc, awsCfg, svc, api, clock.System{}, b.Log, ""); err != nil {
		return err
	}
	if os.Getenv("COUNTERSIGN_BASE_URL") == "" {
		// No public address configured (the first deploy, before
		// PublicBaseUrl is known): take it from each request, so that cookies
		// are Secure and writes are checked against the API's own host.
		_ = api.SetBaseURL("")
	}
	if cfg.AdminToken != "" || cfg.AdminEmail != "" {
		// The operator's first admin (see infra/README.md): invited at
		// AdminEmail on an empty table, and/or given the bootstrap token;
		// idempotent, and safe when several instances start at once.
		if _, err := svc.BootstrapAdmin(ctx, app.BootstrapInput{Token: cfg.AdminToken, Email: cfg.AdminEmail}); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	lambda.Start(lambdahttp.Handler(api))
	return nil
}
