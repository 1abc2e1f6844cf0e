package dynamostore_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

// loseAnswers is a client middleware that, while armed, lets the next
// PutItem reach DynamoDB and run, then drops its answer and reports a
// connection reset instead, as a network failure after the write would. The
// SDK's retryer sends the PutItem again (a reset is retryable); a PutItem
// carries no idempotency token, so DynamoDB runs it again.
type loseAnswers struct{ armed atomic.Bool }

func (l *loseAnswers) install(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("LoseAnswer",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if err != nil || middleware.GetOperationName(ctx) != "PutItem" || !l.armed.CompareAndSwap(true, false) {
				return out, md, err
			}
			if raw, ok := out.RawResponse.(*smithyhttp.Response); ok && raw.Body != nil {
				_ = raw.Body.Close()
			}
			return middleware.DeserializeOutput{}, md, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "dynamodb",
				Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}}
		}), middleware.After)
}

func lostAnswerStore(t *testing.T) (*dynamostore.Store, *loseAnswers) {
	l := &loseAnswers{}
	c := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("countersign", "local", "")},
		func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(endpoint(t))
			o.APIOptions = append(o.APIOptions, l.install)
		})
	return dynamostore.New(c, newTable(t, c)), l
}

// A version-conditioned put (UpdateOutbox, UpdateProject) whose answer is
// lost after DynamoDB wrote it, sent again by the SDK, finds its own write:
// it succeeded, once. Reading that as a lost race would run the update
// again on its own result: a failed delivery counted twice (a notification
// dead-lettered after half its attempts), a version bumped twice (found by
// TestDynamoDBFaults in internal/app).
func TestLostAnswerOfAConditionalPut(t *testing.T) {
	s, lose := lostAnswerStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	must(t, s.AppendAudit(ctx, audited("a1", "p", at0)))

	lose.armed.Store(true)
	runs := 0
	it, err := s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error {
		runs++
		o.Attempts++
		return nil
	})
	must(t, err)
	if lose.armed.Load() {
		t.Fatal("no PutItem answer was lost")
	}
	stored, err := s.GetOutbox(ctx, "a1")
	must(t, err)
	if runs != 1 || it.Attempts != 1 || stored.Attempts != 1 || stored.Version != 2 {
		t.Errorf("one update of the outbox item ran %d times: answered attempts %d, stored attempts %d, version %d; want 1, 1, 1, 2",
			runs, it.Attempts, stored.Attempts, stored.Version)
	}

	lose.armed.Store(true)
	runs = 0
	p, err := s.UpdateProject(ctx, "p", func(p *domain.Project) error {
		runs++
		p.Name += "!"
		return nil
	})
	must(t, err)
	got, err := s.GetProject(ctx, "p")
	must(t, err)
	if runs != 1 || p.Name != "P!" || got.Name != "P!" || got.Version != 2 {
		t.Fatalf("one update of the project ran %d times: answered %q, stored %q version %d; want 1, P!, P!, 2", runs, p.Name, got.Name, got.Version)
	}
}
