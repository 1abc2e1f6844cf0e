// Command timers sweeps due change-request timers (auto-approval, expiry,
// scheduled apply). An EventBridge schedule invokes it every minute. It
// links the store and the application service: what a sweep does reaches
// people through the outbox, which the notifier function delivers (and
// retries), so this function links neither SES nor EventBridge, nor an HTTP
// API, console or sign-in.
package main

import (
	_ "time/tzdata" // freezes name IANA time zones; the Lambda runtime need not have /usr/share/zoneinfo

	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/lambdabase"
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
	lambda.Start(timers.Handler(svc, b.Log))
	return nil
}
