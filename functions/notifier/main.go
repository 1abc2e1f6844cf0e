// Command notifier delivers the outbox: the table's DynamoDB Stream invokes
// it for every new outbox item (e-mail through SES v2, domain events to
// EventBridge).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	l, err := setup.ForLambda(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	n, err := setup.Notifier(ctx, l.Config, l.Store, l.Service, l.Log)
	if err != nil {
		return err
	}
	lambda.Start(notify.StreamHandler(n, l.Log))
	return nil
}
