package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func settingsGuardTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"SettingsGuardConfigWrite": testSettingsGuardConfigWrite,
		"SettingsGuardFlagWrite":   testSettingsGuardFlagWrite,
		"SettingsGuardRulesWrite":  testSettingsGuardRulesWrite,
		"SettingsGuardFreezes":     testSettingsGuardFreezes,
		"SettingsGuardCreates":     testSettingsGuardCreates,
	}
}

// guardWorld is project p with flag f, the organisation settings written
// once (approvals on, version 1) and staging's approval settings written
// once (version 1); production's and development's were never written
// (version 0: the defaults of protected production and of unprotected
// development).
func guardWorld(t *testing.T, s domain.Store) {
	t.Helper()
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = true; return nil })
	must(t, err)
	_, err = s.UpdateApprovalSettings(ctx, "p", "staging", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		a.Required = domain.RequiredAll
		return nil
	})
	must(t, err)
}

// wantNothingWritten checks that the write of audit entry id failed with
// contention and left no trace: no audit entry, no outbox item.
func wantNothingWritten(t *testing.T, s domain.Store, what string, err error, id string) {
	t.Helper()
	if !errors.Is(err, domain.ErrContention) {
		t.Fatalf("%s: a write whose guard names settings that changed must fail with contention, got %v", what, err)
	}
	ctx := context.Background()
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{Limit: domain.MaxPageLimit})
	must(t, err)
	for _, e := range entries {
		if e.ID == id {
			t.Fatalf("%s: the refused write left its audit entry %+v", what, e)
		}
	}
	_, err = s.GetOutbox(ctx, id)
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("%s: the refused write's outbox item: want not_found, got %v", what, err)
	}
}

// A config write told the settings its gating decision read commits only
// while they are still those: an older version of the organisation settings
// or of the environment's approval settings, settings named never written
// that were written since, or never-written settings of an environment
// whose protection changed, each fail with contention and write nothing.
func testSettingsGuardConfigWrite(t *testing.T, s domain.Store) {
	ctx := context.Background()
	guardWorld(t, s)
	n := 0
	write := func(env string, g *domain.SettingsGuard) (string, error) {
		n++
		id := fmt.Sprintf("a-guard-%d", n)
		_, err := s.UpdateFlagConfig(ctx, "p", "f", env, func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
			w.Settings = g
			c.Enabled = !c.Enabled
			e := auditEntry(id, "targeting.updated", t0.Add(time.Duration(n)*time.Second))
			e.Environment = env
			w.Record(e)
			return nil
		})
		return id, err
	}
	version := func(env string) int64 {
		t.Helper()
		_, c, err := s.GetFlagConfig(ctx, "p", "f", env)
		must(t, err)
		return c.Version
	}
	env := func(name string, v int64, protected bool) []domain.EnvironmentGuard {
		return []domain.EnvironmentGuard{{Environment: name, Version: v, Protected: protected}}
	}

	stale := []struct {
		what string
		env  string
		g    domain.SettingsGuard
	}{
		{"organisation settings never written, since written", "production", domain.SettingsGuard{Org: 0, Environments: env("production", 0, true)}},
		{"older organisation settings", "staging", domain.SettingsGuard{Org: 0, Environments: env("staging", 1, false)}},
		{"newer organisation settings than there are", "staging", domain.SettingsGuard{Org: 2, Environments: env("staging", 1, false)}},
		{"approval settings never written, since written", "staging", domain.SettingsGuard{Org: 1, Environments: env("staging", 0, false)}},
		{"never-written settings of an unprotected environment, since protected", "production", domain.SettingsGuard{Org: 1, Environments: env("production", 0, false)}},
	}
	for _, c := range stale {
		before := version(c.env)
		id, err := write(c.env, &c.g)
		wantNothingWritten(t, s, c.what, err, id)
		if v := version(c.env); v != before {
			t.Fatalf("%s: the refused write moved the config from version %d to %d", c.what, before, v)
		}
	}

	// The guards as the settings are: the writes commit.
	for _, c := range []struct {
		env string
		g   domain.SettingsGuard
	}{
		{"production", domain.SettingsGuard{Org: 1, Environments: env("production", 0, true)}},
		{"staging", domain.SettingsGuard{Org: 1, Environments: env("staging", 1, false)}},
		{"development", domain.SettingsGuard{Org: 1, Environments: env("development", 0, false)}},
		{"development", domain.SettingsGuard{Org: 1}}, // a decision with approvals off names no environment
	} {
		before := version(c.env)
		if _, err := write(c.env, &c.g); err != nil {
			t.Fatalf("a write guarded by the settings as they are (%+v): %v", c.g, err)
		}
		if v := version(c.env); v != before+1 {
			t.Fatalf("guarded write of %s: version %d, want %d", c.env, v, before+1)
		}
	}

	// Settings move on: a guard naming what was current a moment ago fails.
	_, err := s.UpdateApprovalSettings(ctx, "p", "staging", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		a.Required = domain.RequiredOff
		return nil
	})
	must(t, err)
	id, err := write("staging", &domain.SettingsGuard{Org: 1, Environments: env("staging", 1, false)})
	wantNothingWritten(t, s, "older approval settings", err, id)
	_, err = s.UpdateEnvironment(ctx, "p", "production", func(e *domain.Environment, _ *domain.Audit) error {
		e.Protected = false
		return nil
	})
	must(t, err)
	id, err = write("production", &domain.SettingsGuard{Org: 1, Environments: env("production", 0, true)})
	wantNothingWritten(t, s, "never-written settings of a protected environment, since unprotected", err, id)
	_, err = s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = false; return nil })
	must(t, err)
	id, err = write("development", &domain.SettingsGuard{Org: 1})
	wantNothingWritten(t, s, "older organisation settings (approvals switched off since)", err, id)
	if _, err := write("production", &domain.SettingsGuard{Org: 2, Environments: env("production", 0, false)}); err != nil {
		t.Fatalf("a write guarded by the settings as they are now: %v", err)
	}
	// A store never infers a guard.
	if _, err := write("staging", nil); err != nil {
		t.Fatalf("an unguarded write: %v", err)
	}
}

// A flag write told the settings its decision read (every environment's,
// for a decision on all of them) commits only while they are still those,
// and while the project has no other environment.
func testSettingsGuardFlagWrite(t *testing.T, s domain.Store) {
	ctx := context.Background()
	guardWorld(t, s)
	n := 0
	write := func(g *domain.SettingsGuard) (string, error) {
		n++
		id := fmt.Sprintf("a-flag-guard-%d", n)
		_, err := s.WriteFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, w *domain.FlagWrite) error {
			w.Settings = g
			f.BucketingSalt = fmt.Sprintf("salt%d", n)
			w.Record(auditEntry(id, "flag.updated", t0.Add(time.Duration(n)*time.Second)))
			return nil
		})
		return id, err
	}
	flagVersion := func() int64 {
		t.Helper()
		f, err := s.GetFlag(ctx, "p", "f")
		must(t, err)
		return f.Version
	}
	all := func(org int64, devProtected bool, staging int64, prodProtected bool) domain.SettingsGuard {
		return domain.SettingsGuard{Org: org, AllEnvironments: true, Environments: []domain.EnvironmentGuard{
			{Environment: "development", Protected: devProtected},
			{Environment: "staging", Version: staging},
			{Environment: "production", Protected: prodProtected},
		}}
	}
	missing := all(1, false, 1, true)
	missing.Environments = missing.Environments[1:]
	for _, c := range []struct {
		what string
		g    domain.SettingsGuard
	}{
		{"older organisation settings", all(0, false, 1, true)},
		{"approval settings never written, since written", all(1, false, 0, true)},
		{"never-written settings of an unprotected environment, since protected", all(1, false, 1, false)},
		{"never-written settings of a protected environment, since unprotected", all(1, true, 1, true)},
		{"every environment, one missing", missing},
	} {
		before := flagVersion()
		id, err := write(&c.g)
		wantNothingWritten(t, s, c.what, err, id)
		if v := flagVersion(); v != before {
			t.Fatalf("%s: the refused write moved the flag from version %d to %d", c.what, before, v)
		}
	}
	g := all(1, false, 1, true)
	if _, err := write(&g); err != nil {
		t.Fatalf("a flag write guarded by the settings as they are: %v", err)
	}
	if _, err := write(&domain.SettingsGuard{Org: 1, Environments: missing.Environments}); err != nil {
		t.Fatalf("a flag write guarded by some environments (not all): %v", err)
	}
	// An environment created since a decision on all of them.
	must(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: "canary", Name: "Canary", Protected: true, CreatedAt: t0, UpdatedAt: t0}))
	id, err := write(&g)
	wantNothingWritten(t, s, "every environment, one created since", err, id)
	g.Environments = append(g.Environments, domain.EnvironmentGuard{Environment: "canary", Protected: true})
	if _, err := write(&g); err != nil {
		t.Fatalf("a flag write guarded by all four environments: %v", err)
	}
	if v := flagVersion(); v != 4 {
		t.Fatalf("three guarded flag writes committed: version %d, want 4", v)
	}
}

// A write of the rules (approval settings, an environment, a member)
// decided while approvals were off carries the organisation settings'
// version it read (Audit.Guard): with that version it commits; once the
// settings moved on (approvals switched on) it fails with contention and
// writes nothing, neither the change nor its audit entry.
func testSettingsGuardRulesWrite(t *testing.T, s domain.Store) {
	ctx := context.Background()
	guardWorld(t, s) // organisation settings at version 1
	m := &domain.Member{ID: "m1", Email: "m1@example.com", Name: "M", Role: domain.RoleEditor}
	must(t, s.CreateMember(ctx, m))
	writes := []struct {
		name  string
		write func(guard *domain.SettingsGuard, id string) error
		// unchanged reports whether the write's target is as before
		unchanged func() bool
	}{
		{"approval settings", func(g *domain.SettingsGuard, id string) error {
			_, err := s.UpdateApprovalSettings(ctx, "p", "staging", func(a *domain.ApprovalSettings, audit *domain.Audit) error {
				a.MinApprovals, audit.Guard = 0, g
				audit.Record(auditEntry(id, "rules.updated", t0))
				return nil
			})
			return err
		}, func() bool {
			a, err := s.GetApprovalSettings(ctx, "p", "staging")
			must(t, err)
			return a.MinApprovals != 0
		}},
		{"environment", func(g *domain.SettingsGuard, id string) error {
			_, err := s.UpdateEnvironment(ctx, "p", "production", func(e *domain.Environment, audit *domain.Audit) error {
				e.Protected, audit.Guard = false, g
				audit.Record(auditEntry(id, "rules.updated", t0))
				return nil
			})
			return err
		}, func() bool {
			e, err := s.GetEnvironment(ctx, "p", "production")
			must(t, err)
			return e.Protected
		}},
		{"member", func(g *domain.SettingsGuard, id string) error {
			_, err := s.WriteMember(ctx, "m1", func(m *domain.Member, w *domain.MemberWrite) error {
				m.Role, w.Guard = domain.RoleAdmin, g
				w.Record(auditEntry(id, "rules.updated", t0))
				return nil
			})
			return err
		}, func() bool {
			got, err := s.GetMember(ctx, "m1")
			must(t, err)
			return got.Role == domain.RoleEditor
		}},
	}
	for i, w := range writes {
		for _, stale := range []int64{0, 2} {
			id := fmt.Sprintf("rules-%d-stale-%d", i, stale)
			err := w.write(&domain.SettingsGuard{Org: stale}, id)
			wantNothingWritten(t, s, w.name+fmt.Sprintf(" guarded on organisation settings version %d (they are at 1)", stale), err, id)
			if !w.unchanged() {
				t.Fatalf("%s: the refused write changed it", w.name)
			}
		}
		if err := w.write(&domain.SettingsGuard{Org: 1}, fmt.Sprintf("rules-%d-current", i)); err != nil {
			t.Fatalf("%s guarded on the current organisation settings: %v", w.name, err)
		}
		if w.unchanged() {
			t.Fatalf("%s guarded on the current organisation settings was not written", w.name)
		}
	}
}

// A write decided on the freeze calendar as read (SettingsGuard.Freezes)
// commits only while the calendar is at that version: never written
// (version 0) and since written, or written and since changed, each fail
// with contention and write nothing.
func testSettingsGuardFreezes(t *testing.T, s domain.Store) {
	ctx := context.Background()
	guardWorld(t, s) // organisation settings at version 1; staging's approval settings at 1
	write := func(id string, calendar int64) error {
		_, err := s.UpdateFlagConfig(ctx, "p", "f", "staging", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
			w.Settings = &domain.SettingsGuard{Org: 1, Environments: []domain.EnvironmentGuard{{Environment: "staging", Version: 1}}, Freezes: &calendar}
			c.Enabled = !c.Enabled
			e := auditEntry(id, "targeting.updated", t0)
			e.Environment = "staging"
			w.Record(e)
			return nil
		})
		return err
	}
	must(t, write("cal-0-current", 0))
	addFreeze := func() {
		t.Helper()
		_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
			c.Freezes = append(c.Freezes, domain.Freeze{ID: fmt.Sprintf("fz_%d", len(c.Freezes)), Name: "release", Project: "p", From: &t0, To: &t0})
			return nil
		})
		must(t, err)
	}
	addFreeze() // the calendar at version 1
	wantNothingWritten(t, s, "a write decided on the calendar never written, since written", write("cal-0-stale", 0), "cal-0-stale")
	must(t, write("cal-1-current", 1))
	addFreeze() // version 2
	wantNothingWritten(t, s, "a write decided on calendar version 1, now 2", write("cal-1-stale", 1), "cal-1-stale")
	must(t, write("cal-2-current", 2))
}
