// Command evaluate serves flag evaluation (OFREP and the ruleset route) as
// its own Lambda behind the same HTTP API, so the hot path scales and is
// billed apart from management. It keeps each environment's compiled
// ruleset in memory and checks its version at most every
// COUNTERSIGN_RULESET_REFRESH.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign evaluate:", err)
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
	h := evaluate.NewHandler(evaluate.New(store, clock.System{}, cfg.RulesetRefresh), log)
	lambda.Start(lambdahttp.Handler(h))
	return nil
}
