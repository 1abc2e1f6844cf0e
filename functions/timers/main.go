// Command timers sweeps due change-request timers (auto-approval, expiry,
// scheduled apply) and retries failed notifications. An EventBridge schedule
// invokes it every minute. It links the store, the application service and
// the notifier (SES, EventBridge): no HTTP API, console or sign-in.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/lambdabase"
	"github.com/countersign/countersign/internal/setup/notifywire"
	"github.com/countersign/countersign/internal/timers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign timers:", err)
		os.Exit(1)
	}
}

func run() error {
	b, err := lambdabase.Load(context.Background(), os.Getenv)
	if err != nil {
		return err
	}
	svc, err := appwire.Service(b.Config, b.Store, clock.System{}, b.Log, "")
	if err != nil {
		return err
	}
	n, err := notifywire.Notifier(b.Config, b.AWS, b.Store, svc, b.Log)
	if err != nil {
		return err
	}
	lambda.Start(timers.Handler(svc, n, b.Log))
	return nil
}
