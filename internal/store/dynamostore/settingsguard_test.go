package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

// What a settings guard adds to a direct write: the items of its
// transaction (each a ConditionCheck: on AWS 2 write units, the items being
// far below 1 KB) and what DynamoDB Local reports (docs/dynamodb.md, "Writes
// decided on settings", quotes `go test -v -run TestSettingsGuardCapacity`).
// Each write carries one audit entry, as the application's do.
func TestSettingsGuardCapacity(t *testing.T) {
	var items atomic.Int64 // items of the last TransactWriteItems
	o := client(t).Options()
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("CountTransactItems",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if tx, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
					items.Store(int64(len(tx.TransactItems)))
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
	c := dynamodb.New(o)
	s := dynamostore.New(c, newTable(t, c))
	ctx := context.Background()
	at := clocktest.At(0, 12, 0, 0)
	must(t, s.CreateProject(ctx, &domain.Project{Key: "shop", Name: "Shop", CreatedAt: at, UpdatedAt: at}, domain.DefaultEnvironments()))
	must(t, s.CreateFlag(ctx, &domain.Flag{
		Project: "shop", Key: "checkout", Name: "New checkout", Tags: []string{"payments"},
		BucketingUnit: "user_id", BucketingSalt: "k3v9x2qa", EvaluationMode: domain.EvaluationRemote, CreatedAt: at, UpdatedAt: at,
		Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "off", Value: json.RawMessage(`false`)}},
	}, nil))
	org, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = true; return nil })
	must(t, err)
	staging, err := s.UpdateApprovalSettings(ctx, "shop", "staging", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		a.Required = domain.RequiredOff
		return nil
	})
	must(t, err)
	production, err := s.GetApprovalSettings(ctx, "shop", "production") // never written: version 0, protected
	must(t, err)
	development, err := s.GetApprovalSettings(ctx, "shop", "development")
	must(t, err)

	n := 0
	entry := func() domain.AuditEntry {
		n++
		return domain.AuditEntry{ID: fmt.Sprintf("a_guard_%d", n), At: at.Add(time.Duration(n)), Actor: "member:m_ada", Action: "targeting.updated",
			Channel: "api", Project: "shop", Flag: "checkout"}
	}
	type cost struct {
		items int64
		units float64
	}
	config := func(env string, g *domain.SettingsGuard) cost {
		t.Helper()
		s.ResetConsumedCapacity()
		_, err := s.UpdateFlagConfig(ctx, "shop", "checkout", env, func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
			w.Settings = g
			c.Enabled = !c.Enabled
			w.Record(entry())
			return nil
		})
		must(t, err)
		return cost{items.Load(), s.ConsumedCapacity()}
	}
	flag := func(g *domain.SettingsGuard) cost {
		t.Helper()
		s.ResetConsumedCapacity()
		_, err := s.WriteFlag(ctx, "shop", "checkout", func(f *domain.Flag, _ []domain.FlagConfig, w *domain.FlagWrite) error {
			w.Settings = g
			f.Description += "x"
			w.Record(entry())
			return nil
		})
		must(t, err)
		return cost{items.Load(), s.ConsumedCapacity()}
	}
	rows := []struct {
		name  string
		cost  cost
		added int64 // items the guard adds
	}{
		{"config write, no guard", config("staging", nil), 0},
		{"config write, approvals off: ORG/SETTINGS", config("staging", &domain.SettingsGuard{Org: org.Version}), 1},
		{"config write, written settings: ORG/SETTINGS, APPROVAL#", config("staging", &domain.SettingsGuard{Org: org.Version, Environments: []domain.EnvironmentGuard{domain.GuardOf(staging)}}), 2},
		{"config write, never-written settings: ORG/SETTINGS, APPROVAL# (+ protection in the ENV# check)", config("production", &domain.SettingsGuard{Org: org.Version, Environments: []domain.EnvironmentGuard{domain.GuardOf(production)}}), 2},
		{"flag write, no guard", flag(nil), 0},
		{"flag write, approvals off: ORG/SETTINGS", flag(&domain.SettingsGuard{Org: org.Version}), 1},
		{"flag write, 3 environments (1 written, 2 never): ORG/SETTINGS, 3 APPROVAL#, 2 ENV#, the project", flag(&domain.SettingsGuard{Org: org.Version, AllEnvironments: true, Environments: []domain.EnvironmentGuard{
			domain.GuardOf(development), domain.GuardOf(staging), domain.GuardOf(production)}}), 7},
	}
	base := map[string]int64{"config": rows[0].cost.items, "flag": rows[4].cost.items}
	for _, r := range rows {
		t.Logf("%-100s %2d items %5.1f capacity units", r.name, r.cost.items, r.cost.units)
		kind := r.name[:strings.IndexByte(r.name, ' ')]
		if r.cost.items != base[kind]+r.added {
			t.Errorf("%s: %d transaction items, want %d (%d of the guard)", r.name, r.cost.items, base[kind]+r.added, r.added)
		}
		if r.cost.units <= 0 {
			t.Errorf("%s: DynamoDB reported no consumed capacity", r.name)
		}
	}
}

// A flag write whose guard needs more checks than one transaction holds is
// refused (409, nothing written), not written unchecked, nor failed as an
// internal error.
func TestSettingsGuardTooManyEnvironments(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	at := clocktest.At(0, 12, 0, 0)
	envs := make([]domain.Environment, domain.MaxEnvironmentsPerProject)
	g := &domain.SettingsGuard{AllEnvironments: true}
	for i := range envs {
		envs[i] = domain.Environment{Key: fmt.Sprintf("e%02d", i), Name: "E", CreatedAt: at, UpdatedAt: at}
		g.Environments = append(g.Environments, domain.EnvironmentGuard{Environment: envs[i].Key})
	}
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P", CreatedAt: at, UpdatedAt: at}, envs))
	must(t, s.CreateFlag(ctx, &domain.Flag{Project: "p", Key: "f", Name: "F", Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "s",
		EvaluationMode: domain.EvaluationRemote, CreatedAt: at, UpdatedAt: at, Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}, nil))
	_, err := s.WriteFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, w *domain.FlagWrite) error {
		w.Settings = g
		f.Name = "G"
		w.Record(domain.AuditEntry{ID: "a1", At: at, Actor: "member:m", Action: "flag.updated", Channel: "api", Project: "p", Flag: "f"})
		return nil
	})
	if domain.ErrorCode(err) != domain.CodeConflict || errors.Is(err, domain.ErrContention) {
		t.Fatalf("a guard of %d never-configured environments: want a conflict that says so, got %v", len(envs), err)
	}
	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if f.Version != 1 || f.Name != "F" {
		t.Fatalf("the refused write changed the flag: %+v", f)
	}
}
