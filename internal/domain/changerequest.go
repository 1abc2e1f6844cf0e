package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Actor is who acts on a change request: a member (through their token or
// an e-mail link), a service token, or the system (timers).
type Actor struct {
	MemberID string `json:"member_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
	Role     Role   `json:"role,omitempty"`
	System   string `json:"system,omitempty"` // e.g. "auto-approval"
	// Behind is, for a service token, the member who created it: what the
	// token asks for, that member asked for, as far as reviewing goes (an
	// admin does not approve what they requested through their own token).
	Behind string `json:"behind,omitempty"`
}

// Person is the member acting: themselves, or the one behind a service
// token ("" for the system).
func (a Actor) Person() string {
	if a.MemberID != "" {
		return a.MemberID
	}
	return a.Behind
}

// String names the actor in timelines and audit entries.
func (a Actor) String() string {
	switch {
	case a.System != "":
		return "system:" + a.System
	case a.MemberID != "":
		return "member:" + a.MemberID
	default:
		return "token:" + a.TokenID
	}
}

// CRStatus is a change request's state.
type CRStatus string

const (
	StatusDraft     CRStatus = "draft" // being put together by its requester; nobody reviews it yet
	StatusPending   CRStatus = "pending"
	StatusApproved  CRStatus = "approved"
	StatusRejected  CRStatus = "rejected"
	StatusWithdrawn CRStatus = "withdrawn"
	StatusExpired   CRStatus = "expired"
	StatusApplied   CRStatus = "applied"
	// StatusReviewAfter: applied by a bypass, awaiting another reviewer's
	// acknowledgement (breakglass.go); acknowledged, it is applied.
	StatusReviewAfter CRStatus = "review_after"
)

// Final reports whether nothing can happen to a request in this state.
func (s CRStatus) Final() bool {
	return s == StatusWithdrawn || s == StatusExpired || s == StatusApplied
}

// CRKind is what a request changes.
type CRKind string

const (
	KindTargeting CRKind = "targeting" // a flag's config in one environment
	KindFlag      CRKind = "flag"      // flag-level fields that affect serving (variants, salt, tags)
)

// Decision is a review's verdict.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
)

// Review is one reviewer's decision on one revision.
type Review struct {
	Reviewer string    `json:"reviewer"` // member id
	Decision Decision  `json:"decision"`
	Comment  string    `json:"comment"`
	Revision int       `json:"revision"`
	Channel  string    `json:"channel"` // api, email, system
	At       time.Time `json:"at"`
	// Voided: the reviewer lost the right to review (VoidReviews), so the
	// review no longer counts.
	Voided bool `json:"voided,omitempty"`
}

// TimelineEvent is one thing that happened to a request.
type TimelineEvent struct {
	Type     EventType `json:"type"`
	Actor    string    `json:"actor"`
	Revision int       `json:"revision"`
	Comment  string    `json:"comment,omitempty"`
	Mentions []string  `json:"mentions,omitempty"`
	// MentionsNotMailed are the members of Mentions who got no e-mail for
	// this comment: they had had MaxMentionMailsPerHour mention mails about
	// the request within the hour (MayMailMention).
	MentionsNotMailed []string  `json:"mentions_not_mailed,omitempty"`
	Channel           string    `json:"channel,omitempty"`
	At                time.Time `json:"at"`
}

// Limits on what a request accumulates (it is one DynamoDB item, at most
// 400 KB). Comments are what anyone who reads the project can add, so they
// are capped per request, per member and in total length; transitions
// (reviews, edits, apply, withdraw, expiry) are never refused for room,
// so no amount of commenting can freeze a request.
const (
	MaxCommentLength     = 2000     // characters of one comment
	MaxComments          = 100      // comments on one request
	MaxCommentsPerMember = 20       // comments by one member on one request
	MaxCommentBytes      = 96 << 10 // bytes of all comments on one request
)

// MaxMentionMailsPerHour bounds the mention e-mails one member gets about
// one request in any rolling hour (MentionMailWindow): a comment that
// mentions them once more still shows the mention in the timeline, but
// mails nothing (TimelineEvent.MentionsNotMailed). With MaxMentions per
// comment and MaxCommentsPerMember this keeps one viewer from turning a
// request into a mail cannon aimed at a colleague. The count is kept in
// the request's own timeline, written in the comment's transaction, so it
// holds under concurrent comments on every store.
const (
	MaxMentionMailsPerHour = 3
	MentionMailWindow      = time.Hour
)

// ChangeRequest is a proposed change to what users see, waiting for review.
type ChangeRequest struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	// Flag, Environment and Kind are the request's subject: its first
	// change's (Subject sets them), named in titles, lists and mail. Every
	// change the request makes is in Changes.
	Flag        string `json:"flag"`
	Environment string `json:"environment,omitempty"` // "" for flag-level changes
	Kind        CRKind `json:"kind"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Changes are what the request proposes, 1 to MaxChanges (a draft may
	// have none yet), each with its base; they apply together or not at all.
	Changes         []Change        `json:"-"`
	Requester       string          `json:"requester"` // actor string
	RequesterMember string          `json:"requester_member,omitempty"`
	NotifyReviewers []string        `json:"notify_reviewers"`
	Status          CRStatus        `json:"status"`
	Revision        int             `json:"revision"`
	Policy          Policy          `json:"policy"`
	Reviews         []Review        `json:"reviews"`
	Timeline        []TimelineEvent `json:"timeline"`
	AutoApproveAt   *time.Time      `json:"auto_approve_at,omitempty"`
	ExpiresAt       *time.Time      `json:"expires_at,omitempty"`
	ApplyAt         *time.Time      `json:"apply_at,omitempty"`
	// ApplyPending marks an approved request that applies by itself (its
	// policy applies on approval, or its schedule has come) and has not yet:
	// if the apply that should follow the approval never ran (a crash between
	// the two writes), the timers find it due and finish the job.
	ApplyPending bool `json:"apply_pending,omitempty"`
	// RevisionBy is the member who made the current revision (the requester,
	// or whoever edited it last, or the member behind the service token
	// that did); they cannot review it unless self-approval is allowed.
	RevisionBy string `json:"revision_by,omitempty"`
	// RequesterBehind is, for a request a service token made, the member
	// who created the token: they count as the requester when reviewing.
	RequesterBehind string `json:"requester_behind,omitempty"`
	// UsedLinks are the nonces of e-mail action links already used: a link
	// acts once, recorded in the same write as its action.
	UsedLinks []string `json:"used_links,omitempty"`
	// HeldUntil is, for an approved request a freeze holds, when the
	// freeze (HeldBy, its id) ends: the timers try the apply again then.
	HeldUntil *time.Time `json:"held_until,omitempty"`
	HeldBy    string     `json:"held_by,omitempty"`
	// Bypass is, for the review after a bypass (StatusReviewAfter), what
	// the bypass was and by when it must be acknowledged.
	Bypass         *BypassRecord `json:"bypass,omitempty"`
	AppliedBy      string        `json:"applied_by,omitempty"`
	AppliedAt      *time.Time    `json:"applied_at,omitempty"`
	AppliedVersion int64         `json:"applied_version,omitempty"`
	Version        int64         `json:"version"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

// Named refusals of the state machine.
var (
	ErrNotReviewable    = &Error{Code: CodeConflict, Message: "the request is not open for review"}
	ErrAlreadyDecided   = &Error{Code: CodeConflict, Message: "the request was already decided by the first review (one approval needed)"}
	ErrAlreadyReviewed  = &Error{Code: CodeConflict, Message: "you already reviewed this revision; each reviewer counts once"}
	ErrSelfReview       = &Error{Code: CodeForbidden, Message: "the requester cannot review their own request in this environment"}
	ErrNotDesignated    = &Error{Code: CodeForbidden, Message: "only designated reviewers (and admins) review requests in this environment"}
	ErrReviewerRole     = &Error{Code: CodeForbidden, Message: "reviewing needs the editor role or higher"}
	ErrNotAPerson       = &Error{Code: CodeForbidden, Message: "reviews are given by members, not by service tokens"}
	ErrNotRequester     = &Error{Code: CodeForbidden, Message: "only the requester (or an admin) may do that"}
	ErrNotEditable      = &Error{Code: CodeConflict, Message: "the request can no longer be edited"}
	ErrNotWithdrawable  = &Error{Code: CodeConflict, Message: "the request can no longer be withdrawn"}
	ErrNotApproved      = &Error{Code: CodeConflict, Message: "the request is not approved"}
	ErrRejectionBlocks  = &Error{Code: CodeConflict, Message: "a reviewer rejected this revision; it cannot be applied until it is edited"}
	ErrApplyRole        = &Error{Code: CodeForbidden, Message: "applying needs the editor role or higher"}
	ErrPastDeadline     = &Error{Code: CodeConflict, Message: "the request passed its expiry deadline; it can no longer be reviewed, edited or applied"}
	ErrScheduleDeletion = &Error{Code: CodeForbidden, Message: "deleting an approved scheduled change needs approval here: a reviewer (not the requester) or an admin must withdraw it"}
	ErrScheduleEdit     = &Error{Code: CodeForbidden, Message: "editing an approved scheduled change would undo its approval, which here needs a second person: an admin may edit it, or a reviewer may withdraw it and you open a new request"}
	// (the limits as literals: TestLimitMessagesNameTheLimits)
	ErrTooManyComments = &Error{Code: CodeConflict, Message: "the request has 100 comments, the most it takes; its reviews and actions still work"}
	ErrYourComments    = &Error{Code: CodeConflict, Message: "you have written 20 comments on this request, the most one member may"}
	ErrCommentsTooLong = &Error{Code: CodeConflict, Message: "the comments on this request reach 96 KB, the most it holds; its reviews and actions still work"}
)

// ErrBaseChanged says the live state moved on since the request was made.
func ErrBaseChanged(base, live int64) *Error {
	return &Error{Code: CodeConflict, CurrentVersion: live, Message: fmt.Sprintf(
		"the live state changed since this request was made (request base version %d, live version %d); edit the request onto the current state, then it needs approval again", base, live)}
}

// WithChanges adds what changed since the base to a base-changed error.
func WithChanges(e *Error, changes []string) *Error {
	if len(changes) == 0 {
		return e
	}
	out := *e
	out.Message = e.Message + ". Changed since: " + strings.Join(changes, "; ")
	return &out
}

// Approvals are the approving reviews of the current revision.
func (cr *ChangeRequest) Approvals() []Review { return cr.reviewsOf(DecisionApprove) }

// Rejections are the rejecting reviews of the current revision.
func (cr *ChangeRequest) Rejections() []Review { return cr.reviewsOf(DecisionReject) }

func (cr *ChangeRequest) reviewsOf(d Decision) []Review {
	var out []Review
	for _, r := range cr.Reviews {
		if r.Revision == cr.Revision && r.Decision == d && !r.Voided {
			out = append(out, r)
		}
	}
	return out
}

// VoidReviews voids member's reviews of the current revision: the member
// may no longer review the request (demoted or removed), so their review
// stops counting. An approved request whose quorum no longer holds goes
// back to pending (and no longer applies on approval by itself). ok is
// false when the member had no review to void.
func (cr *ChangeRequest) VoidReviews(member, reason string, now time.Time) (t Transition, ok bool, err error) {
	if cr.Status != StatusPending && cr.Status != StatusApproved && cr.Status != StatusRejected {
		return Transition{}, false, nil
	}
	for i := range cr.Reviews {
		r := &cr.Reviews[i]
		if r.Reviewer == member && r.Revision == cr.Revision && !r.Voided {
			r.Voided, ok = true, true
		}
	}
	if !ok {
		return Transition{}, false, nil
	}
	switch {
	case cr.Status == StatusApproved && !cr.QuorumMet():
		cr.Status, cr.ApplyPending = StatusPending, false
	case cr.Status == StatusRejected && len(cr.Rejections()) == 0:
		cr.Status = StatusPending
	}
	t, err = cr.transition(TimelineEvent{Type: EventReviewVoided, Actor: "system:roles", Comment: reason, At: now}, ActionRequestReviewVoided)
	return t, true, err
}

// AddEvent appends a timeline event at the current revision.
func (cr *ChangeRequest) AddEvent(e TimelineEvent) error { return cr.event(e) }

func (cr *ChangeRequest) event(e TimelineEvent) error {
	e.Revision = cr.Revision
	cr.Timeline = append(cr.Timeline, e)
	cr.UpdatedAt = e.At
	return nil
}

// A Transition is what one change of a request did: the timeline event it
// added and the audit action that records it. Every transition returns one,
// and the audit entry (the outbox item the notifications come from) is made
// from it, so a transition and its record cannot disagree.
type Transition struct {
	Event  TimelineEvent
	Action AuditAction
}

// Approved reports whether the transition approved the request.
func (t Transition) Approved() bool {
	return t.Action == ActionRequestApproved || t.Action == ActionRequestAutoApproved
}

// transition adds e to the timeline, recorded as action.
func (cr *ChangeRequest) transition(e TimelineEvent, action AuditAction) (Transition, error) {
	if err := cr.event(e); err != nil {
		return Transition{}, err
	}
	return Transition{Event: cr.Timeline[len(cr.Timeline)-1], Action: action}, nil
}

// Opened records that a opened the request (its first event).
func (cr *ChangeRequest) Opened(a Actor, channel string, now time.Time) (Transition, error) {
	return cr.transition(TimelineEvent{Type: EventCreated, Actor: a.String(), Channel: channel, At: now}, ActionRequestCreated)
}

// ApplyConflict records an apply that the live state refused (it moved on
// since the request's base), as a saw it.
func (cr *ChangeRequest) ApplyConflict(a Actor, reason, channel string, now time.Time) (Transition, error) {
	return cr.transition(TimelineEvent{Type: EventApplyConflict, Actor: a.String(), Comment: reason, Channel: channel, At: now}, ActionRequestApplyConflict)
}

// Open reports whether the request still waits for something.
func (cr *ChangeRequest) Open() bool { return !cr.Status.Final() }

// isRequester reports whether a is the one who asked.
func (cr *ChangeRequest) isRequester(a Actor) bool {
	return a.String() == cr.Requester || (a.MemberID != "" && a.MemberID == cr.RequesterMember)
}

// CanReview says whether a may review, without changing anything.
func (cr *ChangeRequest) CanReview(a Actor) error {
	if a.MemberID == "" {
		return ErrNotAPerson
	}
	if !a.Role.AtLeast(RoleEditor) {
		return ErrReviewerRole
	}
	own := cr.isRequester(a) || (cr.RevisionBy != "" && a.MemberID == cr.RevisionBy) ||
		(cr.RequesterBehind != "" && a.MemberID == cr.RequesterBehind)
	if own && !cr.Policy.AllowSelfApproval {
		return ErrSelfReview
	}
	if cr.Policy.Reviewers == ReviewersDesignated && a.Role != RoleAdmin && !slices.Contains(cr.Policy.DesignatedReviewers, a.MemberID) &&
		!cr.Policy.MayReviewFor(a.MemberID) { // a requirement's members review too, or it could never be met
		return ErrNotDesignated
	}
	if cr.Policy.Reviewers == ReviewersAdmins {
		if a.Role != RoleAdmin {
			return ErrAdminsReview
		}
		for _, c := range cr.Changes {
			if c.Governance != nil && c.Governance.Concerns(a.MemberID) {
				return ErrSelfReview // nobody approves their own promotion, nor joining a team
			}
		}
	}
	return nil
}

// ErrAdminsReview refuses a review of a governance request by a member who
// is not an admin where it applies.
var ErrAdminsReview = &Error{Code: CodeForbidden, Message: "a change to the rules is reviewed by another admin"}

// CheckReview says whether a may review the current revision at now: the
// request is open for review, a may review it, and has not yet. It
// changes nothing (the console asks it to decide which buttons to offer).
func (cr *ChangeRequest) CheckReview(a Actor, now time.Time) error {
	if cr.pastDeadline(now) {
		return ErrPastDeadline
	}
	switch cr.Status {
	case StatusPending:
	case StatusApproved:
		if !cr.Policy.ReviewsAfterApproval() {
			return ErrAlreadyDecided
		}
	default:
		return ErrNotReviewable
	}
	if err := cr.CanReview(a); err != nil {
		return err
	}
	if cr.ReviewedBy(a.MemberID) {
		return ErrAlreadyReviewed
	}
	return nil
}

// ReviewedBy reports whether member reviewed the current revision.
func (cr *ChangeRequest) ReviewedBy(member string) bool {
	for _, r := range cr.Reviews {
		if r.Revision == cr.Revision && r.Reviewer == member {
			return true
		}
	}
	return false
}

// Review records a's decision. With one approval needed, the first review
// decides; otherwise approvals accumulate to the quorum, and a rejection
// moves the request to rejected when the policy says rejections block (a
// rejection arriving after the quorum still blocks). It returns whether the
// request became approved by this review.
func (cr *ChangeRequest) Review(a Actor, d Decision, comment, channel string, now time.Time) (Transition, error) {
	if d != DecisionApprove && d != DecisionReject {
		var v Validation
		v.Add("/decision", "must be approve or reject")
		return Transition{}, v.Err()
	}
	if err := checkComment(comment, true); err != nil {
		return Transition{}, err
	}
	if err := cr.CheckReview(a, now); err != nil {
		return Transition{}, err
	}
	cr.Reviews = append(cr.Reviews, Review{Reviewer: a.MemberID, Decision: d, Comment: comment, Revision: cr.Revision, Channel: channel, At: now})
	typ := EventApproved
	if d == DecisionReject {
		typ = EventRejected
	}
	// A review that decides the request is recorded as the decision
	// (approved, rejected); one that does not, as a review.
	action := ActionRequestReviewed
	switch {
	case d == DecisionReject && (cr.Policy.RejectionBlocksApply || !cr.Policy.ReviewsAfterApproval()):
		cr.Status = StatusRejected
		action = ActionRequestRejected
	case d == DecisionApprove && cr.Status == StatusPending && cr.QuorumMet() &&
		(!cr.Policy.RejectionBlocksApply || len(cr.Rejections()) == 0):
		cr.Status = StatusApproved
		cr.ApplyPending = cr.AppliesOnApproval(now)
		action = ActionRequestApproved
	}
	return cr.transition(TimelineEvent{Type: typ, Actor: a.String(), Comment: comment, Channel: channel, At: now}, action)
}

// AutoApprove approves a pending request whose auto-approval time passed,
// counting as every missing approval of the overall quorum. Rejected,
// withdrawn or re-edited requests are not auto-approved (an edit restarts
// the timer), nor are those short of a team's or maintainers' approval:
// auto-approval never stands in for a requirement.
func (cr *ChangeRequest) AutoApprove(now time.Time) (Transition, error) {
	if cr.Status != StatusPending || cr.AutoApproveAt == nil || now.Before(*cr.AutoApproveAt) || len(cr.Rejections()) > 0 || cr.teamShort() {
		return Transition{}, ErrNotReviewable
	}
	missing := cr.Policy.MinApprovals - len(cr.Approvals())
	cr.Status = StatusApproved
	cr.AutoApproveAt = nil
	cr.ApplyPending = cr.AppliesOnApproval(now)
	return cr.transition(TimelineEvent{Type: EventAutoApproved, Actor: Actor{System: "auto-approval"}.String(), Channel: "system", At: now,
		Comment: fmt.Sprintf("no objection within %s: auto-approval stands in for the %d missing approval(s)", cr.Policy.AutoApproveAfter, max(missing, 0))},
		ActionRequestAutoApproved)
}

// Expire ends a request not applied by its deadline.
func (cr *ChangeRequest) Expire(now time.Time) (Transition, error) {
	if cr.Status.Final() || cr.ExpiresAt == nil || now.Before(*cr.ExpiresAt) {
		return Transition{}, ErrNotWithdrawable
	}
	cr.Status = StatusExpired
	return cr.transition(TimelineEvent{Type: EventExpired, Actor: Actor{System: "expiry"}.String(), Channel: "system", At: now}, ActionRequestExpired)
}

// Edit replaces the proposal with a new revision: every approval and
// rejection of earlier revisions stops counting, the request is pending
// again, and its changes' bases are the live state the edit was made on.
// changes, when not nil, replace the request's changes. A draft's edit is
// no revision: nobody reviewed it yet.
func (cr *ChangeRequest) Edit(a Actor, title, description *string, changes []Change, now time.Time) (Transition, error) {
	if err := cr.CheckEdit(a, now); err != nil {
		return Transition{}, err
	}
	if changes != nil {
		if len(changes) > MaxChanges {
			return Transition{}, ErrTooManyChanges
		}
		if len(changes) == 0 && cr.Status != StatusDraft {
			return Transition{}, ErrNoChanges
		}
		cr.Changes = changes
		cr.Subject()
	}
	if title != nil {
		cr.Title = *title
	}
	if description != nil {
		cr.Description = *description
	}
	if cr.Status == StatusDraft {
		return cr.transition(TimelineEvent{Type: EventDrafted, Actor: a.String(), At: now}, ActionRequestDrafted)
	}
	cr.Revision++
	cr.RevisionBy = a.Person()
	cr.Status = StatusPending
	cr.ApplyPending = false
	cr.restartTimers(now)
	return cr.transition(TimelineEvent{Type: EventEdited, Actor: a.String(), At: now}, ActionRequestEdited)
}

// Drafted records that a started the request as a draft (its first event).
func (cr *ChangeRequest) Drafted(a Actor, channel string, now time.Time) (Transition, error) {
	cr.Status = StatusDraft
	return cr.transition(TimelineEvent{Type: EventDrafted, Actor: a.String(), Channel: channel, At: now}, ActionRequestDrafted)
}

// ErrNotDraft refuses submitting a request that is no draft.
var ErrNotDraft = &Error{Code: CodeConflict, Message: "the request is not a draft: it was submitted already"}

// ErrNoChanges refuses submitting a draft without changes.
var ErrNoChanges = &Error{Code: CodeInvalid, Message: "the draft has no changes yet; add one through the write routes with its X-Change-Request header",
	Fields: []FieldError{{Pointer: "/changes", Detail: "at least one change"}}}

// Submit sends a draft to review under policy (the strictest of its
// changes' environments, fixed now): its timers start, its requester's
// revision is the first.
func (cr *ChangeRequest) Submit(a Actor, policy Policy, channel string, now time.Time) (Transition, error) {
	if cr.Status != StatusDraft {
		return Transition{}, ErrNotDraft
	}
	if !cr.isRequester(a) && a.Role != RoleAdmin {
		return Transition{}, ErrNotRequester
	}
	if len(cr.Changes) == 0 {
		return Transition{}, ErrNoChanges
	}
	cr.Status, cr.Policy, cr.RevisionBy = StatusPending, policy, a.Person()
	cr.StartTimers(now)
	return cr.transition(TimelineEvent{Type: EventSubmitted, Actor: a.String(), Channel: channel, At: now}, ActionRequestSubmitted)
}

// CheckEdit says whether a may edit the request at now, changing nothing.
func (cr *ChangeRequest) CheckEdit(a Actor, now time.Time) error {
	if !cr.isRequester(a) && a.Role != RoleAdmin {
		return ErrNotRequester
	}
	switch cr.Status {
	case StatusDraft:
		return nil
	case StatusPending, StatusApproved, StatusRejected:
	default:
		return ErrNotEditable
	}
	// An edit sends an approved request back to pending: for an approved
	// scheduled change that is as good as deleting it, so it takes what
	// deleting takes (and a withdrawal after the edit finds it pending).
	if cr.scheduledApproved(now) && !cr.Policy.AllowUnapprovedScheduleDeletion && a.Role != RoleAdmin {
		return ErrScheduleEdit
	}
	if cr.pastDeadline(now) {
		return ErrPastDeadline
	}
	return nil
}

// restartTimers sets the auto-approval time from now, per the policy.
func (cr *ChangeRequest) restartTimers(now time.Time) {
	cr.AutoApproveAt = nil
	cr.HeldUntil, cr.HeldBy = nil, ""
	if d, err := time.ParseDuration(cr.Policy.AutoApproveAfter); err == nil && cr.Policy.AutoApproveAfter != AutoApproveNever {
		t := now.Add(d)
		cr.AutoApproveAt = &t
	}
}

// ScheduleFailed records that a scheduled apply could not happen (the live
// state moved on): the schedule is dropped, so timers stop retrying, and the
// request waits to be edited onto the new base (an edit may schedule it again).
func (cr *ChangeRequest) ScheduleFailed(reason string, now time.Time) (Transition, error) {
	cr.ApplyAt = nil
	cr.ApplyPending = false
	cr.HeldUntil, cr.HeldBy = nil, ""
	return cr.transition(TimelineEvent{Type: EventScheduleFailed, Actor: Actor{System: "scheduler"}.String(), Comment: reason, Channel: "system", At: now}, ActionRequestScheduleFailed)
}

// Hold records that freeze (its id) holds the apply of an approved request
// until until: the timers look at it again then (NextDue), and apply it if
// no freeze holds it any more. Its schedule and ApplyPending stay.
func (cr *ChangeRequest) Hold(freeze string, until, now time.Time) (Transition, error) {
	if cr.Status != StatusApproved {
		return Transition{}, ErrNotApproved
	}
	u := until.UTC()
	cr.HeldUntil, cr.HeldBy = &u, freeze
	return cr.transition(TimelineEvent{Type: EventHeld, Actor: Actor{System: "scheduler"}.String(),
		Comment: fmt.Sprintf("held by freeze %s until %s", freeze, u.Format(time.RFC3339)), Channel: "system", At: now}, ActionRequestHeld)
}

// StartTimers sets the deadlines of a new request.
func (cr *ChangeRequest) StartTimers(now time.Time) {
	cr.restartTimers(now)
	if d, err := time.ParseDuration(cr.Policy.ExpireAfter); err == nil && cr.Policy.ExpireAfter != "" {
		t := now.Add(d)
		cr.ExpiresAt = &t
	}
}

// Withdraw ends the request at the requester's (or an admin's) wish. An
// approved change scheduled for later is different: deleting it needs a
// second person (someone who may review it, or an admin), unless the policy
// allows unapproved schedule deletion (LaunchDarkly).
func (cr *ChangeRequest) Withdraw(a Actor, now time.Time) (Transition, error) {
	if err := cr.CheckWithdraw(a, now); err != nil {
		return Transition{}, err
	}
	cr.Status = StatusWithdrawn
	cr.AutoApproveAt = nil
	return cr.transition(TimelineEvent{Type: EventWithdrawn, Actor: a.String(), At: now}, ActionRequestWithdrawn)
}

// CheckWithdraw says whether a may withdraw the request at now, changing
// nothing.
func (cr *ChangeRequest) CheckWithdraw(a Actor, now time.Time) error {
	if cr.Status.Final() || cr.Status == StatusReviewAfter {
		return ErrNotWithdrawable
	}
	switch {
	case cr.scheduledApproved(now) && !cr.Policy.AllowUnapprovedScheduleDeletion:
		if a.Role != RoleAdmin && (cr.isRequester(a) || cr.CanReview(a) != nil) {
			return ErrScheduleDeletion
		}
	case !cr.isRequester(a) && a.Role != RoleAdmin:
		return ErrNotRequester
	}
	return nil
}

// scheduledApproved reports whether the request is an approved change
// scheduled for later.
func (cr *ChangeRequest) scheduledApproved(now time.Time) bool {
	return cr.Status == StatusApproved && cr.ApplyAt != nil && cr.ApplyAt.After(now)
}

// CheckApply says whether a may apply the request at time now, its bases
// aside: each change checks its own (Change.CheckBase).
func (cr *ChangeRequest) CheckApply(a Actor, now time.Time) error {
	if a.System == "" && !a.Role.AtLeast(RoleEditor) {
		return ErrApplyRole
	}
	for _, c := range cr.Changes {
		if c.Governance != nil && a.System == "" && !a.Role.AtLeast(c.Governance.ApplyRole()) {
			return &Error{Code: CodeForbidden, Message: fmt.Sprintf("applying a change to %s needs the %s role", c.Governance.Name(), c.Governance.ApplyRole())}
		}
	}
	if cr.Status != StatusApproved {
		if cr.Status == StatusRejected {
			return ErrRejectionBlocks
		}
		return ErrNotApproved
	}
	if cr.Policy.RejectionBlocksApply && len(cr.Rejections()) > 0 {
		return ErrRejectionBlocks
	}
	if cr.pastDeadline(now) {
		return ErrPastDeadline
	}
	if cr.ApplyAt != nil && now.Before(*cr.ApplyAt) {
		return &Error{Code: CodeConflict, Message: fmt.Sprintf("the change is scheduled for %s and applies then, not before", cr.ApplyAt.UTC().Format(time.RFC3339))}
	}
	return nil
}

// AppliesOnApproval says whether the request, once approved at now, applies
// by itself: its schedule has come (a request still pending at its apply_at
// applies as soon as it is approved), or, unscheduled, its policy applies on
// approval. A schedule still ahead waits for its time.
func (cr *ChangeRequest) AppliesOnApproval(now time.Time) bool {
	if cr.ApplyAt != nil {
		return !cr.ApplyAt.After(now)
	}
	return cr.Policy.Apply == ApplyOnApproval
}

// pastDeadline reports whether the request's expiry deadline has come: from
// then on it is as good as expired, whether or not a timer has marked it yet.
func (cr *ChangeRequest) pastDeadline(now time.Time) bool {
	return cr.ExpiresAt != nil && !now.Before(*cr.ExpiresAt) && !cr.Status.Final()
}

// NextDue is when a timer must next look at the request: its auto-approval
// (pending), its scheduled apply (approved), or its expiry (not final),
// whichever comes first; nil when no timer concerns it.
func (cr *ChangeRequest) NextDue() *time.Time {
	var due *time.Time
	consider := func(t *time.Time) {
		if t != nil && (due == nil || t.Before(*due)) {
			due = t
		}
	}
	switch cr.Status {
	case StatusPending:
		if len(cr.Rejections()) == 0 && !cr.teamShort() {
			consider(cr.AutoApproveAt)
		}
		consider(cr.ExpiresAt)
	case StatusApproved:
		consider(cr.ExpiresAt)
		switch {
		case cr.HeldUntil != nil:
			consider(cr.HeldUntil) // a freeze holds it: look again at its end
		default:
			consider(cr.ApplyAt)
			if cr.ApplyPending {
				consider(&cr.UpdatedAt)
			}
		}
	case StatusRejected:
		consider(cr.ExpiresAt)
	case StatusReviewAfter:
		if cr.Bypass != nil && !cr.Bypass.Overdue {
			consider(&cr.Bypass.ReviewDueAt) // overdue then: MarkOverdue
		}
	}
	if due == nil {
		return nil
	}
	d := due.UTC()
	return &d
}

// MarkApplied records the apply that produced live version version.
func (cr *ChangeRequest) MarkApplied(a Actor, version int64, channel string, now time.Time) (Transition, error) {
	cr.Status = StatusApplied
	cr.AppliedBy = a.String()
	cr.AppliedAt = &now
	cr.AppliedVersion = version
	cr.AutoApproveAt = nil
	cr.ApplyPending = false
	cr.HeldUntil, cr.HeldBy = nil, ""
	return cr.transition(TimelineEvent{Type: EventApplied, Actor: a.String(), Channel: channel, At: now}, ActionRequestApplied)
}

// AddComment adds a comment, with the members it @mentions.
func (cr *ChangeRequest) AddComment(a Actor, text string, mentions []string, now time.Time) (Transition, error) {
	if err := checkComment(text, true); err != nil {
		return Transition{}, err
	}
	if err := cr.CheckComment(a); err != nil {
		return Transition{}, err
	}
	if cr.commentBytes()+len(text) > MaxCommentBytes {
		return Transition{}, ErrCommentsTooLong
	}
	var notMailed []string
	for _, m := range mentions {
		if !cr.MayMailMention(m, now) {
			notMailed = append(notMailed, m)
		}
	}
	return cr.transition(TimelineEvent{Type: EventCommented, Actor: a.String(), Comment: text, Mentions: mentions, MentionsNotMailed: notMailed, At: now}, ActionRequestCommented)
}

// MayMailMention reports whether a comment at now that mentions member may
// mail them: fewer than MaxMentionMailsPerHour comments on the request
// mailed them a mention within the MentionMailWindow before now. (Comments
// stamped after now, under a clock set back, count too.)
func (cr *ChangeRequest) MayMailMention(member string, now time.Time) bool {
	since, mailed := now.Add(-MentionMailWindow), 0
	for _, e := range cr.Timeline {
		if e.Type == EventCommented && e.At.After(since) && slices.Contains(e.Mentions, member) && !slices.Contains(e.MentionsNotMailed, member) {
			mailed++
		}
	}
	return mailed < MaxMentionMailsPerHour
}

// CheckComment says whether a may add a comment now (room permitting),
// changing nothing.
func (cr *ChangeRequest) CheckComment(a Actor) error {
	total, mine := 0, 0
	for _, e := range cr.Timeline {
		if e.Type == EventCommented {
			total++
			if e.Actor == a.String() {
				mine++
			}
		}
	}
	switch {
	case total >= MaxComments:
		return ErrTooManyComments
	case mine >= MaxCommentsPerMember:
		return ErrYourComments
	case cr.commentBytes() >= MaxCommentBytes:
		return ErrCommentsTooLong
	}
	return nil
}

func (cr *ChangeRequest) commentBytes() int {
	n := 0
	for _, e := range cr.Timeline {
		if e.Type == EventCommented {
			n += len(e.Comment)
		}
	}
	return n
}

func checkComment(c string, required bool) error {
	var v Validation
	switch {
	case required && strings.TrimSpace(c) == "":
		v.Add("/comment", "a comment is required")
	case len([]rune(c)) > MaxCommentLength:
		v.Add("/comment", "at most %d characters", MaxCommentLength)
	}
	return v.Err()
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID            string      `json:"id"`
	At            time.Time   `json:"at"`
	Actor         string      `json:"actor"`
	Action        AuditAction `json:"action"`
	Channel       string      `json:"channel"`
	Project       string      `json:"project,omitempty"`
	Flag          string      `json:"flag,omitempty"`
	Environment   string      `json:"environment,omitempty"`
	Segment       string      `json:"segment,omitempty"` // the segment a segment write or segment change concerns
	Team          string      `json:"team,omitempty"`    // the team (its key) created, changed or deleted
	Freeze        string      `json:"freeze,omitempty"`  // the freeze (its id) written, or that a bypass passed
	ChangeRequest string      `json:"change_request,omitempty"`
	SDKKey        string      `json:"sdk_key,omitempty"` // the SDK key (its id) created, revoked or rotated
	Member        string      `json:"member,omitempty"`  // the member an entry concerns (member.*, auth.*, token.*): invited, signed in, removed
	Requester     string      `json:"requester,omitempty"`
	Approvers     []string    `json:"approvers,omitempty"`
	Reason        string      `json:"reason,omitempty"`
	Mentions      []string    `json:"mentions,omitempty"` // members a comment @mentions
	// MentionsNotMailed are the members of Mentions the comment mails
	// nothing: over MaxMentionMailsPerHour (TimelineEvent.MentionsNotMailed).
	MentionsNotMailed []string `json:"mentions_not_mailed,omitempty"`
	Decision          string   `json:"decision,omitempty"` // a review's: approve or reject
	Diff              *Diff    `json:"diff,omitempty"`
	Version           int64    `json:"version,omitempty"` // the resulting version of what changed
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	Project, Flag, Environment, Segment, Actor string
	From, To                                   *time.Time
	// Projects are the projects the caller may read (entries of no
	// project only when it is not ProjectSet.Only).
	Projects ProjectSet
}

// Matches reports whether e passes the filter.
func (f AuditFilter) Matches(e *AuditEntry) bool {
	return (f.Project == "" || e.Project == f.Project) && (f.Flag == "" || e.Flag == f.Flag) &&
		(f.Environment == "" || e.Environment == f.Environment) && (f.Segment == "" || e.Segment == f.Segment) && (f.Actor == "" || e.Actor == f.Actor) &&
		(f.From == nil || !e.At.Before(*f.From)) && (f.To == nil || e.At.Before(*f.To)) && f.Projects.Has(e.Project)
}

// CRFilter narrows a change request list.
type CRFilter struct {
	Status                                CRStatus
	Project, Flag, Environment, Requester string
	Reviewer                              string     // member id: requests they reviewed or were asked to
	Projects                              ProjectSet // the projects the caller may read
	// Overdue, when set, keeps the reviews after a bypass that are overdue
	// at Now (true: ReviewOverdue, past their due time and not
	// acknowledged, whether or not the timers have marked them yet), or
	// every request that is not (false). Now is the service's clock.
	Overdue *bool
	Now     time.Time
}

// Matches reports whether cr passes the filter.
func (f CRFilter) Matches(cr *ChangeRequest) bool {
	if (f.Status != "" && cr.Status != f.Status) || (f.Project != "" && cr.Project != f.Project) || ((f.Flag != "" || f.Environment != "") && !cr.Touches(f.Flag, f.Environment)) ||
		(f.Requester != "" && cr.Requester != f.Requester && cr.RequesterMember != f.Requester) || !f.Projects.Has(cr.Project) ||
		(f.Overdue != nil && cr.ReviewOverdue(f.Now) != *f.Overdue) {
		return false
	}
	if f.Reviewer != "" {
		if slices.Contains(cr.NotifyReviewers, f.Reviewer) {
			return true
		}
		for _, r := range cr.Reviews {
			if r.Reviewer == f.Reviewer {
				return true
			}
		}
		return false
	}
	return true
}

// RevokeApprovals sends an open request back to review: a new revision of the
// same proposal, so earlier approvals stop counting.
func (cr *ChangeRequest) RevokeApprovals(a Actor, reason string, now time.Time) (Transition, error) {
	if cr.Status != StatusPending && cr.Status != StatusApproved {
		return Transition{}, ErrNotReviewable
	}
	cr.Revision++
	cr.Status = StatusPending
	cr.ApplyPending = false
	cr.restartTimers(now)
	return cr.transition(TimelineEvent{Type: EventApprovalsRevoked, Actor: a.String(), Comment: reason, At: now}, ActionRequestApprovalsRevoked)
}
