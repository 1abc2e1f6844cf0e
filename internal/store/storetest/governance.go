package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// testWritesApplyTheirRequest: a settings, environment, member, team or
// freeze calendar write told it applies a governance request
// (domain.Audit's Applies) writes the request too, at its version + 1, in
// the same atomic write; told a version the stored request is no longer
// at, it writes neither and answers ErrRequestMoved.
func testWritesApplyTheirRequest(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	newMember := &domain.Member{ID: "m_gov", Email: "gov@example.com", Name: "Gov", Role: domain.RoleEditor, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateMember(ctx, newMember))
	must(t, s.CreateTeam(ctx, newTeam("gov-team", "m_gov"), nil))
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
		"team": func(cr *domain.ChangeRequest) error {
			_, err := s.UpdateTeam(ctx, "gov-team", func(tm *domain.Team, a *domain.Audit) error {
				tm.Members = append(tm.Members, fmt.Sprintf("m_%d", len(tm.Members)))
				a.Applies = cr
				return nil
			})
			return err
		},
		"freeze calendar": func(cr *domain.ChangeRequest) error {
			_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, a *domain.Audit) error {
				c.Freezes = append(c.Freezes, domain.Freeze{ID: fmt.Sprintf("fz_%d", len(c.Freezes)), Name: "f", Environments: []string{},
					From: &t0, To: &t0, Scheduled: domain.FreezeHold, Version: 1})
				a.Applies = cr
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
	c, err := s.GetFreezes(ctx)
	must(t, err)
	tm, err := s.GetTeam(ctx, "gov-team")
	must(t, err)
	return fmt.Sprintf("org v%d, settings v%d, environment v%d, member v%d, freezes v%d, team v%d (%d members)", o.Version, a.Version, e.Version, m.Version,
		c.Version, tm.Version, len(tm.Members))
}

// testPendingTokenActivates: a pending token (written with the governance
// request that makes it live, in one atomic write) is never found by its
// hash; ActivateToken makes it live together with the request applied, or
// writes neither (a stale request, a refusal of its function, a token
// revoked meanwhile or live already).
func testPendingTokenActivates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	cr := newRequest("cr_tok", "production", t0)
	tok := &domain.Token{ID: "t_adm", Name: "deploy", Role: domain.RoleAdmin, Hash: "hash-adm", CreatedBy: "member:m1", CreatedAt: t0,
		PendingRequest: cr.ID}
	must(t, s.CreatePendingToken(ctx, tok, cr, []domain.AuditEntry{auditEntry("a_tok_opened", domain.ActionRequestCreated, t0)}))
	if _, err := s.GetChangeRequest(ctx, cr.ID); err != nil {
		t.Fatalf("the request was not opened with the token: %v", err)
	}
	if !slices.Contains(projectLog(t, s), "a_tok_opened") {
		t.Fatal("the audit entry was not written with the token")
	}
	wantCode(t, func() error { _, err := s.GetTokenByHash(ctx, "hash-adm"); return err }(), domain.CodeNotFound)
	got, err := s.GetToken(ctx, "t_adm")
	must(t, err)
	if got.PendingRequest != cr.ID {
		t.Fatalf("stored token %+v: not pending on %s", got, cr.ID)
	}

	// atomic: a request id taken writes no token; a token id taken no request
	wantCode(t, s.CreatePendingToken(ctx, &domain.Token{ID: "t_other", Hash: "hash-other", PendingRequest: cr.ID}, newRequest(cr.ID, "production", t0), nil), domain.CodeConflict)
	wantCode(t, func() error { _, err := s.GetToken(ctx, "t_other"); return err }(), domain.CodeNotFound)
	wantCode(t, s.CreatePendingToken(ctx, &domain.Token{ID: "t_adm", Hash: "hash-x", PendingRequest: "cr_x"}, newRequest("cr_x", "production", t0), nil), domain.CodeConflict)
	wantCode(t, func() error { _, err := s.GetChangeRequest(ctx, "cr_x"); return err }(), domain.CodeNotFound)

	stored, err := s.GetChangeRequest(ctx, cr.ID)
	must(t, err)
	activate := func(applies *domain.ChangeRequest, refuse error) error {
		_, err := s.ActivateToken(ctx, "t_adm", func(tk *domain.Token, a *domain.Audit) error {
			if tk.PendingRequest != cr.ID {
				t.Errorf("the function got %+v", tk)
			}
			a.Applies = applies
			a.Record(auditEntry(fmt.Sprintf("a_tok_%d", applies.Version), domain.ActionRequestApplied, t0))
			return refuse
		})
		return err
	}
	stale := *stored
	stale.Version--
	stale.Status = domain.StatusApplied
	if err := activate(&stale, nil); err != domain.ErrRequestMoved {
		t.Fatalf("a stale request: %v, want ErrRequestMoved", err)
	}
	refusal := domain.Errorf(domain.CodeForbidden, "no")
	if err := activate(stored, refusal); err != error(refusal) {
		t.Fatalf("a refusal: %v", err)
	}
	wantCode(t, func() error { _, err := s.GetTokenByHash(ctx, "hash-adm"); return err }(), domain.CodeNotFound)

	applied := *stored
	applied.Status = domain.StatusApplied
	must(t, activate(&applied, nil))
	live, err := s.GetTokenByHash(ctx, "hash-adm")
	must(t, err)
	if live.ID != "t_adm" || live.Pending() {
		t.Fatalf("activated token %+v", live)
	}
	if got, err := s.GetChangeRequest(ctx, cr.ID); err != nil || got.Status != domain.StatusApplied || got.Version != stored.Version+1 {
		t.Fatalf("the request as written: %+v, %v", got, err)
	}
	wantCode(t, activate(&applied, nil), domain.CodeConflict) // live already

	// revoked while pending: never activated, never found
	cr2 := newRequest("cr_tok2", "production", t0)
	must(t, s.CreatePendingToken(ctx, &domain.Token{ID: "t_mgr", Name: "ops", Role: domain.RoleManager, Hash: "hash-mgr", CreatedAt: t0, PendingRequest: cr2.ID}, cr2, nil))
	if _, err := s.RevokeToken(ctx, "t_mgr", t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.ActivateToken(ctx, "t_mgr", func(*domain.Token, *domain.Audit) error { return nil })
	wantCode(t, err, domain.CodeConflict)
	wantCode(t, func() error { _, err := s.GetTokenByHash(ctx, "hash-mgr"); return err }(), domain.CodeNotFound)
	wantCode(t, func() error { _, err := s.ActivateToken(ctx, "t_none", nil); return err }(), domain.CodeNotFound)
}

// testFreezeWriteGuarded: a freeze calendar write told the organisation
// settings its decision read (domain.Audit's Guard: approvals were off)
// writes nothing and answers ErrContention once they moved, so that no
// narrowing decided with approvals off commits after they are switched on.
func testFreezeWriteGuarded(t *testing.T, s domain.Store) {
	ctx := context.Background()
	o, err := s.GetOrgSettings(ctx)
	must(t, err)
	read := o.Version
	_, err = s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = true; return nil })
	must(t, err)
	write := func(org int64) error {
		_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, a *domain.Audit) error {
			c.Freezes = append(c.Freezes, domain.Freeze{ID: fmt.Sprintf("fz_g%d", org), Name: "f", Environments: []string{},
				From: &t0, To: &t0, Scheduled: domain.FreezeHold, Version: 1})
			a.Guard = &domain.SettingsGuard{Org: org}
			return nil
		})
		return err
	}
	if err := write(read); err != domain.ErrContention {
		t.Fatalf("a write guarded by settings that moved: %v, want ErrContention", err)
	}
	if c, err := s.GetFreezes(ctx); err != nil || len(c.Freezes) != 0 {
		t.Fatalf("a refused write wrote the calendar: %+v %v", c, err)
	}
	must(t, write(read+1))
	if c, err := s.GetFreezes(ctx); err != nil || len(c.Freezes) != 1 {
		t.Fatalf("the guarded write: %+v %v", c, err)
	}
}
