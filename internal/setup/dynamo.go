package setup

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

// openDynamo connects to DynamoDB. With a custom endpoint (DynamoDB Local) it
// uses dummy credentials when none are configured and creates the table if
// it is missing; on AWS the table comes from template.yaml.
func openDynamo(ctx context.Context, cfg config.Config) (domain.Store, func() error, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.DynamoEndpoint != "" {
		opts = append(opts, awsconfig.WithRegion("us-east-1"))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	local := cfg.DynamoEndpoint != ""
	if local {
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			awsCfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if local {
			o.BaseEndpoint = aws.String(cfg.DynamoEndpoint)
		}
	})
	if local {
		_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.Table)})
		var missing *types.ResourceNotFoundException
		if errors.As(err, &missing) {
			err = dynamostore.CreateTable(ctx, client, cfg.Table)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("prepare table %s at %s: %w", cfg.Table, cfg.DynamoEndpoint, err)
		}
	}
	return dynamostore.New(client, cfg.Table), func() error { return nil }, nil
}
