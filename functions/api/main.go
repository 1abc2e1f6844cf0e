// Command api is the management API as a Lambda function behind an API
// Gateway HTTP API (payload format 2.0).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign api:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	cfg, err := config.FromEnv(os.Getenv, config.StoreDynamoDB)
	if err != nil {
		return err
	}
	log := cfg.Logger(os.Stdout)
	store, closeStore, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	svc, handler := setup.API(store, clock.System{}, log)
	if err := setup.Links(cfg, svc); err != nil {
		return err
	}
	if cfg.AdminToken != "" {
		// The operator's bootstrap token (see infra/README.md); idempotent.
		if _, err := svc.Bootstrap(ctx, cfg.AdminToken); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	lambda.Start(lambdahttp.Handler(handler))
	return nil
}
