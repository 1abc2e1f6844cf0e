package dynamostore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// An audit entry is an item of its own, PK AUDIT#<project> (AUDIT#- without
// a project), SK <time>#<id>, and in GSI2 under AUDIT with the same sort
// key. Entries are only ever added, each in the same transaction as the
// change it describes, conditioned on not existing (the log is append-only).
// With each entry goes its outbox item (outbox.go), pending, in the same
// transaction and on the same condition: a change that committed always has
// its notifications waiting.

// auditPK is the partition of a project's audit entries.
func auditPK(project string) string {
	if project == "" {
		project = "-"
	}
	return prefixAudit + project
}

// auditItem encodes an audit entry.
func auditItem(e *domain.AuditEntry) (item, error) {
	sk := timeID(e.At, e.ID)
	return encode(key{auditPK(e.Project), sk}, record.FromAuditEntry(*e), item{attrGSI2PK: str(gsiAudit), attrGSI2SK: str(sk)})
}

// itemsPerAuditEntry is what one audit entry adds to a transaction: the
// entry and its outbox item. Writers that fill a transaction up to
// maxTxItems count with it.
const itemsPerAuditEntry = 2

// addAudit adds, for every entry, the entry's put and its outbox item's put
// (itemsPerAuditEntry items, in that order) to a transaction and returns the
// index of the first (see outcome).
func (s *Store) addAudit(b *txBuilder, entries []domain.AuditEntry) int {
	from := len(b.items)
	for i := range entries {
		e := &entries[i]
		it, err := auditItem(e)
		if err != nil {
			b.add(types.TransactWriteItem{}, err)
			continue
		}
		b.add(s.txPut(it, &itemMissing))
		ob, err := outboxItem(e.ID, newOutboxItem(e))
		if err != nil {
			b.add(types.TransactWriteItem{}, err)
			continue
		}
		b.add(s.txPut(ob, &itemMissing))
	}
	return from
}

// One AppendAudit (its entries with their outbox items) fits one
// transaction: the array's length is negative, and this fails to compile,
// otherwise.
var _ [maxTxItems - itemsPerAuditEntry*domain.MaxAppendAudit]struct{}

// AppendAudit writes entries that go with no other write: one transaction of
// their items (addAudit), each conditioned on not existing.
func (s *Store) AppendAudit(ctx context.Context, entries ...domain.AuditEntry) error {
	if err := domain.CheckAppendAudit(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	return retry(ctx, func() error {
		var b txBuilder
		from := s.addAudit(&b, entries)
		return outcome(s.transact(ctx, &b), entries, from, "append audit entries")
	})
}

// outcome sorts the error of a write that carried audit entries (their
// items from index from on, itemsPerAuditEntry each): nil when it
// committed; errRetry when it lost a race (a condition of its own failed, or
// a concurrent transaction got in the way); an error when only the
// condition of an audit entry or of its outbox item failed, because an entry
// of the same time and id, or an outbox item of the same id, exists (ids are
// meant to be unique, so that is a bug, not a race: a writer that lost a
// race may fail on the entry the winner wrote too, but then its own
// condition failed as well); or the error wrapped.
func outcome(err error, audit []domain.AuditEntry, from int, what string) error {
	if err == nil {
		return nil
	}
	to := from + itemsPerAuditEntry*len(audit)
	if i, ok := anyFailedCondition(err, from, to); ok {
		_, before := anyFailedCondition(err, 0, from)
		_, after := anyFailedCondition(err, to, len(cancelled(err)))
		if !before && !after {
			e := audit[(i-from)/itemsPerAuditEntry]
			if (i-from)%itemsPerAuditEntry == 1 {
				return fmt.Errorf("dynamodb %s: outbox item %q exists already", what, e.ID)
			}
			return fmt.Errorf("dynamodb %s: audit entry %q at %s exists already", what, e.ID, sortableTime(e.At))
		}
	}
	if lostRace(err) {
		return errRetry
	}
	return fmt.Errorf("dynamodb %s: %w", what, err)
}

// Audit cursors are the base64url of "<PK>|<SK>" of the last entry
// returned: the time-ordered index needs the table key besides its own, and
// a PK (AUDIT#<project key>) never contains '|'.

func auditCursor(it item) string {
	return base64.RawURLEncoding.EncodeToString([]byte(stringAttr(it, attrPK) + "|" + stringAttr(it, attrSK)))
}

func decodeAuditCursor(c string) (pk, sk string, err error) {
	raw, derr := base64.RawURLEncoding.DecodeString(c)
	pk, sk, ok := strings.Cut(string(raw), "|")
	if derr != nil || !utf8.Valid(raw) || !ok {
		return "", "", domain.Errorf(domain.CodeInvalid, "the cursor is not one this service gave out")
	}
	if _, isTimeID := parseTimeID(sk); !isTimeID || !strings.HasPrefix(pk, prefixAudit) || len(pk) == len(prefixAudit) {
		return "", "", domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
	}
	return pk, sk, nil
}

// ListAudit reads newest first. With a project, it reads the project's
// partition of the table (strongly consistent); without, the
// organisation-wide time index GSI2 (eventually consistent). From and To
// narrow the sort key range; flag, environment and actor are a filter
// expression; and the domain filter decides last, so the result is exactly
// what AuditFilter.Matches says.
func (s *Store) ListAudit(ctx context.Context, filter domain.AuditFilter, page domain.Page) ([]domain.AuditEntry, string, error) {
	q := query{index: indexGSI2, newestFirst: true, what: "audit log", cursorOf: auditCursor}
	pkName, skName, pk := attrGSI2PK, attrGSI2SK, gsiAudit
	if filter.Project != "" {
		q.index, q.what = "", "audit log of "+filter.Project
		pkName, skName, pk = attrPK, attrSK, auditPK(filter.Project)
	}
	q.startKey = func(c string) (item, error) {
		cpk, csk, err := decodeAuditCursor(c)
		if err != nil {
			return nil, err
		}
		k := key{cpk, csk}.av()
		if q.index == "" {
			if cpk != pk {
				return nil, domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
			}
			return k, nil
		}
		k[attrGSI2PK], k[attrGSI2SK] = str(gsiAudit), str(csk)
		return k, nil
	}

	// Sort keys are "<time>#<id>": one at time t sorts after the bare
	// sortableTime(t) and before that of any later time, so ≥ from keeps
	// entries at from, and ≤ to (or < to) drops those at to.
	q.key = expression.Key(pkName).Equal(expression.Value(pk))
	sk := expression.Key(skName)
	switch from, to := filter.From, filter.To; {
	case from != nil && to != nil:
		if !from.Before(*to) {
			if page.Cursor != "" {
				if _, err := q.startKey(page.Cursor); err != nil {
					return nil, "", err
				}
			}
			return []domain.AuditEntry{}, "", nil
		}
		q.key = q.key.And(sk.Between(expression.Value(sortableTime(*from)), expression.Value(sortableTime(*to))))
	case from != nil:
		q.key = q.key.And(sk.GreaterThanEqual(expression.Value(sortableTime(*from))))
	case to != nil:
		q.key = q.key.And(sk.LessThan(expression.Value(sortableTime(*to))))
	}

	var conds []expression.ConditionBuilder
	for _, f := range []struct{ name, value string }{{"flag", filter.Flag}, {"environment", filter.Environment}, {"segment", filter.Segment}, {"actor", filter.Actor}} {
		if f.value != "" {
			conds = append(conds, expression.Name(f.name).Equal(expression.Value(f.value)))
		}
	}
	if c, none := projectSetCondition(filter.Projects); none {
		if page.Cursor != "" {
			if _, err := q.startKey(page.Cursor); err != nil {
				return nil, "", err
			}
		}
		return []domain.AuditEntry{}, "", nil
	} else if c != nil {
		conds = append(conds, *c)
	}
	q.filter = all(conds)
	return queryPage[record.AuditEntry](ctx, s, q, page, filter.Matches)
}

// projectSetCondition is the filter expression of set on an item's
// project: project IN (Only), or NOT project IN (Except), which keeps
// the items of no project (a comparison with a missing attribute is
// false). nil for every project; none when set holds no project at all.
func projectSetCondition(set domain.ProjectSet) (c *expression.ConditionBuilder, none bool) {
	in := func(keys []string) expression.ConditionBuilder {
		ops := make([]expression.OperandBuilder, 0, len(keys))
		for _, k := range keys[1:] {
			ops = append(ops, expression.Value(k))
		}
		return expression.Name("project").In(expression.Value(keys[0]), ops...)
	}
	switch {
	case set.Only != nil && len(set.Only) == 0:
		return nil, true
	case set.Only != nil:
		cond := in(set.Only)
		return &cond, false
	case len(set.Except) > 0:
		cond := expression.Not(in(set.Except))
		return &cond, false
	}
	return nil, false
}

// all joins conditions with AND; nil when there are none.
func all(conds []expression.ConditionBuilder) *expression.ConditionBuilder {
	if len(conds) == 0 {
		return nil
	}
	c := conds[0]
	if len(conds) > 1 {
		c = expression.And(conds[0], conds[1], conds[2:]...)
	}
	return &c
}
