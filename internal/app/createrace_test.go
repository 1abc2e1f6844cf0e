package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// holdCreates holds the creation of members and tokens at the store while
// armed: after the service decided, with approvals off, that a manager or
// admin may be created directly.
type holdCreates struct {
	holdWrites
}

func (h *holdCreates) AddMember(ctx context.Context, m *domain.Member, w *domain.Audit) error {
	h.hold()
	return h.Store.AddMember(ctx, m, w)
}

func (h *holdCreates) AddToken(ctx context.Context, t *domain.Token, w *domain.Audit) error {
	h.hold()
	return h.Store.AddToken(ctx, t, w)
}

// createdAcrossTheSwitch runs create held at the store between its
// decision (approvals off) and its write, while an admin switches
// approvals on.
func createdAcrossTheSwitch(t *testing.T, w *world, h heldStore, create func()) {
	t.Helper()
	w.approvalsOff()
	h.arm(1)
	var wg sync.WaitGroup
	wg.Go(create)
	h.waitFor(t, 1) // decided: approvals are off, create directly
	w.must(w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}))
	h.letGo()
	wg.Wait()
}

// A manager or admin member, decided while approvals were off and held
// at the store while an admin switches them on, is not created (issue 16):
// the creation's guard names the organisation settings it read, the store
// refuses it, and the service decides again: refused, as any manager or
// admin added while approvals are on. An organisation admin and a project
// manager, on every store; nobody has the address.
func TestManagerMemberInFlightDoesNotSlipPastApprovalsSwitchedOn(t *testing.T) {
	creates := []struct {
		name string
		in   app.MemberInput
	}{
		{"organisation admin", app.MemberInput{Email: "dora@example.com", Name: "Dora", Role: domain.RoleAdmin}},
		{"project manager", app.MemberInput{Email: "dora@example.com", Name: "Dora", Role: domain.RoleViewer,
			Projects: map[string]domain.Role{"shop": domain.RoleManager}}},
	}
	for name, factory := range storeFactories {
		for _, c := range creates {
			in := c.in
			t.Run(name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				h := &holdCreates{holdWrites{Store: factory(t)}}
				w := newWorld(t, h)
				var m *domain.Member
				var err error
				createdAcrossTheSwitch(t, w, h, func() { m, err = w.svc.CreateMember(w.ctx, w.admin, in) })

				if m != nil || err == nil {
					t.Fatalf("a manager or admin decided before approvals were switched on was created after: %+v", m)
				}
				wantCode(t, err, domain.CodeConflict)
				if errors.Is(err, domain.ErrContention) || !strings.Contains(err.Error(), "second admin") {
					t.Fatalf("want the refusal of a manager or admin while approvals are on, got %v", err)
				}
				listed, _, err := w.svc.ListMembers(w.ctx, w.admin, domain.Page{Limit: domain.MaxPageLimit})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range listed {
					if domain.SameEmail(m.Email, in.Email) {
						t.Fatalf("the refused member is there: %+v", m)
					}
				}
			})
		}
	}
}

// A manager service token, decided live while approvals were off and held
// at the store while an admin switches them on, is not written live (issue
// 16): the store refuses its guarded write, and the service decides again:
// the token is written pending with its governance request. Its secret
// does not authenticate until another admin approves and the request is
// applied. On every store.
func TestManagerTokenInFlightDoesNotSlipPastApprovalsSwitchedOn(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &holdCreates{holdWrites{Store: factory(t)}}
			w := newWorld(t, h)
			ada := w.secondAdmin()
			var made *app.CreatedToken
			var err error
			createdAcrossTheSwitch(t, w, h, func() {
				made, err = w.svc.CreateToken(w.ctx, w.admin, app.TokenInput{Name: "ops", Service: true, Role: domain.RoleManager})
			})

			switch {
			case err != nil:
				t.Fatal(err)
			case made.Request == nil:
				t.Fatalf("a manager token decided before approvals were switched on was made live after: %+v", made.Token)
			case made.Request.Status != domain.StatusPending || made.Request.Changes[0].Governance.What != domain.GovernServiceToken:
				t.Fatalf("want a pending token governance request, got %+v", made.Request.ChangeRequest)
			}
			if tok := w.storedToken(made.ID); tok.PendingRequest != made.Request.ID {
				t.Fatalf("stored %+v: not pending on %s", tok, made.Request.ID)
			}
			_, err = w.svc.Authenticate(w.ctx, made.Secret)
			wantCode(t, err, domain.CodeUnauthenticated)

			w.must(w.svc.Review(w.ctx, ada, made.Request.ID, domain.DecisionApprove, "agreed", app.ChannelAPI))
			if v, err := w.svc.Apply(w.ctx, w.admin, made.Request.ID); err != nil || v.Status != domain.StatusApplied {
				t.Fatalf("apply: %v %+v", err, v)
			}
			p, err := w.svc.Authenticate(w.ctx, made.Secret)
			if err != nil || p.TokenID != made.ID || p.Role != domain.RoleManager {
				t.Fatalf("the applied token does not authenticate as itself: %+v %v", p, err)
			}
		})
	}
}
