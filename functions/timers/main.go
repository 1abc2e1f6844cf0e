// Command timers sweeps due change-request timers (auto-approval, expiry,
// scheduled apply). An EventBridge schedule invokes it every minute.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/setup"
	"github.com/countersign/countersign/internal/timers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign timers:", err)
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
	svc, _ := setup.API(store, clock.System{}, log)
	if err := setup.Links(cfg, svc); err != nil {
		return err
	}
	n, err := setup.Notifier(ctx, cfg, store, svc, log)
	if err != nil {
		return err
	}
	lambda.Start(timers.Handler(svc, n, log))
	return nil
}
