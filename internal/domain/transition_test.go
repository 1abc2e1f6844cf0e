package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Every transition returns the timeline event it added, as it was added,
// and the audit action that records it: the record of a transition is made
// from what the transition says it did.
func TestTransitionsReturnTheirEvents(t *testing.T) {
	later := now.Add(time.Hour)
	quorum2 := domain.Policy{MinApprovals: 2, Reviewers: domain.ReviewersPeer, RejectionBlocksApply: true, AllowUnapprovedScheduleDeletion: true}
	cases := []struct {
		name   string
		setup  func(*domain.ChangeRequest)
		do     func(*domain.ChangeRequest) (domain.Transition, error)
		event  domain.EventType
		action domain.AuditAction
	}{
		{"opened", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Opened(req, "api", now) },
			domain.EventCreated, domain.ActionRequestCreated},
		{"a review short of the quorum", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.Review(alice, domain.DecisionApprove, "ok", "console", now)
		}, domain.EventApproved, domain.ActionRequestReviewed},
		{"the review that completes the quorum", func(cr *domain.ChangeRequest) {
			must(t, only(cr.Review(alice, domain.DecisionApprove, "ok", "api", now)))
		}, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.Review(bob, domain.DecisionApprove, "ok too", "email", now)
		}, domain.EventApproved, domain.ActionRequestApproved},
		{"a blocking rejection", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.Review(alice, domain.DecisionReject, "no", "api", now)
		}, domain.EventRejected, domain.ActionRequestRejected},
		{"auto-approval", func(cr *domain.ChangeRequest) { cr.AutoApproveAt = &now },
			func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.AutoApprove(later) },
			domain.EventAutoApproved, domain.ActionRequestAutoApproved},
		{"expiry", func(cr *domain.ChangeRequest) { cr.ExpiresAt = &now },
			func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Expire(later) },
			domain.EventExpired, domain.ActionRequestExpired},
		{"an edit", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			title := "new title"
			return cr.Edit(req, &title, nil, nil, now)
		}, domain.EventEdited, domain.ActionRequestEdited},
		{"withdrawal", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Withdraw(req, now) },
			domain.EventWithdrawn, domain.ActionRequestWithdrawn},
		{"apply", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.MarkApplied(alice, 4, "api", now) },
			domain.EventApplied, domain.ActionRequestApplied},
		{"a comment", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.AddComment(bob, "@alice look", []string{"alice"}, now)
		}, domain.EventCommented, domain.ActionRequestCommented},
		{"approvals revoked", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.RevokeApprovals(admin, "bypass turned on", now)
		}, domain.EventApprovalsRevoked, domain.ActionRequestApprovalsRevoked},
		{"a demoted reviewer's approval voided", func(cr *domain.ChangeRequest) {
			must(t, only(cr.Review(alice, domain.DecisionApprove, "ok", "api", now)))
		}, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			t, ok, err := cr.VoidReviews(alice.MemberID, "role lowered to viewer", now)
			if !ok {
				return t, errors.New("nothing voided")
			}
			return t, err
		}, domain.EventReviewVoided, domain.ActionRequestReviewVoided},
		{"a schedule that failed", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.ScheduleFailed("the live state moved on", now)
		}, domain.EventScheduleFailed, domain.ActionRequestScheduleFailed},
		{"a draft started", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Drafted(req, "api", now) },
			domain.EventDrafted, domain.ActionRequestDrafted},
		{"a draft's edit", func(cr *domain.ChangeRequest) { must(t, only(cr.Drafted(req, "api", now))) },
			func(cr *domain.ChangeRequest) (domain.Transition, error) {
				return cr.Edit(req, nil, nil, []domain.Change{}, now)
			}, domain.EventDrafted, domain.ActionRequestDrafted},
		{"a draft submitted", func(cr *domain.ChangeRequest) {
			must(t, only(cr.Drafted(req, "api", now)))
			cr.Changes = []domain.Change{{Kind: domain.KindTargeting, Flag: "f", Environment: "production"}}
		}, func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Submit(req, quorum2, "api", now) },
			domain.EventSubmitted, domain.ActionRequestSubmitted},
		{"held by a freeze", func(cr *domain.ChangeRequest) { cr.Status = domain.StatusApproved },
			func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.Hold("fz_1", later, now) },
			domain.EventHeld, domain.ActionRequestHeld},
		{"a bypass opens its review after", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.OpenReviewAfter(req, "incident 42", "", later, 5, "api", now)
		}, domain.EventBypassed, domain.ActionRequestBypassed},
		{"a review after acknowledged", func(cr *domain.ChangeRequest) {
			must(t, only(cr.OpenReviewAfter(req, "incident 42", "", later, 5, "api", now)))
		},
			func(cr *domain.ChangeRequest) (domain.Transition, error) {
				return cr.Acknowledge(alice, "looked at it", "api", now)
			},
			domain.EventAcknowledged, domain.ActionRequestAcknowledged},
		{"a review after overdue", func(cr *domain.ChangeRequest) {
			must(t, only(cr.OpenReviewAfter(req, "incident 42", "", now, 5, "api", now)))
		},
			func(cr *domain.ChangeRequest) (domain.Transition, error) { return cr.MarkOverdue(later) },
			domain.EventReviewOverdue, domain.ActionRequestReviewOverdue},
		{"an apply conflict", nil, func(cr *domain.ChangeRequest) (domain.Transition, error) {
			return cr.ApplyConflict(alice, "moved on", "api", now)
		}, domain.EventApplyConflict, domain.ActionRequestApplyConflict},
	}
	seen := map[domain.EventType]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cr := newCR(quorum2)
			if c.setup != nil {
				c.setup(cr)
			}
			before := len(cr.Timeline)
			tr, err := c.do(cr)
			if err != nil {
				t.Fatal(err)
			}
			if len(cr.Timeline) != before+1 || !reflect.DeepEqual(tr.Event, cr.Timeline[before]) {
				t.Fatalf("the transition's event %+v is not the one it added: %+v", tr.Event, cr.Timeline[before:])
			}
			if tr.Event.Type != c.event || tr.Action != c.action || tr.Event.Revision != cr.Revision {
				t.Fatalf("got event %s (revision %d) recorded as %s, want %s as %s", tr.Event.Type, tr.Event.Revision, tr.Action, c.event, c.action)
			}
			if tr.Approved() != (c.action == domain.ActionRequestApproved || c.action == domain.ActionRequestAutoApproved) {
				t.Fatalf("Approved() = %t for %s", tr.Approved(), c.action)
			}
			seen[tr.Event.Type] = true
		})
	}
	for _, typ := range domain.EventTypes {
		if !seen[typ] {
			t.Errorf("no transition here adds a %s event", typ)
		}
	}
}

func only(_ domain.Transition, err error) error { return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
