package app_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

func (w *world) sweep() *app.SweepReport {
	w.t.Helper()
	r, err := w.svc.Sweep(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(r.Failed) > 0 {
		w.t.Fatalf("sweep failures: %v", r.Failed)
	}
	return r
}

func (w *world) status(id string) domain.CRStatus {
	w.t.Helper()
	v, err := w.svc.GetRequest(w.ctx, w.admin, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return v.Status
}

func (w *world) auditActions(id string) []string {
	entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop"}, domain.Page{Limit: 200})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.ChangeRequest == id {
			out = append(out, string(e.Action)+" by "+e.Actor+": "+e.Reason)
		}
	}
	return out
}

func TestAutoApproval(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApprove48h; a.MinApprovals = 2 })
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "one of two", app.ChannelAPI))
		w.clock.Advance(47 * time.Hour)
		if r := w.sweep(); r.Examined != 0 || w.status(cr.ID) != domain.StatusPending {
			t.Fatalf("at 47h nothing is due: %+v", r)
		}
		w.clock.Advance(2 * time.Hour)
		r := w.sweep()
		if len(r.AutoApproved) != 1 || w.status(cr.ID) != domain.StatusApproved || len(r.Applied) != 0 {
			t.Fatalf("at 49h: %+v", r)
		}
		got, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
		last := got.Timeline[len(got.Timeline)-1]
		if last.Type != "auto_approved" || last.Actor != "system:auto-approval" {
			t.Fatalf("timeline: %+v", last)
		}
		actions := strings.Join(w.auditActions(cr.ID), "\n")
		if !strings.Contains(actions, "change_request.auto_approved by system:auto-approval: no objection within 48h: auto-approval counts as the 1 missing approval(s) of 2") {
			t.Fatalf("the audit says so plainly:\n%s", actions)
		}
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("an approved request without schedule or expiry is not due: %+v", r)
		}
		if w.live().DefaultRule.Rollout != 10 {
			t.Fatal("manual apply: auto-approval must not apply")
		}
	})
}

func TestAutoApprovalAppliesOnApproval(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) {
			a.AutoApproveAfter = domain.AutoApprove24h
			a.Apply = domain.ApplyOnApproval
		})
		cr := w.propose(w.requester, 50)
		w.clock.Advance(24 * time.Hour)
		r := w.sweep()
		if len(r.AutoApproved) != 1 || len(r.Applied) != 1 || w.status(cr.ID) != domain.StatusApplied || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("auto-approval with apply on approval: %+v", r)
		}
		got, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
		if got.AppliedBy != "system:auto-approval" {
			t.Fatalf("applied by %s", got.AppliedBy)
		}
		// the base-version check holds for timers too
		cr2 := w.propose(w.requester, 60)
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(1)))
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: "incident"}, rollout(5)))
		w.clock.Advance(24 * time.Hour)
		r = w.sweep()
		if len(r.AutoApproved) != 1 || len(r.Conflicts) != 1 || w.status(cr2.ID) != domain.StatusApproved || w.live().DefaultRule.Rollout != 5 {
			t.Fatalf("auto-approved but the base moved: %+v", r)
		}
	})
}

func TestNoAutoApprovalAfterRejectionOrEdit(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) {
			a.AutoApproveAfter = domain.AutoApprove24h
			a.MinApprovals = 2
			a.RejectionBlocksApply = false
		})
		rejected := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, rejected.ID, domain.DecisionReject, "no", app.ChannelAPI))
		edited := w.propose(w.alice, 60)
		w.clock.Advance(20 * time.Hour)
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 65
		w.must(w.svc.EditRequest(w.ctx, w.alice, edited.ID, nil, app.EditInput{ProposedConfig: &cfg}))
		w.clock.Advance(5 * time.Hour)
		w.sweep()
		if w.status(rejected.ID) != domain.StatusPending || w.status(edited.ID) != domain.StatusPending {
			t.Fatalf("rejected %s, edited %s: neither may be auto-approved at 25h", w.status(rejected.ID), w.status(edited.ID))
		}
		w.clock.Advance(20 * time.Hour) // 45h: 25h after the edit
		w.sweep()
		if w.status(edited.ID) != domain.StatusApproved || w.status(rejected.ID) != domain.StatusPending {
			t.Fatalf("the edit restarted the timer: edited %s, rejected %s", w.status(edited.ID), w.status(rejected.ID))
		}
	})
}

func TestExpiry(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.ExpireAfter = "72h"; a.LockWhilePending = true })
		pending := w.propose(w.requester, 50)
		w.clock.Advance(72 * time.Hour)
		// past the deadline nobody acts on it, swept or not
		_, err := w.svc.Review(w.ctx, w.alice, pending.ID, domain.DecisionApprove, "late", app.ChannelAPI)
		wantCode(t, err, domain.CodeConflict)
		r := w.sweep()
		if len(r.Expired) != 1 || w.status(pending.ID) != domain.StatusExpired {
			t.Fatalf("expiry: %+v", r)
		}
		_, err = w.svc.Apply(w.ctx, w.alice, pending.ID)
		wantCode(t, err, domain.CodeConflict)
		if acts := strings.Join(w.auditActions(pending.ID), "\n"); !strings.Contains(acts, "change_request.expired by system:expiry") {
			t.Fatalf("audit: %s", acts)
		}
		// the lock went with it
		approved := w.propose(w.requester, 60)
		w.must(w.svc.Review(w.ctx, w.alice, approved.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.clock.Advance(72 * time.Hour)
		w.sweep()
		if w.status(approved.ID) != domain.StatusExpired {
			t.Fatalf("an approved request not applied by its deadline expires too: %s", w.status(approved.ID))
		}
	})
}

func TestScheduledChange(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		at := t0.Add(10 * time.Hour)
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 50
		v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "at ten", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, v.ID)
		wantCode(t, err, domain.CodeConflict) // not before its time
		// deleting an approved schedule needs a second person
		_, err = w.svc.Withdraw(w.ctx, w.requester, v.ID)
		wantCode(t, err, domain.CodeForbidden)
		w.clock.Advance(9 * time.Hour)
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("not due yet: %+v", r)
		}
		w.clock.Advance(time.Hour)
		r := w.sweep()
		if len(r.Applied) != 1 || w.status(v.ID) != domain.StatusApplied || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("scheduled apply: %+v", r)
		}
		got, _ := w.svc.GetRequest(w.ctx, w.admin, v.ID)
		if got.AppliedBy != "system:scheduler" {
			t.Fatalf("applied by %s", got.AppliedBy)
		}

		// still pending at its time: applies as soon as it is approved
		at2 := w.clock.Now().Add(time.Hour)
		cfg = *w.live()
		cfg.DefaultRule.Rollout = 70
		v2, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at2})
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(2 * time.Hour)
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("a pending scheduled change waits for approval: %+v", r)
		}
		w.must(w.svc.Review(w.ctx, w.alice, v2.ID, domain.DecisionApprove, "late but fine", app.ChannelAPI))
		if w.status(v2.ID) != domain.StatusApplied || w.live().DefaultRule.Rollout != 70 {
			t.Fatalf("approved after its time: %s", w.status(v2.ID))
		}
	})
}

func TestScheduleDeletion(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		schedule := func() string {
			at := w.clock.Now().Add(time.Hour)
			cfg := *w.live()
			cfg.DefaultRule.Rollout += 1
			v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
			if err != nil {
				t.Fatal(err)
			}
			w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
			return v.ID
		}
		id := schedule()
		_, err := w.svc.Withdraw(w.ctx, w.requester, id)
		wantCode(t, err, domain.CodeForbidden)
		if _, err := w.svc.Withdraw(w.ctx, w.bob, id); err != nil {
			t.Fatalf("a reviewer countersigns the deletion: %v", err)
		}
		w.settings(func(a *domain.ApprovalSettings) { a.AllowUnapprovedScheduleDeletion = true })
		id = schedule()
		if _, err := w.svc.Withdraw(w.ctx, w.requester, id); err != nil {
			t.Fatalf("allowed unapproved schedule deletion: %v", err)
		}
	})
}

// Two sweeps at once over the same due requests: one approval, one apply.
func TestConcurrentSweeps(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) {
			a.AutoApproveAfter = domain.AutoApprove24h
			a.Apply = domain.ApplyOnApproval
		})
		var ids []string
		flags := []string{"checkout"}
		for i := range 4 {
			key := "f" + string(rune('a'+i))
			w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: key, Name: key, Variants: []domain.Variant{{Key: "on"}}}))
			flags = append(flags, key)
		}
		for _, f := range flags {
			out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", f, "production", nil, app.ChangeOptions{}, rollout(50))
			if err != nil || out.Request == nil {
				t.Fatalf("%s: %v", f, err)
			}
			ids = append(ids, out.Request.ID)
		}
		w.clock.Advance(25 * time.Hour)
		var wg sync.WaitGroup
		reports := make([]*app.SweepReport, 2)
		for i := range reports {
			wg.Go(func() { reports[i] = w.sweep() })
		}
		wg.Wait()
		approved := len(reports[0].AutoApproved) + len(reports[1].AutoApproved)
		applied := len(reports[0].Applied) + len(reports[1].Applied)
		if approved != len(ids) || applied != len(ids) {
			t.Fatalf("two sweeps: %d auto-approvals, %d applies for %d requests\n%+v\n%+v", approved, applied, len(ids), reports[0], reports[1])
		}
		for _, id := range ids {
			if w.status(id) != domain.StatusApplied {
				t.Fatalf("%s: %s", id, w.status(id))
			}
			acts := w.auditActions(id)
			n := 0
			for _, a := range acts {
				if strings.HasPrefix(a, "change_request.applied") || strings.HasPrefix(a, "change_request.auto_approved") {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("%s: want one auto-approval and one apply in the audit, got %v", id, acts)
			}
		}
		if c, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "production"); c.Version != 2 {
			t.Fatalf("version bumped %d times", c.Version-1)
		}
		// and twice in a row: the second finds nothing
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("a second sweep: %+v", r)
		}
	})
}

// A person's approval racing the expiry deadline, and a rejection racing
// auto-approval: exactly one final state each time.
func TestPeopleRacingTimers(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.ExpireAfter = "24h"; a.AutoApproveAfter = domain.AutoApprove24h })
		for round := range 4 {
			cr := w.propose(w.requester, float64(20+round))
			w.clock.Advance(24 * time.Hour) // both timers are due: expiry wins, as the deadline is authoritative
			var wg sync.WaitGroup
			var reviewErr error
			wg.Go(func() {
				_, reviewErr = w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "just in time?", app.ChannelAPI)
			})
			wg.Go(func() { w.sweep() })
			wg.Wait()
			if w.status(cr.ID) != domain.StatusExpired || domain.ErrorCode(reviewErr) != domain.CodeConflict {
				t.Fatalf("round %d: %s, review %v", round, w.status(cr.ID), reviewErr)
			}
		}
		w.settings(func(a *domain.ApprovalSettings) { a.ExpireAfter = ""; a.AutoApproveAfter = domain.AutoApprove24h })
		for round := range 4 {
			cr := w.propose(w.requester, float64(40+round))
			w.clock.Advance(24 * time.Hour)
			var wg sync.WaitGroup
			var rejectErr error
			var rep *app.SweepReport
			wg.Go(func() {
				_, rejectErr = w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionReject, "no!", app.ChannelAPI)
			})
			wg.Go(func() { rep = w.sweep() })
			wg.Wait()
			switch w.status(cr.ID) {
			case domain.StatusRejected:
				if rejectErr != nil || len(rep.AutoApproved) != 0 {
					t.Fatalf("rejected, but reject %v / sweep %+v", rejectErr, rep)
				}
			case domain.StatusApproved:
				if domain.ErrorCode(rejectErr) != domain.CodeConflict || len(rep.AutoApproved) != 1 {
					t.Fatalf("auto-approved, but reject %v / sweep %+v", rejectErr, rep)
				}
			default:
				t.Fatalf("round %d: %s", round, w.status(cr.ID))
			}
		}
	})
}
