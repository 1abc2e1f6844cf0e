package domain

import (
	"fmt"
	"strings"
	"time"
)

// Break-glass with review after (issue 16, docs/governance-design.md part
// 5): every bypass (a grant, with its required reason) opens a change
// request that holds the bypassed change, already applied, in
// StatusReviewAfter. Another member who may review it under its policy
// must acknowledge it within the environment's review_after_bypass; past
// that it is overdue (audited, mailed, counted), and still open for the
// acknowledgement.

// DefaultReviewAfterBypass is how long a bypass waits for its review after
// when the settings say nothing (settings written before the field).
const DefaultReviewAfterBypass = "24h"

// The bounds of review_after_bypass.
const (
	MinReviewAfterBypass = time.Hour
	MaxReviewAfterBypass = 168 * time.Hour
)

// BypassRecord is what a bypass was, on the request that reviews it after.
type BypassRecord struct {
	Reason string `json:"reason"`
	// Freeze is the freeze (its id) the bypass passed, if any.
	Freeze string `json:"freeze,omitempty"`
	// ReviewDueAt is when the acknowledgement is due; past it the request
	// is Overdue (MarkOverdue), once.
	ReviewDueAt time.Time `json:"review_due_at"`
	Overdue     bool      `json:"overdue,omitempty"`
}

// ReviewAfterBypassDuration is the settings' review_after_bypass, the
// default when unset or unreadable.
func (s *ApprovalSettings) ReviewAfterBypassDuration() time.Duration {
	if d, err := time.ParseDuration(s.ReviewAfterBypass); err == nil && d > 0 {
		return d
	}
	d, _ := time.ParseDuration(DefaultReviewAfterBypass)
	return d
}

// EffectiveReviewAfterBypass is the settings' review_after_bypass as it
// reads: the default when unset.
func (s *ApprovalSettings) EffectiveReviewAfterBypass() string { return orDefault(s.ReviewAfterBypass) }

// validReviewAfterBypass checks a review_after_bypass value.
func validReviewAfterBypass(v string) bool {
	d, err := time.ParseDuration(v)
	return err == nil && d >= MinReviewAfterBypass && d <= MaxReviewAfterBypass
}

// longerReviewAfter reports whether review_after_bypass b gives the
// reviewers longer than a ("" is the default): a weakening.
func longerReviewAfter(a, b string) bool {
	da := (&ApprovalSettings{ReviewAfterBypass: a}).ReviewAfterBypassDuration()
	db := (&ApprovalSettings{ReviewAfterBypass: b}).ReviewAfterBypassDuration()
	return db > da
}

// orDefault is review_after_bypass as it reads ("" is the default).
func orDefault(v string) string {
	if v == "" {
		return DefaultReviewAfterBypass
	}
	return v
}

// Refusals of the review after.
var (
	ErrNotAwaitingAcknowledgement = &Error{Code: CodeConflict, Message: "the request awaits no acknowledgement: only the review after a bypass is acknowledged, once"}
	ErrOwnBypass                  = &Error{Code: CodeForbidden, Message: "the member who bypassed (or whose token did) cannot acknowledge their own bypass; another reviewer must"}
	ErrNotOverdue                 = &Error{Code: CodeConflict, Message: "the review after the bypass is not overdue"}
)

// actorReviewAfter is the timer that marks a review after overdue.
var actorReviewAfter = Actor{System: "review-after"}

// OpenReviewAfter makes cr (its changes, subject and policy set; its
// requester the bypasser) the review after a bypass by a, already applied
// at live version version: it awaits acknowledgement until due.
func (cr *ChangeRequest) OpenReviewAfter(a Actor, reason, freeze string, due time.Time, version int64, channel string, now time.Time) (Transition, error) {
	if strings.TrimSpace(reason) == "" {
		var v Validation
		v.Add("/bypass_reason", "a bypass needs a reason")
		return Transition{}, v.Err()
	}
	cr.Status = StatusReviewAfter
	cr.Policy.AllowSelfApproval = false
	cr.Bypass = &BypassRecord{Reason: reason, Freeze: freeze, ReviewDueAt: due.UTC()}
	cr.AutoApproveAt, cr.ExpiresAt, cr.ApplyAt, cr.ApplyPending = nil, nil, nil, false
	cr.AppliedBy, cr.AppliedVersion = a.String(), version
	at := now
	cr.AppliedAt = &at
	return cr.transition(TimelineEvent{Type: EventBypassed, Actor: a.String(), Comment: reason, Channel: channel, At: now}, ActionRequestBypassed)
}

// CheckAcknowledge says whether a may acknowledge the review after now,
// changing nothing: the request awaits it, a is not who bypassed (nor the
// member behind the token that did), and a may review under its policy.
func (cr *ChangeRequest) CheckAcknowledge(a Actor) error {
	if cr.Status != StatusReviewAfter || cr.Bypass == nil {
		return ErrNotAwaitingAcknowledgement
	}
	if a.MemberID == "" {
		return ErrNotAPerson
	}
	if cr.isRequester(a) || (cr.RequesterBehind != "" && a.MemberID == cr.RequesterBehind) || (cr.RevisionBy != "" && a.MemberID == cr.RevisionBy) {
		return ErrOwnBypass
	}
	return cr.CanReview(a)
}

// Acknowledge records that a reviewed the bypass after the fact: the
// request is applied, its review done.
func (cr *ChangeRequest) Acknowledge(a Actor, comment, channel string, now time.Time) (Transition, error) {
	if err := checkComment(comment, true); err != nil {
		return Transition{}, err
	}
	if err := cr.CheckAcknowledge(a); err != nil {
		return Transition{}, err
	}
	cr.Status = StatusApplied
	return cr.transition(TimelineEvent{Type: EventAcknowledged, Actor: a.String(), Comment: comment, Channel: channel, At: now}, ActionRequestAcknowledged)
}

// MarkOverdue records that the review after passed its due time
// unacknowledged, once: it stays open for the acknowledgement.
func (cr *ChangeRequest) MarkOverdue(now time.Time) (Transition, error) {
	if cr.Status != StatusReviewAfter || cr.Bypass == nil || cr.Bypass.Overdue || now.Before(cr.Bypass.ReviewDueAt) {
		return Transition{}, ErrNotOverdue
	}
	// a new record, not a write through the pointer: a store may hold the
	// request as read, sharing it, to tell what the write changes (its
	// timer index)
	b := *cr.Bypass
	b.Overdue = true
	cr.Bypass = &b
	return cr.transition(TimelineEvent{Type: EventReviewOverdue, Actor: actorReviewAfter.String(), Channel: "system", At: now,
		Comment: fmt.Sprintf("not acknowledged by %s", cr.Bypass.ReviewDueAt.UTC().Format(time.RFC3339))}, ActionRequestReviewOverdue)
}

// ReviewOverdue reports whether the review after is due and not yet
// acknowledged at now (marked overdue or not).
func (cr *ChangeRequest) ReviewOverdue(now time.Time) bool {
	return cr.Status == StatusReviewAfter && cr.Bypass != nil && !now.Before(cr.Bypass.ReviewDueAt)
}
