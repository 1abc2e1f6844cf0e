package app_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A request whose targeting change serves a variant that its own flag
// change removes is refused at apply, whichever order the changes come in,
// and writes nothing: every config is checked against the flag as the
// request leaves it.
func TestMultiChangeTargetingMustFitTheFlagItChanges(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.mcFlags("payments")
		serveControl := w.mcConfig("payments", "production")
		serveControl.Enabled = true
		serveControl.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "control", Weight: 1}}}
		f, err := w.svc.GetFlag(w.ctx, w.admin, "shop", "payments")
		if err != nil {
			t.Fatal(err)
		}
		dropControl := *f
		dropControl.Variants = f.Variants[:1] // "on" only
		v := w.mcOpen(
			app.ChangeInput{Flag: "payments", Environment: "production", ProposedConfig: serveControl},
			app.ChangeInput{Flag: "payments", ProposedFlag: &dropControl},
		)
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		before := w.mcConfig("payments", "production")
		_, err = w.svc.Apply(w.ctx, w.bob, v.ID)
		if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "does not fit the flag as this request changes it") {
			t.Fatalf("apply of a targeting change that serves a variant the request removes: %v", err)
		}
		if after := w.mcConfig("payments", "production"); after.Version != before.Version {
			t.Fatalf("the refused apply wrote production: v%d → v%d", before.Version, after.Version)
		}
		if g, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "payments"); len(g.Variants) != 2 {
			t.Fatalf("the refused apply wrote the flag: %+v", g.Variants)
		}
	})
}

// Three flags × two gated environments and a segment apply together, or
// not at all when one base moved on: here the segment's (a bypass changed
// it), and the refusal names it.
func TestMultiChangeWithASegment(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.mcRelease()
		w.must(w.svc.CreateSegment(w.ctx, w.requester, "shop", segmentInput("beta", "user-1")))
		seg, err := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta")
		if err != nil {
			t.Fatal(err)
		}
		widened := cloneOf(seg)
		widened.Included = append(widened.Included, "user-2", "user-3")
		changes := append(w.mcReleaseChanges()[:6], app.ChangeInput{Segment: "beta", ProposedSegment: widened})
		ruleset := w.mcRuleset()

		// one: the segment moves on before the apply
		stale := w.mcOpen(changes...)
		if len(stale.Changes) != 7 || stale.Changes[6].Kind != domain.KindSegment {
			t.Fatalf("the request's changes: %+v", stale.Changes)
		}
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
		w.must(w.svc.Review(w.ctx, w.alice, stale.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		if _, err := w.svc.UpdateSegment(w.ctx, w.carol, "shop", "beta", nil, app.ChangeOptions{BypassReason: "incident"}, addKey("user-9")); err != nil {
			t.Fatal(err)
		}
		snap := w.mcSnapshot(targetsOf(stale))
		ruleset = w.mcRuleset()
		_, err = w.svc.Apply(w.ctx, w.bob, stale.ID)
		if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "segment beta changed since this request was made") {
			t.Fatalf("apply onto a segment that moved on: %v", err)
		}
		if after := w.mcSnapshot(targetsOf(stale)); !mapsEqual(snap, after) || w.mcRuleset() != ruleset {
			t.Fatalf("the refused apply wrote: before %v, after %v", snap, after)
		}
		w.must(w.svc.Withdraw(w.ctx, w.requester, stale.ID))

		// two: made on the live segment, it applies whole
		live, _ := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta")
		widened = cloneOf(live)
		widened.Included = append(widened.Included, "user-2")
		changes[6] = app.ChangeInput{Segment: "beta", ProposedSegment: widened}
		for i := range changes[:6] {
			changes[i] = w.mcTargeting(changes[i].Flag, changes[i].Environment, mcPct(i/2, changes[i].Environment))
		}
		v := w.mcOpen(changes...)
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		applied, err := w.svc.Apply(w.ctx, w.bob, v.ID)
		if err != nil || applied.Status != domain.StatusApplied {
			t.Fatalf("apply: %+v %v", applied, err)
		}
		for i, f := range mcReleaseFlags {
			for _, env := range []string{"staging", "production"} {
				if c := w.mcConfig(f, env); c.DefaultRule.Rollout != mcPct(i, env) {
					t.Fatalf("%s in %s after apply: rollout %v, want %v", f, env, c.DefaultRule.Rollout, mcPct(i, env))
				}
			}
		}
		if got, _ := w.svc.GetSegment(w.ctx, w.admin, "shop", "beta"); got.Version != live.Version+1 || !slices.Contains(got.Included, "user-2") {
			t.Fatalf("the segment after apply: %+v", got)
		}
		var segmentEntries int
		for _, e := range w.mcAudit(v.ID) {
			if e.Action == domain.ActionSegmentUpdated {
				segmentEntries++
			}
		}
		if segmentEntries != 1 {
			t.Fatalf("the apply's segment audit entries: %d", segmentEntries)
		}
	})
}

func cloneOf(s *domain.Segment) *domain.Segment {
	c := *s
	c.Included, c.Excluded, c.Rules = slices.Clone(s.Included), slices.Clone(s.Excluded), slices.Clone(s.Rules)
	return &c
}
