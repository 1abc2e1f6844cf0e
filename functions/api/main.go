// Command api is the JSON API as a Lambda function behind an API Gateway
// HTTP API (payload format 2.0): /v1/, /healthz and /openapi.yaml, with
// API tokens or the browser sessions the console function starts. The
// pages for people (the console, signing in, e-mail action links) are the
// console function's, so this one links neither html/template's execution
// nor OpenID Connect. It writes the outbox and sends nothing itself (the
// notifier does), so it links neither SES nor EventBridge.
package main

import (
	_ "time/tzdata" // freezes name IANA time zones; the Lambda runtime need not have /usr/share/zoneinfo

	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	svc, err := appwire.Service(b.Config, b.Store, clock.System{}, b.Log, "")
	if err != nil {
		return err
	}
	api := apiwire.New(svc, b.Log)
	if err := apiwire.Sessions(b.Config, svc, api); err != nil {
		return err
	}
	apiwire.FromRequestHost(os.Getenv, api)
	if err := apiwire.Bootstrap(ctx, b.Config, svc); err != nil {
		return err
	}
	lambda.Start(lambdahttp.Handler(api))
	return nil
}
