// Command minimal is the yardstick of scripts/bench/lambdainit: the
// smallest aws-lambda-go function, built with the same flags as
// Countersign's functions. It answers every event with "ok".
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "ok", nil })
}
