package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// freezesKey is the freeze calendar's key in the organisation's settings
// bucket (next to "org", the organisation settings).
var freezesKey = []byte("freezes")

var _ domain.FreezeRepository = (*Store)(nil)

// getFreezes reads the calendar in tx: empty, version 0, when never written.
func getFreezes(tx *bolt.Tx) (*domain.FreezeCalendar, error) {
	c, ok, err := get[record.FreezeCalendar](tx, bSettings, freezesKey)
	if err == nil && !ok {
		c = &domain.FreezeCalendar{}
	}
	return c, err
}

func (s *Store) GetFreezes(ctx context.Context) (c *domain.FreezeCalendar, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c, err = getFreezes(tx)
		return err
	})
	return c, err
}

// UpdateFreezes runs fn in the write transaction, which bbolt serialises
// with every other write: no concurrent update can come between the read
// and the write. The organisation settings fn's Audit.Guard names are
// checked in it (ErrContention when they moved).
func (s *Store) UpdateFreezes(ctx context.Context, fn func(*domain.FreezeCalendar, *domain.Audit) error) (c *domain.FreezeCalendar, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if c, err = getFreezes(tx); err != nil {
			return err
		}
		read := c.Version
		var audit domain.Audit
		if err := fn(c, &audit); err != nil {
			return err
		}
		c.Version = read + 1
		if err := checkSettings(tx, "", audit.Guard); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		return put(tx, bSettings, freezesKey, record.FromFreezeCalendar(*c))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
