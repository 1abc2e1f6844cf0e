package domain_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

var quorumNow = clocktest.Epoch

// quorumRequest is a pending request of m_req under policy p.
func quorumRequest(p domain.Policy) *domain.ChangeRequest {
	return &domain.ChangeRequest{ID: "cr_q", Requester: "member:m_req", RequesterMember: "m_req", RevisionBy: "m_req",
		Status: domain.StatusPending, Revision: 1, Policy: p}
}

func approveAs(t *testing.T, cr *domain.ChangeRequest, who string) domain.Transition {
	t.Helper()
	tr, err := cr.Review(domain.Actor{MemberID: who, Role: domain.RoleEditor}, domain.DecisionApprove, "ok", "api", quorumNow)
	if err != nil {
		t.Fatalf("%s approves: %v", who, err)
	}
	return tr
}

func teams(distinct bool, min int, reqs ...domain.Requirement) domain.Policy {
	return domain.Policy{MinApprovals: min, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual, RejectionBlocksApply: true,
		AutoApproveAfter: domain.AutoApproveNever, Requirements: reqs, DistinctReviewers: distinct}
}

var (
	sre       = domain.TeamRequirementOf(domain.TeamRequirement{Team: "sre", Min: 1}, []string{"m_ann", "m_bob"})
	checkout  = domain.TeamRequirementOf(domain.TeamRequirement{Team: "checkout-owners", Min: 1}, []string{"m_ann", "m_cid"})
	checkout2 = domain.TeamRequirementOf(domain.TeamRequirement{Team: "checkout-owners", Min: 2}, []string{"m_cid", "m_dan"})
)

// One review counts for every team its reviewer is in: Ann, in sre and
// checkout-owners, satisfies both.
func TestOverlappingTeamsOneReviewer(t *testing.T) {
	cr := quorumRequest(teams(false, 0, sre, checkout))
	if cr.QuorumMet() {
		t.Fatal("met with no approval")
	}
	if got := cr.Shortfalls(); len(got) != 2 || got[0] != (domain.Shortfall{Requirement: "sre", Need: 1}) {
		t.Fatalf("shortfalls %+v", got)
	}
	if tr := approveAs(t, cr, "m_ann"); !tr.Approved() || cr.Status != domain.StatusApproved {
		t.Fatalf("Ann's approval did not approve: %s, %+v", cr.Status, cr.Shortfalls())
	}
}

// With distinct reviewers one person fills one requirement: two are needed.
func TestOverlappingTeamsDistinctReviewers(t *testing.T) {
	cr := quorumRequest(teams(true, 0, sre, checkout))
	if tr := approveAs(t, cr, "m_ann"); tr.Approved() {
		t.Fatal("one reviewer filled two requirements with distinct_reviewers")
	}
	if got := cr.Missing(); len(got) != 1 || got[0] != "needs 1 more from checkout-owners" {
		t.Fatalf("missing %q", got) // Ann went to sre, the first requirement
	}
	if tr := approveAs(t, cr, "m_bob"); !tr.Approved() {
		t.Fatalf("Ann and Bob: %+v", cr.Shortfalls()) // Bob takes sre, Ann moves to checkout-owners
	}
}

// A matching where the greedy choice fails: Ann approves first and a
// greedy count gives her to sre; Bob (sre only) then has nowhere to go.
// The augmenting path moves Ann to checkout-owners.
func TestDistinctReviewersAugmentingPath(t *testing.T) {
	cr := quorumRequest(teams(true, 0, sre, checkout))
	cr.Reviews = []domain.Review{
		{Reviewer: "m_ann", Decision: domain.DecisionApprove, Revision: 1},
		{Reviewer: "m_bob", Decision: domain.DecisionApprove, Revision: 1},
	}
	if !cr.QuorumMet() {
		t.Fatalf("Ann and Bob leave %+v", cr.Shortfalls())
	}
	// Two from checkout-owners and one from sre: Ann, Cid, Dan cover it
	// only with Ann in sre.
	cr = quorumRequest(teams(true, 0, checkout2, sre))
	cr.Reviews = []domain.Review{
		{Reviewer: "m_ann", Decision: domain.DecisionApprove, Revision: 1},
		{Reviewer: "m_cid", Decision: domain.DecisionApprove, Revision: 1},
		{Reviewer: "m_dan", Decision: domain.DecisionApprove, Revision: 1},
	}
	cr.Policy.Requirements[0].Members = append(cr.Policy.Requirements[0].Members, "m_ann")
	if !cr.QuorumMet() {
		t.Fatalf("Ann, Cid and Dan leave %+v", cr.Shortfalls())
	}
	// An approval of an earlier revision, or a rejection, counts for nothing.
	cr.Revision = 2
	if got := cr.Shortfalls(); len(got) != 2 || got[0] != (domain.Shortfall{Requirement: "checkout-owners", Need: 2}) || got[1].Need != 1 {
		t.Fatalf("after an edit: %+v", got)
	}
}

// The overall quorum counts on top of the teams; auto-approval stands in
// for it, never for a team.
func TestOverallQuorumAndAutoApproval(t *testing.T) {
	p := teams(false, 2, sre)
	p.AutoApproveAfter = domain.AutoApprove24h
	cr := quorumRequest(p)
	cr.StartTimers(quorumNow)
	if got := cr.Missing(); !slices.Equal(got, []string{"needs 2 more approvals", "needs 1 more from sre"}) {
		t.Fatalf("missing %q", got)
	}
	if due := cr.NextDue(); due != nil {
		t.Fatalf("a team short, yet auto-approval is due at %v", due)
	}
	later := quorumNow.Add(25 * time.Hour)
	if _, err := cr.AutoApprove(later); err == nil {
		t.Fatal("auto-approval stood in for sre")
	}
	approveAs(t, cr, "m_bob")
	if got := cr.Missing(); !slices.Equal(got, []string{"needs 1 more approval"}) {
		t.Fatalf("missing %q", got)
	}
	if due := cr.NextDue(); due == nil || !due.Equal(*cr.AutoApproveAt) {
		t.Fatalf("next due %v", due)
	}
	if tr, err := cr.AutoApprove(later); err != nil || !tr.Approved() {
		t.Fatalf("auto-approval for the overall quorum: %v", err)
	}
	// More reviews are taken while a count is above one.
	if err := cr.CheckReview(domain.Actor{MemberID: "m_cid", Role: domain.RoleEditor}, later); err != nil {
		t.Fatalf("a second review of an approved two-approval request: %v", err)
	}
}

// Requirements alone (min_approvals 0): one from the maintainers; the
// request shows who is missing, and when nobody else can supply it.
func TestMaintainerRequirementAndMissing(t *testing.T) {
	maint := domain.MaintainerRequirement("payment-v2", []string{"m_req", "m_eve"})
	cr := quorumRequest(teams(false, 0, maint))
	if got := cr.Missing(); !slices.Equal(got, []string{"needs 1 more from the maintainers of payment-v2"}) {
		t.Fatalf("missing %q", got)
	}
	if got := cr.WaitsOn(); !slices.Equal(got, []string{"m_eve"}) {
		t.Fatalf("waits on %v, want the maintainer who can approve", got)
	}
	if _, err := cr.Review(domain.Actor{MemberID: "m_eve", Role: domain.RoleEditor}, domain.DecisionReject, "no", "api", quorumNow); err != nil {
		t.Fatal(err)
	}
	cr.Status = domain.StatusPending // as if rejections did not block
	if got := cr.Missing(); len(got) != 1 || !strings.HasSuffix(got[0], "; nobody else in the maintainers of payment-v2 can approve") {
		t.Fatalf("missing %q", got)
	}
	// Nothing required at all still takes one approval.
	if got := quorumRequest(teams(false, 0)).Shortfalls(); len(got) != 1 || got[0].Need != 1 {
		t.Fatalf("no requirement, min 0: %+v", got)
	}
}

// In designated mode a requirement's members may review too.
func TestRequirementMembersReviewInDesignatedMode(t *testing.T) {
	p := teams(false, 1, sre)
	p.Reviewers, p.DesignatedReviewers = domain.ReviewersDesignated, []string{"m_zed"}
	cr := quorumRequest(p)
	if err := cr.CanReview(domain.Actor{MemberID: "m_bob", Role: domain.RoleEditor}); err != nil {
		t.Fatalf("sre member: %v", err)
	}
	if err := cr.CanReview(domain.Actor{MemberID: "m_cid", Role: domain.RoleEditor}); err != domain.ErrNotDesignated {
		t.Fatalf("non-member: %v", err)
	}
}

// Strictest unites requirements: the same team keeps the higher Min, its
// members united; distinct_reviewers if any says so. A governance policy
// drops them.
func TestStrictestRequirements(t *testing.T) {
	a := teams(false, 1, sre, checkout)
	a.Environments = []string{"production"}
	b := teams(true, 1, checkout2)
	b.Environments = []string{"staging"}
	got := domain.Strictest([]domain.Policy{a, b})
	if !got.DistinctReviewers || len(got.Requirements) != 2 {
		t.Fatalf("strictest %+v", got)
	}
	co := got.Requirements[1]
	if co.Team != "checkout-owners" || co.Min != 2 || !slices.Equal(co.Members, []string{"m_ann", "m_cid", "m_dan"}) {
		t.Fatalf("checkout-owners united: %+v", co)
	}
	if a.Requirements[1].Min != 1 || len(a.Requirements[1].Members) != 2 {
		t.Fatalf("Strictest changed its input: %+v", a.Requirements[1])
	}
	g, _ := domain.GovernancePolicy(got, 3)
	if len(g.Requirements) != 0 || g.DistinctReviewers {
		t.Fatalf("governance policy keeps requirements: %+v", g)
	}
}

// Settings: min_approvals 0 only with requirements; each team once, Min 1
// to 5, at most five.
func TestApprovalSettingsRequireValidation(t *testing.T) {
	base := func() *domain.ApprovalSettings {
		s := domain.DefaultApprovalSettings(&domain.Environment{Project: "p", Key: "production", Protected: true})
		return s
	}
	for _, c := range []struct {
		name string
		set  func(*domain.ApprovalSettings)
		ptr  string
	}{
		{"min 0 alone", func(s *domain.ApprovalSettings) { s.MinApprovals = 0 }, "/min_approvals"},
		{"min 0 with a team", func(s *domain.ApprovalSettings) {
			s.MinApprovals, s.Require = 0, []domain.TeamRequirement{{Team: "sre", Min: 1}}
		}, ""},
		{"min 0 with maintainers", func(s *domain.ApprovalSettings) { s.MinApprovals, s.RequireMaintainer = 0, true }, ""},
		{"team twice", func(s *domain.ApprovalSettings) {
			s.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}, {Team: "sre", Min: 2}}
		}, "/require/1/team"},
		{"min 6", func(s *domain.ApprovalSettings) { s.Require = []domain.TeamRequirement{{Team: "sre", Min: 6}} }, "/require/0/min"},
		{"six teams", func(s *domain.ApprovalSettings) {
			for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
				s.Require = append(s.Require, domain.TeamRequirement{Team: k, Min: 1})
			}
		}, "/require"},
	} {
		s := base()
		c.set(s)
		err := s.Validate()
		if c.ptr == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		de, _ := err.(*domain.Error)
		if de == nil || !slices.ContainsFunc(de.Fields, func(f domain.FieldError) bool { return f.Pointer == c.ptr }) {
			t.Errorf("%s: %v, want %s", c.name, err, c.ptr)
		}
	}
}
