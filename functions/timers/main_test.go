package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/timers"
)

// The sample EventBridge scheduled event goes through the timers handler the
// way the Lambda runtime hands it over, and the sweep it fires auto-approves
// a request that is due.
func TestScheduledEventFiresSweep(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clk := clocktest.Clock(0, 0, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clk, log)
	ctx := context.Background()
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	editor := &app.Principal{MemberID: "m_ed", TokenID: "t2", Role: domain.RoleEditor}
	for _, m := range []*domain.Member{{ID: "m_admin", Email: "a@example.com", Name: "A", Role: domain.RoleAdmin}, {ID: "m_ed", Email: "e@example.com", Name: "E", Role: domain.RoleEditor}} {
		if err := store.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"}))
	must(svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "f", Name: "F", Variants: []domain.Variant{{Key: "on"}}}))
	// settings first: once approvals are on, auto-approval is a governance
	// change
	settings, _ := svc.GetApprovalSettings(ctx, admin, "shop", "production")
	settings.AutoApproveAfter = domain.AutoApprove24h
	must(svc.UpdateApprovalSettings(ctx, admin, "shop", "production", nil, settings))
	must(svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true}))
	out, err := svc.ChangeFlagConfig(ctx, editor, "shop", "f", "production", nil, app.ChangeOptions{}, func(c *domain.FlagConfig) error {
		c.Enabled = true
		return nil
	})
	if err != nil || out.Request == nil {
		t.Fatalf("propose: %v", err)
	}
	clk.Advance(25 * time.Hour)

	payload, err := os.ReadFile(filepath.Join("..", "..", "events", "eventbridge-scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := lambda.NewHandler(timers.Handler(svc, log)).Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var report app.SweepReport
	if err := json.Unmarshal(res, &report); err != nil {
		t.Fatal(err)
	}
	if report.Examined != 1 || len(report.AutoApproved) != 1 || report.AutoApproved[0] != out.Request.ID {
		t.Fatalf("report: %s", res)
	}
	// delivered twice (EventBridge is at least once): nothing more happens
	res, err = lambda.NewHandler(timers.Handler(svc, log)).Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res, &report); err != nil || report.Examined != 0 {
		t.Fatalf("second delivery: %s %v", res, err)
	}
}
