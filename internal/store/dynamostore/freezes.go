package dynamostore

import (
	"context"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// The freeze calendar is one item, ORG/FREEZES: freezes (a list of maps,
// record.Freeze) and version. Every check of it is one GetItem.
const skFreezes = "FREEZES"

func freezesKey() key { return key{pkOrg, skFreezes} }

var _ domain.FreezeRepository = (*Store)(nil)

func (s *Store) GetFreezes(ctx context.Context) (*domain.FreezeCalendar, error) {
	it, err := s.get(ctx, freezesKey())
	if err != nil {
		return nil, err
	}
	if it == nil {
		return &domain.FreezeCalendar{}, nil
	}
	return decode[record.FreezeCalendar](it)
}

// UpdateFreezes puts the calendar on condition that its version is still
// the one read (that it does not exist, for version 0), with fn's audit
// entries, the request it applies (Audit.Applies) and the checks of the
// settings its decision read (Audit.Guard: ErrContention when they moved)
// in the same transaction; a lost race reads again and calls fn again.
func (s *Store) UpdateFreezes(ctx context.Context, fn func(*domain.FreezeCalendar, *domain.Audit) error) (*domain.FreezeCalendar, error) {
	var out *domain.FreezeCalendar
	err := retry(ctx, func() error {
		c, err := s.GetFreezes(ctx)
		if err != nil {
			return err
		}
		v := c.Version
		var audit domain.Audit
		if err := fn(c, &audit); err != nil {
			return err
		}
		c.Version = v + 1
		it, err := encode(freezesKey(), record.FromFreezeCalendar(*c), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionOrNew(v)
		b.add(s.txPut(it, &cond))
		guardFrom, guardTo := s.addSettingsGuard(&b, "", audit.Guard, "")
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		if err := outcome(err, audit.Entries, from, "put the freeze calendar"); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
