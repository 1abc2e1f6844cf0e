package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func approvalTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"Settings":                   testSettings,
		"ChangeRequestLifecycle":     testChangeRequestLifecycle,
		"ChangeRequestListAndFilter": testChangeRequestList,
		"PendingLock":                testPendingLock,
		"ApplyIsAtomic":              testApplyIsAtomic,
		"ApplyWritesWhatItIsTold":    testApplyWritesWhatItIsTold,
		"ConcurrentApplies":          testConcurrentApplies,
		"AuditWithDirectChanges":     testAuditWithDirectChanges,
		"DueIndex":                   testDueIndex,
		"Outbox":                     testOutbox,
		"SDKKeys":                    testSDKKeys,
		"Ruleset":                    testRuleset,
		"StickyAssignments":          testStickyAssignments,
		"SDKKeyRotation":             testSDKKeyRotation,
	}
}

func auditEntry(id string, action domain.AuditAction, at time.Time) domain.AuditEntry {
	return domain.AuditEntry{ID: id, At: at, Actor: "member:m1", Action: action, Channel: "api", Project: "p", Flag: "f"}
}

func testSettings(t *testing.T, s domain.Store) {
	ctx := context.Background()
	o, err := s.GetOrgSettings(ctx)
	must(t, err)
	if o.Approvals || o.Version != 0 {
		t.Fatalf("default org settings: %+v", o)
	}
	o, err = s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
		o.Approvals = true
		a.Record(auditEntry("a1", "settings.updated", t0))
		return nil
	})
	must(t, err)
	if !o.Approvals || o.Version != 1 {
		t.Fatalf("org settings after update: %+v", o)
	}
	_, err = s.GetApprovalSettings(ctx, "p", "production")
	wantCode(t, err, domain.CodeNotFound)
	newProject(t, s, "p")
	a, err := s.GetApprovalSettings(ctx, "p", "production")
	must(t, err)
	if a.Version != 0 || a.Required != domain.RequiredAll || a.MinApprovals != 1 {
		t.Fatalf("default settings of a protected environment: %+v", a)
	}
	a, err = s.GetApprovalSettings(ctx, "p", "staging")
	must(t, err)
	if a.Required != domain.RequiredOff {
		t.Fatalf("default settings of an unprotected environment: %+v", a)
	}
	a, err = s.UpdateApprovalSettings(ctx, "p", "staging", func(a *domain.ApprovalSettings, au *domain.Audit) error {
		a.Required, a.MinApprovals = domain.RequiredTags, 3
		a.Tags = []string{"checkout"}
		au.Record(auditEntry("a2", "approval_settings.updated", t0.Add(time.Second)))
		return nil
	})
	must(t, err)
	if a.Version != 1 || a.MinApprovals != 3 {
		t.Fatalf("after update: %+v", a)
	}
	a, err = s.GetApprovalSettings(ctx, "p", "staging")
	must(t, err)
	if a.Version != 1 || a.Required != domain.RequiredTags || a.Tags[0] != "checkout" {
		t.Fatalf("read back: %+v", a)
	}
	_, err = s.UpdateApprovalSettings(ctx, "p", "nope", func(*domain.ApprovalSettings, *domain.Audit) error { return nil })
	wantCode(t, err, domain.CodeNotFound)
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	if len(entries) != 2 || entries[0].ID != "a2" || entries[1].ID != "a1" {
		t.Fatalf("settings changes must be audited, newest first: %+v", entries)
	}
}

func newRequest(id, env string, at time.Time) *domain.ChangeRequest {
	cfg := &domain.FlagConfig{Project: "p", Flag: "f", Environment: env, Enabled: true, OffVariant: "off",
		Rules: []domain.Rule{}, DefaultRule: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}
	return &domain.ChangeRequest{
		ID: id, Project: "p", Flag: "f", Environment: env, Kind: domain.KindTargeting, Title: "t",
		Changes:   []domain.Change{{Kind: domain.KindTargeting, Flag: "f", Environment: env, ProposedConfig: cfg}},
		Requester: "member:m1", RequesterMember: "m1", NotifyReviewers: []string{"m2"}, Status: domain.StatusPending, Revision: 1,
		Policy:  domain.Policy{MinApprovals: 1, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual},
		Reviews: []domain.Review{}, Timeline: []domain.TimelineEvent{}, CreatedAt: at, UpdatedAt: at,
	}
}

var reviewer = domain.Actor{MemberID: "m2", Role: domain.RoleEditor}

func testChangeRequestLifecycle(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	cr := newRequest("cr1", "production", t0)
	must(t, s.CreateChangeRequest(ctx, cr, false, []domain.AuditEntry{auditEntry("a1", "change_request.created", t0)}))
	wantCode(t, s.CreateChangeRequest(ctx, newRequest("cr1", "production", t0), false, nil), domain.CodeConflict)

	got, err := s.GetChangeRequest(ctx, "cr1")
	must(t, err)
	if got.Version != 1 || got.Status != domain.StatusPending || got.Changes[0].ProposedConfig.DefaultRule.Rollout != 50 || got.NotifyReviewers[0] != "m2" {
		t.Fatalf("read back %+v", got)
	}
	_, err = s.GetChangeRequest(ctx, "nope")
	wantCode(t, err, domain.CodeNotFound)

	got, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, a *domain.RequestWrite) error {
		_, err := cr.Review(reviewer, domain.DecisionApprove, "lgtm", "api", t0.Add(time.Minute))
		a.Record(auditEntry("a2", "change_request.approved", t0.Add(time.Minute)))
		return err
	})
	must(t, err)
	if got.Version != 2 || got.Status != domain.StatusApproved || len(got.Reviews) != 1 || got.Reviews[0].Comment != "lgtm" {
		t.Fatalf("after review: %+v", got)
	}
	// a refused transition writes nothing
	_, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, a *domain.RequestWrite) error {
		a.Record(auditEntry("a3", "never", t0))
		_, err := cr.Review(reviewer, domain.DecisionApprove, "again", "api", t0.Add(2*time.Minute))
		return err
	})
	wantCode(t, err, domain.CodeConflict)
	got, err = s.GetChangeRequest(ctx, "cr1")
	must(t, err)
	if got.Version != 2 || len(got.Timeline) != 1 {
		t.Fatalf("a refused update must change nothing: %+v", got)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	if len(entries) != 2 {
		t.Fatalf("want the two audit entries that were committed, got %+v", entries)
	}
}

func testChangeRequestList(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	for i := range 7 {
		env := "production"
		if i%2 == 1 {
			env = "staging"
		}
		must(t, s.CreateChangeRequest(ctx, newRequest(fmt.Sprintf("cr%d", i), env, t0.Add(time.Duration(i)*time.Minute)), false, nil))
	}
	_, err := s.UpdateChangeRequest(ctx, "cr4", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.Withdraw(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, t0.Add(time.Hour)))
	})
	must(t, err)

	collect := func(f domain.CRFilter, limit int) []string {
		var ids []string
		cursor := ""
		for range 20 {
			crs, next, err := s.ListChangeRequests(ctx, f, domain.Page{Limit: limit, Cursor: cursor})
			must(t, err)
			for _, cr := range crs {
				ids = append(ids, cr.ID)
			}
			if next == "" {
				return ids
			}
			cursor = next
		}
		t.Fatal("pagination does not end")
		return nil
	}
	if got := fmt.Sprint(collect(domain.CRFilter{}, 3)); got != "[cr6 cr5 cr4 cr3 cr2 cr1 cr0]" {
		t.Fatalf("all, newest first: %s", got)
	}
	if got := fmt.Sprint(collect(domain.CRFilter{Environment: "production", Status: domain.StatusPending}, 1)); got != "[cr6 cr2 cr0]" {
		t.Fatalf("pending in production: %s", got)
	}
	if got := fmt.Sprint(collect(domain.CRFilter{Reviewer: "m2", Flag: "f", Project: "p", Requester: "m1"}, 50)); got != "[cr6 cr5 cr4 cr3 cr2 cr1 cr0]" {
		t.Fatalf("by reviewer and requester: %s", got)
	}
	if got := collect(domain.CRFilter{Reviewer: "m9"}, 50); len(got) != 0 {
		t.Fatalf("nobody asked m9: %v", got)
	}
	// a request of several changes is found by any of them
	must(t, s.CreateFlag(ctx, newFlag("g"), nil))
	multi := newRequest("cr7", "production", t0.Add(7*time.Minute))
	second := multi.Changes[0]
	second.Flag, second.Environment = "g", "development"
	multi.Changes = append(multi.Changes, second)
	must(t, s.CreateChangeRequest(ctx, multi, false, nil))
	for _, f := range []domain.CRFilter{{Flag: "g"}, {Environment: "development"}, {Flag: "g", Environment: "development"}} {
		if got := fmt.Sprint(collect(f, 50)); got != "[cr7]" {
			t.Fatalf("%+v: by its second change: %s", f, got)
		}
	}
	if got := collect(domain.CRFilter{Flag: "g", Environment: "production"}, 50); len(got) != 0 {
		t.Fatalf("g in production is no change of any request: %v", got)
	}
	if got := fmt.Sprint(collect(domain.CRFilter{Flag: "f", Environment: "production"}, 3)); got != "[cr7 cr6 cr4 cr2 cr0]" {
		t.Fatalf("f in production, by the first change: %s", got)
	}
}

func testPendingLock(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateChangeRequest(ctx, newRequest("cr1", "production", t0), true, nil))
	holder, err := s.PendingLock(ctx, "p", "f", "production")
	must(t, err)
	if holder != "cr1" {
		t.Fatalf("lock holder: %q", holder)
	}
	// another request in the same place is refused; elsewhere it is fine
	wantCode(t, s.CreateChangeRequest(ctx, newRequest("cr2", "production", t0), false, nil), domain.CodeConflict)
	must(t, s.CreateChangeRequest(ctx, newRequest("cr3", "staging", t0), true, nil))
	// config writers learn who holds the lock
	var seen string
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, _ *domain.FlagConfig, w *domain.ConfigWrite) error {
		seen = w.LockedBy
		return nil
	})
	must(t, err)
	if seen != "cr1" {
		t.Fatalf("UpdateFlagConfig should see the lock holder, saw %q", seen)
	}
	// a final state does not release it by itself: the write says so
	_, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.Withdraw(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, t0))
	})
	must(t, err)
	if holder, _ := s.PendingLock(ctx, "p", "f", "production"); holder != "cr1" {
		t.Fatalf("a write not told to release the lock released it: holder %q", holder)
	}
	// a request that does not hold the lock does not release another's
	_, err = s.UpdateChangeRequest(ctx, "cr3", func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		w.ReleaseLocks = append(cr.LockTargets(), domain.Target{Kind: domain.KindTargeting, Flag: "f", Environment: "production"})
		return nil
	})
	must(t, err)
	if holder, _ := s.PendingLock(ctx, "p", "f", "production"); holder != "cr1" {
		t.Fatalf("cr3 released cr1's lock: holder %q", holder)
	}
	if holder, _ := s.PendingLock(ctx, "p", "f", "staging"); holder != "" {
		t.Fatalf("cr3's own lock: holder %q", holder)
	}
	_, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		w.ReleaseLocks = cr.LockTargets()
		return nil
	})
	must(t, err)
	holder, err = s.PendingLock(ctx, "p", "f", "production")
	must(t, err)
	if holder != "" {
		t.Fatalf("lock not released: %q", holder)
	}
	must(t, s.CreateChangeRequest(ctx, newRequest("cr2", "production", t0), false, nil))
}

// applyFn applies a targeting request as the service does: the proposal
// into the config it was given, named in the write with the lock's release.
func applyFn(a domain.Actor, applied *int) func(*domain.ChangeRequest, *domain.Live, *domain.ApplyWrite) error {
	return func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
		if cr.Status == domain.StatusApplied {
			return nil
		}
		ch := &cr.Changes[0]
		c := l.Configs[ch.Target()]
		if err := cr.CheckApply(a, t0); err != nil {
			return err
		}
		if err := ch.CheckBase(c.Version); err != nil {
			return err
		}
		next := *ch.ProposedConfig
		next.Version = c.Version
		*c = next
		if applied != nil {
			*applied++
		}
		w.Record(auditEntry("apply-"+cr.ID+fmt.Sprint(c.Version), "change_request.applied", t0))
		w.Applied, w.ReleaseLocks, w.Configs = true, cr.LockTargets(), []*domain.FlagConfig{c}
		return only(cr.MarkApplied(a, c.Version+1, "api", t0))
	}
}

func approve(t *testing.T, s domain.Store, id string) {
	t.Helper()
	_, err := s.UpdateChangeRequest(context.Background(), id, func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		_, err := cr.Review(reviewer, domain.DecisionApprove, "ok", "api", t0)
		return err
	})
	must(t, err)
}

func testApplyIsAtomic(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateChangeRequest(ctx, newRequest("cr1", "production", t0), true, nil))
	applier := domain.Actor{MemberID: "m3", Role: domain.RoleEditor}

	// not approved: refused, nothing written
	_, err := s.ApplyChangeRequest(ctx, "cr1", applyFn(applier, nil))
	wantCode(t, err, domain.CodeConflict)
	approve(t, s, "cr1")
	cr, err := s.ApplyChangeRequest(ctx, "cr1", applyFn(applier, nil))
	must(t, err)
	if cr.Status != domain.StatusApplied || cr.AppliedVersion != 1 || cr.AppliedBy != "member:m3" {
		t.Fatalf("applied request: %+v", cr)
	}
	_, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if c.Version != 1 || !c.Enabled || c.DefaultRule.Rollout != 50 {
		t.Fatalf("live config after apply: %+v", c)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Flag: "f"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].Action != "change_request.applied" {
		t.Fatalf("apply must write its audit entry: %+v", entries)
	}
	if holder, _ := s.PendingLock(ctx, "p", "f", "production"); holder != "" {
		t.Fatalf("apply must release the lock, holder %q", holder)
	}
	// a retry answers the same and writes nothing
	again, err := s.ApplyChangeRequest(ctx, "cr1", applyFn(applier, nil))
	must(t, err)
	_, c, _ = s.GetFlagConfig(ctx, "p", "f", "production")
	entries, _, _ = s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	if again.Version != cr.Version || c.Version != 1 || len(entries) != 1 {
		t.Fatalf("a retried apply must change nothing: request v%d→v%d, config v%d, %d audit entries", cr.Version, again.Version, c.Version, len(entries))
	}

	// a request made against an older base does not apply, and writes nothing
	must(t, s.CreateChangeRequest(ctx, newRequest("cr2", "production", t0), false, nil))
	approve(t, s, "cr2")
	_, err = s.ApplyChangeRequest(ctx, "cr2", applyFn(applier, nil))
	wantCode(t, err, domain.CodeConflict)
	got, _ := s.GetChangeRequest(ctx, "cr2")
	_, c, _ = s.GetFlagConfig(ctx, "p", "f", "production")
	if got.Status != domain.StatusApproved || c.Version != 1 {
		t.Fatalf("a conflicting apply must write nothing: request %s, config v%d", got.Status, c.Version)
	}
}

// An apply writes what its function names in the write (domain.ApplyWrite)
// and nothing the store would infer: not from the request's status (marked
// applied, but not Applied: nothing written), not from its kind (a targeting
// request whose function names the flag writes the flag), not a lock
// release it was not told. Live state named at a version other than the
// stored one fails with contention; write sets a store cannot write are
// refused. Refusals write nothing.
func testApplyWritesWhatItIsTold(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	// cr1 changes f's targeting in production and f itself
	cr1 := newRequest("cr1", "production", t0)
	cr1.Changes = append(cr1.Changes, domain.Change{Kind: domain.KindFlag, Flag: "f", ProposedFlag: newFlag("f")})
	must(t, s.CreateChangeRequest(ctx, cr1, true, nil))
	target := cr1.Changes[0].Target()
	approve(t, s, "cr1")
	applier := domain.Actor{MemberID: "m3", Role: domain.RoleEditor}
	state := func() string {
		t.Helper()
		cr, err := s.GetChangeRequest(ctx, "cr1")
		must(t, err)
		f, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
		must(t, err)
		rs, err := s.RulesetVersion(ctx, "p")
		must(t, err)
		entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
		must(t, err)
		lock, err := s.PendingLock(ctx, "p", "f", "production")
		must(t, err)
		return fmt.Sprintf("request %s v%d, flag %q v%d, config v%d, ruleset v%d, %d audit entries, lock %q",
			cr.Status, cr.Version, f.Name, f.Version, c.Version, rs, len(entries), lock)
	}
	before := state()
	wantUnchanged := func(what string) {
		t.Helper()
		if got := state(); got != before {
			t.Fatalf("%s wrote: before %s; after %s", what, before, got)
		}
	}
	// proposal is cr1's proposal put into c (as read), marked applied.
	proposal := func(cr *domain.ChangeRequest, c *domain.FlagConfig) error {
		next := *cr.Changes[0].ProposedConfig
		next.Version = c.Version
		*c = next
		return only(cr.MarkApplied(applier, c.Version+1, "api", t0))
	}

	// Marked applied, live state and audit named, but not Applied.
	_, err := s.ApplyChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
		c := l.Configs[target]
		w.Configs, w.ReleaseLocks = []*domain.FlagConfig{c}, cr.LockTargets()
		w.Record(auditEntry("never-1", "change_request.applied", t0))
		return proposal(cr, c)
	})
	must(t, err)
	wantUnchanged("an apply not marked Applied")

	// Write sets a store cannot write.
	for _, c := range []struct {
		what string
		set  func(f *domain.Flag, c *domain.FlagConfig, w *domain.ApplyWrite)
	}{
		{"Applied with no live state", func(*domain.Flag, *domain.FlagConfig, *domain.ApplyWrite) {}},
		{"the config of another environment", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ApplyWrite) {
			other := *c
			other.Environment = "staging"
			w.Configs = []*domain.FlagConfig{&other}
		}},
		{"another flag", func(f *domain.Flag, _ *domain.FlagConfig, w *domain.ApplyWrite) {
			other := *f
			other.Key = "g"
			w.Flags = []*domain.Flag{&other}
		}},
		{"the config twice", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ApplyWrite) {
			w.Configs = []*domain.FlagConfig{c, c}
		}},
	} {
		_, err := s.ApplyChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
			f, cfg := l.Flags["f"], l.Configs[target]
			w.Applied, w.ReleaseLocks = true, cr.LockTargets()
			w.Record(auditEntry("never-2", "change_request.applied", t0))
			c.set(f, cfg, w)
			return proposal(cr, cfg)
		})
		if err == nil || domain.ErrorCode(err) != domain.CodeInternal {
			t.Fatalf("an apply naming %s: want an internal error, got %v", c.what, err)
		}
		wantUnchanged("an apply naming " + c.what)
	}

	// Live state named at its version before a concurrent write: the flag,
	// then the config.
	stale, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	_, err = s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
		f.Name = "concurrent"
		return nil
	})
	must(t, err)
	before = state()
	_, err = s.ApplyChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, _ *domain.Live, w *domain.ApplyWrite) error {
		next := *stale
		next.Name = "from the apply"
		w.Flags, w.Applied, w.ReleaseLocks = []*domain.Flag{&next}, true, cr.LockTargets()
		w.Record(auditEntry("never-3", "change_request.applied", t0))
		return only(cr.MarkApplied(applier, next.Version+1, "api", t0))
	})
	if !errors.Is(err, domain.ErrContention) {
		t.Fatalf("an apply naming the flag at a version since moved on: want contention, got %v", err)
	}
	wantUnchanged("an apply naming a stale flag")
	_, staleConfig, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		return nil
	})
	must(t, err)
	before = state()
	_, err = s.ApplyChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, _ *domain.Live, w *domain.ApplyWrite) error {
		w.Configs, w.Applied, w.ReleaseLocks = []*domain.FlagConfig{staleConfig}, true, cr.LockTargets()
		w.Record(auditEntry("never-4", "change_request.applied", t0))
		return proposal(cr, staleConfig)
	})
	if !errors.Is(err, domain.ErrContention) {
		t.Fatalf("an apply naming the config at a version since moved on: want contention, got %v", err)
	}
	wantUnchanged("an apply naming a stale config")

	// A function that names only the flag of a request that also changes
	// targeting: the flag is written (version + 1, the ruleset version with
	// it), the config is not; the lock stays, since the write did not say
	// to release it.
	cr, err := s.ApplyChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
		f := l.Flags["f"]
		f.Name = "renamed by cr1"
		w.Flags, w.Applied = []*domain.Flag{f}, true
		w.Record(auditEntry("apply-cr1", "change_request.applied", t0))
		return only(cr.MarkApplied(applier, f.Version+1, "api", t0))
	})
	must(t, err)
	want := "request applied v3, flag \"renamed by cr1\" v3, config v1, ruleset v4, 1 audit entries, lock \"cr1\""
	if got := state(); got != want {
		t.Fatalf("after the apply naming the flag:\n got %s\nwant %s", got, want)
	}
	if cr.Version != 3 || cr.AppliedVersion != 3 {
		t.Fatalf("the apply's answer: %+v", cr)
	}
	for _, id := range []string{"never-1", "never-2", "never-3", "never-4"} {
		if _, err := s.GetOutbox(ctx, id); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("outbox item %s of an apply that wrote nothing: want not_found, got %v", id, err)
		}
	}
	_, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		w.ReleaseLocks = cr.LockTargets()
		return nil
	})
	must(t, err)
	if holder, _ := s.PendingLock(ctx, "p", "f", "production"); holder != "" {
		t.Fatalf("a write told to release the lock left it with %q", holder)
	}
}

func testConcurrentApplies(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateChangeRequest(ctx, newRequest("cr1", "production", t0), false, nil))
	approve(t, s, "cr1")
	const n = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			count := 0
			_, err := s.ApplyChangeRequest(ctx, "cr1", applyFn(domain.Actor{MemberID: "m3", Role: domain.RoleEditor}, &count))
			errs <- err
			mu.Lock()
			applied += count // counts attempts, committed or not
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	_, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	if c.Version != 1 || len(entries) != 1 {
		t.Fatalf("ten applies must apply once: config v%d, %d audit entries (%d attempts ran the apply function)", c.Version, len(entries), applied)
	}
}

func testAuditWithDirectChanges(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), []domain.AuditEntry{auditEntry("a1", "flag.created", t0)}))
	_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, a *domain.Audit) error {
		f.Name = "x"
		a.Record(auditEntry("a2", "flag.updated", t0.Add(time.Second)))
		return nil
	})
	must(t, err)
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		c.Enabled = true
		e := auditEntry("a3", "targeting.updated", t0.Add(2*time.Second))
		e.Environment = "production"
		e.Actor = "member:m9"
		w.Record(e)
		return nil
	})
	must(t, err)
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "staging", func(_ *domain.Flag, _ *domain.FlagConfig, w *domain.ConfigWrite) error {
		w.Record(auditEntry("never", "x", t0))
		return domain.Errorf(domain.CodeInvalid, "no")
	})
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, a *domain.Audit) error {
		f.Archived = true
		return nil
	})
	must(t, err)
	must(t, s.DeleteFlag(ctx, "p", "f", func(_ *domain.Flag, a *domain.Audit) error {
		a.Record(auditEntry("a4", "flag.deleted", t0.Add(3*time.Second)))
		return nil
	}))

	var ids []string
	cursor := ""
	for range 10 {
		entries, next, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{Limit: 3, Cursor: cursor})
		must(t, err)
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(ids) != "[a4 a3 a2 a1]" {
		t.Fatalf("audit log, newest first: %v", ids)
	}
	from, to := t0.Add(time.Second), t0.Add(3*time.Second)
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{From: &from, To: &to}, domain.Page{})
	must(t, err)
	if len(entries) != 2 || entries[0].ID != "a3" {
		t.Fatalf("from/to: %+v", entries)
	}
	entries, _, err = s.ListAudit(ctx, domain.AuditFilter{Actor: "member:m9", Environment: "production"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].ID != "a3" {
		t.Fatalf("by actor: %+v", entries)
	}
}

// The due index follows every write of a request: only requests a timer
// concerns are in it, at their next due time.
func testDueIndex(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	at := func(h int) *time.Time { x := t0.Add(time.Duration(h) * time.Hour); return &x }

	noTimer := newRequest("cr-none", "production", t0)
	must(t, s.CreateChangeRequest(ctx, noTimer, false, nil))
	auto := newRequest("cr-auto", "production", t0)
	auto.AutoApproveAt, auto.ExpiresAt = at(48), at(72)
	must(t, s.CreateChangeRequest(ctx, auto, false, nil))
	exp := newRequest("cr-exp", "staging", t0)
	exp.ExpiresAt = at(24)
	must(t, s.CreateChangeRequest(ctx, exp, false, nil))

	ids := func(before time.Time, limit int) string {
		due, err := s.ListDue(ctx, before, limit)
		must(t, err)
		out := []string{}
		for _, d := range due {
			out = append(out, fmt.Sprintf("%s@%d", d.ID, int(d.Due.Sub(t0).Hours())))
		}
		return fmt.Sprint(out)
	}
	if got := ids(*at(100), 10); got != "[cr-exp@24 cr-auto@48]" {
		t.Fatalf("due index: %s", got)
	}
	if got := ids(*at(24), 10); got != "[cr-exp@24]" {
		t.Fatalf("due at or before 24h: %s", got)
	}
	if got := ids(*at(100), 1); got != "[cr-exp@24]" {
		t.Fatalf("limit: %s", got)
	}
	// a rejection stops auto-approval: the next due time becomes the expiry
	_, err := s.UpdateChangeRequest(ctx, "cr-auto", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		cr.Policy.MinApprovals = 2
		_, err := cr.Review(reviewer, domain.DecisionReject, "no", "api", t0)
		return err
	})
	must(t, err)
	if got := ids(*at(100), 10); got != "[cr-exp@24 cr-auto@72]" {
		t.Fatalf("after a rejection: %s", got)
	}
	// a final state leaves the index
	_, err = s.UpdateChangeRequest(ctx, "cr-exp", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.Withdraw(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, t0))
	})
	must(t, err)
	if got := ids(*at(100), 10); got != "[cr-auto@72]" {
		t.Fatalf("after withdrawal: %s", got)
	}
	// an approved request scheduled for later is due at its apply time, and
	// leaves the index when applied
	sched := newRequest("cr-sched", "development", t0)
	sched.ApplyAt = at(5)
	must(t, s.CreateChangeRequest(ctx, sched, false, nil))
	if got := ids(*at(100), 10); got != "[cr-auto@72]" {
		t.Fatalf("a pending scheduled request waits for approval, no timer: %s", got)
	}
	approve(t, s, "cr-sched")
	if got := ids(*at(100), 10); got != "[cr-sched@5 cr-auto@72]" {
		t.Fatalf("approved scheduled request: %s", got)
	}
	_, err = s.ApplyChangeRequest(ctx, "cr-sched", func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
		c := l.Configs[cr.Changes[0].Target()]
		next := *cr.Changes[0].ProposedConfig
		next.Version = c.Version
		*c = next
		w.Applied, w.Configs = true, []*domain.FlagConfig{c}
		return only(cr.MarkApplied(domain.Actor{System: "scheduler"}, c.Version+1, "system", *at(5)))
	})
	must(t, err)
	if got := ids(*at(100), 10); got != "[cr-auto@72]" {
		t.Fatalf("after the scheduled apply: %s", got)
	}
}
