// Package dynamo opens the DynamoDB store: the store of every Lambda
// function, and of the local process when COUNTERSIGN_STORE=dynamodb.
package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

// Open returns the store on table through a client made from awsCfg. With
// an endpoint (DynamoDB Local) the client sends there and the table is
// created if it is missing, which asks DynamoDB Local; on AWS the table
// comes from template.yaml and Open makes no call.
func Open(ctx context.Context, awsCfg aws.Config, table, endpoint string) (domain.Store, error) {
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	if endpoint != "" {
		_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var missing *types.ResourceNotFoundException
		if errors.As(err, &missing) {
			err = dynamostore.CreateTable(ctx, client, table)
		}
		if err != nil {
			return nil, fmt.Errorf("prepare table %s at %s: %w", table, endpoint, err)
		}
	}
	return dynamostore.New(client, table), nil
}
