package recovery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/recovery"
	"github.com/countersign/countersign/internal/setup"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

func configFrom(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// withStore opens the store cfg names, runs fn on it and closes it again
// (bbolt allows one process, and one open handle, at a time).
func withStore(t *testing.T, cfg config.Config, fn func(domain.Store)) {
	t.Helper()
	s, closeStore, err := setup.OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	fn(s)
}

func run(t *testing.T, cfg config.Config, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := recovery.RecoverAdmin(context.Background(), cfg, args, &out, io.Discard)
	return out.String(), err
}

func TestRecoverAdminOnBolt(t *testing.T) {
	testRecoverAdmin(t, configFrom(t, map[string]string{"COUNTERSIGN_DATA_DIR": t.TempDir()}))
}

var tables atomic.Int64

func TestRecoverAdminOnDynamoDB(t *testing.T) {
	endpoint := dynamotest.Endpoint()
	if endpoint == "" {
		if dynamotest.Required() {
			t.Fatal("COUNTERSIGN_DYNAMODB_ENDPOINT is not set but COUNTERSIGN_REQUIRE_DYNAMODB=1")
		}
		t.Skip("no DynamoDB Local (COUNTERSIGN_DYNAMODB_ENDPOINT unset); make test runs this")
	}
	table := fmt.Sprintf("cs-recover-%d-%d", time.Now().UnixNano(), tables.Add(1)) // wall clock: a unique table name
	t.Cleanup(func() {
		client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	// Credentials for DynamoDB Local, so the SDK does not ask EC2 for some.
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// The local runtime's configuration: the table is created at the
	// endpoint when missing, as `make run` does.
	testRecoverAdmin(t, configFrom(t, map[string]string{
		"COUNTERSIGN_STORE": "dynamodb", "COUNTERSIGN_TABLE": table, "COUNTERSIGN_DYNAMODB_ENDPOINT": endpoint,
	}))
}

// An organisation left with no admin (two admins demoted each other before
// the rule held under concurrency; or one was removed by hand) gets one back.
func testRecoverAdmin(t *testing.T, cfg config.Config) {
	ctx := context.Background()
	withStore(t, cfg, func(s domain.Store) {
		for _, m := range []domain.Member{
			{ID: "m_ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleAdmin},
			{ID: "m_bob", Email: "bob@example.com", Name: "Bob", Role: domain.RoleAdmin},
		} {
			if err := s.CreateMember(ctx, &m); err != nil {
				t.Fatal(err)
			}
		}
		// what the race left: both demoted (the store does only what it is told)
		for _, id := range []string{"m_ada", "m_bob"} {
			if _, err := s.UpdateMember(ctx, id, func(m *domain.Member) error { m.Role = domain.RoleEditor; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateToken(ctx, &domain.Token{ID: "t_ada", Name: "ada", MemberID: "m_ada", Hash: app.HashToken("ada-secret-0123456789abcdef"), CreatedBy: "member:m_ada"}); err != nil {
			t.Fatal(err)
		}
	})

	// usage errors write nothing
	if _, err := run(t, cfg); err == nil || !strings.Contains(err.Error(), "--email is required") {
		t.Fatalf("without --email: %v", err)
	}
	if _, err := run(t, cfg, "--email", "not an address"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("a bad address: want invalid, got %v", err)
	}

	// promote an existing member, found by address in any case
	out, err := run(t, cfg, "--email", "ADA@example.com", "--note", "both admins demoted each other")
	if err != nil {
		t.Fatalf("recover-admin: %v\n%s", err, out)
	}
	t.Logf("recover-admin printed:\n%s", out)
	for _, want := range []string{"admin members before: 0", "ada@example.com (m_ada) was editor, is admin now (version 3)", "member.admin_recovered by system:recover-admin", "has 1 API token(s)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	auditID := regexp.MustCompile(`audit entry (\S+):`).FindStringSubmatch(out)
	if auditID == nil {
		t.Fatalf("no audit entry id in:\n%s", out)
	}
	withStore(t, cfg, func(s domain.Store) {
		m, err := s.GetMember(ctx, "m_ada")
		if err != nil || m.Role != domain.RoleAdmin || m.Version != 3 {
			t.Fatalf("ada after recovery: %+v %v", m, err)
		}
		// the audit entry went with the change (its outbox item too)
		ob, err := s.GetOutbox(ctx, auditID[1])
		if err != nil {
			t.Fatalf("the recovery's audit entry: %v", err)
		}
		e := ob.Entry
		if e.Action != domain.ActionMemberAdminRecovered || e.Actor != app.ActorRecoverAdmin || e.Channel != app.ChannelSystem || e.Version != 3 ||
			!strings.Contains(e.Reason, "ada@example.com (m_ada) made an admin (was editor)") || !strings.Contains(e.Reason, "both admins demoted each other") {
			t.Fatalf("audit entry: %+v", e)
		}
		// Ada's token acts as admin again: she can add members.
		svc := app.New(s, clock.System{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		p, err := svc.Authenticate(ctx, "ada-secret-0123456789abcdef")
		if err != nil || p.Role != domain.RoleAdmin {
			t.Fatalf("ada's token after recovery: %+v %v", p, err)
		}
		if _, err := svc.CreateMember(ctx, p, app.MemberInput{Email: "carol@example.com", Name: "Carol", Role: domain.RoleViewer}); err != nil {
			t.Fatalf("the recovered admin adds a member: %v", err)
		}
	})

	// again: nothing to do, nothing written
	out, err = run(t, cfg, "--email", "ada@example.com")
	if err != nil || !strings.Contains(out, "is an admin already: nothing written") || strings.Contains(out, "audit entry") {
		t.Fatalf("a second run: %v\n%s", err, out)
	}

	// a new address: an admin member is created, with a token when asked
	out, err = run(t, cfg, "--email", "ops@example.com", "--name", "Operations", "--token")
	if err != nil {
		t.Fatalf("recover-admin creating a member: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`(?m)^\s+(cs_\S+)$`).FindStringSubmatch(out)
	if !strings.Contains(out, "admin members before: 1") || !strings.Contains(out, `created ops@example.com (`) || secret == nil {
		t.Fatalf("output of creating a member:\n%s", out)
	}
	withStore(t, cfg, func(s domain.Store) {
		svc := app.New(s, clock.System{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		p, err := svc.Authenticate(ctx, secret[1])
		if err != nil || p.Role != domain.RoleAdmin || p.MemberID == "" {
			t.Fatalf("the token issued: %+v %v", p, err)
		}
		m, err := s.GetMember(ctx, p.MemberID)
		if err != nil || m.Email != "ops@example.com" || m.Name != "Operations" || m.Role != domain.RoleAdmin {
			t.Fatalf("the member created: %+v %v", m, err)
		}
	})
	// Bob, still an editor, has no token: the command says how to get one.
	out, err = run(t, cfg, "--email", "bob@example.com")
	if err != nil || !strings.Contains(out, "bob@example.com has no API token: run again with --token") {
		t.Fatalf("promoting a member without tokens: %v\n%s", err, out)
	}
}
