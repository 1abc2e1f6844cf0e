package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Change requests with several changes (issue 15, docs/multi-change-design.md),
// through the service, on every store. Helpers: multichange_helpers_test.go.
func TestMultiChange(t *testing.T) {
	t.Run("AtomicApply", func(t *testing.T) { onEveryStore(t, mcAtomicApply) })
	t.Run("StaleTargetingBaseRefusesAll", func(t *testing.T) { onEveryStore(t, mcStaleTargeting) })
	t.Run("StaleFlagBaseRefusesAll", func(t *testing.T) { onEveryStore(t, mcStaleFlag) })
	t.Run("StrictestPolicy", func(t *testing.T) { onEveryStore(t, mcStrictestPolicy) })
	t.Run("PolicyNamesEachEnvironmentOnce", func(t *testing.T) { onEveryStore(t, mcPolicyEnvironmentsOnce) })
	t.Run("Locks", func(t *testing.T) { onEveryStore(t, mcLocks) })
	t.Run("LocksAlikeOnCreateAndEdit", func(t *testing.T) { onEveryStore(t, mcLocksCreateVsEdit) })
	t.Run("Drafts", func(t *testing.T) { onEveryStore(t, mcDrafts) })
	t.Run("Limits", func(t *testing.T) { onEveryStore(t, mcLimits) })
	t.Run("DynamoDBTransactionLimit", mcDynamoDBLimit)
}

// The release the tests below propose: three flags, each in two gated
// environments (staging and production), and checkout's bucketing salt.
var mcReleaseFlags = []string{"checkout", "payments", "search"}

// mcRelease creates payments and search beside checkout, gives every flag
// a staging config (while staging needs no approval), then gates staging.
// Production: checkout is at version 1, payments and search never written
// (version 0).
func (w *world) mcRelease() {
	w.t.Helper()
	w.mcFlags("payments", "search")
	for _, f := range mcReleaseFlags {
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.admin, "shop", f, "staging", nil, app.ChangeOptions{}, rollout(5))
		if err != nil || out.Applied == nil {
			w.t.Fatalf("seeding %s in staging: %v %+v", f, err, out)
		}
	}
	w.mcGate("staging")
}

// mcPct is the rollout the release proposes for flag i in env.
func mcPct(i int, env string) float64 {
	if env == "production" {
		return float64(25 + 10*i)
	}
	return float64(20 + 10*i)
}

// mcReleaseChanges are the release's 7 changes: 6 targeting changes, then
// checkout's new salt.
func (w *world) mcReleaseChanges() []app.ChangeInput {
	w.t.Helper()
	var out []app.ChangeInput
	for i, f := range mcReleaseFlags {
		for _, env := range []string{"staging", "production"} {
			out = append(out, w.mcTargeting(f, env, mcPct(i, env)))
		}
	}
	return append(out, w.mcSalt("checkout", "release-2"))
}

// 1. Three flags × two gated environments and a flag-level change apply
// together after approval: every config and the flag move one version, the
// audit log has one entry per change, and the ruleset version moves.
func mcAtomicApply(t *testing.T, w *world) {
	w.mcRelease()
	changes := w.mcReleaseChanges()
	base := map[domain.Target]int64{}
	for _, f := range mcReleaseFlags {
		for _, env := range []string{"staging", "production"} {
			base[domain.Target{Kind: domain.KindTargeting, Flag: f, Environment: env}] = w.mcConfig(f, env).Version
		}
	}
	salted := domain.Target{Kind: domain.KindFlag, Flag: "checkout"}
	base[salted] = w.mcFlag("checkout").Version
	if base[domain.Target{Kind: domain.KindTargeting, Flag: "payments", Environment: "production"}] != 0 ||
		base[domain.Target{Kind: domain.KindTargeting, Flag: "checkout", Environment: "production"}] != 1 {
		t.Fatalf("the setup: %v", base)
	}

	v := w.mcOpen(changes...)
	if v.Status != domain.StatusPending || len(v.Changes) != 7 || len(v.ChangeViews) != 7 {
		t.Fatalf("the request: %s with %d changes, %d views", v.Status, len(v.Changes), len(v.ChangeViews))
	}
	for i, cv := range v.ChangeViews {
		if cv.Conflict != "" || cv.Gone || cv.Diff == nil || len(cv.Diff.Summary) == 0 || cv.BaseVersion != base[cv.Target()] {
			t.Fatalf("change %d (%s): base v%d (want v%d), conflict %q, diff %+v", i, cv.Target(), cv.BaseVersion, base[cv.Target()], cv.Conflict, cv.Diff)
		}
	}
	if w.mcConfig("payments", "production").Version != 0 || w.mcFlag("checkout").BucketingSalt == "release-2" {
		t.Fatal("a pending request changed the live state")
	}
	ruleset := w.mcRuleset()

	w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ship it", app.ChannelAPI))
	got, err := w.svc.Apply(w.ctx, w.bob, v.ID)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got.Status != domain.StatusApplied || got.AppliedBy != "member:m_bob" {
		t.Fatalf("after apply: %s by %q", got.Status, got.AppliedBy)
	}

	// every config and the flag have their new values, one version on
	for i, f := range mcReleaseFlags {
		for _, env := range []string{"staging", "production"} {
			c := w.mcConfig(f, env)
			tg := domain.Target{Kind: domain.KindTargeting, Flag: f, Environment: env}
			if c.Version != base[tg]+1 || !c.Enabled || c.DefaultRule.Rollout != mcPct(i, env) {
				t.Errorf("%s: v%d enabled=%v rollout %v, want v%d rollout %v", tg, c.Version, c.Enabled, c.DefaultRule.Rollout, base[tg]+1, mcPct(i, env))
			}
		}
	}
	if f := w.mcFlag("checkout"); f.BucketingSalt != "release-2" || f.Version != base[salted]+1 {
		t.Errorf("checkout: salt %q v%d, want release-2 v%d", f.BucketingSalt, f.Version, base[salted]+1)
	}
	first := domain.Target{Kind: domain.KindTargeting, Flag: "checkout", Environment: "staging"}
	if got.AppliedVersion != base[first]+1 {
		t.Errorf("applied version %d, want the first change's new version %d", got.AppliedVersion, base[first]+1)
	}

	// the audit log: one entry per change, the first the request's applied
	// entry, the others naming the request
	var entries []domain.AuditEntry
	for _, e := range w.mcAudit(v.ID) {
		switch e.Action {
		case domain.ActionRequestApplied, domain.ActionTargetingUpdated, domain.ActionFlagUpdated:
			entries = append(entries, e)
		}
	}
	if len(entries) != 7 {
		t.Fatalf("%d apply entries, want one per change (7): %+v", len(entries), entries)
	}
	seen := map[domain.Target]bool{}
	applied := 0
	for _, e := range entries {
		var tg domain.Target
		switch e.Action {
		case domain.ActionRequestApplied:
			applied++
			tg = first
			if e.Flag != "checkout" || e.Environment != "staging" || e.Requester != "member:m_rita" || !slices.Contains(e.Approvers, "member:m_alice") {
				t.Errorf("the applied entry: %+v", e)
			}
		case domain.ActionTargetingUpdated:
			tg = domain.Target{Kind: domain.KindTargeting, Flag: e.Flag, Environment: e.Environment}
		case domain.ActionFlagUpdated:
			tg = domain.Target{Kind: domain.KindFlag, Flag: e.Flag}
		}
		if e.Action != domain.ActionRequestApplied && (tg == first || !strings.Contains(e.Reason, v.ID) || e.Actor != "member:m_bob") {
			t.Errorf("%s entry for %s: reason %q, actor %q", e.Action, tg, e.Reason, e.Actor)
		}
		if _, ok := base[tg]; !ok || seen[tg] {
			t.Errorf("%s entry for %s: no such change, or twice", e.Action, tg)
		}
		seen[tg] = true
		if e.Version != base[tg]+1 || e.Diff == nil {
			t.Errorf("%s entry for %s: version %d (want %d), diff %v", e.Action, tg, e.Version, base[tg]+1, e.Diff)
		}
	}
	if applied != 1 || len(seen) != 7 {
		t.Errorf("%d applied entries, %d changes covered", applied, len(seen))
	}
	if after := w.mcRuleset(); after == ruleset {
		t.Errorf("the ruleset version did not move (%d)", after)
	}
	for _, cv := range w.mcGet(v.ID).ChangeViews {
		if cv.Conflict != "" || cv.Gone {
			t.Errorf("after apply %s shows conflict %q gone=%v", cv.Target(), cv.Conflict, cv.Gone)
		}
	}
}

// mcRefused checks a refused apply of v left everything as it was (snap,
// ruleset) and that its view shows the conflict on stale alone.
func mcRefused(t *testing.T, w *world, v *app.RequestView, snap mcState, ruleset int64, stale domain.Target, err error) {
	t.Helper()
	de := mcErr(t, err, domain.CodeConflict)
	want := stale.String() + " changed since this request was made"
	mcContains(t, err, want)
	for _, other := range targetsOf(v) {
		if other != stale && strings.Contains(de.Message, other.String()+" changed") {
			t.Errorf("the refusal names %s too: %s", other, de.Message)
		}
	}
	if after := w.mcSnapshot(targetsOf(v)); !mapsEqual(after, snap) {
		t.Errorf("a refused apply wrote:\nbefore %v\nafter  %v", snap, after)
	}
	if after := w.mcRuleset(); after != ruleset {
		t.Errorf("a refused apply moved the ruleset version %d → %d", ruleset, after)
	}
	got := w.mcGet(v.ID)
	if got.Status != domain.StatusApproved || got.Revision != v.Revision || got.AppliedAt != nil || got.Applicable {
		t.Errorf("the request after the refusal: %s rev %d applied_at %v applicable %v", got.Status, got.Revision, got.AppliedAt, got.Applicable)
	}
	for i, c := range got.Changes {
		if c.BaseVersion != v.Changes[i].BaseVersion || c.Target() != v.Changes[i].Target() {
			t.Errorf("change %d moved: %s v%d → %s v%d", i, v.Changes[i].Target(), v.Changes[i].BaseVersion, c.Target(), c.BaseVersion)
		}
	}
	for _, cv := range got.ChangeViews {
		switch {
		case cv.Target() == stale && !strings.Contains(cv.Conflict, want):
			t.Errorf("the stale change %s shows conflict %q", stale, cv.Conflict)
		case cv.Target() != stale && cv.Conflict != "":
			t.Errorf("the fresh change %s shows conflict %q", cv.Target(), cv.Conflict)
		}
	}
	for _, e := range w.mcAudit(v.ID) {
		if e.Action == domain.ActionRequestApplied || e.Action == domain.ActionTargetingUpdated || e.Action == domain.ActionFlagUpdated {
			t.Errorf("a refused apply audited %s for %s/%s", e.Action, e.Flag, e.Environment)
		}
	}
}

func mapsEqual(a, b mcState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// 2. The release, approved, where one change's base moved on (a bypass
// writes payments in production, a config never written before): apply
// refuses with a conflict naming that change, writes nothing, and the
// view shows the conflict on that change alone.
func mcStaleTargeting(t *testing.T, w *world) {
	w.mcRelease()
	w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
	v := w.mcOpen(w.mcReleaseChanges()...)
	w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "payments", "production", nil, app.ChangeOptions{BypassReason: "incident"}, rollout(1))
	if err != nil || out.Applied == nil || out.Applied.Version != 1 {
		t.Fatalf("the bypass: %v %+v", err, out)
	}
	v = w.mcGet(v.ID)
	snap, ruleset := w.mcSnapshot(targetsOf(v)), w.mcRuleset()
	_, err = w.svc.Apply(w.ctx, w.bob, v.ID)
	mcRefused(t, w, v, snap, ruleset, domain.Target{Kind: domain.KindTargeting, Flag: "payments", Environment: "production"}, err)
}

// 2b. The same when the base that moved is the flag-level change's: a
// label-only write of checkout (no approval needed) moves its version.
func mcStaleFlag(t *testing.T, w *world) {
	w.mcRelease()
	v := w.mcOpen(w.mcReleaseChanges()...)
	w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
	out, err := w.svc.ChangeFlag(w.ctx, w.bob, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
		f.Description = "a label"
		return nil
	})
	if err != nil || out.Applied == nil {
		t.Fatalf("a label-only write applies directly: %v %+v", err, out)
	}
	v = w.mcGet(v.ID)
	snap, ruleset := w.mcSnapshot(targetsOf(v)), w.mcRuleset()
	_, err = w.svc.Apply(w.ctx, w.bob, v.ID)
	mcRefused(t, w, v, snap, ruleset, domain.Target{Kind: domain.KindFlag, Flag: "checkout"}, err)
}

// mcPolicies: staging lenient (1 approval, self-approval, rejections do
// not block, auto-approval after 24h), production strict (2 approvals,
// rejections block, expiry after 72h).
func (w *world) mcPolicies() {
	w.t.Helper()
	w.mcFlags("payments")
	w.mcSettings("staging", func(a *domain.ApprovalSettings) {
		a.Required, a.MinApprovals, a.AllowSelfApproval, a.RejectionBlocksApply = domain.RequiredAll, 1, true, false
		a.AutoApproveAfter = domain.AutoApprove24h
	})
	w.settings(func(a *domain.ApprovalSettings) {
		a.MinApprovals, a.RejectionBlocksApply, a.ExpireAfter = 2, true, "72h"
	})
}

// 3. The policy is the strictest of the changes' environments.
func mcStrictestPolicy(t *testing.T, w *world) {
	w.mcPolicies()
	// staging alone: its own policy
	lenient := w.mcOpen(w.mcTargeting("checkout", "staging", 30), w.mcTargeting("payments", "staging", 30))
	if p := lenient.Policy; p.MinApprovals != 1 || !p.AllowSelfApproval || p.RejectionBlocksApply || p.AutoApproveAfter != domain.AutoApprove24h ||
		!sameSet(p.Environments, []string{"staging"}) {
		t.Fatalf("a staging-only request: %+v", p)
	}

	v := w.mcOpen(w.mcTargeting("checkout", "staging", 30), w.mcTargeting("checkout", "production", 30),
		w.mcTargeting("payments", "staging", 30), w.mcTargeting("payments", "production", 30))
	p := v.Policy
	if p.MinApprovals != 2 || p.AllowSelfApproval || !p.RejectionBlocksApply || p.AutoApproveAfter != domain.AutoApproveNever || p.ExpireAfter != "72h" {
		t.Fatalf("the strictest policy: %+v", p)
	}
	if !sameSet(p.Environments, []string{"staging", "production"}) {
		t.Fatalf("policy environments %v, want staging and production", p.Environments)
	}
	if v.ExpiresAt == nil || !v.ExpiresAt.Equal(t0.Add(72*time.Hour)) || v.AutoApproveAt != nil {
		t.Fatalf("timers: expires %v, auto-approves %v", v.ExpiresAt, v.AutoApproveAt)
	}
	// it holds: no self-approval, one approval is not enough, a rejection blocks
	_, err := w.svc.Review(w.ctx, w.requester, v.ID, domain.DecisionApprove, "mine", app.ChannelAPI)
	mcErr(t, err, domain.CodeForbidden)
	got, err := w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "one", app.ChannelAPI)
	if err != nil || got.Status != domain.StatusPending || got.Approvals != 1 {
		t.Fatalf("after one approval of two: %v %+v", err, got)
	}
	if got, err = w.svc.Review(w.ctx, w.bob, v.ID, domain.DecisionApprove, "two", app.ChannelAPI); err != nil || got.Status != domain.StatusApproved {
		t.Fatalf("after two approvals: %v %+v", err, got)
	}
	w.must(w.svc.Review(w.ctx, w.carol, v.ID, domain.DecisionReject, "not yet", app.ChannelAPI))
	_, err = w.svc.Apply(w.ctx, w.bob, v.ID)
	mcErr(t, err, domain.CodeConflict)
	if c := w.mcConfig("checkout", "staging"); c.DefaultRule.Rollout == 30 {
		t.Fatal("a blocked request applied")
	}

	// an edit that reaches production tightens the staging-only request
	edited, err := w.svc.EditRequest(w.ctx, w.requester, lenient.ID, nil, app.EditInput{Changes: []app.ChangeInput{
		w.mcTargeting("checkout", "staging", 30), w.mcTargeting("payments", "production", 35),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p := edited.Policy; p.MinApprovals != 2 || p.AllowSelfApproval || !p.RejectionBlocksApply || !sameSet(p.Environments, []string{"staging", "production"}) {
		t.Fatalf("the edit into production: %+v", p)
	}
}

// The policy names each environment once, however many changes land there
// (3 flags in each of staging and production).
func mcPolicyEnvironmentsOnce(t *testing.T, w *world) {
	w.mcRelease()
	v := w.mcOpen(w.mcReleaseChanges()[:6]...)
	if len(v.Policy.Environments) != 2 || !sameSet(v.Policy.Environments, []string{"staging", "production"}) {
		t.Errorf("policy environments %v, want staging and production once each", v.Policy.Environments)
	}
}

func sameSet(got, want []string) bool {
	for _, g := range got {
		if !slices.Contains(want, g) {
			return false
		}
	}
	for _, x := range want {
		if !slices.Contains(got, x) {
			return false
		}
	}
	return true
}

// 4. With lock_while_pending, a request takes the lock of every targeting
// change; a write of any of them is refused naming the request; an edit,
// withdrawal and apply release them.
func mcLocks(t *testing.T, w *world) {
	w.mcFlags("payments", "search")
	w.settings(func(a *domain.ApprovalSettings) { a.LockWhilePending = true })
	v := w.mcOpen(w.mcTargeting("checkout", "production", 50), w.mcTargeting("payments", "production", 50))
	for _, f := range []string{"checkout", "payments"} {
		if got := w.mcLock(f, "production"); got != v.ID {
			t.Fatalf("lock of %s in production: %q, want %s", f, got, v.ID)
		}
	}
	if got := w.mcLock("search", "production"); got != "" {
		t.Fatalf("search is not in the request, but locked by %q", got)
	}
	// a write of either flag is refused, naming the request
	for _, f := range []string{"checkout", "payments"} {
		_, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", f, "production", nil, app.ChangeOptions{}, rollout(70))
		mcErr(t, err, domain.CodeConflict)
		mcContains(t, err, v.ID)
	}
	// so is another request naming one of them, which takes no lock
	_, err := w.svc.CreateRequest(w.ctx, w.alice, app.RequestInput{Project: "shop", Changes: []app.ChangeInput{
		w.mcTargeting("search", "production", 70), w.mcTargeting("payments", "production", 70),
	}})
	mcErr(t, err, domain.CodeConflict)
	mcContains(t, err, v.ID)
	if got := w.mcLock("search", "production"); got != "" {
		t.Fatalf("a refused request took a lock: %q", got)
	}
	// a service token that bypasses approval writes directly, but not past the lock
	w.settings(func(a *domain.ApprovalSettings) { a.APITokenBypass = true })
	_, err = w.svc.ChangeFlagConfig(w.ctx, w.service, "shop", "payments", "production", nil, app.ChangeOptions{}, rollout(70))
	mcErr(t, err, domain.CodeConflict)
	mcContains(t, err, v.ID)

	// withdrawal releases every lock
	w.must(w.svc.Withdraw(w.ctx, w.requester, v.ID))
	for _, f := range []string{"checkout", "payments"} {
		if got := w.mcLock(f, "production"); got != "" {
			t.Fatalf("after withdrawal %s is locked by %q", f, got)
		}
	}

	// three flags; removing one change (an edit) releases its lock alone
	v = w.mcOpen(w.mcTargeting("checkout", "production", 50), w.mcTargeting("payments", "production", 50), w.mcTargeting("search", "production", 50))
	for _, f := range []string{"checkout", "payments", "search"} {
		if got := w.mcLock(f, "production"); got != v.ID {
			t.Fatalf("lock of %s: %q, want %s", f, got, v.ID)
		}
	}
	v, err = w.svc.RemoveChange(w.ctx, w.requester, v.ID, 2)
	if err != nil || len(v.Changes) != 2 || v.Revision != 2 {
		t.Fatalf("removing search: %v %+v", err, v)
	}
	if got := w.mcLock("search", "production"); got != "" {
		t.Fatalf("search, removed from the request, is still locked by %q", got)
	}
	if w.mcLock("checkout", "production") != v.ID || w.mcLock("payments", "production") != v.ID {
		t.Fatal("the edit released the locks of changes it kept")
	}
	// apply releases the rest
	w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
	w.must(w.svc.Apply(w.ctx, w.bob, v.ID))
	for _, f := range []string{"checkout", "payments", "search"} {
		if got := w.mcLock(f, "production"); got != "" {
			t.Fatalf("after apply %s is locked by %q", f, got)
		}
	}
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "payments", "production", nil, app.ChangeOptions{}, rollout(80))
	if err != nil || out.Request == nil {
		t.Fatalf("after apply a write opens a request again: %v %+v", err, out)
	}
}

// A target reached when a request is created and the same kind of target
// reached by an edit are locked alike. lock_while_pending locks every flag
// and environment the request touches (issue 15): production has it,
// staging requires approval without it, and a request touching both holds
// both locks, whether it touched staging from the start or by an edit.
func mcLocksCreateVsEdit(t *testing.T, w *world) {
	w.mcFlags("payments")
	w.mcGate("staging")
	w.settings(func(a *domain.ApprovalSettings) { a.LockWhilePending = true })
	created := w.mcOpen(w.mcTargeting("checkout", "production", 50), w.mcTargeting("checkout", "staging", 50))
	edited := w.mcOpen(w.mcTargeting("payments", "production", 50))
	if _, err := w.svc.EditRequest(w.ctx, w.requester, edited.ID, nil, app.EditInput{Changes: []app.ChangeInput{
		w.mcTargeting("payments", "production", 50), w.mcTargeting("payments", "staging", 50),
	}}); err != nil {
		t.Fatal(err)
	}
	if w.mcLock("checkout", "production") != created.ID || w.mcLock("payments", "production") != edited.ID {
		t.Fatal("production's locks")
	}
	byCreate, byEdit := w.mcLock("checkout", "staging") == created.ID, w.mcLock("payments", "staging") == edited.ID
	if !byCreate || !byEdit {
		t.Errorf("a staging change of a request that locks is locked on create: %v, on edit: %v", byCreate, byEdit)
	}
	// what it means for others: a request for checkout in staging waits
	_, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(70))
	if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), created.ID) {
		t.Errorf("another request for checkout in staging: want 409 naming %s, got %v", created.ID, err)
	}
	// a request in staging alone takes no lock there
	w.must(w.svc.Withdraw(w.ctx, w.requester, created.ID))
	alone := w.mcOpen(w.mcTargeting("checkout", "staging", 40))
	if got := w.mcLock("checkout", "staging"); got != "" {
		t.Errorf("a staging-only request locked staging: %q (%s)", got, alone.ID)
	}
}

// 5. Drafts: invisible to reviewers and timers; the write routes with the
// draft's header add, replace and remove its changes without writing;
// Submit opens it under the policy of then; an edit after it is a new
// revision.
func mcDrafts(t *testing.T, w *world) {
	w.mcFlags("payments")
	w.settings(func(a *domain.ApprovalSettings) { a.ExpireAfter = "72h" })
	d, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Title: "next release", Draft: true})
	if err != nil || d.Status != domain.StatusDraft || len(d.Changes) != 0 || d.NextDue() != nil {
		t.Fatalf("the draft: %v %+v", err, d)
	}
	id := d.ID
	invisible := func(when string) {
		t.Helper()
		_, err := w.svc.GetRequest(w.ctx, w.alice, id)
		if domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("%s: another member reads the draft: %v", when, err)
		}
		for _, f := range []domain.CRFilter{{}, {Status: domain.StatusDraft}, {Status: domain.StatusPending}, {Project: "shop", Flag: "checkout"}, {Reviewer: "m_alice"}} {
			list, _, err := w.svc.ListRequests(w.ctx, w.alice, f, domain.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, cr := range list {
				if cr.ID == id {
					t.Fatalf("%s: another member lists the draft under %+v", when, f)
				}
				if w.svc.WaitsOn(w.alice, &cr) && cr.ID == id {
					t.Fatalf("%s: the draft waits on a reviewer", when)
				}
			}
		}
	}
	invisible("empty")
	if mine, _, err := w.svc.ListRequests(w.ctx, w.requester, domain.CRFilter{Status: domain.StatusDraft}, domain.Page{}); err != nil || len(mine) != 1 || mine[0].ID != id {
		t.Fatalf("the requester lists their draft: %v %+v", err, mine)
	}

	// a write with the header proposes into the draft; nothing goes live
	prod, staging := w.mcConfig("checkout", "production"), w.mcConfig("checkout", "staging")
	into := app.ChangeOptions{Draft: id}
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, into, rollout(60))
	if err != nil || out.Applied != nil || out.Request == nil || out.Request.ID != id || len(out.Request.Changes) != 1 {
		t.Fatalf("into the draft: %v %+v", err, out)
	}
	if c := out.Request.Changes[0]; c.ProposedConfig.DefaultRule.Rollout != 60 || c.BaseVersion != prod.Version {
		t.Fatalf("the draft's change: %+v", c)
	}
	// staging needs no approval: with the header it still goes into the draft
	if out, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "staging", nil, into, rollout(30)); err != nil || out.Applied != nil || len(out.Request.Changes) != 2 {
		t.Fatalf("staging into the draft: %v %+v", err, out)
	}
	// the same target again replaces its change
	if out, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, into, rollout(70)); err != nil || len(out.Request.Changes) != 2 {
		t.Fatalf("the same target again: %v %+v", err, out)
	}
	if c, ok := out.Request.Change(domain.Target{Kind: domain.KindTargeting, Flag: "checkout", Environment: "production"}); !ok || c.ProposedConfig.DefaultRule.Rollout != 70 {
		t.Fatalf("the replaced change: %+v", c)
	}
	w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "payments", "production", nil, into, rollout(40)))
	fout, err := w.svc.ChangeFlag(w.ctx, w.requester, "shop", "checkout", nil, into, func(f *domain.Flag) error {
		f.BucketingSalt = "next"
		return nil
	})
	if err != nil || fout.Applied != nil || fout.Request == nil || len(fout.Request.Changes) != 4 {
		t.Fatalf("a flag change into the draft: %v %+v", err, fout)
	}
	if got := w.mcConfig("checkout", "production"); got.Version != prod.Version || got.DefaultRule.Rollout != prod.DefaultRule.Rollout {
		t.Fatalf("the draft wrote production: %+v", got)
	}
	if got := w.mcConfig("checkout", "staging"); got.Version != staging.Version {
		t.Fatalf("the draft wrote staging: %+v", got)
	}
	if w.mcFlag("checkout").BucketingSalt == "next" || w.mcConfig("payments", "production").Version != 0 {
		t.Fatal("the draft wrote live state")
	}
	// another member cannot put anything into it
	_, err = w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "payments", "staging", nil, into, rollout(10))
	mcErr(t, err, domain.CodeNotFound)
	// RemoveChange removes one (checkout in staging, the second)
	v, err := w.svc.RemoveChange(w.ctx, w.requester, id, 1)
	if err != nil || len(v.Changes) != 3 || v.Status != domain.StatusDraft || v.Revision != 1 {
		t.Fatalf("removing a change: %v %+v", err, v)
	}
	if _, ok := v.Change(domain.Target{Kind: domain.KindTargeting, Flag: "checkout", Environment: "staging"}); ok {
		t.Fatal("the removed change is still there")
	}
	invisible("with changes")

	// timers do not see it, however late it gets
	w.clock.Advance(30 * 24 * time.Hour)
	if r := w.sweep(); r.Examined != 0 || len(r.Expired)+len(r.AutoApproved)+len(r.Applied) != 0 {
		t.Fatalf("a sweep touched something: %+v", r)
	}
	if got, err := w.svc.GetRequest(w.ctx, w.requester, id); err != nil || got.Status != domain.StatusDraft || got.ExpiresAt != nil {
		t.Fatalf("the draft after the sweep: %v %+v", err, got)
	}

	// the policy is fixed when it is submitted, by the settings of then
	w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
	now := w.clock.Now()
	s, err := w.svc.Submit(w.ctx, w.requester, id)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if s.Status != domain.StatusPending || s.Revision != 1 || s.Policy.MinApprovals != 2 || !slices.Contains(s.Policy.Environments, "production") ||
		s.ExpiresAt == nil || !s.ExpiresAt.Equal(now.Add(72*time.Hour)) || len(s.Changes) != 3 {
		t.Fatalf("submitted: %s rev %d policy %+v expires %v", s.Status, s.Revision, s.Policy, s.ExpiresAt)
	}
	// reviewers see it now
	if _, err := w.svc.GetRequest(w.ctx, w.alice, id); err != nil {
		t.Fatalf("a reviewer reads the submitted request: %v", err)
	}
	list, _, err := w.svc.ListRequests(w.ctx, w.alice, domain.CRFilter{Status: domain.StatusPending}, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	inbox := false
	for i := range list {
		inbox = inbox || (list[i].ID == id && w.svc.WaitsOn(w.alice, &list[i]))
	}
	if !inbox {
		t.Fatalf("the submitted request is not in the reviewer's inbox: %d pending", len(list))
	}
	// submitting twice: a conflict; an empty draft: invalid
	_, err = w.svc.Submit(w.ctx, w.requester, id)
	mcErr(t, err, domain.CodeConflict)
	empty, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Submit(w.ctx, w.requester, empty.ID)
	mcPointer(t, err, "/changes")
	if got, _ := w.svc.GetRequest(w.ctx, w.requester, empty.ID); got.Status != domain.StatusDraft {
		t.Fatalf("a refused submit changed the draft: %s", got.Status)
	}

	// an edit after submission (through the header) is a new revision that clears approvals
	if got, err := w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "one", app.ChannelAPI); err != nil || got.Approvals != 1 {
		t.Fatalf("an approval: %v %+v", err, got)
	}
	out, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, into, rollout(80))
	if err != nil || out.Request == nil {
		t.Fatalf("an edit through the header: %v", err)
	}
	if r := out.Request; r.Revision != 2 || r.Approvals != 0 || r.Status != domain.StatusPending || len(r.Changes) != 3 {
		t.Fatalf("after the edit: rev %d, %d approvals, %s, %d changes", r.Revision, r.Approvals, r.Status, len(r.Changes))
	}
	if w.mcConfig("checkout", "production").Version != prod.Version {
		t.Fatal("the edit wrote production")
	}
	// and the timers started at submission run
	w.clock.Advance(73 * time.Hour)
	if r := w.sweep(); !slices.Contains(r.Expired, id) {
		t.Fatalf("at its expiry the submitted request expires: %+v", r)
	}
}

// 6. A request holds at most 16 changes, each target once.
func mcLimits(t *testing.T, w *world) {
	var flags []string
	for i := 1; i <= 6; i++ {
		flags = append(flags, fmt.Sprintf("f%02d", i))
	}
	w.mcFlags(flags...)
	var ins []app.ChangeInput
	for _, f := range flags {
		for _, env := range []string{"development", "staging", "production"} {
			ins = append(ins, w.mcTargeting(f, env, 50))
		}
	}
	_, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Changes: ins[:17]})
	mcPointer(t, err, "/changes")
	mcContains(t, err, "at most 16 changes")
	full := w.mcOpen(ins[:16]...)
	if len(full.Changes) != 16 {
		t.Fatalf("16 changes: %d", len(full.Changes))
	}
	_, err = w.svc.EditRequest(w.ctx, w.requester, full.ID, nil, app.EditInput{Changes: ins[:17]})
	mcPointer(t, err, "/changes")

	// a draft of 16: the 17th is refused, replacing one is not
	d, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Draft: true, Changes: ins[:16]})
	if err != nil || len(d.Changes) != 16 || d.Status != domain.StatusDraft {
		t.Fatalf("a draft of 16: %v %+v", err, d)
	}
	_, err = w.svc.AddToDraft(w.ctx, w.requester, d.ID, ins[16])
	mcPointer(t, err, "/changes")
	_, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", ins[17].Flag, ins[17].Environment, nil, app.ChangeOptions{Draft: d.ID}, rollout(50))
	mcPointer(t, err, "/changes")
	again, err := w.svc.AddToDraft(w.ctx, w.requester, d.ID, w.mcTargeting(ins[0].Flag, ins[0].Environment, 99))
	if err != nil || len(again.Changes) != 16 || again.Changes[0].ProposedConfig.DefaultRule.Rollout != 99 {
		t.Fatalf("replacing a change of a full draft: %v", err)
	}

	// a target named twice
	twice := []app.ChangeInput{ins[0], ins[2], w.mcTargeting(ins[0].Flag, ins[0].Environment, 77)}
	_, err = w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Changes: twice})
	mcPointer(t, err, "/changes/2")
	_, err = w.svc.EditRequest(w.ctx, w.requester, full.ID, nil, app.EditInput{Changes: twice})
	mcPointer(t, err, "/changes/2")
	salt := w.mcSalt(flags[0], "a")
	_, err = w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Changes: []app.ChangeInput{salt, ins[0], w.mcSalt(flags[0], "b")}})
	mcPointer(t, err, "/changes/2")
	if got := w.mcGet(full.ID); got.Revision != 1 || len(got.Changes) != 16 {
		t.Fatalf("refused edits changed the request: rev %d, %d changes", got.Revision, len(got.Changes))
	}
}

// 7. On DynamoDB, the most changes a request holds apply in one
// transaction (at most 100 items): 16 targeting changes with their locks,
// as 8 flags × 2 environments and, the worst case of the item budget, as
// 16 flags each in an environment of its own (2 + 6 × 16 = 98 items).
func mcDynamoDBLimit(t *testing.T) {
	factory, ok := storeFactories["dynamodb"]
	if !ok {
		t.Skip("no DynamoDB Local (COUNTERSIGN_DYNAMODB_ENDPOINT unset)")
	}
	run := func(t *testing.T, w *world, flags, envs []string, pairs [][2]int) {
		t.Helper()
		w.mcFlags(flags...)
		for _, env := range envs {
			w.mcSettings(env, func(a *domain.ApprovalSettings) { a.Required, a.LockWhilePending = domain.RequiredAll, true })
		}
		var ins []app.ChangeInput
		for _, p := range pairs {
			ins = append(ins, w.mcTargeting(flags[p[0]], envs[p[1]], 50))
		}
		v := w.mcOpen(ins...)
		if len(v.Changes) != domain.MaxChanges {
			t.Fatalf("%d changes", len(v.Changes))
		}
		for _, in := range ins {
			if got := w.mcLock(in.Flag, in.Environment); got != v.ID {
				t.Fatalf("lock of %s in %s: %q", in.Flag, in.Environment, got)
			}
		}
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		got, err := w.svc.Apply(w.ctx, w.bob, v.ID)
		if err != nil || got.Status != domain.StatusApplied {
			t.Fatalf("applying %d changes in one transaction: %v", len(ins), err)
		}
		for _, in := range ins {
			c := w.mcConfig(in.Flag, in.Environment)
			if c.Version != 1 || c.DefaultRule.Rollout != 50 {
				t.Errorf("%s in %s: v%d rollout %v", in.Flag, in.Environment, c.Version, c.DefaultRule.Rollout)
			}
			if l := w.mcLock(in.Flag, in.Environment); l != "" {
				t.Errorf("%s in %s still locked by %q", in.Flag, in.Environment, l)
			}
		}
		n := 0
		for _, e := range w.mcAudit(v.ID) {
			if e.Action == domain.ActionRequestApplied || e.Action == domain.ActionTargetingUpdated {
				n++
			}
		}
		if n != len(ins) {
			t.Errorf("%d apply entries, want %d", n, len(ins))
		}
	}
	t.Run("8 flags x 2 environments", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, factory(t))
		var flags []string
		var pairs [][2]int
		for i := range 8 {
			flags = append(flags, fmt.Sprintf("g%02d", i))
			pairs = append(pairs, [2]int{i, 0}, [2]int{i, 1})
		}
		run(t, w, flags, []string{"staging", "production"}, pairs)
	})
	t.Run("16 flags in 16 environments", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, factory(t))
		var flags, envs []string
		var pairs [][2]int
		for i := range 16 {
			flags, envs = append(flags, fmt.Sprintf("h%02d", i)), append(envs, fmt.Sprintf("e%02d", i))
			w.must(w.svc.CreateEnvironment(w.ctx, w.admin, "shop", app.EnvironmentInput{Key: envs[i], Name: envs[i], Protected: true}))
			pairs = append(pairs, [2]int{i, i})
		}
		run(t, w, flags, envs, pairs)
	})
}
