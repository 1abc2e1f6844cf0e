package app_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// useSegment makes env's targeting of checkout name segment key.
func (w *world) useSegment(env, key string) {
	w.t.Helper()
	_, err := w.store.UpdateFlagConfig(w.ctx, "shop", "checkout", env, func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Rules = append(c.Rules, domain.Rule{Name: "in " + key,
			Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{key}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}})
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func addKey(k string) func(*domain.Segment) error {
	return func(s *domain.Segment) error { s.Included = append(s.Included, k); return nil }
}

// A segment change is gated by where the segment is used: a segment that
// only ungated environments use changes directly; one that production's
// targeting uses opens a request under production's policy, which shows
// the flags and environments it affects and applies the segment once
// approved; a segment that moved on since refuses the apply, naming it.
func TestSegmentChangesAreGatedByUse(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.CreateSegment(w.ctx, w.requester, "shop", segmentInput("beta", "user-1")))

		// used by staging only (ungated): applies directly
		w.useSegment("staging", "beta")
		out, err := w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta", nil, app.ChangeOptions{}, addKey("user-2"))
		if err != nil || out.Applied == nil || out.Request != nil || out.Applied.Version != 2 {
			t.Fatalf("a segment gated nowhere: %+v %v", out, err)
		}

		// production's targeting names it: the change needs approval
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
		w.useSegment("production", "beta")
		out, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta", nil, app.ChangeOptions{}, addKey("user-3"))
		if err != nil || out.Request == nil || out.Applied != nil {
			t.Fatalf("a segment production uses: %+v %v", out, err)
		}
		rv := out.Request
		if rv.Kind != domain.KindSegment || len(rv.Changes) != 1 || rv.Changes[0].Segment != "beta" || rv.Policy.MinApprovals != 2 ||
			strings.Join(rv.Policy.Environments, ",") != "production" {
			t.Fatalf("the request: kind %s, changes %+v, policy %+v", rv.Kind, rv.Changes, rv.Policy)
		}
		affects := rv.ChangeViews[0].Affects
		if len(affects) != 2 || affects[0] != (app.SegmentUse{Flag: "checkout", Environment: "production"}) || affects[1].Environment != "staging" {
			t.Fatalf("what the change affects: %+v", affects)
		}
		if seg, _ := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta"); seg.Version != 2 || len(seg.Included) != 2 {
			t.Fatalf("the live segment changed before approval: %+v", seg)
		}
		w.must(w.svc.Review(w.ctx, w.alice, rv.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.bob, rv.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		applied, err := w.svc.Apply(w.ctx, w.alice, rv.ID)
		if err != nil || applied.Status != domain.StatusApplied {
			t.Fatalf("apply: %+v %v", applied, err)
		}
		seg, _ := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta")
		if seg.Version != 3 || strings.Join(seg.Included, ",") != "user-1,user-2,user-3" {
			t.Fatalf("the applied segment: %+v", seg)
		}

		// a request made on version 3, then the segment moves on (a bypass)
		out, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta", nil, app.ChangeOptions{}, addKey("user-4"))
		if err != nil || out.Request == nil {
			t.Fatalf("second request: %+v %v", out, err)
		}
		stale := out.Request.ID
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
		direct, err := w.svc.UpdateSegment(w.ctx, w.carol, "shop", "beta", nil, app.ChangeOptions{BypassReason: "incident"}, addKey("user-5"))
		if err != nil || direct.Applied == nil || direct.Applied.Version != 4 {
			t.Fatalf("a bypass: %+v %v", direct, err)
		}
		w.must(w.svc.Review(w.ctx, w.alice, stale, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.bob, stale, domain.DecisionApprove, "ok", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, stale)
		if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "segment beta changed since this request was made") {
			t.Fatalf("apply onto a segment that moved on: %v", err)
		}
		if seg, _ := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta"); seg.Version != 4 || len(seg.Included) != 4 {
			t.Fatalf("a refused apply wrote the segment: %+v", seg)
		}
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop"}, domain.Page{Limit: domain.MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		var bypasses int
		for _, e := range entries {
			if e.Action == domain.ActionBypass && e.Reason == "incident" {
				bypasses++
			}
		}
		if bypasses != 1 {
			t.Fatalf("the bypass must be audited once, found %d", bypasses)
		}
		// the audit log selects the segment's entries: its writes and the
		// requests that change it
		bySegment, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Segment: "beta"}, domain.Page{Limit: domain.MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[domain.AuditAction]int{}
		for _, e := range bySegment {
			if e.Segment != "beta" {
				t.Fatalf("an entry of another segment: %+v", e)
			}
			seen[e.Action]++
		}
		if seen[domain.ActionSegmentCreated] != 1 || seen[domain.ActionSegmentUpdated] != 1 || seen[domain.ActionRequestCreated] != 2 ||
			seen[domain.ActionRequestApplied] != 1 || seen[domain.ActionBypass] != 1 || seen[domain.ActionRequestApplyConflict] != 1 {
			t.Fatalf("the segment's audit entries: %v", seen)
		}
	})
}
