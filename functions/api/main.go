// Command api is the management API as a Lambda function behind an API
// Gateway HTTP API (payload format 2.0).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/app"
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
	if l.Config.AdminToken != "" || l.Config.AdminEmail != "" {
		// The operator's first admin (see infra/README.md): invited at
		// AdminEmail on an empty table, and/or given the bootstrap token;
		// idempotent, and safe when several instances start at once.
		if _, err := l.Service.BootstrapAdmin(ctx, app.BootstrapInput{Token: l.Config.AdminToken, Email: l.Config.AdminEmail}); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	lambda.Start(lambdahttp.Handler(l.Handler))
	return nil
}
