package app_test

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"pgregory.net/rapid"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The reference model of the change-request workflow: what
// docs/change-requests.md says, written from scratch (it calls nothing in
// domain.ChangeRequest), small enough to read in one go. It predicts the
// answer to every call (success, or the refusal: named where the state
// machine names it) and the state it leaves; the store must agree after
// every step. Where the documentation is silent the model follows the
// code, and says so.

// mPolicy is the part of production's approval settings the model varies.
type mPolicy struct {
	min                int
	self               bool // allow_self_approval
	blocks             bool // rejection_blocks_apply
	auto               string
	expire             string
	onApproval         bool     // apply: on_approval
	unapprovedDeletion bool     // allow_unapproved_schedule_deletion
	designated         []string // reviewers: designated (these, and admins); nil: peers
	lock               bool     // lock_while_pending (a setting, not part of a request's policy)
}

func (p mPolicy) String() string {
	apply := "manual"
	if p.onApproval {
		apply = "on_approval"
	}
	return fmt.Sprintf("min %d self %t blocks %t auto %s expire %q apply %s unapproved-deletion %t designated %v lock %t",
		p.min, p.self, p.blocks, p.auto, p.expire, apply, p.unapprovedDeletion, p.designated, p.lock)
}

// policyOf reads a request's policy (lock: the model's, a request has none).
func policyOf(p domain.Policy, lock bool) mPolicy {
	out := mPolicy{min: p.MinApprovals, self: p.AllowSelfApproval, blocks: p.RejectionBlocksApply, auto: p.AutoApproveAfter,
		expire: p.ExpireAfter, onApproval: p.Apply == domain.ApplyOnApproval, unapprovedDeletion: p.AllowUnapprovedScheduleDeletion, lock: lock}
	if p.Reviewers == domain.ReviewersDesignated {
		out.designated = slices.Clone(p.DesignatedReviewers)
	}
	return out
}

// settingsOf reads an environment's settings.
func settingsOf(a *domain.ApprovalSettings) mPolicy {
	p := policyOf(domain.PolicyOf(a), a.LockWhilePending)
	if a.Reviewers == domain.ReviewersPeer && len(a.DesignatedReviewers) > 0 {
		p.designated = []string{"(peer, yet a list)"} // never the model's
	}
	return p
}

func policyDuration(s string) time.Duration {
	if s == "" || s == domain.AutoApproveNever {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// mRequest is the model of one change request.
type mRequest struct {
	n          int // its index, for logs
	id         string
	requester  *app.Principal
	policy     mPolicy
	status     domain.CRStatus
	revision   int
	revisionBy string // the person who made the current revision
	approvals  []string
	rejections []string // of the current revision, by member id
	// autoApproved: the current revision was approved by auto-approval
	autoApproved bool
	// autoDue is when a pending request without rejections is approved by
	// the timers: its latest revision plus auto_approve_after (nil: never).
	autoDue        *time.Time
	expiresAt      *time.Time // its opening plus expire_after, never moved
	applyAt        *time.Time // its schedule, dropped when a scheduled apply fails
	applyPending   bool       // approved, and applies by itself
	locks          bool       // it holds production's pending lock until it is final
	base           int64
	rollout        float64 // the proposal
	appliedBy      string
	appliedVersion int64 // the live version its apply made
	comments       map[string]int
	totalComment   int
}

func (r *mRequest) String() string {
	return fmt.Sprintf("request #%d (%s, %s, revision %d)", r.n, r.id, r.status, r.revision)
}

// model is the reference model and the world it is compared with.
type model struct {
	w         *world
	actors    []*app.Principal
	now       time.Time
	approvals bool // the organisation switch
	settings  mPolicy
	live      int64 // production's config version
	rollout   float64
	direct    int // direct writes to production (the seeding one included)
	reqs      []*mRequest

	// what the last step did, for the checks that follow it
	refused    bool   // the call was refused
	conflictOn string // a refused apply (base moved) notes the conflict in this request
	swept      bool   // the step was a sweep
	prev       *snapshot
	steps      int
	stats      *modelStats
}

func newModel(w *world, stats *modelStats) *model {
	stats.add("sequences")
	m := &model{
		w: w, stats: stats, now: w.clock.Now(), approvals: true, live: 1, rollout: 10, direct: 1,
		settings: mPolicy{min: 1, blocks: true, auto: domain.AutoApproveNever},
	}
	adminBot := &app.Principal{TokenID: "t_adminbot", Role: domain.RoleEditor, Behind: w.admin.MemberID}
	m.actors = []*app.Principal{w.admin, w.requester, w.alice, w.bob, w.carol, w.viewer, w.service, adminBot}
	return m
}

func actorName(p *app.Principal) string {
	if p.MemberID != "" {
		return p.MemberID
	}
	if p.Behind != "" {
		return p.TokenID + "(" + p.Behind + ")"
	}
	return p.TokenID
}

func (m *model) drawActor(t *rapid.T, label string) *app.Principal {
	return drawPrincipal(t, label, m.actors)
}

// drawPrincipal draws one of ps by name (so the failing sequence reads).
func drawPrincipal(t *rapid.T, label string, ps []*app.Principal) *app.Principal {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = actorName(p)
	}
	return ps[slices.Index(names, rapid.SampledFrom(names).Draw(t, label))]
}

// drawManager is mostly an admin or a manager (settings are theirs to
// change), sometimes anyone.
func (m *model) drawManager(t *rapid.T) *app.Principal {
	if rapid.IntRange(0, 3).Draw(t, "anyone") == 0 {
		return m.drawActor(t, "actor")
	}
	return drawPrincipal(t, "manager", []*app.Principal{m.w.admin, m.w.carol})
}

// drawRequest is mostly an open request, sometimes any.
func (m *model) drawRequest(t *rapid.T) *mRequest {
	if len(m.reqs) == 0 {
		t.Skip("no request yet")
	}
	from := m.reqs
	var open []*mRequest
	for _, r := range m.reqs {
		if !r.status.Final() {
			open = append(open, r)
		}
	}
	if len(open) > 0 && rapid.IntRange(0, 3).Draw(t, "any request") > 0 {
		from = open
	}
	return from[rapid.IntRange(0, len(from)-1).Draw(t, "request")]
}

func atTime(t time.Time) *time.Time { return &t }

// ---- the rules ----

func atLeast(p *app.Principal, r domain.Role) bool { return p.Role.AtLeast(r) }

func (r *mRequest) isRequester(p *app.Principal) bool {
	return p.Actor() == r.requester.Actor() || (p.MemberID != "" && p.MemberID == r.requester.MemberID)
}

// own: the requester (or the member behind the requesting token), or who
// made the current revision.
func (r *mRequest) own(p *app.Principal) bool {
	return r.isRequester(p) || (p.MemberID != "" && (p.MemberID == r.revisionBy || p.MemberID == r.requester.Behind))
}

// mayReview: a member, editor or above, not their own request unless self
// approval is allowed (reviewers are peers here).
func (r *mRequest) mayReview(p *app.Principal) *want {
	switch {
	case p.MemberID == "":
		return refusal(domain.ErrNotAPerson)
	case !atLeast(p, domain.RoleEditor):
		return refusal(domain.ErrReviewerRole)
	case r.own(p) && !r.policy.self:
		return refusal(domain.ErrSelfReview)
	case r.policy.designated != nil && p.Role != domain.RoleAdmin && !slices.Contains(r.policy.designated, p.MemberID):
		return refusal(domain.ErrNotDesignated)
	}
	return nil
}

// lockHolder is the open request holding production's pending lock, "" if none.
func (m *model) lockHolder() string {
	for _, r := range m.reqs {
		if r.locks && !r.status.Final() {
			return r.id
		}
	}
	return ""
}

func (m *model) pastDeadline(r *mRequest) bool {
	return r.expiresAt != nil && !m.now.Before(*r.expiresAt) && !r.status.Final()
}

func (m *model) scheduledApproved(r *mRequest) bool {
	return r.status == domain.StatusApproved && r.applyAt != nil && r.applyAt.After(m.now)
}

// appliesOnApproval: a schedule that has come applies as soon as the
// request is approved; one ahead waits; unscheduled, the policy decides.
func (m *model) appliesOnApproval(r *mRequest) bool {
	if r.applyAt != nil {
		return !r.applyAt.After(m.now)
	}
	return r.policy.onApproval
}

func (r *mRequest) reviewed(member string) bool {
	return slices.Contains(r.approvals, member) || slices.Contains(r.rejections, member)
}

// ---- predictions: how a call must answer ----

// want is a predicted refusal: its code and, where the state machine names
// it, the named error; nil is success.
type want struct {
	code  domain.Code
	named *domain.Error
	why   string
}

func refusal(e *domain.Error) *want           { return &want{code: e.Code, named: e} }
func refused(c domain.Code, why string) *want { return &want{code: c, why: why} }

func (w *want) String() string {
	switch {
	case w == nil:
		return "ok"
	case w.named != nil:
		return fmt.Sprintf("%s (%s)", w.code, w.named.Message)
	}
	return fmt.Sprintf("%s (%s)", w.code, w.why)
}

// matches reports whether err is the predicted answer.
func (w *want) matches(err error) bool {
	switch {
	case w == nil || err == nil:
		return w == nil && err == nil
	case w.named != nil:
		return errors.Is(err, w.named)
	}
	return domain.ErrorCode(err) == w.code
}

var errRole = func(what string) *want { return refused(domain.CodeForbidden, what+" needs a higher role") }

func (m *model) wantPropose(p *app.Principal, pct float64) (w *want, direct bool) {
	switch {
	case !atLeast(p, domain.RoleEditor):
		return errRole("changing targeting"), false
	case !m.approvals:
		return nil, true // production's settings require approval for all flags, but only with the switch on
	case pct == m.rollout:
		return refused(domain.CodeInvalid, "the proposal changes nothing"), false
	case m.lockHolder() != "":
		return refused(domain.CodeConflict, "another request holds the pending lock"), false
	}
	return nil, false
}

func (m *model) wantCreate(p *app.Principal, pct float64, applyAt *time.Time) *want {
	switch {
	case !atLeast(p, domain.RoleEditor):
		return errRole("proposing changes")
	case applyAt != nil && m.settings.expire != "" && !applyAt.Before(m.now.Add(policyDuration(m.settings.expire))):
		return refused(domain.CodeInvalid, "apply_at at or after the expiry: it could never apply")
	case pct == m.rollout:
		return refused(domain.CodeInvalid, "the proposal changes nothing")
	case m.lockHolder() != "":
		return refused(domain.CodeConflict, "another request holds the pending lock")
	}
	return nil
}

func (m *model) wantEdit(r *mRequest, p *app.Principal) *want {
	switch {
	case !atLeast(p, domain.RoleEditor):
		return errRole("editing change requests")
	case !r.isRequester(p) && p.Role != domain.RoleAdmin:
		return refusal(domain.ErrNotRequester)
	case r.status != domain.StatusPending && r.status != domain.StatusApproved && r.status != domain.StatusRejected:
		return refusal(domain.ErrNotEditable)
	case m.scheduledApproved(r) && !r.policy.unapprovedDeletion && p.Role != domain.RoleAdmin:
		return refusal(domain.ErrScheduleEdit) // as good as deleting it: a second person's call
	case m.pastDeadline(r):
		return refusal(domain.ErrPastDeadline)
	}
	return nil
}

func (m *model) wantReview(r *mRequest, p *app.Principal) *want {
	switch {
	case m.pastDeadline(r):
		return refusal(domain.ErrPastDeadline)
	case r.status == domain.StatusApproved && r.policy.min <= 1:
		return refusal(domain.ErrAlreadyDecided) // the first review decided
	case r.status != domain.StatusPending && r.status != domain.StatusApproved:
		return refusal(domain.ErrNotReviewable)
	case r.mayReview(p) != nil:
		return r.mayReview(p)
	case r.reviewed(p.MemberID):
		return refusal(domain.ErrAlreadyReviewed) // each reviewer counts once per revision
	}
	return nil
}

func (m *model) wantComment(r *mRequest, p *app.Principal) *want {
	switch {
	case r.totalComment >= domain.MaxComments:
		return refusal(domain.ErrTooManyComments)
	case r.comments[p.Actor()] >= domain.MaxCommentsPerMember:
		return refusal(domain.ErrYourComments)
	}
	return nil
}

// wantApply also says whether the refusal is a moved base (noted in the
// request's timeline), and whether the call is a retry of an applied
// request (success, nothing happens).
func (m *model) wantApply(r *mRequest, p *app.Principal) (w *want, baseMoved, retry bool) {
	switch {
	case !atLeast(p, domain.RoleEditor):
		return refusal(domain.ErrApplyRole), false, false
	case r.status == domain.StatusApplied:
		return nil, false, true
	case r.status == domain.StatusRejected:
		return refusal(domain.ErrRejectionBlocks), false, false
	case r.status != domain.StatusApproved:
		return refusal(domain.ErrNotApproved), false, false
	case r.policy.blocks && len(r.rejections) > 0:
		return refusal(domain.ErrRejectionBlocks), false, false
	case m.pastDeadline(r):
		return refusal(domain.ErrPastDeadline), false, false
	case r.applyAt != nil && m.now.Before(*r.applyAt):
		return refused(domain.CodeConflict, "scheduled: it applies then, not before"), false, false
	case r.base != m.live:
		return refused(domain.CodeConflict, "the live state moved on since the request's base"), true, false
	}
	return nil, false, false
}

func (m *model) wantWithdraw(r *mRequest, p *app.Principal) *want {
	switch {
	case r.status.Final():
		return refusal(domain.ErrNotWithdrawable)
	case m.scheduledApproved(r) && !r.policy.unapprovedDeletion:
		// deleting an approved schedule needs a second person: an admin,
		// or someone (not the requester) who may review it
		if p.Role != domain.RoleAdmin && (r.isRequester(p) || r.mayReview(p) != nil) {
			return refusal(domain.ErrScheduleDeletion)
		}
	case !r.isRequester(p) && p.Role != domain.RoleAdmin:
		return refusal(domain.ErrNotRequester)
	}
	return nil
}

func wantManager(p *app.Principal, what string) *want {
	if !atLeast(p, domain.RoleManager) {
		return errRole(what)
	}
	return nil
}

// ---- transitions ----

func (m *model) open(id string, p *app.Principal, pct float64, applyAt *time.Time) *mRequest {
	r := &mRequest{
		n: len(m.reqs), id: id, requester: p, policy: m.settings, status: domain.StatusPending, revision: 1,
		revisionBy: p.MemberID, base: m.live, rollout: pct, applyAt: applyAt, comments: map[string]int{}, locks: m.settings.lock,
	}
	if r.revisionBy == "" {
		r.revisionBy = p.Behind
	}
	if d := policyDuration(r.policy.auto); d > 0 {
		r.autoDue = atTime(m.now.Add(d))
	}
	if d := policyDuration(r.policy.expire); d > 0 {
		r.expiresAt = atTime(m.now.Add(d))
	}
	m.reqs = append(m.reqs, r)
	return r
}

func (m *model) editRequest(r *mRequest, p *app.Principal, pct *float64, applyAt *time.Time) {
	r.revision++
	r.revisionBy = p.MemberID
	if r.revisionBy == "" {
		r.revisionBy = p.Behind
	}
	r.status = domain.StatusPending
	r.approvals, r.rejections, r.autoApproved, r.applyPending = nil, nil, false, false
	r.base = m.live
	r.autoDue = nil
	if d := policyDuration(r.policy.auto); d > 0 {
		r.autoDue = atTime(m.now.Add(d))
	}
	if pct != nil {
		r.rollout = *pct
	}
	if applyAt != nil {
		r.applyAt = applyAt // unchecked against the expiry, unlike a new request's
	}
}

// review records a review and says whether it approved the request.
func (m *model) review(r *mRequest, p *app.Principal, d domain.Decision) (approvedNow bool) {
	if d == domain.DecisionReject {
		r.rejections = append(r.rejections, p.MemberID)
		if r.policy.blocks || r.policy.min <= 1 {
			r.status = domain.StatusRejected
		}
		return false
	}
	r.approvals = append(r.approvals, p.MemberID)
	if r.status == domain.StatusPending && len(r.approvals) >= r.policy.min && (!r.policy.blocks || len(r.rejections) == 0) {
		r.status = domain.StatusApproved
		r.applyPending = m.appliesOnApproval(r)
		return true
	}
	return false
}

func (m *model) apply(r *mRequest, actor string) {
	m.live++
	m.rollout = r.rollout
	r.status = domain.StatusApplied
	r.appliedBy, r.appliedVersion = actor, m.live
	r.applyPending = false
}

// sweepCandidate is a request the sweep tries to apply.
type sweepCandidate struct {
	r     *mRequest
	actor string
}

// swept is what a sweep of the model did.
type swept struct {
	expired, autoApproved []string
	// tries are the requests the sweep tries to apply: which of those whose
	// base is the live version wins depends on the order the store lists
	// them in, so the caller settles that.
	tries []sweepCandidate
}

// sweep runs the timers on the model at m.now: expiry first, then
// auto-approval (applying where the policy or a come schedule says), then
// scheduled and unfinished applies.
func (m *model) sweep() swept {
	var out swept
	for _, r := range m.reqs {
		switch {
		case r.status.Final():
		case r.expiresAt != nil && !m.now.Before(*r.expiresAt):
			r.status = domain.StatusExpired
			r.applyPending = false
			out.expired = append(out.expired, r.id)
		case r.status == domain.StatusPending && r.autoDue != nil && !m.now.Before(*r.autoDue) && len(r.rejections) == 0:
			r.status = domain.StatusApproved
			r.autoApproved = true
			r.autoDue = nil
			r.applyPending = m.appliesOnApproval(r)
			out.autoApproved = append(out.autoApproved, r.id)
			if r.applyPending {
				out.tries = append(out.tries, sweepCandidate{r, "system:auto-approval"})
			}
		case r.status == domain.StatusApproved && r.applyAt != nil && !m.now.Before(*r.applyAt):
			out.tries = append(out.tries, sweepCandidate{r, "system:scheduler"})
		case r.status == domain.StatusApproved && r.applyPending:
			out.tries = append(out.tries, sweepCandidate{r, "system:scheduler"})
		}
	}
	return out
}

// scheduleFailed: a timer's apply was refused; the schedule is dropped and
// the request waits, approved, to be edited.
func (r *mRequest) scheduleFailed() {
	r.applyAt = nil
	r.applyPending = false
}
