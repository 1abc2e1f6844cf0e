package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// Creating a manager or admin member, or a live service token with
// manager or admin rights, is decided while approvals are off, and the
// creation carries the organisation settings' version it read
// (Audit.Guard of AddMember, AddToken): with that version it commits, with
// its audit entries; once the settings moved on (approvals switched on) it
// fails with contention and writes nothing: no member, no e-mail address
// taken, no token, no hash a secret could authenticate with, no audit
// entry. A creation told to apply a request is refused: creating applies
// none.
func testSettingsGuardCreates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	guardWorld(t, s) // organisation settings at version 1
	member := func() *domain.Member {
		return &domain.Member{ID: "m_boss", Email: "boss@example.com", Name: "Boss", Role: domain.RoleAdmin, CreatedAt: t0, UpdatedAt: t0}
	}
	token := func() *domain.Token {
		return &domain.Token{ID: "t_ops", Name: "ops", Role: domain.RoleManager, Hash: "hash-ops", CreatedBy: "member:m1", CreatedAt: t0}
	}
	creates := []struct {
		name   string
		create func(w *domain.Audit) error
		// written reports whether the creation is there, wholly: false
		// when none of it is (a part alone fails the test)
		written func() bool
	}{
		{"member", func(w *domain.Audit) error { return s.AddMember(ctx, member(), w) }, func() bool {
			got, err := s.GetMember(ctx, "m_boss")
			if domain.ErrorCode(err) == domain.CodeNotFound {
				// nor is the address taken: another member may have it
				other := &domain.Member{ID: "m_probe", Email: "boss@example.com", Name: "Probe", Role: domain.RoleViewer, CreatedAt: t0}
				must(t, s.CreateMember(ctx, other))
				must(t, s.DeleteMember(ctx, other.ID))
				return false
			}
			must(t, err)
			if got.Role != domain.RoleAdmin || got.Version != 1 {
				t.Fatalf("the member created: %+v", got)
			}
			return true
		}},
		{"token", func(w *domain.Audit) error { return s.AddToken(ctx, token(), w) }, func() bool {
			_, err := s.GetToken(ctx, "t_ops")
			_, hashErr := s.GetTokenByHash(ctx, "hash-ops")
			switch {
			case domain.ErrorCode(err) == domain.CodeNotFound && domain.ErrorCode(hashErr) == domain.CodeNotFound:
				return false
			case err != nil || hashErr != nil:
				t.Fatalf("the token: %v; by its hash: %v", err, hashErr)
			}
			return true
		}},
	}
	for i, c := range creates {
		for _, stale := range []int64{0, 2} {
			id := fmt.Sprintf("create-%d-stale-%d", i, stale)
			w := &domain.Audit{Guard: &domain.SettingsGuard{Org: stale}}
			w.Record(auditEntry(id, "member.added", t0))
			err := c.create(w)
			wantNothingWritten(t, s, c.name+fmt.Sprintf(" created guarded on organisation settings version %d (they are at 1)", stale), err, id)
			if c.written() {
				t.Fatalf("%s: the refused creation wrote it", c.name)
			}
		}

		applies := &domain.Audit{Applies: newRequest(fmt.Sprintf("cr_create_%d", i), "production", t0)}
		if err := c.create(applies); err == nil || c.written() {
			t.Fatalf("%s: a creation told to apply a request: want it refused, got %v", c.name, err)
		}
		if _, err := s.GetChangeRequest(ctx, applies.Applies.ID); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("%s: a refused creation told to apply a request wrote it: %v", c.name, err)
		}

		id := fmt.Sprintf("create-%d-current", i)
		w := &domain.Audit{Guard: &domain.SettingsGuard{Org: 1}}
		w.Record(auditEntry(id, "member.added", t0))
		if err := c.create(w); err != nil {
			t.Fatalf("%s created guarded on the current organisation settings: %v", c.name, err)
		}
		if !c.written() {
			t.Fatalf("%s created guarded on the current organisation settings was not written", c.name)
		}
		if _, err := s.GetOutbox(ctx, id); err != nil {
			t.Fatalf("%s: the creation's audit entry has no outbox item: %v", c.name, err)
		}
	}
}
