package app_test

import (
	"fmt"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A weakening that needs a second admin travels alone: unprotecting an
// environment together with renaming it, or promoting a member together
// with renaming them, is refused (422 naming the weakened field) rather
// than opening a request that would show the other changes and apply only
// the weakening. Nothing is written.
func TestGovernedChangesTravelAlone(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		_, err := w.svc.UpdateEnvironment(w.ctx, w.carol, "shop", "production", nil, func(e *domain.Environment) error {
			e.Protected, e.Name = false, "Renamed"
			return nil
		})
		wantField(t, err, "/protected")
		e, err := w.svc.GetEnvironment(w.ctx, w.admin, "shop", "production")
		if err != nil {
			t.Fatal(err)
		}
		if !e.Protected || e.Name == "Renamed" {
			t.Fatalf("production after a refused change: %+v", e)
		}

		_, err = w.svc.UpdateMember(w.ctx, w.admin, w.alice.MemberID, nil, func(m *domain.Member) error {
			m.Role, m.Name = domain.RoleAdmin, "Alice the Admin"
			return nil
		})
		wantField(t, err, "/role")
		m, err := w.store.GetMember(w.ctx, w.alice.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Role != domain.RoleEditor || m.Name == "Alice the Admin" {
			t.Fatalf("alice after a refused change: %+v", m)
		}
	})
}

// A service token made by another service token has the same person
// behind it, however long the chain: an admin cannot make, with a token
// of theirs, a token that requests a change they may then approve
// themselves.
func TestTokenChainsKeepTheirPerson(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.approvalsOff() // service tokens with admin rights are then made directly
		first, err := w.svc.CreateToken(w.ctx, w.admin, app.TokenInput{Name: "first", Role: domain.RoleAdmin, Service: true})
		if err != nil {
			t.Fatal(err)
		}
		p := w.authenticate(first.Secret)
		for i := range 2 {
			next, err := w.svc.CreateToken(w.ctx, p, app.TokenInput{Name: fmt.Sprintf("chained-%d", i), Role: domain.RoleAdmin, Service: true})
			if err != nil {
				t.Fatal(err)
			}
			p = w.authenticate(next.Secret)
			if p.Behind != w.admin.MemberID {
				t.Fatalf("token %d of the chain: behind %q, want %s", i+2, p.Behind, w.admin.MemberID)
			}
		}
	})
}

func (w *world) authenticate(secret string) *app.Principal {
	w.t.Helper()
	p, err := w.svc.Authenticate(w.ctx, secret)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}
