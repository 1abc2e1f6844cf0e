// Command api is the management API as a Lambda function behind an API
// Gateway HTTP API (payload format 2.0).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	l, err := setup.ForLambda(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	if l.Config.AdminToken != "" {
		// The operator's bootstrap token (see infra/README.md); idempotent.
		if _, err := l.Service.Bootstrap(ctx, l.Config.AdminToken); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	lambda.Start(lambdahttp.Handler(l.Handler))
	return nil
}
