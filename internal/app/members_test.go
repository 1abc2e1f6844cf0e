package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// gate holds member writes at the store until n of them have arrived, so
// that concurrent requests reach their writes together: whatever a request
// read before its write, the other one's write has not happened yet.
type gate struct {
	domain.Store
	mu      sync.Mutex
	waiting *sync.WaitGroup
}

func (g *gate) arm(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting = &sync.WaitGroup{}
	g.waiting.Add(n)
}

func (g *gate) pass() {
	g.mu.Lock()
	wg := g.waiting
	g.mu.Unlock()
	if wg != nil {
		wg.Done()
		wg.Wait()
	}
}

func (g *gate) disarm() { g.mu.Lock(); g.waiting = nil; g.mu.Unlock() }

func (g *gate) WriteMember(ctx context.Context, id string, fn func(*domain.Member, *domain.MemberWrite) error) (*domain.Member, error) {
	g.pass()
	return g.Store.WriteMember(ctx, id, fn)
}

func (g *gate) RemoveMember(ctx context.Context, id string, check func(*domain.Member, *domain.MemberWrite) error) error {
	g.pass()
	return g.Store.RemoveMember(ctx, id, check)
}

func (g *gate) UpdateMember(ctx context.Context, id string, fn func(*domain.Member) error) (*domain.Member, error) {
	g.pass()
	return g.Store.UpdateMember(ctx, id, fn)
}

func (g *gate) DeleteMember(ctx context.Context, id string) error {
	g.pass()
	return g.Store.DeleteMember(ctx, id)
}

func (w *world) admins() []string {
	w.t.Helper()
	var ids []string
	ms, next, err := w.store.ListMembers(w.ctx, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil || next != "" {
		w.t.Fatalf("list members: %v (next %q)", err, next)
	}
	for _, m := range ms {
		if m.Role == domain.RoleAdmin {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func toRole(r domain.Role) func(*domain.Member) error {
	return func(m *domain.Member) error { m.Role = r; return nil }
}

// Two admins (or an admin and an admin service token) taking admin away
// from each other at the same moment: one wins, the other gets the
// last-admin conflict, and one admin is left. Before the store decided the
// rule in the write, both requests counted two admins and both wrote.
func TestConcurrentDemotionsLeaveAnAdmin(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := &gate{Store: factory(t)}
			w := newWorld(t, g)
			w.approvalsOff() // admins are added here; governance_test.go adds them with approvals on
			ada := w.member("ada", domain.RoleAdmin)
			adminToken := &app.Principal{TokenID: "t_admin_service", Role: domain.RoleAdmin}

			// race runs two member changes at once and checks that exactly
			// one was refused as the last admin's, leaving one admin.
			race := func(what string, a, b func() error) string {
				t.Helper()
				g.arm(2)
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i, fn := range []func() error{a, b} {
					wg.Go(func() { errs[i] = fn() })
				}
				wg.Wait()
				g.disarm()
				refused := 0
				for _, err := range errs {
					switch {
					case err == nil:
					case domain.ErrorCode(err) == domain.CodeConflict && strings.Contains(err.Error(), "is the last admin"):
						refused++
					default:
						t.Fatalf("%s: want success or the last-admin conflict, got %v", what, err)
					}
				}
				left := w.admins()
				if refused != 1 || len(left) != 1 {
					t.Fatalf("%s: %d refused (want 1), admins left %v (want one): %v", what, refused, left, errs)
				}
				return left[0]
			}

			// 1. Two admins demote each other.
			left := race("mutual demotion",
				func() error {
					_, err := w.svc.UpdateMember(w.ctx, w.admin, ada.MemberID, nil, toRole(domain.RoleViewer))
					return err
				},
				func() error {
					_, err := w.svc.UpdateMember(w.ctx, ada, w.admin.MemberID, nil, toRole(domain.RoleEditor))
					return err
				})

			// 2. The one left promotes the other again; then one removes the
			// other while being demoted by them.
			winner, loser := w.admin, ada
			if left == ada.MemberID {
				winner, loser = ada, w.admin
			}
			w.must(w.svc.UpdateMember(w.ctx, winner, loser.MemberID, nil, toRole(domain.RoleAdmin)))
			left = race("removal against demotion",
				func() error { return w.svc.DeleteMember(w.ctx, winner, loser.MemberID) },
				func() error {
					_, err := w.svc.UpdateMember(w.ctx, loser, winner.MemberID, nil, toRole(domain.RoleViewer))
					return err
				})

			// 3. An admin service token (no member, so no admin the rule
			// counts) demotes the admin left while that admin removes
			// another admin.
			w.must(w.svc.CreateMember(w.ctx, adminToken, app.MemberInput{Email: "bea@example.com", Name: "Bea", Role: domain.RoleAdmin}))
			var bea string
			for _, id := range w.admins() {
				if id != left {
					bea = id
				}
			}
			survivor := &app.Principal{MemberID: left, TokenID: "t_" + left, Role: domain.RoleAdmin}
			race("service token against an admin",
				func() error {
					_, err := w.svc.UpdateMember(w.ctx, adminToken, left, nil, toRole(domain.RoleManager))
					return err
				},
				func() error { return w.svc.DeleteMember(w.ctx, survivor, bea) })
		})
	}
}

// The operator's recovery from an organisation with no admin left (as the
// race above could leave it before the fix): RecoverAdmin promotes a
// member, audited in the same write, and the member can manage members again.
func TestRecoverAdminAfterNoAdminIsLeft(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		// what the race left: the store does only what it is told
		w.must(w.store.UpdateMember(w.ctx, w.admin.MemberID, toRole(domain.RoleEditor)))
		if got := w.admins(); len(got) != 0 {
			t.Fatalf("admins %v", got)
		}

		r, err := w.svc.RecoverAdmin(w.ctx, app.RecoverAdminInput{Email: "Alice@Example.com", Note: "incident 42"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Created || r.Unchanged || r.PreviousRole != domain.RoleEditor || r.AdminsBefore != 0 || r.Member.ID != w.alice.MemberID ||
			r.Member.Role != domain.RoleAdmin || r.AuditID == "" {
			t.Fatalf("recovered: %+v", r)
		}
		// the audit entry, written with the change (its outbox item, read
		// strongly on both stores, carries it)
		ob, err := w.store.GetOutbox(w.ctx, r.AuditID)
		if err != nil || ob.Entry.Action != domain.ActionMemberAdminRecovered || ob.Entry.Actor != app.ActorRecoverAdmin || !strings.Contains(ob.Entry.Reason, "incident 42") {
			t.Fatalf("the recovery's audit entry: %+v %v", ob, err)
		}
		again, err := w.svc.RecoverAdmin(w.ctx, app.RecoverAdminInput{Email: "alice@example.com"})
		if err != nil || !again.Unchanged || again.AuditID != "" || again.AdminsBefore != 1 {
			t.Fatalf("recovering an admin again: %+v %v", again, err)
		}
		alice := &app.Principal{MemberID: w.alice.MemberID, TokenID: w.alice.TokenID, Role: domain.RoleAdmin}
		w.must(w.svc.CreateMember(w.ctx, alice, app.MemberInput{Email: "new@example.com", Name: "New", Role: domain.RoleViewer}))
	})
}
