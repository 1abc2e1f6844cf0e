package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A draft tells nobody while it is put together; its submission asks its
// reviewers, naming every change it makes.
func TestDraftMailsReviewersOnlyWhenSubmitted(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	if _, _, err := f.n.Drain(ctx); err != nil { // the fixture's own request
		t.Fatal(err)
	}
	before := len(f.box.Mails())
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	req := &app.Principal{MemberID: "m_req", TokenID: "t2", Role: domain.RoleEditor}
	if _, err := f.svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "g", Name: "G", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}); err != nil {
		t.Fatal(err)
	}
	draft, err := f.svc.CreateRequest(ctx, req, app.RequestInput{Project: "shop", Title: "Both", Draft: true, NotifyReviewers: []string{"m_a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "development"} {
		if _, err := f.svc.ChangeFlagConfig(ctx, req, "shop", "g", env, nil, app.ChangeOptions{Draft: draft.ID},
			func(c *domain.FlagConfig) error { c.Enabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.n.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(f.box.Mails()); got != before {
		t.Fatalf("a draft mailed %d messages", got-before)
	}
	if _, err := f.svc.Submit(ctx, req, draft.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.n.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var asked bool
	for _, m := range f.box.Mails()[before:] {
		if m.To[0] == "a@example.com" && strings.HasPrefix(m.Subject, `Review requested: "Both" (g in staging and 1 more)`) &&
			strings.Contains(m.Text, "  - g in staging\n  - g in development\n") && strings.Contains(m.Text, "g in development: targeting off → on") {
			asked = true
		}
	}
	if !asked {
		for _, m := range f.box.Mails()[before:] {
			t.Logf("%v %q\n%s", m.To, m.Subject, m.Text)
		}
		t.Fatal("the submitted draft's reviewer was not asked, naming its changes")
	}
}
