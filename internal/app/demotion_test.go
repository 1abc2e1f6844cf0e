package app_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A member demoted while their approval is pending: the approval counts
// only while its reviewer may still review. Demoting them (in the
// organisation or in the request's project) or removing them voids it, and
// an approved request whose quorum no longer holds goes back to pending;
// an apply checks its approvers again, so even a demotion written behind
// the service's back is never applied with.
func TestDemotedApproverStopsCounting(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
		status := func(id string) *app.RequestView {
			t.Helper()
			v, err := w.svc.GetRequest(w.ctx, w.admin, id)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}

		// an organisation demotion
		cr := w.propose(w.requester, 30)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.bob, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		if v := status(cr.ID); v.Status != domain.StatusApproved {
			t.Fatalf("two approvals: %s", v.Status)
		}
		w.must(w.svc.UpdateMember(w.ctx, w.admin, "m_bob", nil, func(m *domain.Member) error { m.Role = domain.RoleViewer; return nil }))
		v := status(cr.ID)
		if v.Status != domain.StatusPending || v.Approvals != 1 {
			t.Fatalf("after bob's demotion: %s with %d approvals", v.Status, v.Approvals)
		}
		last := v.Timeline[len(v.Timeline)-1]
		if last.Type != domain.EventReviewVoided || !strings.Contains(last.Comment, "role lowered") {
			t.Fatalf("the timeline: %+v", last)
		}
		// (the clock stands still here: the entry is found by its action)
		if e := w.audited(domain.ActionRequestReviewVoided); len(e) != 1 || e[0].Member != "m_bob" || e[0].ChangeRequest != cr.ID {
			t.Fatalf("audit: %+v", e)
		}
		var err error
		w.must(w.svc.Review(w.ctx, w.carol, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.requester, cr.ID))

		// a project demotion, and a removal
		cr = w.propose(w.requester, 40)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.carol, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.UpdateMember(w.ctx, w.admin, "m_alice", nil, func(m *domain.Member) error {
			m.Projects = map[string]domain.Role{"shop": domain.RoleViewer}
			return nil
		}))
		if v := status(cr.ID); v.Status != domain.StatusPending || v.Approvals != 1 {
			t.Fatalf("after alice's demotion in shop: %s with %d approvals", v.Status, v.Approvals)
		}
		w.must(nil, w.svc.DeleteMember(w.ctx, w.admin, "m_carol"))
		if v := status(cr.ID); v.Approvals != 0 {
			t.Fatalf("after carol's removal: %d approvals", v.Approvals)
		}

		// a demotion the service did not see (written in the store): the
		// apply finds it, refuses, and voids the approval
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
		cr = w.propose(w.requester, 50)
		dan := w.member("dan", domain.RoleEditor)
		w.must(w.svc.Review(w.ctx, dan, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.store.UpdateMember(w.ctx, "m_dan", func(m *domain.Member) error { m.Role = domain.RoleViewer; return nil }))
		_, err = w.svc.Apply(w.ctx, w.requester, cr.ID)
		wantCode(t, err, domain.CodeConflict)
		if v := status(cr.ID); v.Status != domain.StatusPending || v.Approvals != 0 {
			t.Fatalf("after the refused apply: %s with %d approvals", v.Status, v.Approvals)
		}
		if got := w.live(); got.DefaultRule.Rollout == 50 {
			t.Fatal("applied with a demoted approver's approval")
		}
	})
}
