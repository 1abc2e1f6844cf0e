package app_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// teams creates sre (alice, bob) and checkout-owners (alice, carol).
func (w *world) teams() {
	w.t.Helper()
	w.must(w.svc.CreateTeam(w.ctx, w.admin, app.TeamInput{Key: "sre", Name: "SRE", Members: []string{"m_alice", "m_bob"}}))
	w.must(w.svc.CreateTeam(w.ctx, w.admin, app.TeamInput{Key: "checkout-owners", Name: "Checkout owners", Members: []string{"m_alice", "m_carol"}}))
}

func (w *world) approve(p *app.Principal, id string) *app.RequestView {
	w.t.Helper()
	v, err := w.svc.Review(w.ctx, p, id, domain.DecisionApprove, "looks right", app.ChannelAPI)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func wantMissing(t *testing.T, v *app.RequestView, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(v.Missing, want) {
		t.Fatalf("missing %q, want %q", v.Missing, want)
	}
}

// Production requires one approval from sre and one from checkout-owners:
// Alice, in both, satisfies both; with distinct_reviewers it takes two.
func TestTeamQuorumOverlappingTeams(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.teams()
		w.settings(func(a *domain.ApprovalSettings) {
			a.MinApprovals, a.Apply = 1, domain.ApplyOnApproval
			a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}, {Team: "checkout-owners", Min: 1}}
		})
		cr := w.propose(w.requester, 50)
		if got := cr.Policy.Requirements; len(got) != 2 || got[0].Name != "sre" || !slices.Equal(got[1].Members, []string{"m_alice", "m_carol"}) {
			t.Fatalf("requirements %+v", got)
		}
		wantMissing(t, cr, "needs 1 more from sre", "needs 1 more from checkout-owners")
		if v := w.approve(w.alice, cr.ID); v.Status != domain.StatusApplied || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("Alice's approval: %s, live %v", v.Status, w.live().DefaultRule.Rollout)
		}

		// distinct reviewers: Alice fills sre (the first), checkout-owners waits
		w.settings(func(a *domain.ApprovalSettings) { a.DistinctReviewers = true })
		cr = w.propose(w.requester, 60)
		v := w.approve(w.alice, cr.ID)
		if v.Status != domain.StatusPending {
			t.Fatalf("one reviewer for two teams with distinct_reviewers: %s", v.Status)
		}
		wantMissing(t, v, "needs 1 more from checkout-owners")
		// Bob (sre) takes sre; Alice moves to checkout-owners
		if v := w.approve(w.bob, cr.ID); v.Status != domain.StatusApplied || w.live().DefaultRule.Rollout != 60 {
			t.Fatalf("Alice and Bob: %s, missing %q", v.Status, v.Missing)
		}
	})
}

// Requirements are fixed when the request is opened: a member who joins
// the team later does not count for it; the settings changing later do
// not move it either.
func TestTeamQuorumFixedAtCreation(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.teams()
		w.settings(func(a *domain.ApprovalSettings) {
			a.MinApprovals, a.Apply = 0, domain.ApplyOnApproval
			a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}}
		})
		cr := w.propose(w.requester, 50)
		wantMissing(t, cr, "needs 1 more from sre")
		// through the store: with approvals on, joining a required team is
		// governed (governance_team_test.go)
		w.must(w.store.UpdateTeam(w.ctx, "sre", func(t *domain.Team, _ *domain.Audit) error {
			t.Members = append(t.Members, "m_carol")
			return nil
		}))
		w.settings(func(a *domain.ApprovalSettings) {
			a.Require = []domain.TeamRequirement{{Team: "checkout-owners", Min: 1}}
		})
		v := w.approve(w.carol, cr.ID)
		if v.Status != domain.StatusPending {
			t.Fatalf("Carol joined sre after the request was opened, yet counted: %s", v.Status)
		}
		wantMissing(t, v, "needs 1 more from sre")
		if v := w.approve(w.bob, cr.ID); v.Status != domain.StatusApplied {
			t.Fatalf("Bob (sre when opened): %s %q", v.Status, v.Missing)
		}
		// a request opened now reads the team as it is: Carol counts
		w.settings(func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}} })
		cr = w.propose(w.requester, 70)
		if v := w.approve(w.carol, cr.ID); v.Status != domain.StatusApplied {
			t.Fatalf("Carol, in sre when this one was opened: %s", v.Status)
		}
	})
}

// require_maintainer: one approval from the flag's maintainers (its
// maintainer, its maintainer team's members, the project's admins).
func TestMaintainerRequirement(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.teams()
		_, err := w.svc.ChangeFlag(w.ctx, w.admin, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.MaintainerTeam = "no-such-team"
			return nil
		})
		wantField(t, err, "/maintainer_team")
		out, err := w.svc.ChangeFlag(w.ctx, w.admin, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.Maintainer, f.MaintainerTeam = "m_bob", "checkout-owners"
			return nil
		})
		if err != nil || out.Applied == nil || out.Applied.MaintainerTeam != "checkout-owners" {
			t.Fatalf("setting the maintainer team: %v %+v", err, out)
		}
		w.settings(func(a *domain.ApprovalSettings) {
			a.MinApprovals, a.RequireMaintainer, a.Apply = 0, true, domain.ApplyOnApproval
		})
		cr := w.propose(w.requester, 50)
		wantMissing(t, cr, "needs 1 more from the maintainers of checkout")
		if got := cr.Policy.Requirements; len(got) != 1 || got[0].Flag != "checkout" || !slices.Equal(got[0].Members, []string{"m_bob", "m_alice", "m_carol", "m_admin"}) {
			t.Fatalf("requirements %+v", got)
		}
		// a member who is no maintainer does not meet it
		dora := w.member("dora", domain.RoleEditor)
		if v := w.approve(dora, cr.ID); v.Status != domain.StatusPending {
			t.Fatalf("Dora is no maintainer: %s", v.Status)
		}
		if v := w.approve(w.carol, cr.ID); v.Status != domain.StatusApplied {
			t.Fatalf("Carol (checkout-owners): %s %q", v.Status, v.Missing)
		}
	})
}

// A team that approval settings require, or that maintains a flag, is not
// deleted; a request in an environment requiring a team gone is refused.
func TestTeamInUseIsNotDeleted(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.teams()
		_, err := w.svc.UpdateApprovalSettings(w.ctx, w.carol, "shop", "production", nil, &domain.ApprovalSettings{
			Required: domain.RequiredAll, MinApprovals: 1, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual,
			Require: []domain.TeamRequirement{{Team: "sre", Min: 1}, {Team: "ghosts", Min: 1}}})
		wantField(t, err, "/require/1/team")
		w.settings(func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}} })
		err = w.svc.DeleteTeam(w.ctx, w.admin, "sre")
		wantCodeOf(t, err, domain.CodeConflict)
		if !strings.Contains(err.Error(), "shop/production") {
			t.Fatalf("the refusal names no use: %v", err)
		}
		w.must(w.svc.ChangeFlag(w.ctx, w.admin, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.MaintainerTeam = "checkout-owners"
			return nil
		}))
		err = w.svc.DeleteTeam(w.ctx, w.admin, "checkout-owners")
		wantCodeOf(t, err, domain.CodeConflict)
		if !strings.Contains(err.Error(), "shop/checkout") {
			t.Fatalf("the refusal names no flag: %v", err)
		}
		if _, err := w.svc.GetTeam(w.ctx, w.admin, "sre"); err != nil {
			t.Fatalf("a team in use was deleted: %v", err)
		}

		// settings naming a team gone (a delete that raced the settings):
		// opening a request fails closed
		w.settings(func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "ghosts", Min: 1}} })
		_, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(50))
		wantCodeOf(t, err, domain.CodeConflict)
		if w.live().DefaultRule.Rollout != 10 {
			t.Fatal("a change applied under settings requiring a team gone")
		}
		w.settings(func(a *domain.ApprovalSettings) { a.Require = nil })
		if err := w.svc.DeleteTeam(w.ctx, w.admin, "sre"); err != nil {
			t.Fatalf("a team no longer required: %v", err)
		}
	})
}
