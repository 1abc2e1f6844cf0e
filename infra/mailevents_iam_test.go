package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/mailevents"
	"github.com/countersign/countersign/internal/store/dynamostore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// call is one DynamoDB action the code asked for: an operation, or one
// item of a transaction (IAM checks each item's Put/Update/Delete/
// ConditionCheck), with the partition key it touches and the index it
// reads.
type call struct{ action, pk, index string }

// callRecorder records the DynamoDB actions of a client while on.
type callRecorder struct {
	mu    sync.Mutex
	on    bool
	calls []call
}

func pkOf(k map[string]types.AttributeValue) string {
	if s, ok := k["PK"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func (r *callRecorder) record(params any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	add := func(action, pk, index string) { r.calls = append(r.calls, call{"dynamodb:" + action, pk, index}) }
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		add("GetItem", pkOf(in.Key), "")
	case *dynamodb.PutItemInput:
		add("PutItem", pkOf(in.Item), "")
	case *dynamodb.UpdateItemInput:
		add("UpdateItem", pkOf(in.Key), "")
	case *dynamodb.DeleteItemInput:
		add("DeleteItem", pkOf(in.Key), "")
	case *dynamodb.QueryInput:
		add("Query", queryPK(in), aws.ToString(in.IndexName))
	case *dynamodb.BatchGetItemInput:
		for _, ka := range in.RequestItems {
			for _, k := range ka.Keys {
				add("BatchGetItem", pkOf(k), "")
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				add("PutItem", pkOf(it.Put.Item), "")
			case it.Update != nil:
				add("UpdateItem", pkOf(it.Update.Key), "")
			case it.Delete != nil:
				add("DeleteItem", pkOf(it.Delete.Key), "")
			case it.ConditionCheck != nil:
				add("ConditionCheckItem", pkOf(it.ConditionCheck.Key), "")
			}
		}
	default:
		add(fmt.Sprintf("%T", params), "", "")
	}
}

// queryPK is the partition a Query reads: the value its key condition
// gives the table's PK ("" when it reads an index's).
func queryPK(in *dynamodb.QueryInput) string {
	cond := aws.ToString(in.KeyConditionExpression)
	for alias, name := range in.ExpressionAttributeNames {
		if name != "PK" {
			continue
		}
		if m := regexp.MustCompile(regexp.QuoteMeta(alias) + `\s*=\s*(:\w+)`).FindStringSubmatch(cond); m != nil {
			if v, ok := in.ExpressionAttributeValues[m[1]].(*types.AttributeValueMemberS); ok {
				return v.Value
			}
		}
	}
	return ""
}

// The mailevents function's real handler, run with the sample SES events
// against DynamoDB Local through a client that records every action it
// asks for: each one is granted by MailEventsFunction's policy in
// template.yaml, on the partition it touches (the policy's LeadingKeys
// included), and nothing reads an index the policy does not name.
func TestMailEventsFunctionPolicyCoversItsCalls(t *testing.T) {
	endpoint := dynamotest.Endpoint()
	if endpoint == "" {
		if dynamotest.Required() {
			t.Fatal("COUNTERSIGN_DYNAMODB_ENDPOINT is not set but COUNTERSIGN_REQUIRE_DYNAMODB=1")
		}
		t.Skip("no DynamoDB Local (COUNTERSIGN_DYNAMODB_ENDPOINT unset); make test runs this")
	}
	tpl := loadTemplate(t)
	fn := tpl.function(t, "MailEventsFunction")
	rec := &callRecorder{}
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions: []func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("record-iam-calls",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					rec.record(in.Parameters)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		}},
	})
	ctx := context.Background()
	table := fmt.Sprintf("cs-iam-mailevents-%d", time.Now().UnixNano()) // wall clock: a unique table name
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	store := dynamostore.New(client, table)

	// what the table holds when the events come: members, one of them an
	// admin, and a request that waits on the reviewer whose mail bounces
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clocktest.Clock(0, 0, 0), log)
	for _, m := range []*domain.Member{
		{ID: "m_admin", Email: "admin@example.com", Name: "Admin", Role: domain.RoleAdmin},
		{ID: "m_req", Email: "requester@example.com", Name: "Req", Role: domain.RoleEditor},
		{ID: "m_rev", Email: "reviewer@example.com", Name: "Rev", Role: domain.RoleEditor},
	} {
		if err := store.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	rec.on = true
	h := lambda.NewHandler(mailevents.Handler(svc, log))
	for _, name := range []string{"eventbridge-ses-bounce.json", "eventbridge-ses-bounce.json", "eventbridge-ses-complaint.json", "eventbridge-ses-delivery.json"} {
		payload, err := os.ReadFile(filepath.Join(repoRoot(t), "events", name))
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out app.MailEventOutcome
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := store.GetMember(ctx, "m_rev"); m == nil || m.EmailSuppressed == nil {
		t.Fatal("the bounce was not recorded: the calls below are not the whole of them")
	}
	seen := map[call]bool{}
	for _, c := range rec.calls {
		if seen[c] {
			continue
		}
		seen[c] = true
		if c.index != "" {
			t.Errorf("MailEventsFunction reads index %s (%s), which its policy does not name", c.index, c.action)
		}
		if !grantsOnTable(fn.props, c.action, c.pk) {
			t.Errorf("MailEventsFunction's policy does not grant %s on items under %q, which its handler asks for", c.action, c.pk)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no call recorded")
	}
	t.Logf("calls: %v", rec.calls)
}
