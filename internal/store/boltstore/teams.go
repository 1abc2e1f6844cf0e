package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var bTeams = []byte("teams") // team → Team

var _ domain.TeamRepository = (*Store)(nil)

func init() { allBuckets = append(allBuckets, bTeams) }

// Every team write writes its audit entries in the same transaction. bbolt
// has one writer at a time, so a read-modify-write in one transaction
// cannot lose an update, and counting the teams before a create cannot
// race another create.

func (s *Store) CreateTeam(ctx context.Context, t *domain.Team, audit []domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTeams)
		if b.Get(key(t.Key)) != nil {
			return domain.ErrTeamExists(t.Key)
		}
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil && n < domain.MaxTeams; k, _ = c.Next() {
			n++
		}
		if n >= domain.MaxTeams {
			return domain.ErrTooManyTeams
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		v := *t
		v.Version = 1
		if err := put(tx, bTeams, key(t.Key), record.FromTeam(v)); err != nil {
			return err
		}
		t.Version = 1
		return nil
	})
}

func getTeam(tx *bolt.Tx, k string) (*domain.Team, error) {
	t, ok, err := get[record.Team](tx, bTeams, key(k))
	if err == nil && !ok {
		err = domain.NotFound("team", k)
	}
	return t, err
}

func (s *Store) GetTeam(ctx context.Context, k string) (t *domain.Team, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		t, err = getTeam(tx, k)
		return err
	})
	return t, err
}

func (s *Store) ListTeams(ctx context.Context, page domain.Page) (out []domain.Team, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = list[record.Team](tx, bTeams, nil, page, nil)
		return err
	})
	return out, next, err
}

// UpdateTeam checks the organisation settings fn's Audit.Guard names
// (ErrContention when they moved) and writes the request its
// Audit.Applies names (ErrRequestMoved when it moved), in the team's
// transaction: a refusal rolls it all back.
func (s *Store) UpdateTeam(ctx context.Context, k string, fn func(*domain.Team, *domain.Audit) error) (t *domain.Team, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var audit domain.Audit
		t, err = modify(tx, bTeams, key(k), domain.NotFound("team", k), record.FromTeam,
			func(t *domain.Team) *int64 { return &t.Version },
			func(t *domain.Team) error { return fn(t, &audit) })
		if err != nil {
			return err
		}
		if err := checkSettings(tx, "", audit.Guard); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		return writeAudit(tx, audit.Entries)
	})
	return t, err
}

func (s *Store) DeleteTeam(ctx context.Context, k string, check func(*domain.Team, *domain.Audit) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		t, err := getTeam(tx, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(t, &audit); err != nil {
			return err
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		return tx.Bucket(bTeams).Delete(key(k))
	})
}
