package app_test

import (
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// changeFlag changes shop's checkout flag as p: the outcome.
func (w *world) changeFlag(p *app.Principal, change func(*domain.Flag)) app.Outcome[domain.Flag] {
	w.t.Helper()
	out, err := w.svc.ChangeFlag(w.ctx, p, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error { change(f); return nil })
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// Where an environment requires the flag's maintainers, changing who they
// are (maintainer or maintainer team) is a flag change request under that
// environment's policy, whose maintainer requirement names the
// maintainers as they were: nobody makes themselves the maintainer alone.
// Other changes of no consequence still apply directly; without
// require_maintainer, or with approvals off, so does the maintainer.
func TestMaintainerChangeNeedsTheMaintainers(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.teams()
		w.settings(func(a *domain.ApprovalSettings) { a.RequireMaintainer = true })
		before, err := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
		if err != nil || before.Maintainer != "m_admin" {
			t.Fatalf("the flag's maintainer: %+v %v", before, err)
		}

		out := w.changeFlag(w.alice, func(f *domain.Flag) { f.Maintainer = "m_alice" })
		if out.Request == nil || out.Applied != nil || out.Request.Kind != domain.KindFlag {
			t.Fatalf("alice made herself the maintainer alone: %+v", out)
		}
		req := slices.IndexFunc(out.Request.Policy.Requirements, func(r domain.Requirement) bool { return r.Flag == "checkout" })
		if req < 0 {
			t.Fatalf("no maintainer requirement: %+v", out.Request.Policy.Requirements)
		}
		if m := out.Request.Policy.Requirements[req].Members; !slices.Contains(m, "m_admin") || slices.Contains(m, "m_alice") {
			t.Fatalf("the requirement names %v: the maintainers as they were, not the one proposed", m)
		}
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); f.Maintainer != "m_admin" || f.Version != before.Version {
			t.Fatalf("the maintainer changed before approval: %+v", f)
		}
		_, err = w.svc.Review(w.ctx, w.alice, out.Request.ID, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		if v := w.approve(w.bob, out.Request.ID); v.Status != domain.StatusPending {
			t.Fatalf("bob is no maintainer: %s %q", v.Status, v.Missing)
		}
		if v := w.approve(w.admin, out.Request.ID); v.Status != domain.StatusApproved {
			t.Fatalf("the maintainer approved: %s %q", v.Status, v.Missing)
		}
		w.must(w.svc.Apply(w.ctx, w.alice, out.Request.ID))
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); f.Maintainer != "m_alice" {
			t.Fatalf("applied: %+v", f)
		}

		// the maintainer team too; a name applies directly
		if out := w.changeFlag(w.bob, func(f *domain.Flag) { f.MaintainerTeam = "sre" }); out.Request == nil {
			t.Error("a maintainer team set alone")
		}
		if out := w.changeFlag(w.bob, func(f *domain.Flag) { f.Name = "Checkout v2" }); out.Applied == nil {
			t.Error("a new name needs no maintainer")
		}

		// without require_maintainer, or with approvals off: directly
		w.settings(func(a *domain.ApprovalSettings) { a.RequireMaintainer = false })
		if out := w.changeFlag(w.bob, func(f *domain.Flag) { f.Maintainer = "m_bob" }); out.Applied == nil {
			t.Error("no environment requires the maintainers: the change applies")
		}
		w.settings(func(a *domain.ApprovalSettings) { a.RequireMaintainer = true })
		w.approvalsOff()
		if out := w.changeFlag(w.alice, func(f *domain.Flag) { f.Maintainer = "m_alice" }); out.Applied == nil {
			t.Error("with approvals off the maintainer changes directly")
		}
	})
}
