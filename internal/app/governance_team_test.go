package app_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// governedTeams arranges the teams of the walk: sre (alice, bob), which
// production's approval settings require; checkout-owners (alice,
// carol), the checkout flag's maintainer team; free (alice), which
// nothing names. Dora, an editor, is in none.
func (w *world) governedTeams() *app.Principal {
	w.t.Helper()
	w.teams()
	w.must(w.svc.CreateTeam(w.ctx, w.admin, app.TeamInput{Key: "free", Name: "Free", Members: []string{"m_alice"}}))
	w.settings(func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}} })
	w.must(w.svc.ChangeFlag(w.ctx, w.admin, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
		f.MaintainerTeam = "checkout-owners"
		return nil
	}))
	return w.member("dora", domain.RoleEditor)
}

// changeTeamAs changes team key as p: the outcome.
func (w *world) changeTeamAs(p *app.Principal, key string, change func(*domain.Team)) app.Outcome[domain.Team] {
	w.t.Helper()
	out, err := w.svc.UpdateTeam(w.ctx, p, key, nil, func(t *domain.Team) error { change(t); return nil })
	if err != nil {
		w.t.Fatalf("changing team %s: %v", key, err)
	}
	return out
}

func (w *world) teamNow(key string) *domain.Team {
	w.t.Helper()
	t, err := w.svc.GetTeam(w.ctx, w.admin, key)
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// teamMove is a change of one of the walk's teams.
type teamMove struct {
	name, team string
	move       func(*domain.Team)
}

func addMember(id string) func(*domain.Team) {
	return func(t *domain.Team) { t.Members = append(t.Members, id) }
}

// While approvals are on, a manager alone cannot change who may approve
// for a team a requirement or a flag's maintainer team names: adding a
// member, or replacing the list with one that adds any, opens a
// governance request (what: team) and leaves the team as it was. Removing
// members, renaming, and adding to a team nothing names apply directly;
// a team in use is never deleted. With approvals off, all of it applies
// directly (the deletion of a team in use still refused).
func TestTeamMembershipGovernanceWalk(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		dora := w.governedTeams()
		governed := []teamMove{
			{"a member added to a required team", "sre", addMember(dora.MemberID)},
			{"the list of a required team replaced", "sre", func(t *domain.Team) { t.Members = []string{dora.MemberID, "m_carol"} }},
			{"a member added to a maintainer team", "checkout-owners", addMember(dora.MemberID)},
			{"a member added and one removed", "checkout-owners", func(t *domain.Team) { t.Members = []string{"m_alice", dora.MemberID} }},
		}
		direct := []teamMove{
			{"a member removed from a required team", "sre", func(t *domain.Team) { t.Members = []string{"m_alice"} }},
			{"a member removed from a maintainer team", "checkout-owners", func(t *domain.Team) { t.Members = []string{"m_alice"} }},
			{"a required team renamed", "sre", func(t *domain.Team) { t.Name = "Site reliability" }},
			{"a member added to a team nothing names", "free", addMember(dora.MemberID)},
		}
		for _, m := range governed {
			before := w.teamNow(m.team)
			out := w.changeTeamAs(w.carol, m.team, m.move)
			if out.Request == nil || out.Applied != nil {
				t.Errorf("%s: applied directly (%+v)", m.name, out.Applied)
				continue
			}
			g := out.Request.Changes[0].Governance
			if out.Request.Kind != domain.KindGovernance || g.What != domain.GovernTeam || g.Team != m.team || len(g.Weakens) == 0 ||
				g.Weakens[0].Pointer != "/members" || out.Request.Policy.Reviewers != domain.ReviewersAdmins || out.Request.Project != "" {
				t.Errorf("%s: request %+v, change %+v", m.name, out.Request.ChangeRequest, g)
			}
			if after := w.teamNow(m.team); after.Version != before.Version || !slices.Equal(after.Members, before.Members) {
				t.Errorf("%s: the team changed before a second person approved: %+v", m.name, after)
			}
		}
		for _, m := range direct {
			before := w.teamNow(m.team)
			out := w.changeTeamAs(w.carol, m.team, m.move)
			if out.Applied == nil || out.Request != nil || out.Applied.Version != before.Version+1 {
				t.Errorf("%s: %+v", m.name, out)
			}
		}
		for _, key := range []string{"sre", "checkout-owners"} {
			wantCodeOf(t, w.svc.DeleteTeam(w.ctx, w.carol, key), domain.CodeConflict)
		}

		// approvals off: every change applies, the teams in use stay
		w.approvalsOff()
		for _, m := range governed[:3] {
			before := w.teamNow(m.team)
			out := w.changeTeamAs(w.carol, m.team, m.move)
			if out.Applied == nil || out.Request != nil || out.Applied.Version != before.Version+1 {
				t.Errorf("with approvals off, %s: %+v", m.name, out)
			}
		}
		for _, key := range []string{"sre", "checkout-owners"} {
			wantCodeOf(t, w.svc.DeleteTeam(w.ctx, w.carol, key), domain.CodeConflict)
		}
	})
}

// A team's governance request is reviewed by an admin other than its
// requester (even where allow_self_approval is on) and other than the
// members it adds; it is applied by a manager, writing the team and the
// request applied in one write, audited team.updated naming the request.
func TestTeamGovernanceRequestLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		dora := w.governedTeams()
		ada := w.secondAdmin()
		w.settings(func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true })
		before := w.teamNow("sre")
		out := w.changeTeamAs(w.carol, "sre", func(t *domain.Team) { t.Members = append(t.Members, ada.MemberID, dora.MemberID) })
		if out.Request == nil {
			t.Fatalf("adding ada and dora to sre: %+v", out.Applied)
		}
		id := out.Request.ID
		_, err := w.svc.Review(w.ctx, w.carol, id, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Review(w.ctx, ada, id, domain.DecisionApprove, "let me in", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden) // she joins sre with it
		_, err = w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "an editor", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		w.must(w.svc.Review(w.ctx, w.admin, id, domain.DecisionApprove, "agreed", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, id)
		wantCode(t, err, domain.CodeForbidden) // an editor does not write teams
		if after := w.teamNow("sre"); after.Version != before.Version {
			t.Fatalf("the team changed before the apply: %+v", after)
		}
		applied, err := w.svc.Apply(w.ctx, w.carol, id)
		if err != nil || applied.Status != domain.StatusApplied {
			t.Fatalf("apply: %+v %v", applied, err)
		}
		after := w.teamNow("sre")
		if after.Version != before.Version+1 || !slices.Equal(after.Members, []string{"m_alice", "m_bob", ada.MemberID, dora.MemberID}) ||
			after.Name != before.Name || !after.CreatedAt.Equal(before.CreatedAt) {
			t.Fatalf("applied: %+v", after)
		}
		entries := w.teamEntries("sre")
		i := slices.IndexFunc(entries, func(e domain.AuditEntry) bool { return e.ChangeRequest == id })
		if i < 0 {
			t.Fatalf("no entry of sre names the request: %+v", entries)
		}
		if e := entries[i]; e.Action != domain.ActionTeamUpdated || e.Version != after.Version || e.Actor != w.carol.Actor() ||
			!slices.Equal(e.Approvers, []string{w.admin.Actor()}) {
			t.Fatalf("the team's entry: %+v", e)
		}
		// a request opened now counts dora for sre
		cr := w.propose(w.requester, 50)
		if v := w.approve(dora, cr.ID); v.Status == domain.StatusPending && slices.Contains(v.Missing, "needs 1 more from sre") {
			t.Fatalf("dora, in sre now, did not count: %q", v.Missing)
		}
	})
}

// A team changed since its governance request was opened refuses the
// apply (409) and keeps the later change; a member the request adds who
// left the organisation meanwhile refuses it too.
func TestTeamGovernanceRequestOfAMovedTeam(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		dora := w.governedTeams()
		w.secondAdmin()
		out := w.changeTeamAs(w.carol, "sre", addMember(dora.MemberID))
		renamed := w.changeTeamAs(w.carol, "sre", func(t *domain.Team) { t.Name = "Renamed" })
		if renamed.Applied == nil {
			t.Fatal("a rename is direct")
		}
		w.must(w.svc.Review(w.ctx, w.admin, out.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		_, err := w.svc.Apply(w.ctx, w.carol, out.Request.ID)
		wantCode(t, err, domain.CodeConflict)
		if got := w.teamNow("sre"); got.Name != "Renamed" || got.HasMember(dora.MemberID) {
			t.Fatalf("after a refused apply: %+v", got)
		}

		again := w.changeTeamAs(w.carol, "sre", addMember(dora.MemberID))
		w.must(w.svc.Review(w.ctx, w.admin, again.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		if err := w.svc.DeleteMember(w.ctx, w.admin, dora.MemberID); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Apply(w.ctx, w.carol, again.Request.ID)
		wantCode(t, err, domain.CodeConflict)
		if !strings.Contains(err.Error(), dora.MemberID) {
			t.Fatalf("the refusal does not name the member gone: %v", err)
		}
		if got := w.teamNow("sre"); got.HasMember(dora.MemberID) {
			t.Fatalf("a member gone was added: %+v", got)
		}
	})
}

// A name a requirement holds with no team behind it (the team was deleted
// while settings naming it waited in a governance request) is not filled
// by one person: while approvals are on, creating that team with members
// is refused (409); created empty, adding members is governed. With
// approvals off it is created with its members.
func TestTeamUnderANamedKeyIsCreatedEmpty(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) {
			a.Require = []domain.TeamRequirement{{Team: "ghosts", Min: 1}, {Team: "spectres", Min: 1}}
		})
		_, err := w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "ghosts", Name: "Ghosts", Members: []string{"m_carol"}})
		wantCodeOf(t, err, domain.CodeConflict)
		if _, err := w.svc.GetTeam(w.ctx, w.admin, "ghosts"); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("the refused team was written: %v", err)
		}
		w.must(w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "ghosts", Name: "Ghosts"}))
		if out := w.changeTeamAs(w.carol, "ghosts", addMember("m_carol")); out.Request == nil {
			t.Fatal("filling a required team applied directly")
		}
		w.approvalsOff()
		if _, err := w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "spectres", Name: "Spectres", Members: []string{"m_carol"}}); err != nil {
			t.Fatalf("with approvals off: %v", err)
		}
	})
}

// holdTeams holds team writes at the store while armed: after the service
// decided, with approvals off, that a change writes directly.
type holdTeams struct {
	holdWrites
}

func (h *holdTeams) UpdateTeam(ctx context.Context, key string, fn func(*domain.Team, *domain.Audit) error) (*domain.Team, error) {
	h.hold()
	return h.Store.UpdateTeam(ctx, key, fn)
}

// Members added to a required team, decided while approvals were off and
// held at the store while an admin switches them on, do not commit: the
// write's guard names the organisation settings it read, the service
// decides again, and the addition becomes a governance request. The team
// is as before, on every store.
func TestTeamAdditionInFlightDoesNotSlipPastApprovalsSwitchedOn(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &holdTeams{holdWrites{Store: factory(t)}}
			w := newWorld(t, h)
			dora := w.governedTeams()
			w.secondAdmin()
			w.approvalsOff()

			h.arm(1)
			var out app.Outcome[domain.Team]
			var err error
			var wg sync.WaitGroup
			wg.Go(func() {
				out, err = w.svc.UpdateTeam(w.ctx, w.carol, "sre", nil, func(t *domain.Team) error {
					t.Members = append(t.Members, dora.MemberID)
					return nil
				})
			})
			h.waitFor(t, 1) // decided: approvals are off, write directly
			w.must(w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}))
			h.letGo()
			wg.Wait()
			switch {
			case err != nil:
				t.Fatal(err)
			case out.Applied != nil:
				t.Fatal("the addition applied after approvals were switched on")
			case out.Request == nil || out.Request.Changes[0].Governance.What != domain.GovernTeam:
				t.Fatalf("want a team governance request, got %+v", out.Request)
			}
			if w.teamNow("sre").HasMember(dora.MemberID) {
				t.Fatal("dora joined sre")
			}
		})
	}
}
