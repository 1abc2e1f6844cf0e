package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// RequestView is a change request as clients see it: the stored request,
// the diff against the live state (computed, never typed by a client), and
// where it stands.
type RequestView struct {
	*domain.ChangeRequest
	Diff        *domain.Diff `json:"diff"`
	LiveVersion int64        `json:"live_version"`
	Approvals   int          `json:"approvals"`
	Rejections  int          `json:"rejections"`
	// Applicable: approved, no blocking rejection, and the live state is
	// still the one the request was made against.
	Applicable bool `json:"applicable"`
	// UnreachableReviewers are the members the request waits on whose
	// address is suppressed (mail to it bounced, or they complained): they
	// get no mail about it (mailevents.go).
	UnreachableReviewers []UnreachableReviewer `json:"unreachable_reviewers,omitempty"`
}

func (s *Service) view(ctx context.Context, cr *domain.ChangeRequest) (*RequestView, error) {
	v := &RequestView{ChangeRequest: cr, Approvals: len(cr.Approvals()), Rejections: len(cr.Rejections())}
	var err error
	if v.UnreachableReviewers, err = s.unreachableReviewers(ctx, cr); err != nil {
		return nil, err
	}
	k := proposalOf(cr)
	l, err := k.read(ctx, s, cr)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		// the flag (or environment) is gone; the request is history
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	v.LiveVersion = k.version(l)
	if v.Diff, err = k.diff(cr, l); err != nil {
		return nil, err
	}
	if cr.Status == domain.StatusApplied {
		// the live state now is the proposal (or later); show what was applied
		v.Diff = &domain.Diff{Operations: json.RawMessage("[]"), Summary: []string{}}
	}
	v.Applicable = cr.CheckApply(domain.Actor{System: "check"}, v.LiveVersion, s.clock.Now()) == nil
	return v, nil
}

// ---- creating requests ----

// RequestInput is the body of POST /v1/change-requests: a proposal for a
// flag's targeting in one environment (proposed_config) or for the flag
// itself (proposed_flag).
type RequestInput struct {
	Project         string             `json:"project"`
	Flag            string             `json:"flag"`
	Environment     string             `json:"environment"`
	Title           string             `json:"title"`
	Description     string             `json:"description"`
	ProposedConfig  *domain.FlagConfig `json:"proposed_config"`
	ProposedFlag    *domain.Flag       `json:"proposed_flag"`
	NotifyReviewers []string           `json:"notify_reviewers"`
	ApplyAt         *time.Time         `json:"apply_at"`
}

// CreateRequest opens a change request explicitly. In an environment whose
// settings do not require approval it is a voluntary review under that
// environment's policy.
func (s *Service) CreateRequest(ctx context.Context, p *Principal, in RequestInput) (*RequestView, error) {
	if err := p.require(domain.RoleEditor, "proposing changes"); err != nil {
		return nil, err
	}
	var v domain.Validation
	if (in.ProposedConfig == nil) == (in.ProposedFlag == nil) {
		v.Add("/proposed_config", "give exactly one of proposed_config (targeting in an environment) or proposed_flag (the flag itself)")
	}
	if in.ProposedConfig != nil && in.Environment == "" {
		v.Add("/environment", "a targeting proposal names its environment")
	}
	if in.ProposedFlag != nil && in.Environment != "" {
		v.Add("/environment", "a flag-level proposal has no environment")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	org, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return nil, err
	}
	opts := ChangeOptions{Title: in.Title, NotifyReviewers: in.NotifyReviewers}
	if in.ProposedConfig != nil {
		return s.createTargetingRequest(ctx, p, org, in, opts)
	}
	return s.createFlagRequest(ctx, p, org, in, opts)
}

func (s *Service) createTargetingRequest(ctx context.Context, p *Principal, org *domain.OrgSettings, in RequestInput, opts ChangeOptions) (*RequestView, error) {
	f, cur, err := s.store.GetFlagConfig(ctx, in.Project, in.Flag, in.Environment)
	if err != nil {
		return nil, err
	}
	proposed := *in.ProposedConfig
	keepIdentity(&proposed, cur)
	if err := prepareConfig(&proposed, f, "/proposed_config"); err != nil {
		return nil, err
	}
	g, err := s.gateFor(ctx, org, f, in.Project, in.Environment)
	if err != nil {
		return nil, err
	}
	cr := targetingRequest(live{flag: f, config: cur}, &proposed)
	cr.Description, cr.ApplyAt = in.Description, in.ApplyAt
	return s.openRequest(ctx, p, f, cr, domain.PolicyOf(g.settings), g.settings.LockWhilePending, opts)
}

func (s *Service) createFlagRequest(ctx context.Context, p *Principal, org *domain.OrgSettings, in RequestInput, opts ChangeOptions) (*RequestView, error) {
	f, err := s.store.GetFlag(ctx, in.Project, in.Flag)
	if err != nil {
		return nil, err
	}
	proposed := *in.ProposedFlag
	keepFlagIdentity(&proposed, f)
	if err := proposed.Validate(); err != nil {
		return nil, prefixed(err, "/proposed_flag")
	}
	if proposed.Maintainer != f.Maintainer {
		if err := s.checkMaintainer(ctx, proposed.Maintainer); err != nil {
			return nil, prefixed(err, "/proposed_flag")
		}
	}
	critical, err := s.criticalEnvironments(ctx, org, f, &proposed)
	if err != nil {
		return nil, err
	}
	if err := s.checkServedVariants(ctx, f, &proposed); err != nil {
		return nil, err
	}
	cr := flagRequest(f, &proposed)
	cr.Description, cr.ApplyAt = in.Description, in.ApplyAt
	return s.openRequest(ctx, p, f, cr, policyOver(critical), false, opts)
}

func policyOver(gs []gate) domain.Policy {
	ps := make([]domain.Policy, len(gs))
	for i, g := range gs {
		ps[i] = domain.PolicyOf(g.settings)
	}
	return domain.Strictest(ps)
}

func keepIdentity(c, live *domain.FlagConfig) {
	c.Project, c.Flag, c.Environment, c.Version, c.UpdatedAt = live.Project, live.Flag, live.Environment, live.Version, live.UpdatedAt
}

func keepFlagIdentity(f, live *domain.Flag) {
	f.Project, f.Key, f.Version, f.CreatedAt, f.UpdatedAt = live.Project, live.Key, live.Version, live.CreatedAt, live.UpdatedAt
	if f.Tags == nil {
		f.Tags = []string{}
	}
}

// prefixed moves validation pointers under prefix.
func prefixed(err error, prefix string) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
		return err
	}
	out := *de
	out.Fields = slices.Clone(de.Fields)
	for i := range out.Fields {
		if out.Fields[i].Pointer != "" {
			out.Fields[i].Pointer = prefix + out.Fields[i].Pointer
		}
	}
	return &out
}

// openRequest opens cr, a proposal about the flag f made by
// targetingRequest or flagRequest (with a description and a schedule if
// any), under policy; lock takes the flag's pending lock.
func (s *Service) openRequest(ctx context.Context, p *Principal, f *domain.Flag, cr *domain.ChangeRequest, policy domain.Policy, lock bool, opts ChangeOptions) (*RequestView, error) {
	now := s.clock.Now()
	cr.ID, cr.Project, cr.Flag, cr.Title = newID("cr"), f.Project, f.Key, opts.Title
	cr.Requester, cr.RequesterMember, cr.RequesterBehind, cr.RevisionBy = p.Actor(), p.MemberID, p.Behind, p.actor().Person()
	cr.NotifyReviewers, cr.Status, cr.Revision, cr.Policy = []string{}, domain.StatusPending, 1, policy
	cr.Reviews, cr.Timeline, cr.CreatedAt, cr.UpdatedAt = []domain.Review{}, []domain.TimelineEvent{}, now, now
	if err := scheduleRequest(cr, f, now); err != nil {
		return nil, err
	}
	if f.Archived && (cr.ProposedFlag == nil || cr.ProposedFlag.Archived) {
		return nil, domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before proposing changes", f.Key)
	}
	if err := s.checkNotify(ctx, cr, opts.NotifyReviewers); err != nil {
		return nil, err
	}
	cr.NotifyReviewers = append(cr.NotifyReviewers, opts.NotifyReviewers...)
	opened, err := cr.Opened(p.actor(), p.channel(), now)
	if err != nil {
		return nil, err
	}
	v, err := s.view(ctx, cr)
	if err != nil {
		return nil, err
	}
	if v.Diff.Empty() {
		var val domain.Validation
		val.Add("/proposed_config", "the proposal changes nothing")
		return nil, val.Err()
	}
	e := s.entryOf(cr, opened, p.channel())
	e.Requester, e.Diff = cr.Requester, v.Diff
	if err := s.store.CreateChangeRequest(ctx, cr, lock, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "change request created", "id", cr.ID, "project", cr.Project, "flag", cr.Flag, "environment", cr.Environment, "actor", p.Actor())
	return v, nil
}

// checkServedVariants refuses a flag proposal that drops or renames a
// variant some environment serves.
func (s *Service) checkServedVariants(ctx context.Context, live, next *domain.Flag) error {
	return forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
		return s.store.ListEnvironments(ctx, live.Project, pg)
	}, func(env domain.Environment) error {
		_, c, err := s.store.GetFlagConfig(ctx, live.Project, live.Key, env.Key)
		if err != nil {
			return err
		}
		for _, v := range live.Variants {
			if !next.HasVariant(v.Key) && c.UsesVariant(v.Key) {
				return domain.Errorf(domain.CodeConflict,
					"variant %q is served in environment %q; change that environment's targeting before removing or renaming it", v.Key, env.Key)
			}
		}
		return nil
	})
}

// checkNotify refuses reviewers who could not review the request.
func (s *Service) checkNotify(ctx context.Context, cr *domain.ChangeRequest, ids []string) error {
	var v domain.Validation
	for i, id := range ids {
		m, err := s.store.GetMember(ctx, id)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			v.Add(fmt.Sprintf("/notify_reviewers/%d", i), "no member has id %q", id)
			continue
		}
		if err != nil {
			return err
		}
		if err := cr.CanReview(domain.Actor{MemberID: m.ID, Role: m.Role}); err != nil {
			v.Add(fmt.Sprintf("/notify_reviewers/%d", i), "%s cannot review this request: %s", m.Email, errText(err))
		}
	}
	return v.Err()
}

// ---- reading ----

// GetRequest reads a request with its diff.
func (s *Service) GetRequest(ctx context.Context, p *Principal, id string) (*RequestView, error) {
	if err := p.require(domain.RoleViewer, "reading change requests"); err != nil {
		return nil, err
	}
	cr, err := s.store.GetChangeRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// ListRequests lists requests, newest first.
func (s *Service) ListRequests(ctx context.Context, p *Principal, f domain.CRFilter, page domain.Page) ([]domain.ChangeRequest, string, error) {
	if err := p.require(domain.RoleViewer, "reading change requests"); err != nil {
		return nil, "", err
	}
	return s.store.ListChangeRequests(ctx, f, page)
}

// ListAudit lists the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, p *Principal, f domain.AuditFilter, page domain.Page) ([]domain.AuditEntry, string, error) {
	if err := p.require(domain.RoleViewer, "reading the audit log"); err != nil {
		return nil, "", err
	}
	return s.store.ListAudit(ctx, f, page)
}

// ---- acting on requests ----

// EditInput is the body of PATCH /v1/change-requests/{id}.
type EditInput struct {
	Title           *string            `json:"title"`
	Description     *string            `json:"description"`
	ProposedConfig  *domain.FlagConfig `json:"proposed_config"`
	ProposedFlag    *domain.Flag       `json:"proposed_flag"`
	NotifyReviewers []string           `json:"notify_reviewers"`
	ApplyAt         *time.Time         `json:"apply_at"`
}

// EditRequest makes a new revision: approvals are cleared and the base moves
// to the current live state.
func (s *Service) EditRequest(ctx context.Context, p *Principal, id string, expected *int64, in EditInput) (*RequestView, error) {
	if err := p.require(domain.RoleEditor, "editing change requests"); err != nil {
		return nil, err
	}
	cur, err := s.store.GetChangeRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	k := proposalOf(cur)
	if err := k.accepts(in); err != nil {
		return nil, err
	}
	l, err := k.read(ctx, s, cur)
	if err != nil {
		return nil, err
	}
	rev, err := k.revise(ctx, s, cur, in, l)
	if err != nil {
		return nil, err
	}
	if in.NotifyReviewers != nil {
		if err := s.checkNotify(ctx, cur, in.NotifyReviewers); err != nil {
			return nil, err
		}
	}
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if err := checkVersion("change request", expected, cr.Version); err != nil {
			return err
		}
		t, err := cr.Edit(p.actor(), in.Title, in.Description, rev.config, rev.flag, rev.base, s.clock.Now())
		if err != nil {
			return err
		}
		rev.rebase(cr)
		if rev.tightened != nil {
			cr.Policy = *rev.tightened
		}
		if in.NotifyReviewers != nil {
			cr.NotifyReviewers = slices.Clone(in.NotifyReviewers)
		}
		if in.ApplyAt != nil {
			at, err := applyAtUTC(*in.ApplyAt)
			if err != nil {
				return err
			}
			cr.ApplyAt = &at
		}
		w.Record(s.entryOf(cr, t, p.channel()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// Review records an approval or rejection. When it completes the quorum and
// the policy applies on approval, the request applies at once (unless it is
// scheduled for later).
func (s *Service) Review(ctx context.Context, p *Principal, id string, d domain.Decision, comment, channel string) (*RequestView, error) {
	return s.review(ctx, p, id, d, comment, channel, nil)
}

// review is Review with a check run inside the write (an e-mail link's:
// still valid, not used yet; it records its use there too).
func (s *Service) review(ctx context.Context, p *Principal, id string, d domain.Decision, comment, channel string, check func(*domain.ChangeRequest) error) (*RequestView, error) {
	var approvedNow bool
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if check != nil {
			if err := check(cr); err != nil {
				return err
			}
		}
		t, err := cr.Review(p.actor(), d, comment, channel, s.clock.Now())
		if err != nil {
			return err
		}
		approvedNow = t.Approved()
		// one entry per review (approved, rejected or reviewed), so the
		// requester hears of each review once, with its comment
		e := s.entryOf(cr, t, channel)
		e.Reason, e.Decision = comment, string(d)
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if approvedNow && cr.ApplyPending {
		v, err := s.applyAs(ctx, p.actor(), id, channel)
		if domain.ErrorCode(err) != domain.CodeConflict {
			return v, err
		}
		// The review stands; the apply did not (the live state moved on, or
		// the request moved on meanwhile): answer with the request as it is,
		// its timeline says why.
		cur, gerr := s.store.GetChangeRequest(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		return s.view(ctx, cur)
	}
	return s.view(ctx, cr)
}

// Apply applies an approved request.
func (s *Service) Apply(ctx context.Context, p *Principal, id string) (*RequestView, error) {
	return s.applyAs(ctx, p.actor(), id, p.channel())
}

// applyAs is the one way a request applies: one atomic write of the
// request, the live config (or flag) and the audit entry. A retry of an
// applied request answers the same, without a second version.
func (s *Service) applyAs(ctx context.Context, a domain.Actor, id, channel string) (*RequestView, error) {
	cr, _, err := s.apply(ctx, a, id, channel, nil)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// apply is applyAs without the view; applied says whether this call applied
// the request (false: it already was).
func (s *Service) apply(ctx context.Context, a domain.Actor, id, channel string, check func(*domain.ChangeRequest) error) (cr *domain.ChangeRequest, applied bool, err error) {
	if pre, err := s.store.GetChangeRequest(ctx, id); err == nil {
		if err := proposalOf(pre).beforeApply(ctx, s, pre); err != nil {
			return nil, false, err
		}
	}
	cr, err = s.store.ApplyChangeRequest(ctx, id, func(cr *domain.ChangeRequest, f *domain.Flag, c *domain.FlagConfig, w *domain.ApplyWrite) error {
		applied = false
		if a.System == "" && !a.Role.AtLeast(domain.RoleEditor) {
			return domain.ErrApplyRole
		}
		if check != nil {
			if err := check(cr); err != nil {
				return err
			}
		}
		if cr.Status == domain.StatusApplied {
			return nil
		}
		now := s.clock.Now()
		approvers := approversOf(cr)
		k, l := proposalOf(cr), live{flag: f, config: c}
		if err := cr.CheckApply(a, k.version(l), now); err != nil {
			if de := asDomainError(err); de != nil && de.CurrentVersion > 0 {
				if d, derr := k.moved(cr, l); derr == nil && d != nil {
					return domain.WithChanges(de, d.Summary)
				}
			}
			return err
		}
		d, version, err := k.applyTo(cr, l, now, w)
		if err != nil {
			return err
		}
		t, err := cr.MarkApplied(a, version, channel, now)
		if err != nil {
			return err
		}
		e := s.entryOf(cr, t, channel)
		e.Requester, e.Approvers, e.Diff, e.Version = cr.Requester, approvers, d, version
		w.Record(e)
		w.Applied, w.ReleaseLock = true, true
		applied = true
		return nil
	})
	if err != nil {
		if de := asDomainError(err); de != nil && de.CurrentVersion > 0 {
			s.noteApplyConflict(ctx, a, id, channel, de)
		}
		return nil, false, err
	}
	if applied {
		s.log.InfoContext(ctx, "change request applied", "id", id, "actor", a.String(), "version", cr.AppliedVersion)
	}
	return cr, applied, nil
}

// scheduleRequest gives a new request its default title, checks its title
// and description, and starts its timers, with its schedule (apply_at) in
// UTC and before its expiry.
func scheduleRequest(cr *domain.ChangeRequest, f *domain.Flag, now time.Time) error {
	if cr.Title == "" {
		cr.Title = fmt.Sprintf("Change flag %s", f.Key)
		if cr.Environment != "" {
			cr.Title = fmt.Sprintf("Change %s in %s", f.Key, cr.Environment)
		}
	}
	var v0 domain.Validation
	if len([]rune(cr.Title)) > 200 {
		v0.Add("/title", "at most 200 characters")
	}
	if len([]rune(cr.Description)) > domain.MaxCommentLength {
		v0.Add("/description", "at most %d characters", domain.MaxCommentLength)
	}
	if err := v0.Err(); err != nil {
		return err
	}
	if cr.ApplyAt != nil {
		at, err := applyAtUTC(*cr.ApplyAt)
		if err != nil {
			return err
		}
		cr.ApplyAt = &at
	}
	cr.StartTimers(now)
	if cr.ApplyAt != nil && cr.ExpiresAt != nil && !cr.ApplyAt.Before(*cr.ExpiresAt) {
		var v domain.Validation
		v.Add("/apply_at", "is at or after the request's expiry (%s): it could never apply", cr.ExpiresAt.Format(time.RFC3339))
		return v.Err()
	}
	return nil
}

// approversOf are who approved cr's current revision: its reviewers, and
// auto-approval where it stood in.
func approversOf(cr *domain.ChangeRequest) []string {
	var out []string
	for _, r := range cr.Approvals() {
		out = append(out, "member:"+r.Reviewer)
	}
	for _, ev := range cr.Timeline {
		if ev.Type == domain.EventAutoApproved && ev.Revision == cr.Revision {
			out = append(out, ev.Actor)
		}
	}
	return out
}

// noteApplyConflict puts a refused apply into the timeline and the audit log.
func (s *Service) noteApplyConflict(ctx context.Context, a domain.Actor, id, channel string, cause *domain.Error) {
	_, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		t, err := cr.ApplyConflict(a, cause.Message, channel, s.clock.Now())
		if err != nil {
			return err
		}
		e := s.entryOf(cr, t, channel)
		e.Reason = cause.Message
		w.Record(e)
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "recording an apply conflict failed", "id", id, "err", err)
	}
}

// Withdraw withdraws a request (its requester, or an admin).
func (s *Service) Withdraw(ctx context.Context, p *Principal, id string) (*RequestView, error) {
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		t, err := cr.Withdraw(p.actor(), s.clock.Now())
		if err != nil {
			return err
		}
		w.ReleaseLock = true
		w.Record(s.entryOf(cr, t, p.channel()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// Comment adds a comment; @id or @e-mail mentions are resolved to members.
// Each member mentioned is mailed unless they had
// domain.MaxMentionMailsPerHour mention mails about the request within the
// hour: decided from the request's timeline in the comment's own write, so
// concurrent comments cannot both take the last mail; the audit entry (the
// outbox item) names who is not mailed.
func (s *Service) Comment(ctx context.Context, p *Principal, id, text string) (*domain.TimelineEvent, error) {
	if err := p.require(domain.RoleViewer, "commenting"); err != nil {
		return nil, err
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return nil, err
	}
	var added domain.TimelineEvent
	_, err = s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		t, err := cr.AddComment(p.actor(), text, mentions, s.clock.Now())
		if err != nil {
			return err
		}
		added = t.Event
		e := s.entryOf(cr, t, p.channel())
		e.Reason, e.Mentions, e.MentionsNotMailed = text, mentions, added.MentionsNotMailed
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &added, nil
}

// Comments lists a request's comments, oldest first.
func (s *Service) Comments(ctx context.Context, p *Principal, id string) ([]domain.TimelineEvent, error) {
	if err := p.require(domain.RoleViewer, "reading change requests"); err != nil {
		return nil, err
	}
	cr, err := s.store.GetChangeRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []domain.TimelineEvent{}
	for _, e := range cr.Timeline {
		if e.Type == domain.EventCommented {
			out = append(out, e)
		}
	}
	return out, nil
}

// ListDeadLetters lists notifications that ran out of attempts (admins).
func (s *Service) ListDeadLetters(ctx context.Context, p *Principal, page domain.Page) ([]domain.OutboxItem, string, error) {
	if err := p.require(domain.RoleAdmin, "reading undelivered notifications"); err != nil {
		return nil, "", err
	}
	return s.store.ListDeadLetters(ctx, page)
}

// asDomainError is err's *domain.Error, nil when it has none.
func asDomainError(err error) *domain.Error {
	var de *domain.Error
	if errors.As(err, &de) {
		return de
	}
	return nil
}

// errText is a refusal's client-safe message.
func errText(err error) string {
	if de := asDomainError(err); de != nil {
		return de.Message
	}
	return "not allowed"
}

// applyAtUTC is a schedule in UTC, refused when UTC puts it outside the
// years 1 to 9999 (RFC 3339 writes four-digit years: 9999-12-31T23:59-23:59
// is in the year 10000 in UTC, which no store can encode).
func applyAtUTC(t time.Time) (time.Time, error) {
	at := t.UTC()
	if at.Year() < 1 || at.Year() > 9999 {
		var v domain.Validation
		v.Add("/apply_at", "is outside the years 1 to 9999 in UTC")
		return time.Time{}, v.Err()
	}
	return at, nil
}
