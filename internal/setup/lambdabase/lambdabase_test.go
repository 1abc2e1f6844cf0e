package lambdabase_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/setup/lambdabase"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

var lambdaEnv = map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
	"COUNTERSIGN_TABLE": "countersign-test", "COUNTERSIGN_STAGE": "test"}

func with(kv map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range lambdaEnv {
		out[k] = v
	}
	for k, v := range kv {
		out[k] = v
	}
	return out
}

// On Lambda: DynamoDB, the table from the environment, and no call made
// (the region and credentials are Lambda's).
func TestLoad(t *testing.T) {
	b, err := lambdabase.Load(context.Background(), env(lambdaEnv))
	if err != nil {
		t.Fatal(err)
	}
	if b.Store == nil || b.Config.Table != "countersign-test" || b.Config.Stage != "test" || b.Log == nil {
		t.Fatalf("%+v", b)
	}
	cfg, err := b.AWS("")
	if err != nil || cfg.Region != "eu-west-1" {
		t.Fatalf("AWS configuration: %+v %v", cfg, err)
	}
}

func TestLoadRefuses(t *testing.T) {
	for want, kv := range map[string]map[string]string{
		"keeps its data in DynamoDB": with(map[string]string{"COUNTERSIGN_STORE": "bolt"}),
		"AWS_ACCESS_KEY_ID":          with(map[string]string{"AWS_ACCESS_KEY_ID": ""}),
		"COUNTERSIGN_LOG_LEVEL":      with(map[string]string{"COUNTERSIGN_LOG_LEVEL": "loud"}),
	} {
		if _, err := lambdabase.Load(context.Background(), env(kv)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %q, got %v", want, err)
		}
	}
}

// With COUNTERSIGN_DYNAMODB_ENDPOINT (DynamoDB Local, as under sam local)
// the table is created when it is missing, and the store works.
func TestLoadOnDynamoDBLocal(t *testing.T) {
	endpoint := dynamotest.Endpoint()
	if endpoint == "" {
		dynamotest.NewStore(t) // fails under make test, skips elsewhere
		return
	}
	table := fmt.Sprintf("cs-lambdabase-%d", time.Now().UnixNano()) // wall clock: a unique table name
	b, err := lambdabase.Load(context.Background(), env(map[string]string{"COUNTERSIGN_TABLE": table, "COUNTERSIGN_DYNAMODB_ENDPOINT": endpoint}))
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := b.AWS(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	ctx := context.Background()
	if err := b.Store.CreateMember(ctx, &domain.Member{ID: "m_1", Email: "ada@example.com", Name: "Ada", Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Store.GetMember(ctx, "m_1"); err != nil || m.Email != "ada@example.com" {
		t.Fatalf("%+v %v", m, err)
	}
}
