package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Timer actors, as they appear in timelines and the audit log.
var (
	actorAutoApproval = domain.Actor{System: "auto-approval"}
	actorExpiry       = domain.Actor{System: "expiry"}
	actorScheduler    = domain.Actor{System: "scheduler"}
)

// SweepReport says what one sweep did, request by request.
type SweepReport struct {
	At           time.Time         `json:"at"`
	Examined     int               `json:"examined"`
	AutoApproved []string          `json:"auto_approved"`
	Expired      []string          `json:"expired"`
	Applied      []string          `json:"applied"`
	Conflicts    []string          `json:"conflicts"` // a scheduled or automatic apply refused: the live state moved on
	Held         []string          `json:"held"`      // an apply a change freeze holds until its end (freezes.go)
	Overdue      []string          `json:"overdue"`   // a bypass's review after not acknowledged in time (breakglass.go)
	NoOps        []string          `json:"no_ops"`    // someone (a person or another sweep) got there first
	Failed       map[string]string `json:"failed"`    // id → error; the sweep went on with the rest
}

func newReport(now time.Time) *SweepReport {
	return &SweepReport{At: now, AutoApproved: []string{}, Expired: []string{}, Applied: []string{}, Conflicts: []string{}, Held: []string{}, Overdue: []string{}, NoOps: []string{}, Failed: map[string]string{}}
}

// errNoop says a timer found the request already moved on.
var errNoop = errors.New("nothing to do")

// SweepBatch is how many due requests a sweep takes per read.
const SweepBatch = 100

// Sweep processes every request whose timer is due: expiry first, then
// auto-approval (which applies where the policy or the schedule says so),
// then scheduled applies. Every change is a version-conditioned write
// through the same state machine as a person's action, so two sweeps at once,
// or a sweep racing a person, end in one final state; the loser is a no-op.
// A failure on one request does not stop the rest.
func (s *Service) Sweep(ctx context.Context) (*SweepReport, error) {
	now := s.clock.Now()
	r := newReport(now)
	seen := map[string]bool{}
	for {
		due, err := s.store.ListDue(ctx, now, SweepBatch)
		if err != nil {
			return r, fmt.Errorf("list due requests: %w", err)
		}
		fresh := 0
		for _, d := range due {
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			fresh++
			r.Examined++
			if err := ctx.Err(); err != nil {
				return r, err
			}
			s.sweepOne(ctx, d.ID, now, r)
		}
		if len(due) < SweepBatch || fresh == 0 {
			break
		}
	}
	if r.Examined > 0 {
		s.log.InfoContext(ctx, "timer sweep", "examined", r.Examined, "auto_approved", len(r.AutoApproved), "expired", len(r.Expired),
			"applied", len(r.Applied), "conflicts", len(r.Conflicts), "overdue", len(r.Overdue), "no_ops", len(r.NoOps), "failed", len(r.Failed))
	}
	return r, nil
}

func (s *Service) sweepOne(ctx context.Context, id string, now time.Time, r *SweepReport) {
	outcome, err := s.fire(ctx, id, now)
	switch {
	case errors.Is(err, errNoop):
		r.NoOps = append(r.NoOps, id)
	case err != nil:
		r.Failed[id] = err.Error()
		s.log.ErrorContext(ctx, "timer failed on a request; the sweep goes on", "id", id, "err", err)
	default:
		for _, o := range outcome {
			switch o {
			case "auto_approved":
				r.AutoApproved = append(r.AutoApproved, id)
			case "expired":
				r.Expired = append(r.Expired, id)
			case "applied":
				r.Applied = append(r.Applied, id)
			case "conflict":
				r.Conflicts = append(r.Conflicts, id)
			case "held":
				r.Held = append(r.Held, id)
			case "overdue":
				r.Overdue = append(r.Overdue, id)
			}
		}
	}
}

// fire does what is due for one request and says what happened.
func (s *Service) fire(ctx context.Context, id string, now time.Time) ([]string, error) {
	cr, err := s.store.GetChangeRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case cr.ReviewOverdue(now) && !cr.Bypass.Overdue:
		return s.markOverdue(ctx, id, now)
	case cr.ExpiresAt != nil && !now.Before(*cr.ExpiresAt) && !cr.Status.Final():
		return s.expire(ctx, id, now)
	case cr.Status == domain.StatusPending && cr.AutoApproveAt != nil && !now.Before(*cr.AutoApproveAt):
		return s.autoApprove(ctx, id, now)
	case cr.Status == domain.StatusApproved && cr.ApplyAt != nil && !now.Before(*cr.ApplyAt):
		return s.timedApply(ctx, actorScheduler, id, nil)
	case cr.Status == domain.StatusApproved && cr.ApplyPending:
		// approved to apply by itself, but the apply never ran: finish it
		return s.timedApply(ctx, actorScheduler, id, nil)
	}
	return nil, errNoop
}

func (s *Service) expire(ctx context.Context, id string, now time.Time) ([]string, error) {
	_, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		t, err := cr.Expire(now)
		if err != nil {
			return errNoop
		}
		w.ReleaseLocks = cr.LockTargets()
		e := s.entryOf(cr, t, ChannelSystem)
		e.Requester = cr.Requester
		e.Reason = fmt.Sprintf("not applied by its deadline %s (expire_after %s)", cr.ExpiresAt.UTC().Format(time.RFC3339), cr.Policy.ExpireAfter)
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{"expired"}, nil
}

func (s *Service) autoApprove(ctx context.Context, id string, now time.Time) ([]string, error) {
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		missing := max(cr.Policy.MinApprovals-len(cr.Approvals()), 0)
		t, err := cr.AutoApprove(now)
		if err != nil {
			return errNoop
		}
		e := s.entryOf(cr, t, ChannelSystem)
		e.Requester = cr.Requester
		e.Reason = fmt.Sprintf("no objection within %s: auto-approval counts as the %d missing approval(s) of %d", cr.Policy.AutoApproveAfter, missing, cr.Policy.MinApprovals)
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := []string{"auto_approved"}
	if cr.ApplyPending {
		return s.timedApply(ctx, actorAutoApproval, id, out)
	}
	return out, nil
}

// timedApply applies on a timer's behalf. A refused apply (the live state
// moved on) drops the schedule so the timers stop retrying; the request waits
// to be edited.
func (s *Service) timedApply(ctx context.Context, a domain.Actor, id string, out []string) ([]string, error) {
	_, applied, err := s.apply(ctx, a, id, ChannelSystem, nil)
	var de *domain.Error
	switch {
	case err == nil && applied:
		return append(out, "applied"), nil
	case err == nil:
		if len(out) > 0 {
			return out, nil
		}
		return nil, errNoop
	case errors.As(err, &de) && de.Freeze != nil && s.holdsFor(ctx, id, de):
		// a freeze holds it until its end (a scheduled apply whose freeze
		// says fail goes on below: its schedule fails, naming the freeze)
		held, herr := s.holdFrozen(ctx, id, de)
		if herr != nil {
			return out, herr
		}
		if held {
			return append(out, "held"), nil
		}
		if len(out) > 0 {
			return out, nil
		}
		return nil, errNoop
	case errors.As(err, &de) && de.Freeze != nil:
		de = failedByFreeze(de)
		fallthrough
	case errors.As(err, &de) && de.Code != domain.CodeInternal:
		// Refused for good (the live state moved on, the flag was archived or
		// deleted, the proposal no longer fits) or the request moved on. Drop
		// the schedule so the timers stop retrying; the request waits to be
		// edited, or has reached its end anyway.
		dropped := false
		_, uerr := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
			if cr.Status != domain.StatusApproved || (cr.ApplyAt == nil && !cr.ApplyPending) {
				return errNoop
			}
			dropped = true
			t, err := cr.ScheduleFailed(de.Message, s.clock.Now())
			if err != nil {
				return err
			}
			e := s.entryOf(cr, t, ChannelSystem)
			e.Actor, e.Reason = a.String(), de.Message // the timer whose apply failed; the timeline says "the scheduler"
			w.Record(e)
			return nil
		})
		if uerr != nil && !errors.Is(uerr, errNoop) {
			return out, uerr
		}
		if dropped {
			return append(out, "conflict"), nil
		}
		if len(out) > 0 {
			return out, nil
		}
		return nil, errNoop
	}
	return out, err
}
