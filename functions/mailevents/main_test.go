package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/mailevents"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// The sample SES events go through the function's Lambda handler as the
// runtime hands them over: the hard bounce suppresses the reviewer's
// address (once, though EventBridge delivers it twice), the request that
// waits on them says so, the complaint about the same address changes
// nothing more, and the delivery changes nothing.
func TestSampleSESEvents(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		store, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		sampleEvents(t, store)
	})
	// on AWS the function writes the DynamoDB store: the same on DynamoDB Local
	t.Run("dynamodb", func(t *testing.T) { sampleEvents(t, dynamotest.NewStore(t)) })
}

func invoke(t *testing.T, h lambda.Handler, name string) *app.MailEventOutcome {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out app.MailEventOutcome
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatalf("%s: answer %s: %v", name, res, err)
	}
	return &out
}

func sampleEvents(t *testing.T, store domain.Store) {
	ctx := context.Background()
	clk := clocktest.Clock(0, 0, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clk, log)
	for _, m := range []*domain.Member{
		{ID: "m_admin", Email: "admin@example.com", Name: "Admin", Role: domain.RoleAdmin},
		{ID: "m_req", Email: "requester@example.com", Name: "Req", Role: domain.RoleEditor},
		{ID: "m_rev", Email: "Reviewer@example.com", Name: "Rev", Role: domain.RoleEditor},
		{ID: "m_other", Email: "other-reviewer@example.com", Name: "Other", Role: domain.RoleEditor},
	} {
		if err := store.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	req := &app.Principal{MemberID: "m_req", TokenID: "t2", Role: domain.RoleEditor}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"}))
	must(svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "checkout", Name: "Checkout", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}))
	must(svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true}))
	out, err := svc.ChangeFlagConfig(ctx, req, "shop", "checkout", "production", nil, app.ChangeOptions{NotifyReviewers: []string{"m_rev", "m_other"}},
		func(c *domain.FlagConfig) error { c.Enabled = true; return nil })
	if err != nil || out.Request == nil {
		t.Fatalf("propose: %v", err)
	}

	h := lambda.NewHandler(mailevents.Handler(svc, log))
	for i := range 2 { // EventBridge delivers at least once
		res := invoke(t, h, "eventbridge-ses-bounce.json")
		if i == 0 && strings.Join(res.Suppressed, ",") != "m_rev" || i == 1 && (len(res.Suppressed) != 0 || strings.Join(res.Already, ",") != "m_rev") {
			t.Fatalf("bounce, delivery %d: %+v", i+1, res)
		}
	}
	m, err := store.GetMember(ctx, "m_rev")
	if err != nil {
		t.Fatal(err)
	}
	s := m.EmailSuppressed
	bouncedAt := time.Date(2026, 11, 21, 12, 1, 2, 669e6, time.UTC) // calendar-free: the sample event's bounce time, data no clock compares with
	if s == nil || s.Reason != domain.SuppressedBounce || s.FeedbackID != "0100019a4f3e2b1c-7d6e5f4a-3b2c-4d1e-9f8a-7b6c5d4e3f2a-000000" ||
		!s.At.Equal(bouncedAt) || !strings.HasPrefix(s.Detail, "General: smtp; 550 5.1.1") {
		t.Fatalf("the reviewer after the bounce: %+v", s)
	}
	entries, _, err := store.ListAudit(ctx, domain.AuditFilter{Actor: app.ActorSES}, domain.Page{})
	if err != nil || len(entries) != 1 || entries[0].Action != domain.ActionMemberEmailSuppressed || entries[0].Member != "m_rev" {
		t.Fatalf("audit by system:ses: %+v %v", entries, err)
	}
	v, err := svc.GetRequest(ctx, req, out.Request.ID)
	if err != nil || len(v.UnreachableReviewers) != 1 || v.UnreachableReviewers[0].MemberID != "m_rev" {
		t.Fatalf("the request waiting on the reviewer: %+v %v", v, err)
	}

	if res := invoke(t, h, "eventbridge-ses-complaint.json"); strings.Join(res.Already, ",") != "m_rev" || len(res.Suppressed) != 0 {
		t.Fatalf("complaint about a suppressed address: %+v", res)
	}
	if res := invoke(t, h, "eventbridge-ses-delivery.json"); res.Ignored == "" || len(res.Suppressed)+len(res.Already)+len(res.Unknown) != 0 {
		t.Fatalf("delivery: %+v", res)
	}
	if m, _ := store.GetMember(ctx, "m_other"); m.EmailSuppressed != nil {
		t.Fatal("a delivery suppressed its recipient")
	}
	// an event that is not SES's is dropped, not retried
	if res := invoke(t, h, "eventbridge-scheduled.json"); !strings.Contains(res.Ignored, "not aws.ses") {
		t.Fatalf("a scheduled event: %+v", res)
	}
}
