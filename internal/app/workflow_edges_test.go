package app_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Whoever made the current revision cannot review it: an admin who edits
// someone's request cannot then approve it alone.
func TestRevisionAuthorCannotReview(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 100
		w.must(w.svc.EditRequest(w.ctx, w.admin, cr.ID, nil, app.EditInput{ProposedConfig: &cfg}))
		_, err := w.svc.Review(w.ctx, w.admin, cr.ID, domain.DecisionApprove, "mine now", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Review(w.ctx, w.requester, cr.ID, domain.DecisionApprove, "still mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "a second person", app.ChannelAPI))
	})
}

// Editing a flag-level request into a change that reaches stricter
// environments tightens its policy.
func TestFlagRequestEditTightensPolicy(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 3 })
		live, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
		proposal := *live
		proposal.Description = "just words"
		v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", ProposedFlag: &proposal})
		if err != nil {
			t.Fatal(err)
		}
		if v.Policy.MinApprovals != 1 {
			t.Fatalf("a label-only proposal touches no environment: %+v", v.Policy)
		}
		proposal.BucketingSalt = "reshuffle"
		v, err = w.svc.EditRequest(w.ctx, w.requester, v.ID, nil, app.EditInput{ProposedFlag: &proposal})
		if err != nil {
			t.Fatal(err)
		}
		if v.Policy.MinApprovals != 3 {
			t.Fatalf("the edit reaches production: want its quorum of 3, got %+v", v.Policy)
		}
	})
}

// A proposal that drops a served variant is refused when it is made.
func TestServedVariantCannotBeProposedAway(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		live, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
		proposal := *live
		proposal.Variants = proposal.Variants[1:] // drops "on", served in production
		_, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", ProposedFlag: &proposal})
		wantCode(t, err, domain.CodeConflict)
		_, err = w.svc.ChangeFlag(w.ctx, w.requester, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.Variants = f.Variants[1:]
			return nil
		})
		wantCode(t, err, domain.CodeConflict)
	})
}

// A refused apply says what changed since the request was made.
func TestApplyConflictSaysWhatChanged(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: "incident"}, func(c *domain.FlagConfig) error {
			c.Enabled = false
			return nil
		}))
		_, err := w.svc.Apply(w.ctx, w.bob, cr.ID)
		if err == nil || !strings.Contains(err.Error(), "Changed since: targeting on → off") {
			t.Fatalf("want the change since the base, got %v", err)
		}
	})
}

// Partial auto-approval shows in the audit entry of the apply.
func TestAppliedAuditNamesAutoApproval(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2; a.AutoApproveAfter = domain.AutoApprove24h })
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "one", app.ChannelAPI))
		w.clock.Advance(25 * time.Hour)
		w.sweep()
		w.must(w.svc.Apply(w.ctx, w.bob, cr.ID))
		found := false
		for _, a := range w.auditActions(cr.ID) {
			found = found || strings.HasPrefix(a, "change_request.applied")
		}
		entries, _, _ := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop"}, domain.Page{Limit: 100})
		for _, e := range entries {
			if e.Action == "change_request.applied" && e.ChangeRequest == cr.ID {
				if strings.Join(e.Approvers, " ") != "member:m_alice system:auto-approval" {
					t.Fatalf("approvers: %v", e.Approvers)
				}
				return
			}
		}
		t.Fatalf("no applied entry (found=%v)", found)
	})
}

// An approval that should apply by itself, whose apply never ran (a crash
// between the two writes), is finished by the timers.
func TestTimersFinishAnInterruptedApply(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval })
		cr := w.propose(w.requester, 50)
		// the review's write, without the apply that should follow it
		_, err := w.store.UpdateChangeRequest(w.ctx, cr.ID, func(c *domain.ChangeRequest, _ *domain.RequestWrite) error {
			_, err := c.Review(domain.Actor{MemberID: "m_alice", Role: domain.RoleEditor}, domain.DecisionApprove, "ok", "api", w.clock.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if w.status(cr.ID) != domain.StatusApproved || w.live().DefaultRule.Rollout != 10 {
			t.Fatal("setup: approved, not applied")
		}
		r := w.sweep()
		if len(r.Applied) != 1 || w.status(cr.ID) != domain.StatusApplied || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("the sweep must finish the apply: %+v", r)
		}
	})
}

// Schedules that can never apply leave the index, so they cannot starve the
// rest.
func TestBrokenSchedulesDoNotBlockTheSweep(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "doomed", Name: "Doomed", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`1`)}}}))
		at := w.clock.Now().Add(time.Hour)
		var ids []string
		for i := range 3 {
			cfg := domain.FlagConfig{Enabled: true, DefaultRule: domain.Allocation{Rollout: float64(10 + i), Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}
			v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "doomed", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
			if err != nil {
				t.Fatal(err)
			}
			w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
			ids = append(ids, v.ID)
		}
		w.must(w.svc.ArchiveFlag(w.ctx, w.admin, "shop", "doomed"))
		w.clock.Advance(2 * time.Hour)
		r := w.sweep()
		if len(r.Conflicts) != 3 {
			t.Fatalf("three schedules that cannot apply: %+v", r)
		}
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("they left the index: %+v", r)
		}
	})
}

// Withdraw racing the scheduled apply: one final state.
func TestWithdrawRacingScheduledApply(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		for round := range 4 {
			at := w.clock.Now().Add(time.Hour)
			cfg := *w.live()
			cfg.DefaultRule.Rollout = float64(30 + round)
			v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
			if err != nil {
				t.Fatal(err)
			}
			w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
			w.clock.Advance(time.Hour)
			var wg sync.WaitGroup
			var withdrawErr error
			var rep *app.SweepReport
			wg.Go(func() { _, withdrawErr = w.svc.Withdraw(w.ctx, w.requester, v.ID) })
			wg.Go(func() { rep = w.sweep() })
			wg.Wait()
			switch w.status(v.ID) {
			case domain.StatusApplied:
				if withdrawErr == nil || len(rep.Applied) != 1 {
					t.Fatalf("applied, but withdraw %v, sweep %+v", withdrawErr, rep)
				}
			case domain.StatusWithdrawn:
				if withdrawErr != nil || len(rep.Applied) != 0 {
					t.Fatalf("withdrawn, but withdraw %v, sweep %+v", withdrawErr, rep)
				}
			default:
				t.Fatalf("round %d: %s", round, w.status(v.ID))
			}
		}
	})
}

// Un-protecting an environment changes its default approval settings: it is
// audited like a settings change (with approvals off; with them on it is a
// governance request, governance_test.go).
func TestEnvironmentChangesAreAudited(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.approvalsOff()
		w.must(w.svc.UpdateEnvironment(w.ctx, w.carol, "shop", "production", nil, func(e *domain.Environment) error {
			e.Protected = false
			return nil
		}))
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Environment: "production", Actor: "member:m_carol"}, domain.Page{})
		if err != nil || len(entries) != 1 || entries[0].Action != "environment.updated" || entries[0].Diff == nil ||
			!strings.Contains(strings.Join(entries[0].Diff.Summary, " "), "/protected") {
			t.Fatalf("audit of un-protecting production: %+v %v", entries, err)
		}
	})
}
