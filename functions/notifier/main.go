// Command notifier delivers the outbox: the table's DynamoDB Stream invokes
// it for every new outbox item (e-mail through SES v2, domain events to
// EventBridge), and an EventBridge schedule every minute to retry, with
// backoff, what failed on the stream. It links the store, the application service (it issues the
// links e-mails carry) and the notifier: no HTTP API, console or sign-in.
package main

import (
	_ "time/tzdata" // freezes name IANA time zones; the Lambda runtime need not have /usr/share/zoneinfo

	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/lambdabase"
	"github.com/countersign/countersign/internal/setup/notifywire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign notifier:", err)
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
	lambda.Start(notify.Handler(n, b.Log))
	return nil
}
