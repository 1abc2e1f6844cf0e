package notify_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A request short of a team's approval asks the team's members: when the
// requester asked nobody, only them (the overall quorum needs no more
// than the team does); when the requester asked someone, them too. The
// mail says what is missing.
func TestTeamShortfallMailsTheTeam(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	req := &app.Principal{MemberID: "m_req", TokenID: "t2", Role: domain.RoleEditor}
	if _, err := f.svc.CreateTeam(ctx, admin, app.TeamInput{Key: "sre", Name: "SRE", Members: []string{"m_b"}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.store.UpdateApprovalSettings(ctx, "shop", "production", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		a.MinApprovals, a.Require = 1, []domain.TeamRequirement{{Team: "sre", Min: 1}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pct := 10.0
	propose := func(notify []string) string {
		t.Helper()
		pct += 10
		out, err := f.svc.ChangeFlagConfig(ctx, req, "shop", "f", "production", nil, app.ChangeOptions{NotifyReviewers: notify},
			func(c *domain.FlagConfig) error {
				c.Enabled, c.DefaultRule = true, domain.Allocation{Rollout: pct, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
				return nil
			})
		if err != nil || out.Request == nil {
			t.Fatalf("propose: %v %+v", err, out)
		}
		return out.Request.ID
	}
	seen, first := 0, f.request
	reviewMails := func(id string) []string {
		t.Helper()
		if _, _, err := f.n.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		var to []string
		mails := f.box.Mails()
		fresh := mails[seen:]
		seen = len(mails)
		for _, m := range fresh {
			if strings.HasPrefix(m.Subject, "Review requested") {
				to = append(to, m.To[0])
				if id != first && !strings.Contains(m.Text, "needs 1 more from sre") {
					t.Errorf("the mail to %s does not say what is missing:\n%s", m.To[0], m.Text)
				}
			}
		}
		slices.Sort(to)
		return to
	}
	if got := reviewMails(f.request); len(got) != 2 { // the fixture's own request, opened before the team
		t.Fatalf("the fixture's request: %v", got)
	}
	if got := reviewMails(propose(nil)); !slices.Equal(got, []string{"b@example.com"}) {
		t.Fatalf("asked nobody: mailed %v, want sre's member only", got)
	}
	if got := reviewMails(propose([]string{"m_a"})); !slices.Equal(got, []string{"a@example.com", "b@example.com"}) {
		t.Fatalf("asked m_a: mailed %v, want m_a and sre's member", got)
	}
}
