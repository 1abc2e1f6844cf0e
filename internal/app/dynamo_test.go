package app_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// With DynamoDB Local (make test), every test of this package also runs on
// the DynamoDB store.
func init() {
	if dynamotest.Endpoint() != "" || dynamotest.Required() {
		storeFactories["dynamodb"] = func(t *testing.T) domain.Store { return dynamotest.NewStore(t) }
	}
}
