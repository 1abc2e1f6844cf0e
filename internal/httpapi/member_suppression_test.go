package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A member whose mail hard-bounced: the member's view (and the list) shows
// the suppression, a request that waits on them lists them as
// unreachable, both as openapi.yaml says; the member cannot clear it
// themselves, nobody sets one, and an admin clears it with a merge patch.
func TestMemberSuppressionInTheAPI(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	sam := a.member("sam@example.com", domain.RoleEditor)
	rita := a.member("rita@example.com", domain.RoleEditor)
	admin, err := a.svc.Authenticate(ctx, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "f", Name: "F", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true}); err != nil {
		t.Fatal(err)
	}
	out, err := a.svc.ChangeFlagConfig(ctx, &app.Principal{MemberID: rita.ID, TokenID: "t", Role: domain.RoleEditor}, "shop", "f", "production", nil,
		app.ChangeOptions{NotifyReviewers: []string{sam.ID}}, func(c *domain.FlagConfig) error { c.Enabled = true; return nil })
	if err != nil || out.Request == nil {
		t.Fatalf("propose: %v", err)
	}
	at := a.clock.Now().Add(-time.Minute).UTC()
	if _, err := a.svc.RecordMailEvent(ctx, app.MailEvent{Type: app.MailBounce, BounceType: "Permanent", BounceSubType: "General",
		Recipients: []string{"sam@example.com"}, FeedbackID: "fb-sam", At: at}); err != nil {
		t.Fatal(err)
	}

	var m struct {
		EmailSuppressed *struct {
			Reason     string    `json:"reason"`
			At         time.Time `json:"at"`
			FeedbackID string    `json:"feedback_id"`
		} `json:"email_suppressed"`
	}
	a.do("GET", "/v1/members/"+sam.ID, nil).want(t, 200).json(&m)
	if s := m.EmailSuppressed; s == nil || s.Reason != "bounce" || !s.At.Equal(at) || s.FeedbackID != "fb-sam" {
		t.Fatalf("the member's suppression: %+v", s)
	}
	var list struct {
		Items []struct {
			ID              string          `json:"id"`
			EmailSuppressed json.RawMessage `json:"email_suppressed"`
		} `json:"items"`
	}
	a.do("GET", "/v1/members", nil).want(t, 200).json(&list)
	for _, it := range list.Items {
		if (it.ID == sam.ID) != (it.EmailSuppressed != nil) {
			t.Fatalf("the list: %s has suppression %s", it.ID, it.EmailSuppressed)
		}
	}
	var cr struct {
		Unreachable []struct {
			MemberID    string `json:"member_id"`
			Email       string `json:"email"`
			Suppression struct {
				Reason string `json:"reason"`
			} `json:"suppression"`
		} `json:"unreachable_reviewers"`
	}
	a.do("GET", "/v1/change-requests/"+out.Request.ID, nil).want(t, 200).json(&cr)
	if len(cr.Unreachable) != 1 || cr.Unreachable[0].MemberID != sam.ID || cr.Unreachable[0].Email != "sam@example.com" || cr.Unreachable[0].Suppression.Reason != "bounce" {
		t.Fatalf("the request's unreachable reviewers: %+v", cr.Unreachable)
	}

	// sam cannot clear it; nobody sets one
	bSam, csrf := a.signedIn(sam.ID)
	bSam.do("PATCH", "/v1/members/"+sam.ID, map[string]any{"email_suppressed": nil}, mergePatch(), csrfHeader(csrf)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", "/v1/members/"+rita.ID, map[string]any{"email_suppressed": map[string]any{"reason": "bounce", "at": at}}, mergePatch()).
		wantProblem(t, 422, domain.CodeInvalid, "/email_suppressed")
	// an admin clears it
	var after map[string]json.RawMessage
	a.do("PATCH", "/v1/members/"+sam.ID, map[string]any{"email_suppressed": nil}, mergePatch()).want(t, 200).json(&after)
	if _, has := after["email_suppressed"]; has {
		t.Fatalf("still suppressed: %s", after["email_suppressed"])
	}
	cr.Unreachable = nil
	a.do("GET", "/v1/change-requests/"+out.Request.ID, nil).want(t, 200).json(&cr)
	if len(cr.Unreachable) != 0 {
		t.Fatalf("after clearing: %+v", cr.Unreachable)
	}
}
