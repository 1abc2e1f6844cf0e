package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// storeFactories are the stores every test here runs on: bbolt always,
// DynamoDB Local when dynamo_test.go registers it.
var storeFactories = map[string]func(t *testing.T) domain.Store{
	"bolt": func(t *testing.T) domain.Store {
		s, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// onEveryStore runs fn once per store.
func onEveryStore(t *testing.T, fn func(t *testing.T, w *world)) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newWorld(t, factory(t)))
		})
	}
}

// world is a service on a store with a project, a flag and members.
type world struct {
	t     testing.TB
	svc   *app.Service
	store domain.Store
	clock *clock.Manual
	ctx   context.Context

	admin, requester, alice, bob, carol, viewer *app.Principal
	service                                     *app.Principal
}

var t0 = clocktest.At(1, 9, 0, 0)

func newWorld(t testing.TB, store domain.Store) *world {
	w := &world{t: t, store: store, clock: clock.NewFixed(t0), ctx: context.Background()}
	w.svc = app.New(store, w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.admin = w.member("admin", domain.RoleAdmin)
	w.requester = w.member("rita", domain.RoleEditor)
	w.alice = w.member("alice", domain.RoleEditor)
	w.bob = w.member("bob", domain.RoleEditor)
	w.carol = w.member("carol", domain.RoleManager)
	w.viewer = w.member("victor", domain.RoleViewer)
	w.service = &app.Principal{TokenID: "t_service", Role: domain.RoleEditor}
	w.must(w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop", Name: "Shop"}))
	w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "checkout", Name: "Checkout", Tags: []string{"payments"},
		Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`false`)}}}))
	// production starts at 10 %
	out, err := w.svc.ChangeFlagConfig(w.ctx, w.admin, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(10))
	if err != nil || out.Applied == nil {
		t.Fatalf("seeding production: %v %+v", err, out)
	}
	_, err = w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) member(name string, role domain.Role) *app.Principal {
	m := &domain.Member{ID: "m_" + name, Email: name + "@example.com", Name: name, Role: role, CreatedAt: t0, UpdatedAt: t0}
	if err := w.store.CreateMember(w.ctx, m); err != nil {
		w.t.Fatal(err)
	}
	return &app.Principal{MemberID: m.ID, TokenID: "t_" + name, Role: role}
}

func (w *world) must(_ any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func rollout(p float64) func(*domain.FlagConfig) error {
	return func(c *domain.FlagConfig) error {
		c.Enabled = true
		c.DefaultRule = domain.Allocation{Rollout: p, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
		return nil
	}
}

// settings arranges production's approval settings as a test needs them.
// It writes them through the store: with approvals on, the service opens
// a governance request for settings that weaken (governance_test.go).
func (w *world) settings(change func(*domain.ApprovalSettings)) {
	w.t.Helper()
	w.settingsOf("production", change)
}

// settingsOf arranges env's approval settings (settings).
func (w *world) settingsOf(env string, change func(*domain.ApprovalSettings)) {
	w.t.Helper()
	_, err := w.store.UpdateApprovalSettings(w.ctx, "shop", env, func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		change(a)
		return a.Validate()
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// approvalsOff arranges the organisation's switch off (through the store:
// the service opens a governance request for it while approvals are on).
func (w *world) approvalsOff() {
	w.t.Helper()
	if _, err := w.store.UpdateOrgSettings(w.ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = false; return nil }); err != nil {
		w.t.Fatal(err)
	}
}

// propose asks for a new production rollout as p and returns the request.
func (w *world) propose(p *app.Principal, pct float64) *app.RequestView {
	w.t.Helper()
	out, err := w.svc.ChangeFlagConfig(w.ctx, p, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(pct))
	if err != nil {
		w.t.Fatal(err)
	}
	if out.Request == nil {
		w.t.Fatalf("a gated change must open a request, it applied: %+v", out.Applied)
	}
	return out.Request
}

func (w *world) live() *domain.FlagConfig {
	w.t.Helper()
	c, err := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", "checkout", "production")
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func wantCode(t *testing.T, err error, code domain.Code) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code || err == nil {
		t.Fatalf("want error %q, got %v", code, err)
	}
}

func TestGatedWriteOpensRequestWithDiff(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		if cr.Status != domain.StatusPending || cr.Changes[0].BaseVersion != 1 || cr.Policy.MinApprovals != 1 || cr.Requester != "member:m_rita" {
			t.Fatalf("request: %+v", cr.ChangeRequest)
		}
		if len(cr.Diff.Summary) != 1 || cr.Diff.Summary[0] != "rollout of all other users 10 % → 50 %" {
			t.Fatalf("diff summary: %v", cr.Diff.Summary)
		}
		var ops []map[string]any
		if err := json.Unmarshal(cr.Diff.Operations, &ops); err != nil || len(ops) != 1 ||
			ops[0]["op"] != "replace" || ops[0]["path"] != "/default_rule/rollout" || ops[0]["value"] != 50.0 {
			t.Fatalf("diff operations: %s", cr.Diff.Operations)
		}
		if w.live().DefaultRule.Rollout != 10 {
			t.Fatal("a pending request must not change the live config")
		}
		// staging is not protected: direct
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(30))
		if err != nil || out.Applied == nil {
			t.Fatalf("staging should apply directly: %v", err)
		}
		// with the organisation switch off nothing is gated
		w.approvalsOff()
		out, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Applied == nil {
			t.Fatalf("with approvals off production applies directly: %v", err)
		}
	})
}

// Every policy option, decided by a sequence of reviews.
func TestPolicyOptions(t *testing.T) {
	type step struct {
		who      string // requester, alice, bob, carol, admin, viewer, service
		decision domain.Decision
		wantErr  domain.Code // "" for success
	}
	cases := []struct {
		name       string
		settings   func(*domain.ApprovalSettings)
		steps      []step
		wantStatus domain.CRStatus
		applied    bool // with apply on_approval
	}{
		{"one approval decides", nil, []step{{"alice", "approve", ""}, {"bob", "approve", domain.CodeConflict}}, domain.StatusApproved, false},
		{"one rejection decides", nil, []step{{"alice", "reject", ""}, {"bob", "approve", domain.CodeConflict}}, domain.StatusRejected, false},
		{"self approval refused", nil, []step{{"requester", "approve", domain.CodeForbidden}}, domain.StatusPending, false},
		{"self approval allowed", func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true }, []step{{"requester", "approve", ""}}, domain.StatusApproved, false},
		{"viewers do not review", nil, []step{{"viewer", "approve", domain.CodeForbidden}}, domain.StatusPending, false},
		{"service tokens do not review", nil, []step{{"service", "approve", domain.CodeForbidden}}, domain.StatusPending, false},
		{"quorum of two", func(a *domain.ApprovalSettings) { a.MinApprovals = 2 },
			[]step{{"alice", "approve", ""}, {"alice", "approve", domain.CodeConflict}, {"bob", "approve", ""}}, domain.StatusApproved, false},
		{"rejection blocks even after quorum", func(a *domain.ApprovalSettings) { a.MinApprovals = 2; a.RejectionBlocksApply = true },
			[]step{{"alice", "approve", ""}, {"bob", "approve", ""}, {"carol", "reject", ""}}, domain.StatusRejected, false},
		{"rejection recorded but not blocking", func(a *domain.ApprovalSettings) { a.MinApprovals = 2; a.RejectionBlocksApply = false },
			[]step{{"carol", "reject", ""}, {"alice", "approve", ""}, {"bob", "approve", ""}}, domain.StatusApproved, false},
		{"designated reviewers only", func(a *domain.ApprovalSettings) {
			a.Reviewers = domain.ReviewersDesignated
			a.DesignatedReviewers = []string{"m_bob"}
		}, []step{{"alice", "approve", domain.CodeForbidden}, {"bob", "approve", ""}}, domain.StatusApproved, false},
		{"admins always review", func(a *domain.ApprovalSettings) {
			a.Reviewers = domain.ReviewersDesignated
			a.DesignatedReviewers = []string{"m_bob"}
		}, []step{{"admin", "approve", ""}}, domain.StatusApproved, false},
		{"apply on approval", func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval }, []step{{"alice", "approve", ""}}, domain.StatusApplied, true},
		{"apply on approval waits for the quorum", func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval; a.MinApprovals = 3 },
			[]step{{"alice", "approve", ""}, {"bob", "approve", ""}}, domain.StatusPending, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, w *world) {
				if c.settings != nil {
					w.settings(c.settings)
				}
				cr := w.propose(w.requester, 50)
				who := map[string]*app.Principal{"requester": w.requester, "alice": w.alice, "bob": w.bob, "carol": w.carol, "admin": w.admin, "viewer": w.viewer, "service": w.service}
				var last *app.RequestView
				for i, s := range c.steps {
					v, err := w.svc.Review(w.ctx, who[s.who], cr.ID, s.decision, fmt.Sprintf("review %d", i), app.ChannelAPI)
					if s.wantErr == "" {
						if err != nil {
							t.Fatalf("step %d (%s %s): %v", i, s.who, s.decision, err)
						}
						last = v
					} else {
						wantCode(t, err, s.wantErr)
					}
				}
				got, err := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != c.wantStatus {
					t.Fatalf("want %s, got %s (timeline %+v)", c.wantStatus, got.Status, got.Timeline)
				}
				if want := map[bool]float64{true: 50, false: 10}[c.applied]; w.live().DefaultRule.Rollout != want {
					t.Fatalf("live rollout %v, want %v", w.live().DefaultRule.Rollout, want)
				}
				_ = last
			})
		})
	}
}

func TestCommentRequired(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		_, err := w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "  ", app.ChannelAPI)
		wantCode(t, err, domain.CodeInvalid)
		_, err = w.svc.Review(w.ctx, w.alice, cr.ID, "maybe", "hmm", app.ChannelAPI)
		wantCode(t, err, domain.CodeInvalid)
	})
}

func TestTransitions(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		// apply before approval
		_, err := w.svc.Apply(w.ctx, w.alice, cr.ID)
		wantCode(t, err, domain.CodeConflict)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionReject, "too fast", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, cr.ID)
		wantCode(t, err, domain.CodeConflict)
		// only the requester (or an admin) edits; the edit makes it pending again, with a new revision
		up := 40.0
		cfg := *w.live()
		cfg.DefaultRule.Rollout = up
		_, err = w.svc.EditRequest(w.ctx, w.alice, cr.ID, nil, app.EditInput{ProposedConfig: &cfg})
		wantCode(t, err, domain.CodeForbidden)
		v, err := w.svc.EditRequest(w.ctx, w.requester, cr.ID, nil, app.EditInput{ProposedConfig: &cfg})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != domain.StatusPending || v.Revision != 2 || v.Rejections != 0 || v.Diff.Summary[0] != "rollout of all other users 10 % → 40 %" {
			t.Fatalf("after edit: %+v %v", v.ChangeRequest, v.Diff.Summary)
		}
		// approvals of an old revision do not count
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok now", app.ChannelAPI))
		v, err = w.svc.EditRequest(w.ctx, w.requester, cr.ID, nil, app.EditInput{Title: ptr("renamed")})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != domain.StatusPending || v.Approvals != 0 || v.Revision != 3 {
			t.Fatalf("an edit must clear approvals: %+v", v.ChangeRequest)
		}
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok again", app.ChannelAPI))
		// viewers cannot apply
		_, err = w.svc.Apply(w.ctx, w.viewer, cr.ID)
		wantCode(t, err, domain.CodeForbidden)
		applied, err := w.svc.Apply(w.ctx, w.bob, cr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if applied.Status != domain.StatusApplied || w.live().DefaultRule.Rollout != 40 || w.live().Version != 2 || applied.AppliedBy != "member:m_bob" {
			t.Fatalf("after apply: %+v, live %+v", applied.ChangeRequest, w.live())
		}
		// retried apply: same answer, no second version
		again, err := w.svc.Apply(w.ctx, w.bob, cr.ID)
		if err != nil || again.Status != domain.StatusApplied || w.live().Version != 2 {
			t.Fatalf("retried apply: %v, live v%d", err, w.live().Version)
		}
		// nothing happens to an applied request any more
		_, err = w.svc.Withdraw(w.ctx, w.requester, cr.ID)
		wantCode(t, err, domain.CodeConflict)
		_, err = w.svc.EditRequest(w.ctx, w.requester, cr.ID, nil, app.EditInput{Title: ptr("x")})
		wantCode(t, err, domain.CodeConflict)
		_, err = w.svc.Review(w.ctx, w.bob, cr.ID, domain.DecisionApprove, "late", app.ChannelAPI)
		wantCode(t, err, domain.CodeConflict)

		// withdraw: the requester's or an admin's right
		cr2 := w.propose(w.requester, 60)
		_, err = w.svc.Withdraw(w.ctx, w.alice, cr2.ID)
		wantCode(t, err, domain.CodeForbidden)
		v, err = w.svc.Withdraw(w.ctx, w.requester, cr2.ID)
		if err != nil || v.Status != domain.StatusWithdrawn {
			t.Fatalf("withdraw: %v", err)
		}
		_, err = w.svc.Review(w.ctx, w.alice, cr2.ID, domain.DecisionApprove, "too late", app.ChannelAPI)
		wantCode(t, err, domain.CodeConflict)
		cr3 := w.propose(w.requester, 70)
		if _, err := w.svc.Withdraw(w.ctx, w.admin, cr3.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// Several open requests: the first applied makes the others stale; they can
// be edited onto the new base and then need approval again.
func TestApplyConflictAndRebase(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		a := w.propose(w.requester, 50)
		b := w.propose(w.alice, 60)
		w.must(w.svc.Review(w.ctx, w.bob, a.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.bob, b.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.bob, a.ID))
		_, err := w.svc.Apply(w.ctx, w.bob, b.ID)
		wantCode(t, err, domain.CodeConflict)
		var de *domain.Error
		if e, ok := err.(*domain.Error); ok {
			de = e
		}
		if de == nil || de.CurrentVersion != 2 {
			t.Fatalf("the conflict must say the live version: %v", err)
		}
		got, _ := w.svc.GetRequest(w.ctx, w.admin, b.ID)
		if got.Status != domain.StatusApproved || got.Applicable || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("b stays approved but not applicable: %+v", got.ChangeRequest)
		}
		if last := got.Timeline[len(got.Timeline)-1]; last.Type != "apply_conflict" {
			t.Fatalf("the conflict is in the timeline: %+v", last)
		}
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 60
		v, err := w.svc.EditRequest(w.ctx, w.alice, b.ID, nil, app.EditInput{ProposedConfig: &cfg})
		if err != nil || v.Changes[0].BaseVersion != 2 || v.Status != domain.StatusPending {
			t.Fatalf("rebase: %v %+v", err, v)
		}
		w.must(w.svc.Review(w.ctx, w.bob, b.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.bob, b.ID))
		if w.live().DefaultRule.Rollout != 60 || w.live().Version != 3 {
			t.Fatalf("live after rebase and apply: %+v", w.live())
		}
	})
}

func TestLockWhilePending(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) {
			a.LockWhilePending = true
			a.Bypass = []domain.BypassGrant{{MemberID: "m_carol"}}
		})
		cr := w.propose(w.requester, 50)
		_, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(70))
		wantCode(t, err, domain.CodeConflict)
		// a bypass (for incidents) still goes through, audited with its reason
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.carol, "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: "INC-42 kill switch"}, func(c *domain.FlagConfig) error {
			c.Enabled = false
			return nil
		})
		if err != nil || out.Applied == nil || out.Applied.Enabled {
			t.Fatalf("bypass: %v", err)
		}
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Actor: "member:m_carol"}, domain.Page{})
		entries = withoutReviewAfter(entries) // the bypass opened its review after (breakglass_test.go)
		if err != nil || len(entries) != 1 || entries[0].Action != "bypass" || entries[0].Reason != "INC-42 kill switch" {
			t.Fatalf("the bypass must be audited with its reason: %+v %v", entries, err)
		}
		// without a grant, a reason does not help
		_, err = w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "production", nil, app.ChangeOptions{BypassReason: "please"}, rollout(70))
		wantCode(t, err, domain.CodeForbidden)
		// the lock goes with the request
		w.must(w.svc.Withdraw(w.ctx, w.requester, cr.ID))
		w.propose(w.alice, 70)
	})
}

func TestAPITokenBypassRevokesApprovals(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		// a service token's write is a request too, until api_token_bypass
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.service, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Request == nil {
			t.Fatalf("service token without bypass: %v %+v", err, out)
		}
		w.govern(func(a *domain.ApprovalSettings) { a.APITokenBypass = true }) // a second admin approves turning it on
		got, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
		if got.Approvals != 0 || got.Status != domain.StatusPending {
			t.Fatalf("turning api_token_bypass on must revoke outstanding approvals: %+v", got.ChangeRequest)
		}
		out, err = w.svc.ChangeFlagConfig(w.ctx, w.service, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Applied == nil || out.Applied.DefaultRule.Rollout != 20 {
			t.Fatalf("service token with bypass applies directly: %v", err)
		}
		entries, _, _ := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Actor: "token:t_service"}, domain.Page{})
		found := false
		for _, e := range entries {
			found = found || (e.Action == "api_token_bypass" && e.Diff != nil && e.Version == 2)
		}
		if !found {
			t.Fatalf("audit of the token's direct write: %+v", entries)
		}
	})
}

func TestFlagLevelChanges(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		change := func(p *app.Principal, fn func(*domain.Flag)) app.Outcome[domain.Flag] {
			out, err := w.svc.ChangeFlag(w.ctx, p, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error { fn(f); return nil })
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		// labels apply directly
		if out := change(w.requester, func(f *domain.Flag) { f.Name = "Checkout v2"; f.Description = "x" }); out.Applied == nil {
			t.Fatal("renaming must apply directly")
		}
		// adding a variant nothing serves applies directly
		if out := change(w.requester, func(f *domain.Flag) {
			f.Variants = append(f.Variants, domain.Variant{Key: "spare", Value: json.RawMessage(`1`)})
		}); out.Applied == nil {
			t.Fatal("adding an unserved variant must apply directly")
		}
		// changing the value of a served variant needs approval
		out := change(w.requester, func(f *domain.Flag) { f.Variants[0].Value = json.RawMessage(`"yes"`) })
		if out.Request == nil || out.Request.Kind != domain.KindFlag {
			t.Fatalf("value of a served variant must be gated: %+v", out)
		}
		// so does the salt
		if out := change(w.requester, func(f *domain.Flag) { f.BucketingSalt = "newsalt1" }); out.Request == nil {
			t.Fatal("the bucketing salt must be gated")
		}
		// and re-tagging out of a tag scope
		w.settings(func(a *domain.ApprovalSettings) {
			a.Required = domain.RequiredTags
			a.Tags = []string{"payments"}
			a.MinApprovals = 2
		})
		retag := change(w.requester, func(f *domain.Flag) { f.Tags = []string{} })
		if retag.Request == nil || retag.Request.Policy.MinApprovals != 2 {
			t.Fatalf("leaving the approval scope must be gated under that policy: %+v", retag)
		}
		// the flag-level request applies like any other, under the policy it was
		// opened with (one approval: the quorum does not move under a request)
		w.must(w.svc.Review(w.ctx, w.alice, out.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		applied, err := w.svc.Apply(w.ctx, w.bob, out.Request.ID)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
		if string(f.Variants[0].Value) != `"yes"` || f.Version != applied.AppliedVersion {
			t.Fatalf("flag after apply: %+v", f)
		}
	})
}

// The strictest policy of every environment serving a variant.
func TestStrictestPolicyAcrossEnvironments(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.ChangeFlagConfig(w.ctx, w.admin, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(100)))
		st := domain.DefaultApprovalSettings(&domain.Environment{Project: "shop", Key: "staging"})
		st.Required, st.MinApprovals, st.Reviewers, st.DesignatedReviewers = domain.RequiredAll, 3, domain.ReviewersDesignated, []string{"m_carol"}
		if _, err := w.svc.UpdateApprovalSettings(w.ctx, w.admin, "shop", "staging", nil, st); err != nil {
			t.Fatal(err)
		}
		w.settings(func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true; a.MinApprovals = 2 })
		out, err := w.svc.ChangeFlag(w.ctx, w.requester, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.Variants[0].Value = json.RawMessage(`"yes"`)
			return nil
		})
		if err != nil || out.Request == nil {
			t.Fatalf("%v %+v", err, out)
		}
		p := out.Request.Policy
		if p.MinApprovals != 3 || p.AllowSelfApproval || p.Reviewers != domain.ReviewersDesignated || len(p.Environments) != 2 {
			t.Fatalf("strictest policy: %+v", p)
		}
	})
}

func TestNotifyReviewersMustBeEligible(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		_, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil,
			app.ChangeOptions{NotifyReviewers: []string{"m_alice", "m_victor", "m_rita", "m_nobody"}}, rollout(50))
		if de, ok := err.(*domain.Error); !ok || de.Code != domain.CodeInvalid || len(de.Fields) != 3 {
			t.Fatalf("want three bad reviewers (viewer, requester, unknown), got %v", err)
		}
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{NotifyReviewers: []string{"m_alice"}}, rollout(50))
		if err != nil || out.Request.NotifyReviewers[0] != "m_alice" {
			t.Fatalf("%v", err)
		}
		list, _, err := w.svc.ListRequests(w.ctx, w.admin, domain.CRFilter{Reviewer: "m_alice"}, domain.Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("reviewer filter: %v %d", err, len(list))
		}
	})
}

func TestCommentsAndMentions(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		e, err := w.svc.Comment(w.ctx, w.viewer, cr.ID, "@alice@example.com and @m_bob, please look")
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Mentions) != 2 || e.Mentions[0] != "m_alice" || e.Mentions[1] != "m_bob" {
			t.Fatalf("mentions: %v", e.Mentions)
		}
		cs, err := w.svc.Comments(w.ctx, w.admin, cr.ID)
		if err != nil || len(cs) != 1 || cs[0].Actor != "member:m_victor" {
			t.Fatalf("comments: %+v %v", cs, err)
		}
		_, err = w.svc.Comment(w.ctx, w.viewer, cr.ID, "")
		wantCode(t, err, domain.CodeInvalid)
	})
}

// The audit entry of an applied request names the applier and every approver.
func TestAuditOfApply(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Review(w.ctx, w.bob, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.carol, cr.ID))
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop", Flag: "checkout", Environment: "production"}, domain.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var applied *domain.AuditEntry
		for i := range entries {
			if entries[i].Action == "change_request.applied" {
				applied = &entries[i]
			}
		}
		if applied == nil || applied.Actor != "member:m_carol" || applied.Requester != "member:m_rita" ||
			fmt.Sprint(applied.Approvers) != "[member:m_alice member:m_bob]" || applied.Diff == nil || applied.Diff.Summary[0] != "rollout of all other users 10 % → 50 %" {
			t.Fatalf("applied entry: %+v", applied)
		}
	})
}

// 20 reviewers at once, quorum 2, apply on approval: exactly one apply.
func TestConcurrentReviewersApplyOnce(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2; a.Apply = domain.ApplyOnApproval })
		var reviewers []*app.Principal
		for i := range 20 {
			reviewers = append(reviewers, w.member(fmt.Sprintf("r%02d", i), domain.RoleEditor))
		}
		cr := w.propose(w.requester, 50)
		var wg sync.WaitGroup
		errs := make(chan error, len(reviewers))
		for _, r := range reviewers {
			wg.Go(func() {
				_, err := w.svc.Review(w.ctx, r, cr.ID, domain.DecisionApprove, "ship it", app.ChannelAPI)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		accepted := 0
		for err := range errs {
			switch {
			case err == nil:
				accepted++
			case domain.ErrorCode(err) == domain.CodeConflict:
				// reviews arriving after the apply find the request applied
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		got, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
		if got.Status != domain.StatusApplied || w.live().Version != 2 || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("want applied once: %s, live v%d", got.Status, w.live().Version)
		}
		if len(got.Reviews) != accepted || accepted < 2 {
			t.Fatalf("every accepted review is recorded: %d reviews, %d accepted", len(got.Reviews), accepted)
		}
		entries, _, _ := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Environment: "production"}, domain.Page{Limit: 200})
		applies := 0
		for _, e := range entries {
			if e.Action == "change_request.applied" {
				applies++
			}
		}
		if applies != 1 {
			t.Fatalf("want one applied audit entry, got %d", applies)
		}
	})
}

func TestConcurrentAppliesApplyOnce(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		cr := w.propose(w.requester, 50)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := w.svc.Apply(w.ctx, w.bob, cr.ID); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if w.live().Version != 2 {
			t.Fatalf("ten applies must bump the version once, live v%d", w.live().Version)
		}
	})
}

// Approve racing withdraw: one final state, never both.
func TestApproveRacingWithdraw(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval })
		for round := range 5 {
			cr := w.propose(w.requester, float64(20+round))
			var wg sync.WaitGroup
			var approveErr, withdrawErr error
			wg.Go(func() {
				_, approveErr = w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI)
			})
			wg.Go(func() { _, withdrawErr = w.svc.Withdraw(w.ctx, w.requester, cr.ID) })
			wg.Wait()
			got, _ := w.svc.GetRequest(w.ctx, w.admin, cr.ID)
			switch got.Status {
			case domain.StatusApplied:
				if approveErr != nil || withdrawErr == nil {
					t.Fatalf("applied, but approve %v / withdraw %v", approveErr, withdrawErr)
				}
			case domain.StatusWithdrawn:
				// the approval may have landed first and the withdrawal before
				// the apply that follows it: then the review stands (no error)
				// but nothing applied
				if withdrawErr != nil || w.live().DefaultRule.Rollout == float64(20+round) {
					t.Fatalf("withdrawn, but approve %v / withdraw %v / live %v", approveErr, withdrawErr, w.live().DefaultRule.Rollout)
				}
			default:
				t.Fatalf("round %d: final state %s", round, got.Status)
			}
		}
	})
}
