package dynamostore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// ---- members ----

// Each member has an EMAIL#<lower-case e-mail> item beside it, written and
// deleted in the same transactions, which makes e-mail addresses unique.

func emailItem(m *domain.Member) item {
	return item{
		attrPK:       str(emailKey(m.Email).pk),
		attrSK:       str(emailKey(m.Email).sk),
		attrMemberID: str(m.ID),
	}
}

func (s *Store) CreateMember(ctx context.Context, m *domain.Member, audit ...domain.AuditEntry) error {
	return s.AddMember(ctx, m, &domain.Audit{Entries: audit})
}

// AddMember is one transaction: the member and its e-mail item, each new,
// the ConditionChecks of w.Guard (ErrContention when one fails) and the
// audit entries.
func (s *Store) AddMember(ctx context.Context, m *domain.Member, w *domain.Audit) error {
	if w == nil {
		w = &domain.Audit{}
	}
	if w.Applies != nil {
		return fmt.Errorf("dynamodb add member %s: creating a member applies no request (%s)", m.ID, w.Applies.ID)
	}
	m.Version = 1
	return retry(ctx, func() error {
		it, err := encode(memberKey(m.ID), record.FromMember(*m), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txPut(it, &itemMissing))
		b.add(s.txPut(emailItem(m), &itemMissing))
		guardFrom, guardTo := s.addSettingsGuard(&b, "", w.Guard, "")
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "member %q already exists", m.ID)
		case failedCondition(err, 1):
			return domain.Errorf(domain.CodeConflict, "a member with e-mail %s already exists", m.Email)
		}
		return outcome(err, w.Entries, from, "create member "+m.ID)
	})
}

func (s *Store) GetMember(ctx context.Context, id string) (*domain.Member, error) {
	it, err := s.get(ctx, memberKey(id))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.NotFound("member", id)
	}
	return decode[record.Member](it)
}

func (s *Store) ListMembers(ctx context.Context, page domain.Page) ([]domain.Member, string, error) {
	return list[record.Member](ctx, s, listing{pk: pkOrg, prefix: prefixMember, what: "members"}, page)
}

func (s *Store) UpdateMember(ctx context.Context, id string, fn func(*domain.Member) error) (*domain.Member, error) {
	return s.WriteMember(ctx, id, func(m *domain.Member, _ *domain.MemberWrite) error { return fn(m) })
}

func (s *Store) WriteMember(ctx context.Context, id string, fn func(*domain.Member, *domain.MemberWrite) error) (m *domain.Member, err error) {
	err = retry(ctx, func() error {
		read, err := s.get(ctx, memberKey(id))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("member", id)
		}
		if m, err = decode[record.Member](read); err != nil {
			return err
		}
		v, oldEmail := m.Version, m.Email
		var w domain.MemberWrite
		if err := fn(m, &w); err != nil {
			return err
		}
		m.Version = v + 1
		it, err := encode(memberKey(id), record.FromMember(*m), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
		newEmail := -1 // the index of the new e-mail item's put
		if !strings.EqualFold(oldEmail, m.Email) {
			b.add(s.txDelete(emailKey(oldEmail), nil))
			newEmail = len(b.items)
			b.add(s.txPut(emailItem(m), &itemMissing))
		}
		if w.KeepAnAdmin {
			if err := s.addAdminWitness(ctx, &b, id, oldEmail, false); err != nil {
				return err
			}
		}
		guardFrom, guardTo := s.addSettingsGuard(&b, "", w.Guard, "")
		applied := s.addApplied(&b, w.Applies)
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if newEmail >= 0 && !failedCondition(err, 0) && failedCondition(err, newEmail) {
			return domain.Errorf(domain.CodeConflict, "a member with e-mail %s already exists", m.Email)
		}
		return outcome(err, w.Entries, from, "put member "+id)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Store) DeleteMember(ctx context.Context, id string) error {
	return s.RemoveMember(ctx, id, nil)
}

func (s *Store) RemoveMember(ctx context.Context, id string, check func(*domain.Member, *domain.MemberWrite) error) error {
	return retry(ctx, func() error {
		read, err := s.get(ctx, memberKey(id))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("member", id)
		}
		m, err := decode[record.Member](read)
		if err != nil {
			return err
		}
		var w domain.MemberWrite
		if check != nil {
			if err := check(m, &w); err != nil {
				return err
			}
		}
		var b txBuilder
		cond := versionIs(m.Version)
		b.add(s.txDelete(memberKey(id), &cond))
		b.add(s.txDelete(emailKey(m.Email), nil))
		if w.KeepAnAdmin {
			if err := s.addAdminWitness(ctx, &b, id, m.Email, true); err != nil {
				return err
			}
		}
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		return outcome(err, w.Entries, from, "delete member "+id)
	})
}

// ---- the last admin ----

// addAdminWitness is MemberWrite.KeepAnAdmin on DynamoDB. It finds an admin
// member other than id (a strongly consistent query of the members) and adds
// to the write's transaction a ConditionCheck that this witness is still an
// admin; with none, it answers LastAdmin and nothing is written.
//
// Transactions are serialisable, so among writes that each take an admin
// away, the one that commits last saw its witness still an admin at its
// commit, and nothing after it demotes the witness: at least one admin
// member always remains. Two admins demoting each other check each other,
// so one transaction fails its check (or conflicts), reads again, finds no
// other admin and is refused. No counter is kept, so there is nothing to
// initialise on existing tables and nothing that can drift from the member
// items (docs/dynamodb.md, "The last admin").
func (s *Store) addAdminWitness(ctx context.Context, b *txBuilder, id, email string, removal bool) error {
	witness, err := s.otherAdmin(ctx, id)
	if err != nil {
		return err
	}
	if witness == "" {
		return domain.LastAdmin(email, removal)
	}
	b.add(s.txCheck(key{pkOrg, witness}, expression.Name(attrRole).Equal(expression.Value(string(domain.RoleAdmin)))))
	return nil
}

// otherAdmin returns the sort key of the first admin member other than id
// (in sort key order), "" when there is none: a strongly consistent Query
// of the members, filtered to admins, projecting only the sort key.
func (s *Store) otherAdmin(ctx context.Context, id string) (string, error) {
	e, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pkOrg)).And(expression.Key(attrSK).BeginsWith(prefixMember))).
		WithFilter(expression.Name(attrRole).Equal(expression.Value(string(domain.RoleAdmin)))).
		WithProjection(expression.NamesList(expression.Name(attrSK))).
		Build()
	if err != nil {
		return "", fmt.Errorf("dynamodb build query of admins: %w", err)
	}
	self := memberKey(id).sk
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    e.KeyCondition(),
			FilterExpression:          e.Filter(),
			ProjectionExpression:      e.Projection(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return "", fmt.Errorf("dynamodb query admins: %w", err)
		}
		for _, it := range res.Items {
			if sk := stringAttr(it, attrSK); sk != self {
				return sk, nil
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return "", nil
		}
		start = res.LastEvaluatedKey
	}
}

// ---- tokens ----

// A token has a TOKENHASH#<hash> item beside it while it is live. Tokens have
// no version: their two changes (last use, revocation) are updates of one
// attribute each, conditioned on what was read.

func (s *Store) CreateToken(ctx context.Context, t *domain.Token) error {
	return s.AddToken(ctx, t, nil)
}

// AddToken is one transaction: the token and its hash item, each new, the
// ConditionChecks of w.Guard (ErrContention when one fails) and the audit
// entries.
func (s *Store) AddToken(ctx context.Context, t *domain.Token, w *domain.Audit) error {
	if w == nil {
		w = &domain.Audit{}
	}
	if w.Applies != nil {
		return fmt.Errorf("dynamodb add token %s: creating a token applies no request (%s)", t.ID, w.Applies.ID)
	}
	return retry(ctx, func() error {
		it, err := encode(tokenKey(t.ID), record.FromToken(*t), nil)
		if err != nil {
			return err
		}
		hk := tokenHashKey(t.Hash)
		var b txBuilder
		b.add(s.txPut(it, &itemMissing))
		b.add(s.txPut(item{attrPK: str(hk.pk), attrSK: str(hk.sk), attrTokenID: str(t.ID)}, &itemMissing))
		guardFrom, guardTo := s.addSettingsGuard(&b, "", w.Guard, "")
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0), failedCondition(err, 1):
			return domain.Errorf(domain.CodeConflict, "token %q already exists", t.ID)
		case onlyConflicts(err):
			return errRetry
		}
		return outcome(err, w.Entries, from, "create token "+t.ID)
	})
}

func (s *Store) GetToken(ctx context.Context, id string) (*domain.Token, error) {
	it, err := s.get(ctx, tokenKey(id))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.NotFound("token", id)
	}
	return decode[record.Token](it)
}

func (s *Store) GetTokenByHash(ctx context.Context, hash string) (*domain.Token, error) {
	h, err := s.get(ctx, tokenHashKey(hash))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, domain.Errorf(domain.CodeNotFound, "token not found")
	}
	it, err := s.get(ctx, tokenKey(stringAttr(h, attrTokenID)))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.Errorf(domain.CodeNotFound, "token not found")
	}
	t, err := decode[record.Token](it)
	if err != nil {
		return nil, err
	}
	if t.RevokedAt != nil {
		return nil, domain.Errorf(domain.CodeNotFound, "token not found")
	}
	return t, nil
}

func (s *Store) ListTokens(ctx context.Context, memberID string, page domain.Page) ([]domain.Token, string, error) {
	l := listing{pk: pkOrg, prefix: prefixToken, what: "tokens"}
	if memberID != "" {
		c := expression.Name(attrMemberID).Equal(expression.Value(memberID))
		l.filter = &c
		l.what = "tokens of " + memberID
	}
	return list[record.Token](ctx, s, l, page)
}

// RevokeToken reads the token; a revoked one is answered as it is.
// Otherwise one transaction: an Update setting revoked_at, conditioned on the
// token existing without one, the delete of its hash entry, and the audit
// entries.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit ...domain.AuditEntry) (t *domain.Token, err error) {
	err = retry(ctx, func() error {
		read, err := s.get(ctx, tokenKey(id))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("token", id)
		}
		if t, err = decode[record.Token](read); err != nil {
			return err
		}
		if t.RevokedAt != nil {
			return nil
		}
		at := at.UTC()
		av, err := encodeValue(at)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txUpdate(tokenKey(id), expression.Set(expression.Name(attrRevokedAt), expression.Value(av)),
			itemExists.And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))))
		b.add(s.txDelete(tokenHashKey(t.Hash), nil))
		from := s.addAudit(&b, audit)
		if err = s.transact(ctx, &b); err == nil {
			t.RevokedAt = &at
			return nil
		}
		// Revoked meanwhile (a lost race): the next read answers it as it is.
		return outcome(err, audit, from, "revoke token "+id)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return retry(ctx, func() error {
		read, err := s.get(ctx, tokenKey(id))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("token", id)
		}
		t, err := decode[record.Token](read)
		if err != nil {
			return err
		}
		if t.LastUsedAt != nil && !at.After(*t.LastUsedAt) {
			return nil
		}
		av, err := encodeValue(at.UTC())
		if err != nil {
			return err
		}
		e, err := expression.NewBuilder().
			WithUpdate(expression.Set(expression.Name(attrLastUsed), expression.Value(av))).
			WithCondition(itemExists.And(unchanged(read, attrLastUsed))).
			Build()
		if err != nil {
			return fmt.Errorf("dynamodb build update: %w", err)
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       tokenKey(id).av(),
			UpdateExpression:          e.Update(),
			ConditionExpression:       e.Condition(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		})
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb touch token %s: %w", id, err)
	})
}
