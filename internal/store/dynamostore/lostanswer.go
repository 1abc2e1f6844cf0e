package dynamostore

import (
	"errors"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A write whose answer is lost (a connection reset or a timeout after
// DynamoDB ran it) is sent again by the SDK's retryer. A TransactWriteItems
// is safe: the SDK fills its ClientRequestToken once per call and sends the
// same one with every retry, so DynamoDB answers a transaction sent again
// from its first run, however the items changed since. A PutItem carries no
// such token: DynamoDB runs it again, and a version-conditioned put then
// fails on its own write. Read as a lost race, the read-modify-write would
// read its own result and run its update again: a failed delivery of an
// outbox item counted twice, a project's version bumped twice (found by
// TestDynamoDBFaults in internal/app; TestLostAnswerOfAConditionalPut).

// ownWrite is err, or nil when err is a failed condition (its item asked
// with ReturnValuesOnConditionCheckFailure ALL_OLD) on an item that is,
// attribute for attribute, the one put: the put's own write, or one
// identical to it, so the item holds what the put meant to write. (Another
// writer of the very same item at the same version has the same outcome;
// an item written since by someone else is not recognised, and the put
// reads again as before: the SDK sends a put again within moments, while
// the store's writers of one item take turns by version.)
func ownWrite(err error, put item) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && sameItem(ccf.Item, put) {
		return nil
	}
	return err
}

// sameItem reports whether two items hold the same attributes with the
// same values (numbers compared as written, empty lists and maps alike).
func sameItem(a, b item) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	var x, y map[string]any
	numbers := func(o *attributevalue.DecoderOptions) { o.UseNumber = true }
	return attributevalue.UnmarshalMapWithOptions(a, &x, numbers) == nil &&
		attributevalue.UnmarshalMapWithOptions(b, &y, numbers) == nil && reflect.DeepEqual(x, y)
}
