package dynamostore

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// An outbox item is an item of its own, PK OUTBOX#<id>, SK OUTBOX, id being
// its audit entry's. addAudit (audit.go) writes it, pending, in the same
// transaction as its audit entry. Its state decides the index it is in:
//
//   - pending: GSI3, GSI3PK OUTBOX#<shard>, GSI3SK "<next attempt>#<id>" (the
//     shard as in the timer index: FNV-1a of the id mod 10), so "pending
//     with a next attempt at or before T" is a key range of each shard, as
//     ListDue's "due before T" is;
//   - dead: GSI1, GSI1PK OUTBOXDEAD, GSI1SK "<next attempt>#<id>", listed
//     newest first;
//   - delivered: neither.
//
// Every write puts the whole item (outboxItem), so a state change moves the
// item between the indexes in the same write.

var _ domain.OutboxRepository = (*Store)(nil)

// outboxShards is the number of GSI3 partition keys pending items spread
// over.
const outboxShards = 10

func outboxKey(id string) key { return key{prefixOutbox + id, skOutbox} }

func outboxShardKey(id string) string {
	return prefixOutbox + strconv.Itoa(shardOf(id, outboxShards))
}

// newOutboxItem is the pending outbox item of a new audit entry.
func newOutboxItem(e *domain.AuditEntry) *domain.OutboxItem {
	return &domain.OutboxItem{
		ID: e.ID, Entry: *e, State: domain.OutboxPending, NextAttemptAt: e.At.UTC(), Done: []string{}, Version: 1,
	}
}

// outboxItem encodes outbox item id (the id it was read under: the key is
// the store's, whatever an update function did to it) with the index
// attributes of its state.
func outboxItem(id string, it *domain.OutboxItem) (item, error) {
	extra := item{}
	switch it.State {
	case domain.OutboxPending:
		extra[attrGSI3PK] = str(outboxShardKey(id))
		extra[attrGSI3SK] = str(timeID(it.NextAttemptAt, id))
	case domain.OutboxDead:
		extra[attrGSI1PK] = str(gsiOutboxDead)
		extra[attrGSI1SK] = str(timeID(it.NextAttemptAt, id))
	}
	return encode(outboxKey(id), record.FromOutboxItem(*it), extra)
}

// ListOutbox reads the pending items due at or before before, oldest first
// (ties by id), at most limit: the outbox shards of GSI3 as ListDue reads
// the due shards (a key range each, projecting only GSI3SK, merged), then
// the items themselves in strongly consistent BatchGetItems. Since the index
// is eventually consistent, an item that the strong read finds no longer
// pending, or due later, is left out; one written a moment ago may be
// missing (the next sweep finds it).
func (s *Store) ListOutbox(ctx context.Context, before time.Time, limit int) ([]domain.OutboxItem, error) {
	if limit <= 0 {
		return []domain.OutboxItem{}, nil
	}
	sks, err := s.gsi3Before(ctx, prefixOutbox, outboxShards, before, limit)
	if err != nil {
		return nil, err
	}
	keys := make([]key, 0, len(sks))
	for _, sk := range sks {
		id, ok := parseTimeID(sk)
		if !ok {
			return nil, fmt.Errorf("dynamodb decode %s %q: not <next attempt>#<id>", attrGSI3SK, sk)
		}
		keys = append(keys, outboxKey(id))
	}
	items, err := s.getMany(ctx, keys...)
	if err != nil {
		return nil, err
	}
	out := make([]domain.OutboxItem, 0, len(items))
	for _, raw := range items {
		if raw == nil {
			continue
		}
		it, err := decode[record.OutboxItem](raw)
		if err != nil {
			return nil, err
		}
		if it.State != domain.OutboxPending || it.NextAttemptAt.After(before) {
			continue
		}
		out = append(out, *it)
	}
	slices.SortStableFunc(out, func(a, b domain.OutboxItem) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *Store) GetOutbox(ctx context.Context, id string) (*domain.OutboxItem, error) {
	raw, err := s.get(ctx, outboxKey(id))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, domain.NotFound("outbox item", id)
	}
	return decode[record.OutboxItem](raw)
}

// UpdateOutbox reads the item (strongly), runs fn, and puts the whole item
// conditioned on the version read; a lost race reads again.
func (s *Store) UpdateOutbox(ctx context.Context, id string, fn func(*domain.OutboxItem) error) (*domain.OutboxItem, error) {
	var out *domain.OutboxItem
	err := retry(ctx, func() error {
		it, err := s.GetOutbox(ctx, id)
		if err != nil {
			return err
		}
		v := it.Version
		if err := fn(it); err != nil {
			return err
		}
		it.Version = v + 1
		raw, err := outboxItem(id, it)
		if err != nil {
			return err
		}
		err = s.putIf(ctx, raw, versionIs(v))
		switch {
		case err == nil:
			out = it
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb put outbox item %s: %w", id, err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Dead letter cursors are the base64url of "OUTBOXDEAD|<GSI1SK>" of the last
// item returned: the GSI1 sort key gives back the table key (its id), and
// the prefix tells them from the cursors of other GSI1 lists.

func deadLetterCursor(it item) string {
	return base64.RawURLEncoding.EncodeToString([]byte(gsiOutboxDead + "|" + stringAttr(it, attrGSI1SK)))
}

func deadLetterStartKey(c string) (item, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(raw) {
		return nil, domain.Errorf(domain.CodeInvalid, "the cursor is not one this service gave out")
	}
	sk, ok := strings.CutPrefix(string(raw), gsiOutboxDead+"|")
	id, isTimeID := parseTimeID(sk)
	if !ok || !isTimeID {
		return nil, domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
	}
	k := outboxKey(id).av()
	k[attrGSI1PK], k[attrGSI1SK] = str(gsiOutboxDead), str(sk)
	return k, nil
}

// ListDeadLetters reads GSI1 under OUTBOXDEAD (eventually consistent), newest
// first.
func (s *Store) ListDeadLetters(ctx context.Context, page domain.Page) ([]domain.OutboxItem, string, error) {
	return queryPage[record.OutboxItem](ctx, s, query{
		index:       indexGSI1,
		key:         expression.Key(attrGSI1PK).Equal(expression.Value(gsiOutboxDead)),
		newestFirst: true,
		what:        "dead letters",
		cursorOf:    deadLetterCursor,
		startKey:    deadLetterStartKey,
	}, page, nil)
}
