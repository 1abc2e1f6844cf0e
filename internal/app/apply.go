package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/internal/domain"
)

// apply is applyAs without the view; applied says whether this call applied
// the request (false: it already was). Every change applies in one atomic
// write, or none does: a change whose live state moved on refuses the
// whole apply, named in the refusal.
func (s *Service) apply(ctx context.Context, a domain.Actor, id, channel string, check func(*domain.ChangeRequest) error) (cr *domain.ChangeRequest, applied bool, err error) {
	for attempt := 1; ; attempt++ {
		cr, applied, err = s.applyOnce(ctx, a, id, channel, check)
		if !errors.Is(err, domain.ErrApplyMoved) || attempt == decideAttempts {
			return cr, applied, err
		}
		// an approver was written since the check: check them again
	}
}

func (s *Service) applyOnce(ctx context.Context, a domain.Actor, id, channel string, check func(*domain.ChangeRequest) error) (cr *domain.ChangeRequest, applied bool, err error) {
	pre, err := s.store.GetChangeRequest(ctx, id)
	if err == nil && pre.Kind == domain.KindGovernance {
		return s.applyGovernance(ctx, a, id, channel, check)
	}
	var approvers []domain.MemberVersion
	var calendar *int64
	if err == nil && pre.Status == domain.StatusApproved {
		if calendar, err = s.frozenRequest(ctx, pre, s.clock.Now()); err != nil {
			return nil, false, err // a freeze holds it (freezes.go)
		}
		if approvers, err = s.checkApprovers(ctx, pre); err != nil {
			return nil, false, err // an approver was demoted (demotion.go)
		}
		for i := range pre.Changes {
			if err := proposalOf(&pre.Changes[i]).beforeApply(ctx, s, pre.Project, &pre.Changes[i]); err != nil {
				return nil, false, err
			}
		}
	}
	cr, err = s.store.ApplyChangeRequest(ctx, id, func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
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
		if cr.Status == domain.StatusApproved && (pre == nil || pre.Status != domain.StatusApproved) {
			// approved since the first read: its freeze and approvers were
			// not checked; the next attempt checks them
			return domain.ErrApplyMoved
		}
		if err := s.applyChanges(a, cr, l, channel, w); err != nil {
			return err
		}
		// the write holds while the approvers checked are as read (a review
		// added since was checked by Review itself) and the calendar too
		w.Approvers, w.Freezes = approvers, calendar
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
		s.log.InfoContext(ctx, "change request applied", "id", id, "actor", a.String(), "changes", len(cr.Changes))
	}
	return cr, applied, nil
}

// applyChanges checks cr may apply onto l, applies each change and names
// in w what the store writes: the live state, one audit entry per change
// (the request's applied entry for the first, which tells its people; a
// targeting or flag entry naming the request for each other), and the
// locks' release.
func (s *Service) applyChanges(a domain.Actor, cr *domain.ChangeRequest, l *domain.Live, channel string, w *domain.ApplyWrite) error {
	now := s.clock.Now()
	if err := cr.CheckApply(a, now); err != nil {
		return err
	}
	for i := range cr.Changes {
		ch := &cr.Changes[i]
		k := proposalOf(ch)
		lv := k.of(l, ch)
		if e := ch.CheckBase(k.version(lv)); e != nil {
			return conflictOf(e, k, ch, lv)
		}
	}
	approvers := approversOf(cr)
	var entries []domain.AuditEntry
	var first int64
	var firstDiff *domain.Diff
	for i := range cr.Changes {
		ch := &cr.Changes[i]
		k := proposalOf(ch)
		d, version, err := k.applyTo(ch, k.of(l, ch), now, w)
		if err != nil {
			return err
		}
		if i == 0 {
			first, firstDiff = version, d
			continue
		}
		e := s.audit(a.String(), ch.Kind.WriteAction(), channel)
		e.Project, e.Flag, e.Environment, e.Segment, e.ChangeRequest = cr.Project, ch.Flag, ch.Environment, ch.Segment, cr.ID
		e.Requester, e.Approvers, e.Diff, e.Version = cr.Requester, approvers, d, version
		e.Reason = fmt.Sprintf("applied with change request %s", cr.ID)
		entries = append(entries, e)
	}
	// the configs as written must fit their flags as written, whichever
	// order the request's changes came in
	for _, c := range w.Configs {
		if err := c.Validate(l.Flags[c.Flag]); err != nil {
			return domain.Errorf(domain.CodeConflict, "the targeting proposed for %s in %s does not fit the flag as this request changes it; edit the request", c.Flag, c.Environment)
		}
	}
	t, err := cr.MarkApplied(a, first, channel, now)
	if err != nil {
		return err
	}
	e := s.entryOf(cr, t, channel)
	e.Requester, e.Approvers, e.Diff, e.Version = cr.Requester, approvers, firstDiff, first
	w.Record(e)
	for _, e := range entries {
		w.Record(e)
	}
	w.Applied, w.ReleaseLocks = true, cr.LockTargets()
	return nil
}
