package app_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// secondAdmin is another admin, arranged through the store (with
// approvals on, the service refuses to add an admin alone).
func (w *world) secondAdmin() *app.Principal {
	w.t.Helper()
	if m, err := w.store.GetMember(w.ctx, "m_ada"); err == nil {
		return &app.Principal{MemberID: m.ID, TokenID: "t_ada", Role: m.Role}
	}
	return w.member("ada", domain.RoleAdmin)
}

// settingsNow reads production's approval settings.
func (w *world) settingsNow() *domain.ApprovalSettings {
	w.t.Helper()
	a, err := w.svc.GetApprovalSettings(w.ctx, w.admin, "shop", "production")
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// propose settings change as p: the outcome.
func (w *world) proposeSettings(p *app.Principal, change func(*domain.ApprovalSettings)) app.Outcome[domain.ApprovalSettings] {
	w.t.Helper()
	next := *w.settingsNow()
	change(&next)
	out, err := w.svc.UpdateApprovalSettings(w.ctx, p, "shop", "production", nil, &next)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// govern changes production's settings through a governance request: made
// by the admin, approved by another admin, applied by the admin.
func (w *world) govern(change func(*domain.ApprovalSettings)) {
	w.t.Helper()
	w.secondAdmin() // before the request: its quorum counts the admins who can review it
	out := w.proposeSettings(w.admin, change)
	if out.Request == nil {
		w.t.Fatalf("a weakening applied directly: %+v", out.Applied)
	}
	w.must(w.svc.Review(w.ctx, w.secondAdmin(), out.Request.ID, domain.DecisionApprove, "agreed", app.ChannelAPI))
	w.must(w.svc.Apply(w.ctx, w.admin, out.Request.ID))
}

// Every weakening of an environment's approval settings is a governance
// request while approvals are on (the settings unchanged until another
// admin approves it), every strengthening applies at once, and with
// approvals off both apply.
func TestGovernanceFieldWalk(t *testing.T) {
	weakenings := map[string]func(*domain.ApprovalSettings){
		"required":            func(a *domain.ApprovalSettings) { a.Required = domain.RequiredOff },
		"min_approvals":       func(a *domain.ApprovalSettings) { a.MinApprovals = 1 },
		"allow_self_approval": func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true },
		"rejection_blocks":    func(a *domain.ApprovalSettings) { a.RejectionBlocksApply = false },
		"auto_approve_after":  func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApprove24h },
		"expire_after":        func(a *domain.ApprovalSettings) { a.ExpireAfter = "" },
		"apply":               func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval },
		"lock_while_pending":  func(a *domain.ApprovalSettings) { a.LockWhilePending = false },
		"api_token_bypass":    func(a *domain.ApprovalSettings) { a.APITokenBypass = true },
		"unapproved_deletion": func(a *domain.ApprovalSettings) { a.AllowUnapprovedScheduleDeletion = true },
		"bypass":              func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} },
		"designated → peer": func(a *domain.ApprovalSettings) {
			a.Reviewers, a.DesignatedReviewers = domain.ReviewersPeer, []string{}
		},
		"designated removed": func(a *domain.ApprovalSettings) { a.DesignatedReviewers = []string{"m_alice"} },
	}
	strengthenings := map[string]func(*domain.ApprovalSettings){
		"min_approvals":      func(a *domain.ApprovalSettings) { a.MinApprovals = 3 },
		"expire_after":       func(a *domain.ApprovalSettings) { a.ExpireAfter = "24h" },
		"designated added":   func(a *domain.ApprovalSettings) { a.DesignatedReviewers = []string{"m_alice", "m_bob", "m_carol"} },
		"allow_self → false": func(a *domain.ApprovalSettings) { a.AllowSelfApproval = false },
	}
	onEveryStore(t, func(t *testing.T, w *world) {
		// a strict production to weaken from
		w.settings(func(a *domain.ApprovalSettings) {
			a.MinApprovals, a.ExpireAfter, a.LockWhilePending = 2, "72h", true
			a.Reviewers, a.DesignatedReviewers = domain.ReviewersDesignated, []string{"m_alice", "m_bob"}
		})
		base := w.settingsNow()
		for name, weaken := range weakenings {
			out := w.proposeSettings(w.carol, weaken)
			if out.Request == nil || out.Applied != nil {
				t.Errorf("%s: a weakening applied directly", name)
				continue
			}
			if got := w.settingsNow(); got.Version != base.Version {
				t.Errorf("%s: the settings changed before a second person approved (v%d → v%d)", name, base.Version, got.Version)
			}
			if out.Request.Kind != domain.KindGovernance || out.Request.Policy.Reviewers != domain.ReviewersAdmins || out.Request.Policy.AllowSelfApproval {
				t.Errorf("%s: request %+v", name, out.Request.ChangeRequest)
			}
			if s := strings.Join(out.Request.Diff.Summary, " "); s == "" {
				t.Errorf("%s: the request does not say why it weakens", name)
			}
		}
		for name, strengthen := range strengthenings {
			if out := w.proposeSettings(w.carol, strengthen); out.Applied == nil || out.Request != nil {
				t.Errorf("%s: a strengthening became a request", name)
			}
		}
		// with approvals off, weakening applies directly
		w.approvalsOff()
		if out := w.proposeSettings(w.carol, weakenings["min_approvals"]); out.Applied == nil {
			t.Error("with approvals off a weakening must apply")
		}
	})
}

// A governance request is approved by another admin, never by its
// requester (whatever allow_self_approval says) nor by a manager, and
// applied by someone with the direct write's role; its apply writes the
// settings and the request in one write, audited.
func TestGovernanceRequestLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals, a.AllowSelfApproval = 2, true })
		ada := w.secondAdmin()
		out := w.proposeSettings(w.admin, func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
		if out.Request == nil {
			t.Fatal("lowering the quorum applied directly")
		}
		id := out.Request.ID
		if p := out.Request.Policy; p.MinApprovals != 1 || p.Reviewers != domain.ReviewersAdmins {
			// one other admin can review: the quorum of 2 is capped at 1
			t.Fatalf("policy %+v", p)
		}
		_, err := w.svc.Review(w.ctx, w.admin, id, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Review(w.ctx, w.carol, id, domain.DecisionApprove, "a manager", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Apply(w.ctx, w.admin, id)
		wantCode(t, err, domain.CodeConflict) // not approved
		w.must(w.svc.Review(w.ctx, ada, id, domain.DecisionApprove, "agreed", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, id) // an editor may not change settings
		wantCode(t, err, domain.CodeForbidden)
		v, err := w.svc.Apply(w.ctx, w.carol, id)
		if err != nil || v.Status != domain.StatusApplied {
			t.Fatalf("apply: %+v %v", v, err)
		}
		if got := w.settingsNow(); got.MinApprovals != 1 || !got.AllowSelfApproval {
			t.Fatalf("settings after apply: %+v", got)
		}
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop"}, domain.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var applied, updated bool
		for _, e := range entries {
			applied = applied || (e.Action == domain.ActionRequestApplied && e.ChangeRequest == id)
			updated = updated || (e.Action == domain.ActionApprovalSettingsUpdated && e.ChangeRequest == id)
		}
		if !applied || !updated {
			t.Fatalf("audit: applied %v, settings updated %v: %+v", applied, updated, entries)
		}
		// applied once: again is the same answer, no second write
		if v, err := w.svc.Apply(w.ctx, w.carol, id); err != nil || v.Status != domain.StatusApplied {
			t.Fatalf("apply again: %v", err)
		}
		if got := w.settingsNow(); got.Version != out.Request.Changes[0].BaseVersion+1 {
			t.Fatalf("settings written twice: v%d", got.Version)
		}
	})
}

// Turning approvals off, unprotecting an environment and promoting a
// member are governance requests too; nobody approves their own
// promotion; adding an admin directly is refused.
func TestGovernanceOfSwitchEnvironmentAndMembers(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		ada := w.secondAdmin()
		off, err := w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: false})
		if err != nil || off.Request == nil {
			t.Fatalf("approvals off: %+v %v", off, err)
		}
		env, err := w.svc.UpdateEnvironment(w.ctx, w.carol, "shop", "production", nil, func(e *domain.Environment) error { e.Protected = false; return nil })
		if err != nil || env.Request == nil {
			t.Fatalf("unprotect: %+v %v", env, err)
		}
		promo, err := w.svc.UpdateMember(w.ctx, w.admin, "m_alice", nil, func(m *domain.Member) error { m.Role = domain.RoleAdmin; return nil })
		if err != nil || promo.Request == nil {
			t.Fatalf("promotion: %+v %v", promo, err)
		}
		// a project role raised to manager too
		proj, err := w.svc.UpdateMember(w.ctx, w.admin, "m_bob", nil, func(m *domain.Member) error {
			m.Projects = map[string]domain.Role{"shop": domain.RoleManager}
			return nil
		})
		if err != nil || proj.Request == nil {
			t.Fatalf("project promotion: %+v %v", proj, err)
		}
		// an editor raise applies
		if out, err := w.svc.UpdateMember(w.ctx, w.admin, "m_victor", nil, func(m *domain.Member) error { m.Role = domain.RoleEditor; return nil }); err != nil || out.Applied == nil {
			t.Fatalf("viewer → editor: %+v %v", out, err)
		}
		_, err = w.svc.CreateMember(w.ctx, w.admin, app.MemberInput{Email: "boss@example.com", Name: "Boss", Role: domain.RoleAdmin})
		wantCode(t, err, domain.CodeConflict)

		// nothing changed yet
		if o, _ := w.svc.GetOrgSettings(w.ctx, w.admin); !o.Approvals {
			t.Fatal("approvals went off before a second admin approved")
		}
		if m, _ := w.store.GetMember(w.ctx, "m_alice"); m.Role != domain.RoleEditor {
			t.Fatal("alice was promoted before a second admin approved")
		}
		for _, id := range []string{off.Request.ID, env.Request.ID, promo.Request.ID, proj.Request.ID} {
			w.must(w.svc.Review(w.ctx, ada, id, domain.DecisionApprove, "agreed", app.ChannelAPI))
		}
		w.must(w.svc.Apply(w.ctx, w.admin, promo.Request.ID))
		w.must(w.svc.Apply(w.ctx, w.admin, proj.Request.ID))
		w.must(w.svc.Apply(w.ctx, w.carol, env.Request.ID))
		w.must(w.svc.Apply(w.ctx, w.carol, off.Request.ID))
		if o, _ := w.svc.GetOrgSettings(w.ctx, w.admin); o.Approvals {
			t.Fatal("approvals still on after the request applied")
		}
		if e, _ := w.svc.GetEnvironment(w.ctx, w.admin, "shop", "production"); e.Protected {
			t.Fatal("production still protected")
		}
		if m, _ := w.store.GetMember(w.ctx, "m_alice"); m.Role != domain.RoleAdmin {
			t.Fatalf("alice: %s", m.Role)
		}
		if m, _ := w.store.GetMember(w.ctx, "m_bob"); m.RoleIn("shop") != domain.RoleManager {
			t.Fatalf("bob in shop: %s", m.RoleIn("shop"))
		}

		// the promoted member never approves their own promotion
		w.must(w.store.UpdateOrgSettings(w.ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = true; return nil }))
		self, err := w.svc.UpdateMember(w.ctx, ada, "m_carol", nil, func(m *domain.Member) error { m.Role = domain.RoleAdmin; return nil })
		if err != nil || self.Request == nil {
			t.Fatalf("carol's promotion: %+v %v", self, err)
		}
		carolAsAdmin := &app.Principal{MemberID: "m_carol", TokenID: "t_carol", Role: domain.RoleAdmin}
		_, err = w.svc.Review(w.ctx, carolAsAdmin, self.Request.ID, domain.DecisionApprove, "me", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
	})
}

// A request keeps the quorum it was opened with when its environment's
// policy is weakened meanwhile (by a governance request, approved and
// applied); and a governance request whose base moved is refused, naming
// what moved, and writes nothing.
func TestPolicyWeakenedWhileRequestPending(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
		cr := w.propose(w.requester, 40)
		w.govern(func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
		if got := w.settingsNow(); got.MinApprovals != 1 {
			t.Fatalf("the governance request did not apply: %+v", got)
		}
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "one", app.ChannelAPI))
		if v, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID); v.Status != domain.StatusPending || v.Policy.MinApprovals != 2 {
			t.Fatalf("the pending request lost its quorum: %s, min %d", v.Status, v.Policy.MinApprovals)
		}

		// a governance request whose base moved
		out := w.proposeSettings(w.admin, func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true })
		w.must(w.svc.Review(w.ctx, w.secondAdmin(), out.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.proposeSettings(w.carol, func(a *domain.ApprovalSettings) { a.MinApprovals = 3 }) // strengthens: applies
		before := w.settingsNow()
		_, err := w.svc.Apply(w.ctx, w.admin, out.Request.ID)
		wantCode(t, err, domain.CodeConflict)
		if after := w.settingsNow(); after.Version != before.Version || after.AllowSelfApproval {
			t.Fatalf("a stale governance request wrote: %+v", after)
		}
	})
}
