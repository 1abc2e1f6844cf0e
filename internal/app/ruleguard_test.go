package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// holdRules is a store that, while armed, holds the writes of the rules
// (approval settings, environments, members) at the store: after the
// service decided, with approvals off, that a weakening writes directly,
// before the write.
type holdRules struct {
	holdWrites
}

func (h *holdRules) UpdateApprovalSettings(ctx context.Context, project, env string, fn func(*domain.ApprovalSettings, *domain.Audit) error) (*domain.ApprovalSettings, error) {
	h.hold()
	return h.Store.UpdateApprovalSettings(ctx, project, env, fn)
}

func (h *holdRules) UpdateEnvironment(ctx context.Context, project, key string, fn func(*domain.Environment, *domain.Audit) error) (*domain.Environment, error) {
	h.hold()
	return h.Store.UpdateEnvironment(ctx, project, key, fn)
}

func (h *holdRules) WriteMember(ctx context.Context, id string, fn func(*domain.Member, *domain.MemberWrite) error) (*domain.Member, error) {
	h.hold()
	return h.Store.WriteMember(ctx, id, fn)
}

// A weakening of the rules decided while approvals are off must not
// commit after they are switched on (issue 16): it is held at the store
// between its decision and its write while an admin switches approvals
// on; the store refuses it (its guard names the organisation settings it
// read), the service decides again, and the weakening becomes a
// governance request. The rule is as before. Approval settings, an
// environment's protection and a member's promotion, on every store.
func TestRuleWeakeningsInFlightDoNotSlipPastApprovalsSwitchedOn(t *testing.T) {
	weakenings := []struct {
		name string
		// weaken writes the weakening, and reports whether it applied and
		// the request it opened otherwise
		weaken func(w *world) (applied bool, request *app.RequestView, err error)
		// weakened says whether the rule was weakened
		weakened func(w *world) bool
	}{
		{"approval settings", func(w *world) (bool, *app.RequestView, error) {
			in := *w.settingsNow()
			in.AllowSelfApproval = true
			out, err := w.svc.UpdateApprovalSettings(w.ctx, w.carol, "shop", "production", nil, &in)
			return out.Applied != nil, out.Request, err
		}, func(w *world) bool { return w.settingsNow().AllowSelfApproval }},
		{"environment protection", func(w *world) (bool, *app.RequestView, error) {
			out, err := w.svc.UpdateEnvironment(w.ctx, w.carol, "shop", "production", nil, func(e *domain.Environment) error {
				e.Protected = false
				return nil
			})
			return out.Applied != nil, out.Request, err
		}, func(w *world) bool {
			e, err := w.svc.GetEnvironment(w.ctx, w.admin, "shop", "production")
			if err != nil {
				w.t.Fatal(err)
			}
			return !e.Protected
		}},
		{"promotion", func(w *world) (bool, *app.RequestView, error) {
			out, err := w.svc.UpdateMember(w.ctx, w.admin, w.alice.MemberID, nil, func(m *domain.Member) error {
				m.Role = domain.RoleAdmin
				return nil
			})
			return out.Applied != nil, out.Request, err
		}, func(w *world) bool {
			m, err := w.store.GetMember(w.ctx, w.alice.MemberID)
			if err != nil {
				w.t.Fatal(err)
			}
			return m.Role == domain.RoleAdmin
		}},
	}
	for name, factory := range storeFactories {
		for _, wk := range weakenings {
			t.Run(name+"/"+wk.name, func(t *testing.T) {
				t.Parallel()
				h := &holdRules{holdWrites{Store: factory(t)}}
				w := newWorld(t, h)
				w.secondAdmin() // reviews the governance request
				w.approvalsOff()

				h.arm(1)
				var applied bool
				var request *app.RequestView
				var err error
				var wg sync.WaitGroup
				wg.Go(func() { applied, request, err = wk.weaken(w) })
				h.waitFor(t, 1) // decided: approvals are off, write directly
				w.must(w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}))
				h.letGo()
				wg.Wait()

				switch {
				case err != nil:
					t.Fatal(err)
				case applied:
					t.Fatal("the weakening applied after approvals were switched on")
				case request == nil || request.Status != domain.StatusPending || request.Changes[0].Kind != domain.KindGovernance:
					t.Fatalf("want a pending governance request, got %+v", request)
				}
				if wk.weakened(w) {
					t.Fatal("the rule was weakened")
				}
			})
		}
	}
}

// holdApplies holds applies at the store while armed: after the service
// checked the request's approvers, before the apply's write.
type holdApplies struct {
	holdWrites
}

func (h *holdApplies) ApplyChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.Live, *domain.ApplyWrite) error) (*domain.ChangeRequest, error) {
	h.hold()
	return h.Store.ApplyChangeRequest(ctx, id, fn)
}

// An approver demoted between the apply's check of its approvers and its
// write does not count (issue 16, demoted reviewers): the write names the
// approvers as checked (ApplyWrite's Approvers), the store refuses it,
// and the service checks again, voids the demoted approver's review and
// refuses the apply. Production stays as it was, on every store.
func TestApproverDemotedDuringApplyDoesNotCount(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &holdApplies{holdWrites{Store: factory(t)}}
			w := newWorld(t, h)
			w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
			cr := w.propose(w.requester, 30)
			w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))

			h.arm(1)
			var err error
			var wg sync.WaitGroup
			wg.Go(func() { _, err = w.svc.Apply(w.ctx, w.requester, cr.ID) })
			h.waitFor(t, 1) // alice checked: she may review
			// demoted by a write of the member alone (the service would void
			// her review at once; this is the write that comes between)
			w.must(w.store.WriteMember(w.ctx, "m_alice", func(m *domain.Member, _ *domain.MemberWrite) error {
				m.Role = domain.RoleViewer
				return nil
			}))
			h.letGo()
			wg.Wait()

			if domain.ErrorCode(err) != domain.CodeConflict {
				t.Fatalf("apply with a demoted approver: want a conflict, got %v", err)
			}
			if c := w.live(); c.DefaultRule.Rollout != 10 {
				t.Fatalf("production is at %v %%, want 10 %%", c.DefaultRule.Rollout)
			}
			v, err := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != domain.StatusPending || v.Approvals != 0 {
				t.Fatalf("the request: %s with %d approvals, want pending with none", v.Status, v.Approvals)
			}
		})
	}
}

// heldStore holds some writes at the store while armed.
type heldStore interface {
	domain.Store
	arm(int)
	waitFor(*testing.T, int)
	letGo()
}

// A write decided outside any freeze does not commit inside one created
// meanwhile (issue 16, freezes read inside the write): the write names the
// freeze calendar it read (SettingsGuard.Freezes, ApplyWrite.Freezes), a
// freeze over production is created while it is held at the store, the
// store refuses it, and the service decides again: frozen, naming the
// freeze. A direct targeting write, a flag write and the apply of an
// approved request, on every store; production stays as it was.
func TestWritesInFlightDoNotSlipIntoAFreeze(t *testing.T) {
	writes := []struct {
		name string
		// arrange prepares the world; write is the write held at the store
		arrange func(w *world) string
		write   func(w *world, arg string) error
		store   func(domain.Store) heldStore
		// unchanged says whether production is as before
		unchanged func(w *world) bool
		// during, when set, runs while the write is held, before the freeze
		during func(w *world, arg string)
	}{
		{"targeting", func(w *world) string { w.approvalsOff(); return "" }, func(w *world, _ string) error {
			_, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(30))
			return err
		}, func(s domain.Store) heldStore {
			return &holdWrites{Store: s}
		}, func(w *world) bool { return w.live().DefaultRule.Rollout == 10 }, nil},
		{"flag", func(w *world) string { w.approvalsOff(); return "" }, func(w *world, _ string) error {
			_, err := w.svc.ChangeFlag(w.ctx, w.alice, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
				f.BucketingSalt = "salt-in-a-freeze"
				return nil
			})
			return err
		}, func(s domain.Store) heldStore {
			return &holdWrites{Store: s}
		}, func(w *world) bool {
			f, err := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
			if err != nil {
				w.t.Fatal(err)
			}
			return f.BucketingSalt != "salt-in-a-freeze"
		}, nil},
		{"apply", func(w *world) string {
			w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
			cr := w.propose(w.requester, 30)
			w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
			return cr.ID
		}, func(w *world, id string) error {
			_, err := w.svc.Apply(w.ctx, w.requester, id)
			return err
		}, func(s domain.Store) heldStore {
			return &holdApplies{holdWrites{Store: s}}
		}, func(w *world) bool { return w.live().DefaultRule.Rollout == 10 }, nil},
		{"apply of a request approved meanwhile", func(w *world) string {
			w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 1 })
			return w.propose(w.requester, 30).ID // pending when the apply reads it
		}, func(w *world, id string) error {
			_, err := w.svc.Apply(w.ctx, w.requester, id)
			return err
		}, func(s domain.Store) heldStore {
			return &holdApplies{holdWrites{Store: s}}
		}, func(w *world) bool { return w.live().DefaultRule.Rollout == 10 }, func(w *world, id string) {
			w.must(w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "ok", app.ChannelAPI))
		}},
	}
	for name, factory := range storeFactories {
		for _, wr := range writes {
			t.Run(name+"/"+wr.name, func(t *testing.T) {
				t.Parallel()
				h := wr.store(factory(t))
				w := newWorld(t, h)
				arg := wr.arrange(w)

				h.arm(1)
				var err error
				var wg sync.WaitGroup
				wg.Go(func() { err = wr.write(w, arg) })
				h.waitFor(t, 1) // decided: no freeze holds production
				if wr.during != nil {
					wr.during(w, arg)
				}
				f := w.freeze("release week", t0.Add(-time.Hour), t0.Add(time.Hour), domain.FreezeFail, "production")
				h.letGo()
				wg.Wait()

				var de *domain.Error
				if !errors.As(err, &de) || de.Code != domain.CodeFrozen || de.Freeze == nil || de.Freeze.ID != f.ID {
					t.Fatalf("a write decided before the freeze and held until it began: want frozen by %s, got %v", f.ID, err)
				}
				if !wr.unchanged(w) {
					t.Fatal("production changed inside the freeze")
				}
			})
		}
	}
}
