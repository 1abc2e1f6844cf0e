// Command notifier delivers the outbox: the table's DynamoDB Stream invokes
// it for every new outbox item (e-mail through SES v2, domain events to
// EventBridge).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/setup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign notifier:", err)
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
	lambda.Start(notify.StreamHandler(n, log))
	return nil
}
