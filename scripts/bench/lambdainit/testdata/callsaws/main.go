// Command callsaws is a function that calls AWS during its init (through
// the proxy of the environment, as the SDK's HTTP client does): the
// harness must refuse it (lambdainit_test.go).
package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if res, err := http.Get("https://dynamodb.eu-west-1.amazonaws.com/"); err == nil {
		res.Body.Close()
	}
	lambda.Start(func(context.Context) error { return nil })
}
