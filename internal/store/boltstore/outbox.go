package boltstore

import (
	"context"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var (
	bOutbox     = []byte("outbox")      // id → OutboxItem
	bOutboxDue  = []byte("outbox_due")  // next attempt#id → id, pending items only
	bOutboxDead = []byte("outbox_dead") // time#id → id
)

var _ domain.OutboxRepository = (*Store)(nil)

func init() { allBuckets = append(allBuckets, bOutbox, bOutboxDue, bOutboxDead) }

// putOutbox writes an item and keeps the pending and dead indexes in step
// with its state (before is the item as read, nil for a new one).
func putOutbox(tx *bolt.Tx, before, it *domain.OutboxItem) error {
	if before != nil {
		switch before.State {
		case domain.OutboxPending:
			if err := tx.Bucket(bOutboxDue).Delete(timeKey(before.NextAttemptAt, before.ID)); err != nil {
				return err
			}
		case domain.OutboxDead:
			if err := tx.Bucket(bOutboxDead).Delete(timeKey(before.NextAttemptAt, before.ID)); err != nil {
				return err
			}
		}
	}
	switch it.State {
	case domain.OutboxPending:
		if err := tx.Bucket(bOutboxDue).Put(timeKey(it.NextAttemptAt, it.ID), []byte(it.ID)); err != nil {
			return err
		}
	case domain.OutboxDead:
		if err := tx.Bucket(bOutboxDead).Put(timeKey(it.NextAttemptAt, it.ID), []byte(it.ID)); err != nil {
			return err
		}
	}
	return put(tx, bOutbox, key(it.ID), record.FromOutboxItem(*it))
}

// enqueue puts every audit entry in the outbox, in the caller's transaction.
func enqueue(tx *bolt.Tx, entries []domain.AuditEntry) error {
	for _, e := range entries {
		it := &domain.OutboxItem{ID: e.ID, Entry: e, State: domain.OutboxPending, NextAttemptAt: e.At.UTC(), Done: []string{}, Version: 1}
		if err := putOutbox(tx, nil, it); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ListOutbox(ctx context.Context, before time.Time, limit int) (out []domain.OutboxItem, err error) {
	end := timeKey(before, "~")
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutboxDue).Cursor()
		for k, id := c.First(); k != nil && strings.Compare(string(k), string(end)) <= 0 && len(out) < limit; k, id = c.Next() {
			it, ok, err := get[record.OutboxItem](tx, bOutbox, id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, *it)
			}
		}
		return nil
	})
	return out, err
}

func (s *Store) GetOutbox(ctx context.Context, id string) (it *domain.OutboxItem, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		it, ok, err = get[record.OutboxItem](tx, bOutbox, key(id))
		if err == nil && !ok {
			err = domain.NotFound("outbox item", id)
		}
		return err
	})
	return it, err
}

func (s *Store) UpdateOutbox(ctx context.Context, id string, fn func(*domain.OutboxItem) error) (it *domain.OutboxItem, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		it, ok, err = get[record.OutboxItem](tx, bOutbox, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("outbox item", id)
		}
		before := *it
		if err := fn(it); err != nil {
			return err
		}
		it.Version = before.Version + 1
		return putOutbox(tx, &before, it)
	})
	return it, err
}

func (s *Store) ListDeadLetters(ctx context.Context, page domain.Page) (out []domain.OutboxItem, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = listNewestFirst(tx, bOutboxDead, page, func(_, id []byte) (*domain.OutboxItem, error) {
			it, _, err := get[record.OutboxItem](tx, bOutbox, id)
			return it, err
		}, func(*domain.OutboxItem) bool { return true })
		return err
	})
	return out, next, err
}
