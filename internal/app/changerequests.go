package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// ---- creating requests ----

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
		if err := cr.CanReview(domain.Actor{MemberID: m.ID, Role: m.RoleIn(cr.Project)}); err != nil {
			v.Add(fmt.Sprintf("/notify_reviewers/%d", i), "%s cannot review this request: %s", m.Email, errText(err))
		}
	}
	return v.Err()
}

// ---- reading ----

// GetRequest reads a request with its diff.
func (s *Service) GetRequest(ctx context.Context, p *Principal, id string) (*RequestView, error) {
	cr, err := s.readRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// readRequest reads request id as p may see it: in a project p may read,
// and a draft is its requester's alone until submitted (not found for
// anyone else).
func (s *Service) readRequest(ctx context.Context, p *Principal, id string) (*domain.ChangeRequest, error) {
	cr, err := s.store.GetChangeRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(cr) {
		return nil, domain.NotFound("change request", id)
	}
	return cr, nil
}

// sees reports whether p may see cr: anyone who reads its project, except
// a draft, which only its requester sees.
func (p *Principal) sees(cr *domain.ChangeRequest) bool {
	if p == nil || !p.canRead(cr.Project) {
		return false
	}
	return cr.Status != domain.StatusDraft || cr.Requester == p.Actor() || (p.MemberID != "" && p.MemberID == cr.RequesterMember)
}

// ListRequests lists requests, newest first, in the projects p may read
// (others' drafts left out).
func (s *Service) ListRequests(ctx context.Context, p *Principal, f domain.CRFilter, page domain.Page) ([]domain.ChangeRequest, string, error) {
	f.Projects = p.Readable()
	crs, next, err := s.store.ListChangeRequests(ctx, f, page)
	return slices.DeleteFunc(crs, func(cr domain.ChangeRequest) bool { return !p.sees(&cr) }), next, err
}

// ListAudit lists the audit log, newest first: the entries of the projects
// p may read, and those of no project (members, tokens, settings, sign-in)
// when p reads the organisation.
func (s *Service) ListAudit(ctx context.Context, p *Principal, f domain.AuditFilter, page domain.Page) ([]domain.AuditEntry, string, error) {
	f.Projects = p.Readable()
	return s.store.ListAudit(ctx, f, page)
}

// ---- acting on requests ----

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
		if !p.sees(cr) {
			return domain.NotFound("change request", id)
		}
		t, err := cr.Review(p.actorIn(cr.Project), d, comment, channel, s.clock.Now())
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
		v, err := s.applyAs(ctx, p.actorIn(cr.Project), id, channel)
		if de := asDomainError(err); de != nil && de.Freeze != nil {
			// a freeze holds it: approved, it applies at the freeze's end
			if _, err := s.holdFrozen(ctx, id, de); err != nil {
				return nil, err
			}
		} else if domain.ErrorCode(err) != domain.CodeConflict {
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
	cr, err := s.readRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.applyAs(ctx, p.actorIn(cr.Project), id, p.channel())
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

// scheduleRequest gives a new request its default title, checks its title
// and description, and starts its timers, with its schedule (apply_at) in
// UTC and before its expiry.
func scheduleRequest(cr *domain.ChangeRequest, now time.Time) error {
	if cr.Title == "" {
		cr.Title = defaultTitle(cr)
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
		if !p.sees(cr) {
			return domain.NotFound("change request", id)
		}
		t, err := cr.Withdraw(p.actorIn(cr.Project), s.clock.Now())
		if err != nil {
			return err
		}
		w.ReleaseLocks = cr.LockTargets()
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
	if err := p.requireSomewhere(domain.RoleViewer, "commenting"); err != nil {
		return nil, err
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return nil, err
	}
	var added domain.TimelineEvent
	_, err = s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if !p.sees(cr) {
			return domain.NotFound("change request", id)
		}
		t, err := cr.AddComment(p.actorIn(cr.Project), text, mentions, s.clock.Now())
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
	cr, err := s.readRequest(ctx, p, id)
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
	if err := p.requireOrg(domain.RoleAdmin, "reading undelivered notifications"); err != nil {
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
