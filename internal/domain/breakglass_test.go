package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// reviewAfter is the review after req's bypass (through a token when
// behind), due a day after now.
func reviewAfter(t *testing.T, by domain.Actor) *domain.ChangeRequest {
	t.Helper()
	cr := &domain.ChangeRequest{ID: "cr", Requester: by.String(), RequesterMember: by.MemberID, RequesterBehind: by.Behind, RevisionBy: by.Person(),
		Revision: 1, Policy: domain.Policy{MinApprovals: 2, Reviewers: domain.ReviewersPeer, AllowSelfApproval: true}}
	if _, err := cr.OpenReviewAfter(by, "incident 42", "fz_1", now.Add(24*time.Hour), 7, "api", now); err != nil {
		t.Fatal(err)
	}
	return cr
}

func TestReviewAfterIsAppliedAndAwaitsAcknowledgement(t *testing.T) {
	cr := reviewAfter(t, req)
	if cr.Status != domain.StatusReviewAfter || cr.Status.Final() || !cr.Open() {
		t.Fatalf("status %s, final %t", cr.Status, cr.Status.Final())
	}
	if cr.Policy.AllowSelfApproval || cr.AppliedVersion != 7 || cr.AppliedBy != req.String() || cr.Bypass.Freeze != "fz_1" || cr.Bypass.Reason != "incident 42" {
		t.Fatalf("request %+v, bypass %+v", cr, cr.Bypass)
	}
	for name, err := range map[string]error{
		"edit":     cr.CheckEdit(req, now),
		"withdraw": cr.CheckWithdraw(admin, now),
		"apply":    cr.CheckApply(admin, now),
		"review":   cr.CheckReview(alice, now),
	} {
		if err == nil {
			t.Errorf("%s of a review after: allowed", name)
		}
	}
	if err := cr.CheckComment(alice); err != nil {
		t.Errorf("a comment on a review after: %v", err)
	}
	if due := cr.NextDue(); due == nil || !due.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("next due %v", due)
	}
	if _, err := cr.OpenReviewAfter(req, " ", "", now, 1, "api", now); err == nil {
		t.Fatal("a bypass without a reason opened a review after")
	}
}

func TestOnlyAnotherReviewerAcknowledges(t *testing.T) {
	token := domain.Actor{TokenID: "tok", Role: domain.RoleAdmin, Behind: "req"}
	cr := reviewAfter(t, token)
	for _, a := range []domain.Actor{token, {MemberID: "req", Role: domain.RoleAdmin}} {
		if _, err := cr.Acknowledge(a, "fine", "api", now); !errors.Is(err, domain.ErrOwnBypass) && !errors.Is(err, domain.ErrNotAPerson) {
			t.Fatalf("%s acknowledged its own bypass: %v", a, err)
		}
	}
	if _, err := cr.Acknowledge(domain.Actor{MemberID: "v", Role: domain.RoleViewer}, "fine", "api", now); !errors.Is(err, domain.ErrReviewerRole) {
		t.Fatalf("a viewer acknowledged: %v", err)
	}
	if _, err := cr.Acknowledge(alice, "", "api", now); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("an acknowledgement without a comment: %v", err)
	}
	if _, err := cr.Acknowledge(alice, "looked at it", "api", now); err != nil {
		t.Fatal(err)
	}
	if cr.Status != domain.StatusApplied || cr.NextDue() != nil {
		t.Fatalf("acknowledged: status %s, due %v", cr.Status, cr.NextDue())
	}
	if _, err := cr.Acknowledge(bob, "me too", "api", now); !errors.Is(err, domain.ErrNotAwaitingAcknowledgement) {
		t.Fatalf("acknowledged twice: %v", err)
	}
}

func TestOverdueOnceAndStillOpen(t *testing.T) {
	cr := reviewAfter(t, req)
	if _, err := cr.MarkOverdue(now.Add(time.Hour)); !errors.Is(err, domain.ErrNotOverdue) {
		t.Fatalf("overdue before its time: %v", err)
	}
	later := now.Add(25 * time.Hour)
	if _, err := cr.MarkOverdue(later); err != nil {
		t.Fatal(err)
	}
	if !cr.Bypass.Overdue || cr.NextDue() != nil || !cr.ReviewOverdue(later) {
		t.Fatalf("overdue %t, due %v", cr.Bypass.Overdue, cr.NextDue())
	}
	if _, err := cr.MarkOverdue(later); !errors.Is(err, domain.ErrNotOverdue) {
		t.Fatalf("overdue twice: %v", err)
	}
	if _, err := cr.Acknowledge(bob, "late, but fine", "email", later); err != nil {
		t.Fatal(err)
	}
}

func TestReviewAfterBypassSetting(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "1h": true, "24h": true, "168h": true, "30m": false, "169h": false, "soon": false} {
		s := governedBase()
		s.ReviewAfterBypass = v
		if err := s.Validate(); (err == nil) != ok {
			t.Errorf("review_after_bypass %q: %v", v, err)
		}
	}
	if d := (&domain.ApprovalSettings{}).ReviewAfterBypassDuration(); d != 24*time.Hour {
		t.Fatalf("default %s", d)
	}
}
