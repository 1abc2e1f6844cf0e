package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A pending token (domain.Token.PendingRequest) is in the tokens bucket
// only, not in token_hashes: GetTokenByHash never finds it, so it never
// authenticates. Activating it puts its hash, in the transaction that
// applies its governance request.

// CreatePendingToken writes the token (no hash entry), the governance
// request and its audit entries in one transaction.
func (s *Store) CreatePendingToken(ctx context.Context, t *domain.Token, cr *domain.ChangeRequest, audit []domain.AuditEntry) error {
	if !t.Pending() {
		return fmt.Errorf("bbolt create pending token %s: the token names no request", t.ID)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bTokens).Get(key(t.ID)) != nil {
			return domain.Errorf(domain.CodeConflict, "token %q already exists", t.ID)
		}
		if err := insertRequest(tx, cr); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bTokens, key(t.ID), record.FromToken(*t))
	})
}

// ActivateToken runs fn and the write in one transaction, which bbolt
// serialises with every other write (a revocation included).
func (s *Store) ActivateToken(ctx context.Context, id string, fn func(*domain.Token, *domain.Audit) error) (t *domain.Token, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		t, ok, err = get[record.Token](tx, bTokens, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("token", id)
		}
		if err := t.CheckActivate(); err != nil {
			return err
		}
		var audit domain.Audit
		if err := fn(t, &audit); err != nil {
			return err
		}
		if tx.Bucket(bTokenHashes).Get([]byte(t.Hash)) != nil {
			return domain.Errorf(domain.CodeConflict, "token %q: another token has its hash", id)
		}
		t.PendingRequest = ""
		if err := tx.Bucket(bTokenHashes).Put([]byte(t.Hash), []byte(t.ID)); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		return put(tx, bTokens, key(id), record.FromToken(*t))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
