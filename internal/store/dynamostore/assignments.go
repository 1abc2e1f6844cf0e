package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

var _ domain.AssignmentRepository = (*Store)(nil)

// A sticky bucketing assignment is one small item:
//
//	PK STICKY#<project>#<environment>#<flag>#<unit>   SK EPOCH#<epoch>   variant
//
// One partition key per unit spreads a popular flag's assignments over the
// table instead of piling them on one partition. The unit is the key's last
// part, so a '#' in it is not ambiguous; a unit too long for a key (over
// maxUnitInKey bytes) is keyed by its SHA-256. Reads are eventually
// consistent (half a read unit): a miss that raced a write elsewhere is
// settled by Assign's condition.
const (
	prefixSticky  = "STICKY#"
	prefixEpoch   = "EPOCH#"
	attrVariant   = "variant"
	maxUnitInKey  = 1024
	maxEpochInKey = 512
)

func stickyKey(k domain.AssignmentKey) key {
	unit, epoch := k.Unit, k.Epoch
	if len(unit) > maxUnitInKey {
		sum := sha256.Sum256([]byte(unit))
		unit = "sha256:" + hex.EncodeToString(sum[:])
	}
	if len(epoch) > maxEpochInKey {
		sum := sha256.Sum256([]byte(epoch))
		epoch = "sha256:" + hex.EncodeToString(sum[:])
	}
	return key{prefixSticky + k.Project + "#" + k.Environment + "#" + k.Flag + "#" + unit, prefixEpoch + epoch}
}

func (s *Store) assignment(ctx context.Context, k key, consistent bool) (string, error) {
	e, err := expression.NewBuilder().WithProjection(expression.NamesList(expression.Name(attrVariant))).Build()
	if err != nil {
		return "", fmt.Errorf("dynamodb build projection: %w", err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                &s.table,
		Key:                      k.av(),
		ConsistentRead:           aws.Bool(consistent),
		ProjectionExpression:     e.Projection(),
		ExpressionAttributeNames: e.Names(),
	})
	if err != nil {
		return "", fmt.Errorf("dynamodb get %s: %w", k, err)
	}
	return stringAttr(out.Item, attrVariant), nil
}

func (s *Store) Assignment(ctx context.Context, k domain.AssignmentKey) (string, error) {
	return s.assignment(ctx, stickyKey(k), false)
}

func (s *Store) Assign(ctx context.Context, k domain.AssignmentKey, variant, replacing string) (string, error) {
	if variant == "" {
		return "", domain.Errorf(domain.CodeInvalid, "an assignment needs a variant")
	}
	sk := stickyKey(k)
	cond := expression.AttributeNotExists(expression.Name(attrPK))
	if replacing != "" {
		cond = cond.Or(expression.Name(attrVariant).Equal(expression.Value(replacing)))
	}
	it := sk.av()
	it[attrVariant] = &types.AttributeValueMemberS{Value: variant}
	err := s.putIf(ctx, it, cond)
	if err == nil {
		return variant, nil
	}
	if !failedCondition(err, 0) {
		return "", fmt.Errorf("dynamodb put %s: %w", sk, err)
	}
	// Another variant was there first: it is the answer (assignments are
	// never deleted, so a strongly consistent read finds it).
	stored, err := s.assignment(ctx, sk, true)
	if err != nil {
		return "", err
	}
	if stored == "" {
		return "", fmt.Errorf("dynamodb put %s: the condition failed but no assignment is stored", sk)
	}
	return stored, nil
}
