package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
)

// bAssignments holds sticky bucketing assignments:
// project \x00 environment \x00 flag \x00 epoch \x00 unit → variant. The
// separator is NUL, which no key part holds (units come from JSON strings
// and may hold "/").
var bAssignments = []byte("sticky_assignments")

var _ domain.AssignmentRepository = (*Store)(nil)

func init() { allBuckets = append(allBuckets, bAssignments) }

func assignmentKey(k domain.AssignmentKey) []byte {
	b := make([]byte, 0, len(k.Project)+len(k.Environment)+len(k.Flag)+len(k.Epoch)+len(k.Unit)+4)
	for i, part := range []string{k.Project, k.Environment, k.Flag, k.Epoch, k.Unit} {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, part...)
	}
	return b
}

func (s *Store) Assignment(ctx context.Context, k domain.AssignmentKey) (variant string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		variant = string(tx.Bucket(bAssignments).Get(assignmentKey(k)))
		return nil
	})
	return variant, err
}

func (s *Store) Assign(ctx context.Context, k domain.AssignmentKey, variant, replacing string) (stored string, err error) {
	if variant == "" {
		return "", domain.Errorf(domain.CodeInvalid, "an assignment needs a variant")
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bAssignments)
		id := assignmentKey(k)
		if cur := string(b.Get(id)); cur != "" && cur != replacing {
			stored = cur
			return nil
		}
		stored = variant
		return b.Put(id, []byte(variant))
	})
	return stored, err
}
