package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// testWritesApplyTheirRequest: a settings, environment or member write
// told it applies a governance request (domain.Audit's Applies) writes
// the request too, at its version + 1, in the same atomic write; told a
// version the stored request is no longer at, it writes neither and
// answers ErrRequestMoved.
func testWritesApplyTheirRequest(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	newMember := &domain.Member{ID: "m_gov", Email: "gov@example.com", Name: "Gov", Role: domain.RoleEditor, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateMember(ctx, newMember))
	writes := map[string]func(applies *domain.ChangeRequest) error{
		"org settings": func(cr *domain.ChangeRequest) error {
			_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
				o.Approvals = !o.Approvals
				a.Applies = cr
				return nil
			})
			return err
		},
		"approval settings": func(cr *domain.ChangeRequest) error {
			_, err := s.UpdateApprovalSettings(ctx, "p", "production", func(as *domain.ApprovalSettings, a *domain.Audit) error {
				as.MinApprovals++
				a.Applies = cr
				return nil
			})
			return err
		},
		"environment": func(cr *domain.ChangeRequest) error {
			_, err := s.UpdateEnvironment(ctx, "p", "production", func(e *domain.Environment, a *domain.Audit) error {
				e.Protected = !e.Protected
				a.Applies = cr
				return nil
			})
			return err
		},
		"member": func(cr *domain.ChangeRequest) error {
			_, err := s.WriteMember(ctx, "m_gov", func(m *domain.Member, w *domain.MemberWrite) error {
				m.Role = domain.RoleManager
				w.Applies = cr
				return nil
			})
			return err
		},
	}
	for name, write := range writes {
		id := "cr_gov_" + name[:3]
		must(t, s.CreateChangeRequest(ctx, newRequest(id, "production", t0), false, nil))
		stored, err := s.GetChangeRequest(ctx, id)
		must(t, err)
		before := snapshotRules(t, s)

		stale := *stored
		stale.Version-- // read before some other write of the request
		stale.Status = domain.StatusApplied
		if err := write(&stale); err != domain.ErrRequestMoved {
			t.Fatalf("%s: a stale request: %v, want ErrRequestMoved", name, err)
		}
		if after := snapshotRules(t, s); after != before {
			t.Fatalf("%s: a refused write changed the rules: %s → %s", name, before, after)
		}

		applied := *stored
		applied.Status = domain.StatusApplied
		must(t, write(&applied))
		got, err := s.GetChangeRequest(ctx, id)
		must(t, err)
		if got.Status != domain.StatusApplied || got.Version != stored.Version+1 {
			t.Fatalf("%s: the request as written: %s v%d (read v%d)", name, got.Status, got.Version, stored.Version)
		}
		if after := snapshotRules(t, s); after == before {
			t.Fatalf("%s: the rule did not change", name)
		}
	}
}

// snapshotRules is the versions of the rules testWritesApplyTheirRequest
// writes.
func snapshotRules(t *testing.T, s domain.Store) string {
	t.Helper()
	ctx := context.Background()
	o, err := s.GetOrgSettings(ctx)
	must(t, err)
	a, err := s.GetApprovalSettings(ctx, "p", "production")
	must(t, err)
	e, err := s.GetEnvironment(ctx, "p", "production")
	must(t, err)
	m, err := s.GetMember(ctx, "m_gov")
	must(t, err)
	return fmt.Sprintf("org v%d, settings v%d, environment v%d, member v%d", o.Version, a.Version, e.Version, m.Version)
}
