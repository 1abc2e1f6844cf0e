package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Indexes of the table (docs/dynamodb.md): three generic GSIs projecting
// every attribute; GSI3 is sparse (the timer index and the pending outbox).
var indexes = []struct{ name, pk, sk string }{
	{"GSI1", "GSI1PK", "GSI1SK"},
	{"GSI2", "GSI2PK", "GSI2SK"},
	{"GSI3", "GSI3PK", "GSI3SK"},
}

// CreateTable creates the table as docs/dynamodb.md describes it (string
// keys PK and SK, GSI1 to GSI3 projecting all attributes, on-demand billing,
// a NEW_AND_OLD_IMAGES stream) and waits until it is active. A table that
// exists already is left as it is (and waited for), so a local runtime may
// call CreateTable on every start.
//
// It then turns point-in-time recovery on, where the endpoint knows the
// operation: DynamoDB Local has no backups and answers UnknownOperation, which
// is ignored.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	attrs := []types.AttributeDefinition{
		{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
	}
	var gsis []types.GlobalSecondaryIndex
	for _, ix := range indexes {
		attrs = append(attrs,
			types.AttributeDefinition{AttributeName: aws.String(ix.pk), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String(ix.sk), AttributeType: types.ScalarAttributeTypeS})
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.pk), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.sk), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: attrs,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamodb create table %s: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(describeTable(client.DescribeTable), func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 500 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("dynamodb wait for table %s to become active: %w", table, err)
	}
	return enablePointInTimeRecovery(ctx, client, table)
}

// describeTable is the client's DescribeTable, as the waiter needs it (like
// http.HandlerFunc). Given the *dynamodb.Client itself, the waiter would
// put the client in an interface, which costs a binary that links
// text/template every DynamoDB operation (see operations in capacity.go).
type describeTable func(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)

func (f describeTable) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return f(ctx, in, opts...)
}

func enablePointInTimeRecovery(ctx context.Context, client *dynamodb.Client, table string) error {
	for attempt := 0; ; attempt++ {
		_, err := client.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName: aws.String(table),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: aws.Bool(true),
			},
		})
		var apiErr smithy.APIError
		var unavailable *types.ContinuousBackupsUnavailableException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.ErrorCode() == "UnknownOperationException":
			return nil // DynamoDB Local
		case errors.As(err, &unavailable) && attempt < 30:
			// Backups of a new table are being enabled; shortly they are.
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("dynamodb enable point-in-time recovery of %s: %w", table, err)
	}
}
