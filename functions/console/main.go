// Command console is the pages for people as a Lambda function behind the
// same API Gateway HTTP API as the api function (payload format 2.0): the
// web console, signing in (/login, /signin/{token}, /logout, OpenID
// Connect) and e-mail action links (/a/{token}). Its sessions are in the
// table, where the api function reads them too. Like the api function it
// writes the outbox and sends nothing itself.
package main

import (
	_ "time/tzdata" // freezes name IANA time zones; the Lambda runtime need not have /usr/share/zoneinfo

	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/consolewire"
	"github.com/countersign/countersign/internal/setup/lambdabase"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign console:", err)
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
	pages := consolewire.New(svc, b.Log)
	oc, err := consolewire.OIDCFromEnv(os.Getenv, cfg.BaseURL)
	if err != nil {
		return err
	}
	awsCfg := func() (aws.Config, error) { return b.AWS("") }
	if err := consolewire.Identity(ctx, cfg, oc, awsCfg, svc, pages, clock.System{}, b.Log, ""); err != nil {
		return err
	}
	apiwire.FromRequestHost(os.Getenv, pages)
	// The first admin's invitation is usually opened here, so this function
	// bootstraps too (the api function does the same, idempotently).
	if err := apiwire.Bootstrap(ctx, cfg, svc); err != nil {
		return err
	}
	lambda.Start(lambdahttp.Handler(pages))
	return nil
}
