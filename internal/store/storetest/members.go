package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// memberTests are the suite's tests of the last-admin rule and of audited
// member writes (testMembers covers the plain ones).
func memberTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"LastAdminGuard":         testLastAdminGuard,
		"LastAdminConcurrent":    testLastAdminConcurrent,
		"MemberEmailSuppression": testMemberEmailSuppression,
	}
}

func isLastAdmin(err error) bool {
	return domain.ErrorCode(err) == domain.CodeConflict && strings.Contains(err.Error(), "is the last admin")
}

// demote is what the application does to take admin away: the write says
// so (KeepAnAdmin) when the member it reads is an admin.
func demote(to domain.Role, entry *domain.AuditEntry) func(*domain.Member, *domain.MemberWrite) error {
	return func(m *domain.Member, w *domain.MemberWrite) error {
		w.KeepAnAdmin = m.Role == domain.RoleAdmin
		m.Role = to
		if entry != nil {
			w.Record(*entry)
		}
		return nil
	}
}

func removeAdmin(entry *domain.AuditEntry) func(*domain.Member, *domain.MemberWrite) error {
	return func(m *domain.Member, w *domain.MemberWrite) error {
		w.KeepAnAdmin = m.Role == domain.RoleAdmin
		if entry != nil {
			w.Record(*entry)
		}
		return nil
	}
}

func memberEntry(id string) *domain.AuditEntry {
	return &domain.AuditEntry{ID: id, At: t0, Actor: "member:m-test", Action: "member.test", Channel: "api"}
}

// wantOutbox checks that an audit entry was written (its outbox item is
// read strongly on every store) or not.
func wantOutbox(t *testing.T, s domain.Store, id string, written bool) {
	t.Helper()
	_, err := s.GetOutbox(context.Background(), id)
	switch {
	case written && err != nil:
		t.Fatalf("audit entry %s: want it written with its change, got %v", id, err)
	case !written && domain.ErrorCode(err) != domain.CodeNotFound:
		t.Fatalf("audit entry %s: want none (its write was refused), got err %v", id, err)
	}
}

// The rule one write at a time: a write told to keep an admin is refused
// when its member is the only admin, and writes nothing (its audit entry
// neither); with another admin it passes; a write not told is never refused
// (the store does not infer the rule); audit entries go with member writes.
func testLastAdminGuard(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleAdmin, CreatedAt: t0}, *memberEntry("a-create-ada")))
	wantOutbox(t, s, "a-create-ada", true)
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-bob", Email: "bob@example.com", Name: "Bob", Role: domain.RoleEditor, CreatedAt: t0}))

	_, err := s.WriteMember(ctx, "m-ada", demote(domain.RoleViewer, memberEntry("a-refused-1")))
	if !isLastAdmin(err) || !strings.Contains(err.Error(), "ada@example.com") {
		t.Fatalf("demoting the only admin: want the last-admin conflict naming ada@example.com, got %v", err)
	}
	err = s.RemoveMember(ctx, "m-ada", removeAdmin(memberEntry("a-refused-2")))
	if !isLastAdmin(err) {
		t.Fatalf("removing the only admin: want the last-admin conflict, got %v", err)
	}
	ada, err := s.GetMember(ctx, "m-ada")
	must(t, err)
	if ada.Role != domain.RoleAdmin || ada.Version != 1 {
		t.Fatalf("a refused write must write nothing: %+v", ada)
	}
	wantOutbox(t, s, "a-refused-1", false)
	wantOutbox(t, s, "a-refused-2", false)
	// An error of the function aborts the write before any guard.
	refuse := domain.Errorf(domain.CodeInvalid, "no")
	wantCode(t, s.RemoveMember(ctx, "m-bob", func(*domain.Member, *domain.MemberWrite) error { return refuse }), domain.CodeInvalid)
	wantCode(t, s.RemoveMember(ctx, "m-nobody", removeAdmin(nil)), domain.CodeNotFound)

	// A write that keeps the admin an admin (renaming, with the audit entry
	// it records) is not refused.
	ada, err = s.WriteMember(ctx, "m-ada", func(m *domain.Member, w *domain.MemberWrite) error {
		m.Name = "Ada L."
		w.Record(*memberEntry("a-rename"))
		return nil
	})
	must(t, err)
	if ada.Name != "Ada L." || ada.Version != 2 {
		t.Fatalf("after rename: %+v", ada)
	}
	wantOutbox(t, s, "a-rename", true)

	// With another admin the demotion passes.
	_, err = s.UpdateMember(ctx, "m-bob", func(m *domain.Member) error { m.Role = domain.RoleAdmin; return nil })
	must(t, err)
	ada, err = s.WriteMember(ctx, "m-ada", demote(domain.RoleManager, memberEntry("a-demote")))
	must(t, err)
	if ada.Role != domain.RoleManager {
		t.Fatalf("after demotion: %+v", ada)
	}
	wantOutbox(t, s, "a-demote", true)
	// Now Bob is the last admin.
	_, err = s.WriteMember(ctx, "m-bob", demote(domain.RoleViewer, nil))
	if !isLastAdmin(err) {
		t.Fatalf("demoting the last admin: want the last-admin conflict, got %v", err)
	}
	// An e-mail change of the last admin with a demotion is refused as a whole.
	_, err = s.WriteMember(ctx, "m-bob", func(m *domain.Member, w *domain.MemberWrite) error {
		m.Email = "robert@example.com"
		return demote(domain.RoleViewer, nil)(m, w)
	})
	if !isLastAdmin(err) || !strings.Contains(err.Error(), "bob@example.com") {
		t.Fatalf("demoting the last admin while changing the e-mail: want the last-admin conflict naming the address read, got %v", err)
	}
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-rob", Email: "robert@example.com", Name: "Rob", Role: domain.RoleViewer}))

	// Removed with an audit entry, the member and its e-mail go together.
	must(t, s.RemoveMember(ctx, "m-ada", removeAdmin(memberEntry("a-remove-ada"))))
	wantOutbox(t, s, "a-remove-ada", true)
	_, err = s.GetMember(ctx, "m-ada")
	wantCode(t, err, domain.CodeNotFound)
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-ada2", Email: "ada@example.com", Name: "Ada", Role: domain.RoleViewer}))

	// Not told, the store removes even the last admin: the rule is the
	// caller's to ask for.
	must(t, s.DeleteMember(ctx, "m-bob"))
}

// Every admin is demoted or removed at once, by writers told to keep an
// admin, mixing updates and removals: exactly one is refused with the
// last-admin conflict, every other one commits (with its audit entry), and
// the one refused is the one admin left. Counting the admins outside the
// write, every writer would see eight and all would commit.
func testLastAdminConcurrent(t *testing.T, s domain.Store) {
	ctx := context.Background()
	const rounds, admins = 3, 8
	roles := []domain.Role{domain.RoleViewer, domain.RoleEditor, domain.RoleManager}
	for round := range rounds {
		id := func(i int) string { return fmt.Sprintf("m-r%d-%d", round, i) }
		entry := func(i int) string { return fmt.Sprintf("a-r%d-%d", round, i) }
		for i := range admins {
			must(t, s.CreateMember(ctx, &domain.Member{ID: id(i), Email: id(i) + "@example.com", Name: id(i), Role: domain.RoleAdmin, CreatedAt: t0}))
		}
		// Members who are no admins, renamed meanwhile: no part of the rule.
		bystander := fmt.Sprintf("m-r%d-editor", round)
		must(t, s.CreateMember(ctx, &domain.Member{ID: bystander, Email: bystander + "@example.com", Name: "E", Role: domain.RoleEditor, CreatedAt: t0}))

		start := make(chan struct{})
		errs := make([]error, admins)
		var wg sync.WaitGroup
		for i := range admins {
			wg.Go(func() {
				<-start
				if i%2 == 0 {
					_, errs[i] = s.WriteMember(ctx, id(i), demote(roles[i/2%len(roles)], memberEntry(entry(i))))
				} else {
					errs[i] = s.RemoveMember(ctx, id(i), removeAdmin(memberEntry(entry(i))))
				}
			})
		}
		wg.Go(func() {
			<-start
			_, err := s.WriteMember(ctx, bystander, func(m *domain.Member, w *domain.MemberWrite) error {
				m.Name += "x"
				w.KeepAnAdmin = m.Role == domain.RoleAdmin
				return nil
			})
			if err != nil {
				t.Errorf("round %d: renaming a non-admin: %v", round, err)
			}
		})
		close(start)
		wg.Wait()

		refused := -1
		for i, err := range errs {
			switch {
			case err == nil:
			case isLastAdmin(err):
				if refused >= 0 {
					t.Fatalf("round %d: both %s and %s were refused as the last admin; only one may be", round, id(refused), id(i))
				}
				if !strings.Contains(err.Error(), id(i)+"@example.com") {
					t.Fatalf("round %d: the refusal of %s names another member: %v", round, id(i), err)
				}
				refused = i
			default:
				t.Fatalf("round %d: %s: want success or the last-admin conflict, got %v", round, id(i), err)
			}
		}
		if refused < 0 {
			t.Fatalf("round %d: all %d admins were demoted or removed at once: no admin is left", round, admins)
		}

		var left []string
		for i := range admins {
			m, err := s.GetMember(ctx, id(i))
			switch {
			case i == refused:
				must(t, err)
				if m.Role != domain.RoleAdmin || m.Version != 1 {
					t.Fatalf("round %d: the refused admin %s changed: %+v", round, id(i), m)
				}
			case i%2 == 0:
				must(t, err)
				if m.Role != roles[i/2%len(roles)] {
					t.Fatalf("round %d: %s was not demoted: %+v", round, id(i), m)
				}
			default:
				wantCode(t, err, domain.CodeNotFound)
			}
			wantOutbox(t, s, entry(i), i != refused)
		}
		must(t, forEachMember(ctx, s, func(m domain.Member) {
			if m.Role == domain.RoleAdmin {
				left = append(left, m.ID)
			}
		}))
		if len(left) != 1 || left[0] != id(refused) {
			t.Fatalf("round %d: admins left %v, want exactly the refused %s", round, left, id(refused))
		}
		// Start the next round with no admin (the store removes one when not
		// told to keep it).
		must(t, s.DeleteMember(ctx, id(refused)))
	}
}

func forEachMember(ctx context.Context, s domain.Store, fn func(domain.Member)) error {
	cursor := ""
	for {
		ms, next, err := s.ListMembers(ctx, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, m := range ms {
			fn(m)
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}
