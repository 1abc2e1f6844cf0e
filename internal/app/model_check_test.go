package app_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/countersign/countersign/internal/domain"
)

// What is checked after every step of the model test: the store agrees
// with the model, and, read from the store alone, the workflow's
// invariants hold.

// snapshot is what the store holds after a step.
type snapshot struct {
	reqs     map[string]*domain.ChangeRequest
	raw      map[string]string // each request as JSON
	listed   int               // requests the list finds
	live     *domain.FlagConfig
	audit    []domain.AuditEntry // newest first
	org      *domain.OrgSettings
	settings *domain.ApprovalSettings
	lock     string // the request holding production's pending lock
}

func (m *model) read(t *rapid.T) *snapshot {
	ctx, st := m.w.ctx, m.w.store
	s := &snapshot{reqs: map[string]*domain.ChangeRequest{}, raw: map[string]string{}}
	for _, r := range m.reqs {
		cr, err := st.GetChangeRequest(ctx, r.id)
		if err != nil {
			t.Fatalf("read %s: %v", r, err)
		}
		b, err := json.Marshal(cr)
		if err != nil {
			t.Fatal(err)
		}
		s.reqs[r.id], s.raw[r.id] = cr, string(b)
	}
	for page := (domain.Page{Limit: domain.MaxPageLimit}); ; {
		crs, next, err := st.ListChangeRequests(ctx, domain.CRFilter{Project: "shop"}, page)
		if err != nil {
			t.Fatal(err)
		}
		s.listed += len(crs)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	for page := (domain.Page{Limit: domain.MaxPageLimit}); ; {
		es, next, err := st.ListAudit(ctx, domain.AuditFilter{Project: "shop"}, page)
		if err != nil {
			t.Fatal(err)
		}
		s.audit = append(s.audit, es...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	var err error
	s.live = m.liveConfig(t)
	if s.org, err = st.GetOrgSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if s.settings, err = st.GetApprovalSettings(ctx, "shop", "production"); err != nil {
		t.Fatal(err)
	}
	if s.lock, err = st.PendingLock(ctx, "shop", "checkout", "production"); err != nil {
		t.Fatal(err)
	}
	if cr, ok := s.reqs[s.lock]; s.lock != "" && (!ok || cr.Status.Final()) {
		t.Fatalf("production's pending lock is held by %s, which is not an open request", s.lock)
	}
	return s
}

// check runs after every step (and before the first).
func (m *model) check(t *rapid.T) {
	s := m.read(t)
	if m.prev != nil {
		m.checkGrowth(t, m.prev, s)
		if m.refused {
			m.checkUnchanged(t, m.prev, s)
		}
	}
	m.checkModel(t, s)
	m.checkInvariants(t, s)
	if m.swept {
		m.checkSwept(t, s)
	}
	m.prev = s
}

// checkGrowth: versions only grow, and the audit log only gains entries.
func (m *model) checkGrowth(t *rapid.T, prev, s *snapshot) {
	for id, was := range prev.reqs {
		cr := s.reqs[id]
		switch {
		case cr.Version < was.Version, cr.Revision < was.Revision:
			t.Fatalf("request %s went back from version %d (revision %d) to %d (revision %d)", id, was.Version, was.Revision, cr.Version, cr.Revision)
		case s.raw[id] != prev.raw[id] && cr.Version == was.Version:
			t.Fatalf("request %s changed without a new version (%d):\nwas %s\nnow %s", id, cr.Version, prev.raw[id], s.raw[id])
		case was.Status.Final() && cr.Status != was.Status:
			t.Fatalf("request %s left its final state %s for %s", id, was.Status, cr.Status)
		}
	}
	if s.live.Version < prev.live.Version || s.org.Version < prev.org.Version || s.settings.Version < prev.settings.Version {
		t.Fatalf("a version went back: config %d → %d, organisation settings %d → %d, approval settings %d → %d",
			prev.live.Version, s.live.Version, prev.org.Version, s.org.Version, prev.settings.Version, s.settings.Version)
	}
	now := map[string]string{}
	for _, e := range s.audit {
		b, _ := json.Marshal(e)
		now[e.ID] = string(b)
	}
	for _, e := range prev.audit {
		b, _ := json.Marshal(e)
		if now[e.ID] != string(b) {
			t.Fatalf("audit entry %s changed or vanished: was %s, now %q", e.ID, b, now[e.ID])
		}
	}
}

// checkUnchanged: a refused call changed nothing, except that an apply
// refused because the live state moved on notes that in the request's
// timeline and the audit log (documented).
func (m *model) checkUnchanged(t *rapid.T, prev, s *snapshot) {
	for id, was := range prev.raw {
		now := s.raw[id]
		if id == m.conflictOn {
			cr, old := *s.reqs[id], prev.reqs[id]
			if len(cr.Timeline) != len(old.Timeline)+1 || cr.Timeline[len(cr.Timeline)-1].Type != "apply_conflict" {
				t.Fatalf("a refused apply (base moved) notes one apply_conflict event in %s: %+v", id, cr.Timeline[len(old.Timeline):])
			}
			cr.Timeline, cr.Version, cr.UpdatedAt = old.Timeline, old.Version, old.UpdatedAt
			b, _ := json.Marshal(&cr)
			now = string(b)
		}
		if now != was {
			t.Fatalf("a refused call changed request %s:\nwas %s\nnow %s", id, was, now)
		}
	}
	// entries written at the same instant list in no particular order:
	// the new ones are those the previous step did not see
	seen := map[string]bool{}
	for _, e := range prev.audit {
		seen[e.ID] = true
	}
	var added []domain.AuditEntry
	for _, e := range s.audit {
		if !seen[e.ID] {
			added = append(added, e)
		}
	}
	if m.conflictOn != "" {
		if len(added) != 1 || added[0].Action != "change_request.apply_conflict" || added[0].ChangeRequest != m.conflictOn {
			t.Fatalf("a refused apply (base moved) adds one apply_conflict audit entry; added %d: %+v", len(added), added)
		}
	} else if len(added) != 0 {
		t.Fatalf("a refused call added %d audit entries: %+v", len(added), added)
	}
	if s.listed != prev.listed || s.lock != prev.lock {
		t.Fatalf("a refused call changed the number of requests (%d → %d) or the pending lock (%q → %q)", prev.listed, s.listed, prev.lock, s.lock)
	}
	if !reflect.DeepEqual(s.live, prev.live) || s.org.Version != prev.org.Version || s.settings.Version != prev.settings.Version {
		t.Fatalf("a refused call changed the live config or the settings: config v%d → v%d, organisation v%d → v%d, approval settings v%d → v%d",
			prev.live.Version, s.live.Version, prev.org.Version, s.org.Version, prev.settings.Version, s.settings.Version)
	}
}

func (m *model) timeText(at *time.Time) string {
	if at == nil {
		return "none"
	}
	return m.clockText(*at)
}

func reviewers(rs []domain.Review) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Reviewer)
	}
	return out
}

// autoApprovedNow reports whether the current revision was approved by
// auto-approval.
func autoApprovedNow(cr *domain.ChangeRequest) bool {
	return slices.ContainsFunc(cr.Timeline, func(e domain.TimelineEvent) bool {
		return e.Type == "auto_approved" && e.Revision == cr.Revision
	})
}

// checkModel compares the store with the model.
func (m *model) checkModel(t *rapid.T, s *snapshot) {
	var diffs []string
	eq := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s: store %v, model %v", what, got, want))
		}
	}
	for _, r := range m.reqs {
		cr := s.reqs[r.id]
		at := func(field string) string { return fmt.Sprintf("request #%d %s", r.n, field) }
		eq(at("status"), cr.Status, r.status)
		eq(at("revision"), cr.Revision, r.revision)
		eq(at("base version"), cr.Changes[0].BaseVersion, r.base)
		eq(at("requester"), cr.Requester, r.requester.Actor())
		eq(at("rollout"), cr.Changes[0].ProposedConfig.DefaultRule.Rollout, r.rollout)
		eq(at("policy"), policyOf(cr.Policy, r.policy.lock), r.policy)
		eq(at("approvals"), reviewers(cr.Approvals()), append([]string{}, r.approvals...))
		eq(at("rejections"), reviewers(cr.Rejections()), append([]string{}, r.rejections...))
		eq(at("auto-approved"), autoApprovedNow(cr), r.autoApproved)
		eq(at("expires_at"), m.timeText(cr.ExpiresAt), m.timeText(r.expiresAt))
		eq(at("apply_at"), m.timeText(cr.ApplyAt), m.timeText(r.applyAt))
		switch cr.Status {
		case domain.StatusPending:
			eq(at("auto_approve_at"), m.timeText(cr.AutoApproveAt), m.timeText(r.autoDue))
		case domain.StatusApproved:
			eq(at("apply_pending"), cr.ApplyPending, r.applyPending)
		case domain.StatusApplied:
			eq(at("applied_by"), cr.AppliedBy, r.appliedBy)
			eq(at("applied_version"), cr.AppliedVersion, r.appliedVersion)
		}
	}
	eq("requests listed", s.listed, len(m.reqs))
	eq("live version", s.live.Version, m.live)
	eq("live rollout", s.live.DefaultRule.Rollout, m.rollout)
	eq("approvals switch", s.org.Approvals, m.approvals)
	eq("production settings", settingsOf(s.settings), m.settings)
	eq("pending lock", s.lock, m.lockHolder())
	direct := 0
	for _, e := range s.audit {
		if e.Action == "targeting.updated" && e.Environment == "production" {
			direct++
		}
	}
	eq("direct writes audited", direct, m.direct)
	if len(diffs) > 0 {
		t.Fatalf("the store and the model disagree after step %d:\n  %s", m.steps, strings.Join(diffs, "\n  "))
	}
}

// configWrites are the audit actions of a write to production's config.
var configWrites = []domain.AuditAction{"targeting.updated", "bypass", "api_token_bypass", "change_request.applied"}

// checkInvariants checks, on the store alone: no apply without its quorum
// or with a blocking rejection; one apply per request; every version of the
// live config comes from exactly one audited write, a direct one or an
// applied request.
func (m *model) checkInvariants(t *rapid.T, s *snapshot) {
	appliedEntries := map[string][]domain.AuditEntry{}
	created := map[string]int{}
	versions := map[int64][]string{}
	for _, e := range s.audit {
		switch e.Action {
		case "change_request.applied":
			appliedEntries[e.ChangeRequest] = append(appliedEntries[e.ChangeRequest], e)
		case "change_request.created":
			created[e.ChangeRequest]++
		}
		if slices.Contains(configWrites, e.Action) && e.Flag == "checkout" && e.Environment == "production" {
			versions[e.Version] = append(versions[e.Version], string(e.Action)+" "+e.ChangeRequest)
		}
	}
	for id := range appliedEntries {
		if _, ok := s.reqs[id]; !ok {
			t.Fatalf("an audit entry says unknown request %s applied", id)
		}
	}
	if len(created) != len(m.reqs) {
		t.Fatalf("%d requests, %d with a change_request.created audit entry", len(m.reqs), len(created))
	}
	for _, r := range m.reqs {
		cr := s.reqs[r.id]
		if created[r.id] != 1 {
			t.Fatalf("%s has %d change_request.created audit entries, want one", r, created[r.id])
		}
		events := 0
		for _, e := range cr.Timeline {
			if e.Type == "applied" {
				events++
			}
		}
		entries := appliedEntries[cr.ID]
		if cr.Status != domain.StatusApplied {
			if events != 0 || len(entries) != 0 || cr.AppliedVersion != 0 {
				t.Fatalf("%s is %s, yet it has %d applied events, %d applied audit entries, applied version %d", r, cr.Status, events, len(entries), cr.AppliedVersion)
			}
			continue
		}
		approvals, rejections := reviewers(cr.Approvals()), reviewers(cr.Rejections())
		if len(approvals) < cr.Policy.MinApprovals && !autoApprovedNow(cr) {
			t.Fatalf("%s applied with %d approval(s) of revision %d, its quorum %d, and no auto-approval: %+v", r, len(approvals), cr.Revision, cr.Policy.MinApprovals, cr.Reviews)
		}
		if cr.Policy.RejectionBlocksApply && len(rejections) > 0 {
			t.Fatalf("%s applied with a blocking rejection of its revision by %v", r, rejections)
		}
		if events != 1 || len(entries) != 1 {
			t.Fatalf("%s applied with %d applied events and %d change_request.applied audit entries; want one each", r, events, len(entries))
		}
		e := entries[0]
		wantApprovers := []string{}
		for _, a := range approvals {
			wantApprovers = append(wantApprovers, "member:"+a)
		}
		if autoApprovedNow(cr) {
			wantApprovers = append(wantApprovers, "system:auto-approval")
		}
		if e.Version != cr.AppliedVersion || e.Actor != cr.AppliedBy || e.Requester != cr.Requester || !reflect.DeepEqual(append([]string{}, e.Approvers...), wantApprovers) {
			t.Fatalf("%s's audit entry does not match it: entry version %d actor %s requester %s approvers %v; request applied version %d by %s, requester %s, approvers %v",
				r, e.Version, e.Actor, e.Requester, e.Approvers, cr.AppliedVersion, cr.AppliedBy, cr.Requester, wantApprovers)
		}
	}
	for v := int64(1); v <= s.live.Version; v++ {
		if len(versions[v]) != 1 {
			t.Fatalf("live version %d comes from %d audited writes %v, want exactly one", v, len(versions[v]), versions[v])
		}
	}
	if int64(len(versions)) != s.live.Version {
		t.Fatalf("audited writes name versions %v, the live config is at %d", versions, s.live.Version)
	}
}

// checkSwept: after a sweep no timer is left due: nothing open past its
// deadline, nothing pending past its auto-approval, nothing approved past
// its schedule or waiting to apply itself.
func (m *model) checkSwept(t *rapid.T, s *snapshot) {
	for _, r := range m.reqs {
		cr := s.reqs[r.id]
		if cr.Status.Final() {
			continue
		}
		switch {
		case cr.ExpiresAt != nil && !m.now.Before(*cr.ExpiresAt):
			t.Fatalf("after a sweep at %s %s stays %s past its deadline %s", m.clockText(m.now), r, cr.Status, m.timeText(cr.ExpiresAt))
		case cr.Status == domain.StatusPending && len(cr.Rejections()) == 0 && cr.AutoApproveAt != nil && !m.now.Before(*cr.AutoApproveAt):
			t.Fatalf("after a sweep at %s %s stays pending past its auto-approval %s", m.clockText(m.now), r, m.timeText(cr.AutoApproveAt))
		case cr.Status == domain.StatusApproved && (cr.ApplyPending || cr.ApplyAt != nil && !m.now.Before(*cr.ApplyAt)):
			t.Fatalf("after a sweep at %s %s still waits to apply itself (apply_at %s, apply_pending %t)", m.clockText(m.now), r, m.timeText(cr.ApplyAt), cr.ApplyPending)
		}
	}
}
