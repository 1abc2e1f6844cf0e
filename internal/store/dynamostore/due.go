package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/countersign/countersign/internal/domain"
)

// The timer index is GSI3, sparse: a change request whose NextDue is set
// carries GSI3PK "DUE#<shard>" and GSI3SK "<next due>#<id>" (crItem writes
// them, or leaves them out, on every write of the request); the only other
// items in the index are pending outbox items, under partition keys of their
// own (OUTBOX#<shard>, outbox.go). "Due before T" is then a key range of
// each shard, and reads only due requests.
//
// The shard spreads the index's writes over dueShards partition keys, so
// that many timers coming and going at once do not all land on one index
// partition; a sweep queries every shard and merges.
const dueShards = 10

// dueShard is the shard of request id: FNV-1a of the id, mod dueShards. It
// depends on the id alone, so a request keeps its shard in every write and
// in every process (the index entry would follow the item anyway: an index
// holds one entry per item, wherever its keys put it).
func dueShard(id string) int { return shardOf(id, dueShards) }

// shardOf is FNV-1a of id mod n (the due and outbox indexes' shards).
func shardOf(id string, n uint32) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % n)
}

func dueShardKey(id string) string { return prefixDue + strconv.Itoa(dueShard(id)) }

// maxSortableTime is the latest time sortableTime keeps in order (four-digit
// years).
var maxSortableTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

// ListDue reads the requests due at or before before, earliest first (ties
// by id), at most limit: one Query per shard of GSI3, for the key range
// GSI3SK < "<before + 1ns>" (so every "<due>#<id>" with due <= before,
// whatever characters the id has), ascending, at most limit entries each,
// projecting only GSI3SK (which holds the due time and the id). The shards
// are read in parallel and merged; the result is the first limit of the
// merge.
//
// Like every GSI read it is eventually consistent: a request written a moment
// ago may be missing, or listed at its previous due time, or listed although
// it left the index. A timer must read the request again (strongly) and
// decide by its NextDue then, as the update functions do.
func (s *Store) ListDue(ctx context.Context, before time.Time, limit int) ([]domain.DueRequest, error) {
	if limit <= 0 {
		return nil, nil
	}
	sks, err := s.gsi3Before(ctx, prefixDue, dueShards, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]domain.DueRequest, 0, len(sks))
	for _, sk := range sks {
		id, ok := parseTimeID(sk)
		due, err := time.Parse(timeFormat, sk[:min(len(sk), len(timeFormat))])
		if !ok || err != nil {
			return nil, fmt.Errorf("dynamodb decode %s %q: not <due>#<id>", attrGSI3SK, sk)
		}
		out = append(out, domain.DueRequest{ID: id, Due: due.UTC()})
	}
	return out, nil
}

// gsi3Before reads the sort keys "<time>#<id>" with time at or before
// before of the GSI3 shards prefix0 to prefix<shards-1>, in parallel, and
// returns the first limit of them in order (time, then id).
func (s *Store) gsi3Before(ctx context.Context, prefix string, shards int, before time.Time, limit int) ([]string, error) {
	if before.After(maxSortableTime) {
		before = maxSortableTime
	}
	end := sortableTime(before.Add(time.Nanosecond))
	found := make([][]string, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for shard := range shards {
		wg.Go(func() { found[shard], errs[shard] = s.gsi3SortKeys(ctx, prefix+strconv.Itoa(shard), end, limit) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// GSI3SK is "<fixed-width time>#<id>": its order is time, then id.
	sks := slices.Concat(found...)
	slices.Sort(sks)
	return sks[:min(len(sks), limit)], nil
}

// gsi3SortKeys returns the GSI3 sort keys of one shard (GSI3PK pk: a due
// or an outbox shard) below end, in order, at most limit of them.
func (s *Store) gsi3SortKeys(ctx context.Context, pk, end string, limit int) ([]string, error) {
	e, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrGSI3PK).Equal(expression.Value(pk)).
			And(expression.Key(attrGSI3SK).LessThan(expression.Value(end)))).
		WithProjection(expression.NamesList(expression.Name(attrGSI3SK))).
		Build()
	if err != nil {
		return nil, fmt.Errorf("dynamodb build query of GSI3 %s: %w", pk, err)
	}
	var sks []string
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(indexGSI3),
			KeyConditionExpression:    e.KeyCondition(),
			ProjectionExpression:      e.Projection(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ScanIndexForward:          aws.Bool(true),
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(min(limit-len(sks), 1<<30))),
		})
		if err != nil {
			return nil, fmt.Errorf("dynamodb query GSI3 %s: %w", pk, err)
		}
		for _, it := range res.Items {
			sks = append(sks, stringAttr(it, attrGSI3SK))
		}
		// A page ends at limit items or at 1 MB read; only the second
		// leaves more to read.
		if len(sks) >= limit || len(res.LastEvaluatedKey) == 0 {
			return sks, nil
		}
		start = res.LastEvaluatedKey
	}
}
