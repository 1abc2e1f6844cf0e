// Command timers sweeps due change-request timers (auto-approval, expiry,
// scheduled apply) and retries failed notifications. An EventBridge schedule
// invokes it every minute.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	l, err := setup.ForLambda(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	n, err := setup.Notifier(ctx, l.Config, l.Store, l.Service, l.Log)
	if err != nil {
		return err
	}
	lambda.Start(timers.Handler(l.Service, n, l.Log))
	return nil
}
