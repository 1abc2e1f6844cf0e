package dynamostore

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// metered is the store's only way to DynamoDB: it offers the operations the
// store uses, asks each of them for its consumed capacity (TOTAL) and adds
// the capacity units DynamoDB reports to a counter; it also counts the items
// its reads read. Having no other path to the client, the store cannot make
// an unmetered call.
//
// DynamoDB reports consumed capacity only on calls that succeed: a
// conditional write whose condition fails and a cancelled transaction consume
// capacity too, but their errors do not say how much. The counter is
// therefore exact without contention and a lower bound with it.
type metered struct {
	c     operations
	units atomic.Uint64 // float64 bits
	items atomic.Int64  // items read: see ItemsRead
}

// operations are the client's operations the store calls, as method values
// of the client. The store's types do not name *dynamodb.Client: a type
// reachable from a value in an interface (the store is a domain.Store) is
// open to reflection, and in a binary that also links text/template, which
// calls methods by name through reflection, the linker then keeps every
// exported method of the client, all of DynamoDB's operations: about 1 MB
// and 150 itabs more, and a slower cold start (docs/benchmarks.md, "Lambda
// binaries and cold start"; functions/imports_test.go checks the console).
type operations struct {
	GetItem            func(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem       func(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem            func(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem         func(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query              func(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems func(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

func newMetered(c *dynamodb.Client) *metered {
	return &metered{c: operations{GetItem: c.GetItem, BatchGetItem: c.BatchGetItem, PutItem: c.PutItem,
		UpdateItem: c.UpdateItem, Query: c.Query, TransactWriteItems: c.TransactWriteItems}}
}

func (m *metered) add(ccs ...types.ConsumedCapacity) {
	var sum float64
	for _, cc := range ccs {
		if cc.CapacityUnits != nil {
			sum += *cc.CapacityUnits
		}
	}
	if sum == 0 {
		return
	}
	for {
		old := m.units.Load()
		if m.units.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+sum)) {
			return
		}
	}
}

func (m *metered) addOne(cc *types.ConsumedCapacity) {
	if cc != nil {
		m.add(*cc)
	}
}

const total = types.ReturnConsumedCapacityTotal

func (m *metered) GetItem(ctx context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.GetItem(ctx, in)
	if out != nil {
		m.addOne(out.ConsumedCapacity)
		if len(out.Item) > 0 {
			m.items.Add(1)
		}
	}
	return out, err
}

func (m *metered) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.BatchGetItem(ctx, in)
	if out != nil {
		m.add(out.ConsumedCapacity...)
		for _, items := range out.Responses {
			m.items.Add(int64(len(items)))
		}
	}
	return out, err
}

func (m *metered) PutItem(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.PutItem(ctx, in)
	if out != nil {
		m.addOne(out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.UpdateItem(ctx, in)
	if out != nil {
		m.addOne(out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) Query(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.Query(ctx, in)
	if out != nil {
		m.addOne(out.ConsumedCapacity)
		// ScannedCount: the items the key condition matched and DynamoDB
		// read (and charged), before any filter expression dropped some.
		m.items.Add(int64(out.ScannedCount))
	}
	return out, err
}

func (m *metered) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.c.TransactWriteItems(ctx, in)
	if out != nil {
		m.add(out.ConsumedCapacity...)
	}
	return out, err
}

// ConsumedCapacity is the sum of the capacity units (read and write) that
// DynamoDB reported for the store's calls since it was made or last reset.
// Failed conditional writes and cancelled transactions are not in it:
// DynamoDB does not report theirs.
func (s *Store) ConsumedCapacity() float64 { return math.Float64frombits(s.db.units.Load()) }

// ResetConsumedCapacity sets the counter back to zero.
func (s *Store) ResetConsumedCapacity() { s.db.units.Store(0) }

// ItemsRead is the number of items the store's reads read since it was made
// or last reset: the items GetItem and BatchGetItem returned, and the items
// each Query read (its ScannedCount, which counts the items a filter
// expression dropped too). Writes, and the items conditions of writes look
// at, are not in it.
func (s *Store) ItemsRead() int64 { return s.db.items.Load() }

// ResetItemsRead sets the items-read counter back to zero.
func (s *Store) ResetItemsRead() { s.db.items.Store(0) }
