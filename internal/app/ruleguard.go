package app

import (
	"context"
	"errors"

	"github.com/countersign/countersign/internal/domain"
)

// A direct write of the rules (approval settings, an environment's
// protection, a member's roles) is decided on whether the organisation's
// approvals are on, read before the write: with them off, a weakening
// writes directly. rulesRead reads that switch with the guard such a
// write carries (domain.Audit's Guard), so that it commits only while the
// organisation's settings are as read; a switch turned on in between
// makes the store refuse it with ErrContention, and decidedAgain runs the
// use case again on fresh reads, where the weakening now opens a
// governance request. With approvals on no guard is needed: a weakening
// opens a request whatever happens next, and a strengthening may apply.

// rulesRead reads whether approvals are on and, when they are off, the
// guard of a direct write decided on that.
func (s *Service) rulesRead(ctx context.Context) (governed bool, guard *domain.SettingsGuard, err error) {
	o, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return false, nil, err
	}
	if o.Approvals {
		return true, nil, nil
	}
	return false, &domain.SettingsGuard{Org: o.Version}, nil
}

// decideAttempts bounds how often a use case decides again.
const decideAttempts = 3

// decidedAgain runs write, a use case deciding on rulesRead, until the
// store does not refuse it for contention, at most decideAttempts times.
func decidedAgain[T any](write func() (*T, *domain.GovernanceChange, error)) (*T, *domain.GovernanceChange, error) {
	for attempt := 1; ; attempt++ {
		out, g, err := write()
		if !errors.Is(err, domain.ErrContention) || attempt == decideAttempts {
			return out, g, err
		}
	}
}
