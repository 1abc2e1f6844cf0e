package app_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// stagingTargeting gives staging a rule, a default rule and sticky
// bucketing: what a promotion carries.
func stagingTargeting(c *domain.FlagConfig) error {
	c.Enabled, c.StickyBucketing, c.ExposureEvent = true, true, "checkout_seen"
	c.Rules = []domain.Rule{{Name: "Germany", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}},
		Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
	c.DefaultRule = domain.Allocation{Rollout: 40, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "control", Weight: 1}}}
	return nil
}

// targetingOf is c without what belongs to its place (project, flag,
// environment, version, time).
func targetingOf(c *domain.FlagConfig) domain.FlagConfig {
	t := *c
	t.Project, t.Flag, t.Environment, t.Version, t.UpdatedAt = "", "", "", 0, time.Time{}
	return t
}

func TestPromoteIntoAGatedEnvironmentOpensARequest(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "staging", nil, app.ChangeOptions{}, stagingTargeting))
		staging, err := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "staging")
		if err != nil {
			t.Fatal(err)
		}
		before := w.live()
		out, err := w.svc.Promote(w.ctx, w.requester, "shop", "checkout", "production", "staging", nil, app.ChangeOptions{})
		if err != nil || out.Request == nil || out.Applied != nil {
			t.Fatalf("promoting to production: %+v %v", out, err)
		}
		cr := out.Request
		if cr.Title != "Promote checkout from staging to production" || cr.Environment != "production" || cr.Changes[0].BaseVersion != before.Version {
			t.Fatalf("the request: %q in %s on version %d", cr.Title, cr.Environment, cr.Changes[0].BaseVersion)
		}
		if !reflect.DeepEqual(targetingOf(cr.Changes[0].ProposedConfig), targetingOf(staging)) {
			t.Fatalf("proposed %+v, staging has %+v", cr.Changes[0].ProposedConfig, staging)
		}
		if len(cr.Diff.Summary) == 0 || w.live().Version != before.Version {
			t.Fatalf("a diff against production, and production unchanged: %v, v%d", cr.Diff.Summary, w.live().Version)
		}
		// approved and applied, production serves staging's targeting
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ship it", "api"))
		w.must(w.svc.Apply(w.ctx, w.requester, cr.ID))
		if got := w.live(); got.Version != before.Version+1 || !reflect.DeepEqual(targetingOf(got), targetingOf(staging)) {
			t.Fatalf("after apply production has %+v, want staging's %+v", got, staging)
		}
		// staging itself is untouched by it
		if again, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "staging"); again.Version != staging.Version {
			t.Fatalf("staging moved: v%d → v%d", staging.Version, again.Version)
		}
	})
}

// A promotion request made before a newer change to the target is stale:
// its apply is refused, it never reverts the newer change.
func TestPromotionNeverRevertsANewerChange(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "staging", nil, app.ChangeOptions{}, stagingTargeting))
		out, err := w.svc.Promote(w.ctx, w.requester, "shop", "checkout", "production", "staging", nil, app.ChangeOptions{})
		if err != nil || out.Request == nil {
			t.Fatalf("%+v %v", out, err)
		}
		// an admin's bypass changes production meanwhile
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_admin"}} })
		newer, err := w.svc.ChangeFlagConfig(w.ctx, w.admin, "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: "incident"}, rollout(5))
		if err != nil || newer.Applied == nil {
			t.Fatalf("the bypass: %+v %v", newer, err)
		}
		w.must(w.svc.Review(w.ctx, w.alice, out.Request.ID, domain.DecisionApprove, "ok", "api"))
		if _, err := w.svc.Apply(w.ctx, w.requester, out.Request.ID); domain.ErrorCode(err) != domain.CodeConflict {
			t.Fatalf("applying the stale promotion: %v, want a conflict", err)
		}
		if got := w.live(); got.Version != newer.Applied.Version || got.DefaultRule.Rollout != 5 {
			t.Fatalf("the stale promotion reverted the newer change: %+v", got)
		}
	})
}

func TestPromoteDirectAndRefusals(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, stagingTargeting))
		// into an environment that needs no approval it applies at once
		out, err := w.svc.Promote(w.ctx, w.requester, "shop", "checkout", "development", "production", nil, app.ChangeOptions{})
		if err != nil || out.Applied == nil || out.Request != nil {
			t.Fatalf("promoting to development: %+v %v", out, err)
		}
		if !reflect.DeepEqual(targetingOf(out.Applied), targetingOf(w.live())) {
			t.Fatalf("development has %+v, production %+v", out.Applied, w.live())
		}
		stale := out.Applied.Version - 1
		for name, c := range map[string]struct {
			p        *app.Principal
			from, to string
			expected *int64
			code     domain.Code
		}{
			"no source":        {w.requester, "", "development", nil, domain.CodeInvalid},
			"onto itself":      {w.requester, "development", "development", nil, domain.CodeInvalid},
			"unknown source":   {w.requester, "qa", "development", nil, domain.CodeInvalid},
			"unknown target":   {w.requester, "staging", "qa", nil, domain.CodeNotFound},
			"a viewer":         {w.viewer, "staging", "development", nil, domain.CodeForbidden},
			"a stale If-Match": {w.requester, "staging", "development", &stale, domain.CodeConflict},
		} {
			_, err := w.svc.Promote(w.ctx, c.p, "shop", "checkout", c.to, c.from, c.expected, app.ChangeOptions{})
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != c.code {
				t.Errorf("%s: %v, want %s", name, err, c.code)
			}
		}
	})
}

// Several flags promote as one request: a change per flag whose targeting
// differs (one already alike is left out), applied together; a newer
// change to one of them refuses the whole apply, naming it, and writes
// nothing.
func TestPromoteSeveralFlagsAsOneRequest(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "payments", Name: "Payments",
			Variants: []domain.Variant{{Key: "on", Value: []byte(`true`)}, {Key: "control", Value: []byte(`false`)}}}))
		w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "alike", Name: "Alike",
			Variants: []domain.Variant{{Key: "on", Value: []byte(`true`)}}}))
		for _, f := range []string{"checkout", "payments"} {
			w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", f, "staging", nil, app.ChangeOptions{}, stagingTargeting))
		}
		v, err := w.svc.PromoteFlags(w.ctx, w.requester, "shop", "production", "staging", []string{"checkout", "payments", "alike"}, app.ChangeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Changes) != 2 || v.Changes[0].Flag != "checkout" || v.Changes[1].Flag != "payments" || v.Title != "Promote 2 flags from staging to production" ||
			v.Status != domain.StatusPending || len(v.Policy.Environments) != 1 || v.Policy.Environments[0] != "production" {
			t.Fatalf("the request: %q %s changes %+v policy %+v", v.Title, v.Status, v.Changes, v.Policy)
		}
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", "api"))
		w.must(w.svc.Apply(w.ctx, w.requester, v.ID))
		for _, f := range []string{"checkout", "payments"} {
			got, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", f, "production")
			want, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", f, "staging")
			if !reflect.DeepEqual(targetingOf(got), targetingOf(want)) {
				t.Fatalf("%s in production after apply: %+v, want staging's %+v", f, got, want)
			}
		}

		// staging moves on; a promotion is made; then payments' production
		// moves on by a direct admin bypass: the apply refuses, naming it
		for _, f := range []string{"checkout", "payments"} {
			w.must(w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", f, "staging", nil, app.ChangeOptions{}, rollout(5)))
		}
		v, err = w.svc.PromoteFlags(w.ctx, w.requester, "shop", "production", "staging", []string{"checkout", "payments"}, app.ChangeOptions{})
		if err != nil || len(v.Changes) != 2 {
			t.Fatalf("second promotion: %+v %v", v, err)
		}
		w.settings(func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}} })
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "payments", "production", nil, app.ChangeOptions{BypassReason: "hotfix"}, rollout(77)))
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", "api"))
		before, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "production")
		_, err = w.svc.Apply(w.ctx, w.requester, v.ID)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeConflict || !strings.Contains(de.Message, "payments in production changed since this request was made") {
			t.Fatalf("apply onto a moved base: %v", err)
		}
		if after, _ := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "production"); after.Version != before.Version {
			t.Fatalf("a refused apply wrote checkout: v%d → v%d", before.Version, after.Version)
		}
		rv, err := w.svc.GetRequest(w.ctx, w.admin, v.ID)
		if err != nil || rv.ChangeViews[0].Conflict != "" || !strings.Contains(rv.ChangeViews[1].Conflict, "payments in production changed") || rv.Applicable {
			t.Fatalf("the request's changes: %+v %v", rv.ChangeViews, err)
		}

		// refusals: nothing to promote, a flag twice, the same environment
		_, err = w.svc.PromoteFlags(w.ctx, w.requester, "shop", "production", "staging", []string{"alike"}, app.ChangeOptions{})
		wantField(t, err, "/flags")
		_, err = w.svc.PromoteFlags(w.ctx, w.requester, "shop", "production", "staging", []string{"alike", "alike"}, app.ChangeOptions{})
		wantField(t, err, "/flags/1")
		_, err = w.svc.PromoteFlags(w.ctx, w.requester, "shop", "staging", "staging", []string{"alike"}, app.ChangeOptions{})
		wantField(t, err, "/from")
	})
}
