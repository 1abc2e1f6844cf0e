package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A pending token (domain.Token.PendingRequest: a service token with
// manager or admin rights made while approvals are on) is its token item
// alone, with pending_request naming its governance request: without a
// TOKENHASH# item GetTokenByHash never finds it, so it never
// authenticates. Activating it removes pending_request and puts the hash
// item, in the transaction that applies the request.

// attrPendingRequest is a pending token's request, named as in its JSON.
const attrPendingRequest = "pending_request"

// CreatePendingToken is one transaction: the token item (no hash item),
// the governance request and its audit entries, each new.
func (s *Store) CreatePendingToken(ctx context.Context, t *domain.Token, cr *domain.ChangeRequest, audit []domain.AuditEntry) error {
	if !t.Pending() {
		return fmt.Errorf("dynamodb create pending token %s: the token names no request", t.ID)
	}
	return retry(ctx, func() error {
		it, err := encode(tokenKey(t.ID), record.FromToken(*t), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txPut(it, &itemMissing))
		opensAt := s.addOpens(&b, cr)
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "token %q already exists", t.ID)
		}
		if err := openedExists(err, opensAt, cr); err != nil {
			return err
		}
		if tooLarge(err) {
			return errTooLarge(cr.ID)
		}
		return outcome(err, audit, from, "create pending token "+t.ID)
	})
}

// ActivateToken reads the token; fn decides on it. Then one transaction:
// an Update removing pending_request, conditioned on the token still
// pending on the request read and not revoked; the put of its hash item,
// new; the request applied (Audit.Applies); the audit entries. A token
// that changed meanwhile is read again.
func (s *Store) ActivateToken(ctx context.Context, id string, fn func(*domain.Token, *domain.Audit) error) (t *domain.Token, err error) {
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
		pending := t.PendingRequest
		if err := t.CheckActivate(); err != nil {
			return err
		}
		var audit domain.Audit
		if err := fn(t, &audit); err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txUpdate(tokenKey(id), expression.Remove(expression.Name(attrPendingRequest)),
			itemExists.And(expression.Name(attrPendingRequest).Equal(expression.Value(pending))).
				And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))))
		hk := tokenHashKey(t.Hash)
		b.add(s.txPut(item{attrPK: str(hk.pk), attrSK: str(hk.sk), attrTokenID: str(id)}, &itemMissing))
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if failedCondition(err, 1) {
			return domain.Errorf(domain.CodeConflict, "token %q: another token has its hash", id)
		}
		// A failed condition on the token: revoked meanwhile; the next
		// read says so.
		if err := outcome(err, audit.Entries, from, "activate token "+id); err != nil {
			return err
		}
		t.PendingRequest = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
