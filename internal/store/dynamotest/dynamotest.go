// Package dynamotest gives tests outside the store a fresh DynamoDB store on
// DynamoDB Local, one table per test.
package dynamotest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/countersign/countersign/internal/store/dynamostore"
)

// Endpoint is DynamoDB Local's address from COUNTERSIGN_DYNAMODB_ENDPOINT.
func Endpoint() string { return os.Getenv("COUNTERSIGN_DYNAMODB_ENDPOINT") }

// Required reports whether a missing endpoint must fail tests (make test).
func Required() bool { return os.Getenv("COUNTERSIGN_REQUIRE_DYNAMODB") == "1" }

var tables atomic.Int64

// NewStore creates a fresh table on DynamoDB Local and returns a store on
// it; the table is deleted when the test ends. Without an endpoint the test
// fails when Required, and is skipped otherwise.
func NewStore(t testing.TB) *dynamostore.Store {
	t.Helper()
	endpoint := Endpoint()
	if endpoint == "" {
		if Required() {
			t.Fatal("COUNTERSIGN_DYNAMODB_ENDPOINT is not set but COUNTERSIGN_REQUIRE_DYNAMODB=1: start DynamoDB Local with scripts/dynamodb-local.sh start")
		}
		t.Skip("no DynamoDB Local (COUNTERSIGN_DYNAMODB_ENDPOINT unset); make test runs this")
	}
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	table := fmt.Sprintf("cs-test-%d-%d", time.Now().UnixNano(), tables.Add(1)) // wall clock: a unique table name
	ctx := context.Background()
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		t.Fatalf("create table on %s: %v", endpoint, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return dynamostore.New(client, table)
}
