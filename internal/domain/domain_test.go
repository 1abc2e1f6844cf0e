package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"New Checkout Flow": "new-checkout-flow", "  Über  cool!! ": "ber-cool", "a--b": "a-b", "***": "",
		strings.Repeat("x", 80): strings.Repeat("x", 63),
	} {
		if got := domain.Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStrictest(t *testing.T) {
	a := domain.Policy{MinApprovals: 1, AllowSelfApproval: true, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyOnApproval,
		AutoApproveAfter: domain.AutoApprove24h, ExpireAfter: "", Environments: []string{"staging"}}
	b := domain.Policy{MinApprovals: 3, AllowSelfApproval: true, RejectionBlocksApply: true, Reviewers: domain.ReviewersDesignated,
		DesignatedReviewers: []string{"m1"}, Apply: domain.ApplyOnApproval, AutoApproveAfter: domain.AutoApprove48h, ExpireAfter: "72h", Environments: []string{"production"}}
	c := domain.Policy{MinApprovals: 2, AllowSelfApproval: false, Reviewers: domain.ReviewersDesignated, DesignatedReviewers: []string{"m2", "m1"},
		Apply: domain.ApplyManual, AutoApproveAfter: domain.AutoApproveNever, ExpireAfter: "24h", Environments: []string{"eu"}}
	got := domain.Strictest([]domain.Policy{a, b, c})
	if got.MinApprovals != 3 || got.AllowSelfApproval || !got.RejectionBlocksApply || got.Reviewers != domain.ReviewersDesignated ||
		fmt.Sprint(got.DesignatedReviewers) != "[m1 m2]" || got.Apply != domain.ApplyManual || got.AutoApproveAfter != domain.AutoApproveNever ||
		got.ExpireAfter != "24h" || fmt.Sprint(got.Environments) != "[staging production eu]" {
		t.Fatalf("strictest: %+v", got)
	}
	if two := domain.Strictest([]domain.Policy{a, b}); two.AutoApproveAfter != domain.AutoApprove48h || !two.AllowSelfApproval || two.Apply != domain.ApplyOnApproval {
		t.Fatalf("strictest of a and b: %+v", two)
	}
	if a.Environments[0] != "staging" || len(a.Environments) != 1 {
		t.Fatal("Strictest must not modify its inputs")
	}
}

func TestGates(t *testing.T) {
	env := &domain.Environment{Project: "p", Key: "production", Protected: true}
	s := domain.DefaultApprovalSettings(env)
	f := &domain.Flag{Tags: []string{"payments"}}
	on, off := &domain.OrgSettings{Approvals: true}, &domain.OrgSettings{}
	if !s.Gates(on, f) || s.Gates(off, f) {
		t.Fatal("a protected environment gates every flag once approvals are on, and nothing before")
	}
	s.Required, s.Tags = domain.RequiredTags, []string{"billing", "payments"}
	if !s.Gates(on, f) || s.Gates(on, &domain.Flag{Tags: []string{"ui"}}) {
		t.Fatal("tag scope")
	}
	if domain.DefaultApprovalSettings(&domain.Environment{Key: "dev"}).Gates(on, f) {
		t.Fatal("an unprotected environment gates nothing by default")
	}
}

func TestApprovalSettingsValidate(t *testing.T) {
	s := domain.DefaultApprovalSettings(&domain.Environment{Key: "x"})
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	s.Required, s.MinApprovals, s.Reviewers, s.AutoApproveAfter, s.ExpireAfter, s.Apply = domain.RequiredTags, 0, domain.ReviewersDesignated, "12h", "30m", "later"
	s.Bypass = []domain.BypassGrant{{}}
	var de *domain.Error
	if err := s.Validate(); !errors.As(err, &de) || len(de.Fields) != 7 {
		t.Fatalf("want seven problems, got %v", err)
	}
}

func newCR(p domain.Policy) *domain.ChangeRequest {
	return &domain.ChangeRequest{ID: "cr", Requester: "member:req", RequesterMember: "req", Status: domain.StatusPending, Revision: 1, Policy: p}
}

var (
	now   = clocktest.At(0, 0, 0, 0)
	req   = domain.Actor{MemberID: "req", Role: domain.RoleEditor}
	alice = domain.Actor{MemberID: "alice", Role: domain.RoleEditor}
	bob   = domain.Actor{MemberID: "bob", Role: domain.RoleEditor}
	admin = domain.Actor{MemberID: "root", Role: domain.RoleAdmin}
)

func TestStateMachineRefusals(t *testing.T) {
	p := domain.Policy{MinApprovals: 1, Reviewers: domain.ReviewersPeer, RejectionBlocksApply: true}
	cr := newCR(p)
	if _, err := cr.Review(req, domain.DecisionApprove, "me", "api", now); !errors.Is(err, domain.ErrSelfReview) {
		t.Fatalf("self review: %v", err)
	}
	if _, err := cr.Review(domain.Actor{TokenID: "t"}, domain.DecisionApprove, "bot", "api", now); !errors.Is(err, domain.ErrNotAPerson) {
		t.Fatalf("token review: %v", err)
	}
	if _, err := cr.Withdraw(alice, now); !errors.Is(err, domain.ErrNotRequester) {
		t.Fatalf("withdraw by another: %v", err)
	}
	if err := cr.CheckApply(alice, now); !errors.Is(err, domain.ErrNotApproved) {
		t.Fatalf("apply before approval: %v", err)
	}
	tr, err := cr.Review(alice, domain.DecisionApprove, "fine", "api", now)
	if err != nil || !tr.Approved() || tr.Action != domain.ActionRequestApproved || tr.Event.Type != domain.EventApproved ||
		tr.Event.Actor != alice.String() || !reflect.DeepEqual(tr.Event, cr.Timeline[len(cr.Timeline)-1]) || cr.Status != domain.StatusApproved {
		t.Fatalf("first approval decides: %+v %v %s", tr, err, cr.Status)
	}
	if _, err := cr.Review(bob, domain.DecisionReject, "no", "api", now); !errors.Is(err, domain.ErrAlreadyDecided) {
		t.Fatalf("after the decision: %v", err)
	}
	var conflict *domain.Error
	ch := domain.Change{Kind: domain.KindTargeting, Flag: "f", Environment: "production", BaseVersion: 6}
	if conflict = ch.CheckBase(7); conflict == nil || conflict.CurrentVersion != 7 || !strings.Contains(conflict.Message, "f in production changed since") {
		t.Fatalf("base moved: %v", conflict)
	}
	if err := ch.CheckBase(6); err != nil {
		t.Fatalf("base unchanged: %v", err)
	}
	if err := cr.CheckApply(domain.Actor{MemberID: "v", Role: domain.RoleViewer}, now); !errors.Is(err, domain.ErrApplyRole) {
		t.Fatalf("viewer apply: %v", err)
	}
	if _, err := cr.MarkApplied(bob, 1, "api", now); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.Withdraw(req, now); !errors.Is(err, domain.ErrNotWithdrawable) {
		t.Fatalf("withdraw after apply: %v", err)
	}
	if _, err := cr.Edit(req, nil, nil, nil, now); !errors.Is(err, domain.ErrNotEditable) {
		t.Fatalf("edit after apply: %v", err)
	}
}

func TestTimers(t *testing.T) {
	p := domain.Policy{MinApprovals: 2, Reviewers: domain.ReviewersPeer, AutoApproveAfter: domain.AutoApprove48h, ExpireAfter: "72h"}
	cr := newCR(p)
	cr.StartTimers(now)
	if cr.AutoApproveAt == nil || !cr.AutoApproveAt.Equal(now.Add(48*time.Hour)) || !cr.ExpiresAt.Equal(now.Add(72*time.Hour)) {
		t.Fatalf("timers: %v %v", cr.AutoApproveAt, cr.ExpiresAt)
	}
	if _, err := cr.AutoApprove(now.Add(47 * time.Hour)); err == nil {
		t.Fatal("auto-approved too early")
	}
	if _, err := cr.Edit(req, nil, nil, nil, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !cr.AutoApproveAt.Equal(now.Add(72 * time.Hour)) {
		t.Fatalf("an edit restarts the auto-approval timer: %v", cr.AutoApproveAt)
	}
	if _, err := cr.AutoApprove(now.Add(72 * time.Hour)); err != nil || cr.Status != domain.StatusApproved {
		t.Fatalf("auto-approve: %v %s", err, cr.Status)
	}
	last := cr.Timeline[len(cr.Timeline)-1]
	if last.Actor != "system:auto-approval" || !strings.Contains(last.Comment, "2 missing approval") {
		t.Fatalf("auto-approval says so plainly: %+v", last)
	}
	cr2 := newCR(p)
	cr2.StartTimers(now)
	if _, err := cr2.Review(alice, domain.DecisionReject, "no", "api", now); err != nil {
		t.Fatal(err)
	}
	if _, err := cr2.AutoApprove(now.Add(49 * time.Hour)); err == nil {
		t.Fatal("a rejected request must not be auto-approved")
	}
	if _, err := cr2.Expire(now.Add(71 * time.Hour)); err == nil {
		t.Fatal("expired too early")
	}
	if _, err := cr2.Expire(now.Add(72 * time.Hour)); err != nil || cr2.Status != domain.StatusExpired {
		t.Fatalf("expire: %v", err)
	}
}

func TestAdminCanWithdrawAndEdit(t *testing.T) {
	cr := newCR(domain.Policy{MinApprovals: 1})
	title := "by admin"
	if _, err := cr.Edit(admin, &title, nil, nil, now); err != nil || cr.Title != title || cr.Revision != 2 {
		t.Fatalf("admin edit: %v", err)
	}
	if _, err := cr.Withdraw(admin, now); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDiffSummary(t *testing.T) {
	w := func(v string, n int) domain.Weight { return domain.Weight{Variant: v, Weight: n} }
	live := &domain.FlagConfig{Enabled: false, OffVariant: "off", Rules: []domain.Rule{
		{Name: "beta", Conditions: []domain.Condition{{Attribute: "plan", Operator: domain.OpIs, Values: []string{"beta"}}}, Allocation: domain.Allocation{Rollout: 10, Weights: []domain.Weight{w("on", 1)}}},
		{Name: "gone", Allocation: domain.Allocation{Rollout: 5, Weights: []domain.Weight{w("on", 1)}}},
	}, DefaultRule: domain.Allocation{Rollout: 0, Weights: []domain.Weight{w("on", 1)}}}
	next := &domain.FlagConfig{Enabled: true, OffVariant: "control", StickyBucketing: true, ExposureEvent: "exp", Rules: []domain.Rule{
		{Name: "beta", Conditions: []domain.Condition{{Attribute: "plan", Operator: domain.OpIn, Values: []string{"beta", "pro"}}}, Allocation: domain.Allocation{Rollout: 50, Weights: []domain.Weight{w("on", 1), w("control", 4)}}},
		{Name: "new", Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("on", 1)}}},
	}, DefaultRule: domain.Allocation{Rollout: 0.01, Weights: []domain.Weight{w("on", 1)}}}
	d, err := domain.ConfigDiff(live, next)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"targeting off → on",
		`conditions of rule "beta": plan is [beta] → plan in [beta, pro]`,
		`rollout of rule "beta" 10 % → 50 %`,
		`weights of rule "beta" on:1 → on:1 control:4`,
		`rule "new" added: everyone, rollout 100 %, weights on:1`,
		`rule "gone" removed`,
		"rollout of all other users 0 % → 0.01 %",
		"off variant off → control",
		"sticky bucketing off → on",
		`exposure event "" → "exp"`,
	}
	if strings.Join(d.Summary, "\n") != strings.Join(want, "\n") {
		t.Fatalf("summary:\n%s\nwant:\n%s", strings.Join(d.Summary, "\n"), strings.Join(want, "\n"))
	}
	var ops []map[string]any
	if err := json.Unmarshal(d.Operations, &ops); err != nil || len(ops) == 0 {
		t.Fatalf("operations: %s", d.Operations)
	}
	same, _ := domain.ConfigDiff(live, live)
	if !same.Empty() || string(same.Operations) != "[]" {
		t.Fatalf("no change, no diff: %+v", same)
	}
}

// Numeric operators take finite decimal numbers only: ParseFloat's "NaN",
// "Inf" and hex floats are refused.
func TestNumericConditionValues(t *testing.T) {
	for val, ok := range map[string]bool{
		"42": true, "-1.5": true, "+3": true, ".5": true, "1e3": true, "2.": true,
		"NaN": false, "nan": false, "Inf": false, "-Infinity": false, "+inf": false, "0x1p-2": false, "1_000": false, "": false, "1.2.3": false,
	} {
		c := domain.Condition{Attribute: "age", Operator: domain.OpGT, Values: []string{val}}
		r := domain.Rule{Conditions: []domain.Condition{c}}
		cfg := &domain.FlagConfig{Project: "p", Flag: "f", Environment: "e", Rules: []domain.Rule{r}, OffVariant: domain.OffVariantKey,
			DefaultRule: domain.Allocation{Weights: []domain.Weight{}}}
		f := &domain.Flag{Project: "p", Key: "f", Variants: []domain.Variant{{Key: "on", Value: []byte("true")}}}
		err := cfg.Validate(f)
		if got := err == nil; got != ok {
			t.Errorf("gt %q: valid %v, want %v (%v)", val, got, ok, err)
		}
	}
}
