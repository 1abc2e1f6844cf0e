// Command evaluate serves flag evaluation (OFREP and the ruleset route) as
// its own Lambda behind the same HTTP API, so the hot path scales and is
// billed apart from management. It keeps each environment's compiled
// ruleset in memory and checks its version at most every
// COUNTERSIGN_RULESET_REFRESH. It links the DynamoDB store and the
// evaluator only: no application service, console, sign-in, e-mail or
// events (functions/imports_test.go).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup/lambdabase"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign evaluate:", err)
		os.Exit(1)
	}
}

func run() error {
	b, err := lambdabase.Load(context.Background(), os.Getenv)
	if err != nil {
		return err
	}
	h := evaluate.NewHandler(evaluate.New(b.Store, clock.System{}, b.Config.RulesetRefresh), b.Log)
	lambda.Start(lambdahttp.Handler(h))
	return nil
}
