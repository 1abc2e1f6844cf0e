// Command mailevents records what SES reports about the mail Countersign
// sent: the configuration set's bounce, complaint, delivery, reject and
// delay events, which an EventBridge rule on the default bus delivers
// (template.yaml). A hard bounce or a complaint marks the member's address
// suppressed (internal/mailevents, app.Service.RecordMailEvent). It links
// the store and the application service: no HTTP API, console, sign-in,
// SES or EventBridge client (the notifier tells the requesters, from the
// audit entry's outbox item).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/mailevents"
	"github.com/countersign/countersign/internal/setup/lambdabase"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign mailevents:", err)
		os.Exit(1)
	}
}

func run() error {
	b, err := lambdabase.Load(context.Background(), os.Getenv)
	if err != nil {
		return err
	}
	// No action link key: this function issues no links.
	svc := app.New(b.Store, clock.System{}, b.Log)
	lambda.Start(mailevents.Handler(svc, b.Log))
	return nil
}
