// Package dynamostore is the DynamoDB store: every repository on one table,
// laid out as docs/dynamodb.md describes. DynamoDB has no multi-item locks, so
// every read-modify-write reads with strong consistency, writes conditioned on
// what it read (the `version`, and the counters that stand for the items that
// hang off it) and starts again from the read when it lost a race.
package dynamostore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

// Attribute names the store adds beside an entity's own (JSON-named) ones.
const (
	attrPK        = "PK"
	attrSK        = "SK"
	attrGSI1PK    = "GSI1PK"
	attrGSI1SK    = "GSI1SK"
	attrVersion   = "version"    // the entities' own version, named as in their JSON
	attrEnvCount  = "env_count"  // project: how many environments it has
	attrFlagSeq   = "flag_seq"   // project: bumped by every flag creation
	attrConfigSeq = "config_seq" // flag: bumped by every config write
	attrMemberID  = "member_id"  // e-mail lookup item → member
	attrTokenID   = "token_id"   // token hash lookup item → token
	attrRevokedAt = "revoked_at" // token, named as in its JSON
	attrLastUsed  = "last_used_at"
)

// Key prefixes. Keys never contain '#', so '#' separates safely.
const (
	pkOrg         = "ORG"
	prefixProject = "PROJECT#"
	prefixEnv     = "ENV#"
	prefixFlag    = "FLAG#"
	prefixConfig  = "CONFIG#"
	prefixEnvConf = "ENVCONFIG#"
	prefixMember  = "MEMBER#"
	prefixEmail   = "EMAIL#"
	prefixToken   = "TOKEN#"
	prefixHash    = "TOKENHASH#"
)

// Retry policy of read-modify-writes that lost a race: at most maxAttempts
// attempts; between them a random pause of up to unit×2^attempt (at most
// backoffMax), where unit is how long the failed attempt took (at least
// backoffBase). Scaling by the attempt's own duration spreads the retries of
// writers racing for one item over about as many attempt-lengths as there are
// writers, however fast or slow the database answers.
const (
	maxAttempts = 10
	backoffBase = 10 * time.Millisecond
	backoffMax  = time.Second
)

// Store implements domain.Store on one DynamoDB table.
type Store struct {
	db    *dynamodb.Client
	table string
}

var _ domain.Store = (*Store)(nil)

// New returns a store on table, which must exist (see CreateTable).
func New(client *dynamodb.Client, table string) *Store {
	return &Store{db: client, table: table}
}

// ---- keys ----

type key struct{ pk, sk string }

func (k key) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(k.pk), attrSK: str(k.sk)}
}

func (k key) String() string { return k.pk + "/" + k.sk }

func projectKey(p string) key { return key{pkOrg, prefixProject + p} }
func envKey(p, e string) key  { return key{prefixProject + p, prefixEnv + e} }
func flagKey(p, f string) key { return key{prefixProject + p, prefixFlag + f} }
func configKey(p, f, e string) key {
	return key{prefixProject + p, prefixConfig + f + "#" + e}
}
func memberKey(id string) key   { return key{pkOrg, prefixMember + id} }
func emailKey(email string) key { return key{pkOrg, prefixEmail + strings.ToLower(email)} }
func tokenKey(id string) key    { return key{pkOrg, prefixToken + id} }
func tokenHashKey(h string) key { return key{pkOrg, prefixHash + h} }

// ---- attribute values ----

type item = map[string]types.AttributeValue

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

func useJSONNames(o *attributevalue.EncoderOptions)  { o.TagKey = "json" }
func readJSONNames(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// encode marshals an entity under its JSON names and adds its key and extra
// (store-only) attributes.
func encode(k key, v any, extra item) (item, error) {
	it, err := attributevalue.MarshalMapWithOptions(v, useJSONNames)
	if err != nil {
		return nil, fmt.Errorf("dynamodb encode %s: %w", k, err)
	}
	it[attrPK], it[attrSK] = str(k.pk), str(k.sk)
	for n, v := range extra {
		it[n] = v
	}
	return it, nil
}

func decode[T any](it item) (*T, error) {
	var v T
	if err := attributevalue.UnmarshalMapWithOptions(it, &v, readJSONNames); err != nil {
		return nil, fmt.Errorf("dynamodb decode %s/%s: %w", stringAttr(it, attrPK), stringAttr(it, attrSK), err)
	}
	return &v, nil
}

func encodeValue(v any) (types.AttributeValue, error) {
	av, err := attributevalue.MarshalWithOptions(v, useJSONNames)
	if err != nil {
		return nil, fmt.Errorf("dynamodb encode value: %w", err)
	}
	return av, nil
}

func stringAttr(it item, name string) string {
	if s, ok := it[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// keep copies the named attributes, where present, from the item read.
func keep(read item, names ...string) item {
	out := item{}
	for _, n := range names {
		if v, ok := read[n]; ok {
			out[n] = v
		}
	}
	return out
}

// ---- conditions ----

var (
	itemExists  = expression.AttributeExists(expression.Name(attrPK))
	itemMissing = expression.AttributeNotExists(expression.Name(attrPK))
)

func versionIs(v int64) expression.ConditionBuilder {
	return expression.Name(attrVersion).Equal(expression.Value(v))
}

// unchanged holds while every named attribute is what the read item had
// (absent included), so a write based on that read loses to any write that
// changed one of them meanwhile.
func unchanged(read item, first string, more ...string) expression.ConditionBuilder {
	one := func(n string) expression.ConditionBuilder {
		if v, ok := read[n]; ok {
			return expression.Name(n).Equal(expression.Value(v))
		}
		return expression.AttributeNotExists(expression.Name(n))
	}
	c := one(first)
	for _, n := range more {
		c = c.And(one(n))
	}
	return c
}

func condition(c expression.ConditionBuilder) (expression.Expression, error) {
	e, err := expression.NewBuilder().WithCondition(c).Build()
	if err != nil {
		return e, fmt.Errorf("dynamodb build condition: %w", err)
	}
	return e, nil
}

// ---- single-item operations ----

// get reads one item with a strongly consistent read; nil when missing.
func (s *Store) get(ctx context.Context, k key) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            k.av(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb get %s: %w", k, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

func (s *Store) exists(ctx context.Context, k key) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            &s.table,
		Key:                  k.av(),
		ConsistentRead:       aws.Bool(true),
		ProjectionExpression: aws.String(attrPK),
	})
	if err != nil {
		return false, fmt.Errorf("dynamodb get %s: %w", k, err)
	}
	return len(out.Item) > 0, nil
}

// getMany reads items by key in one strongly consistent batch; the result
// has one entry per key, nil for a missing item.
func (s *Store) getMany(ctx context.Context, keys ...key) ([]item, error) {
	want := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		want[i] = k.av()
	}
	found := map[key]item{}
	req := map[string]types.KeysAndAttributes{s.table: {Keys: want, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(backoffBase, attempt-1)); err != nil {
				return nil, err
			}
		}
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("dynamodb batch get %v: %w", keys, err)
		}
		for _, it := range out.Responses[s.table] {
			found[key{stringAttr(it, attrPK), stringAttr(it, attrSK)}] = it
		}
		req = out.UnprocessedKeys
	}
	items := make([]item, len(keys))
	for i, k := range keys {
		items[i] = found[k]
	}
	return items, nil
}

// putIf writes an item if cond holds.
func (s *Store) putIf(ctx context.Context, it item, cond expression.ConditionBuilder) error {
	e, err := condition(cond)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      it,
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	})
	return err
}

// ---- transactions ----

func (s *Store) txPut(it item, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	p := &types.Put{TableName: &s.table, Item: it}
	if cond != nil {
		e, err := condition(*cond)
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	return types.TransactWriteItem{Put: p}, nil
}

func (s *Store) txDelete(k key, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	d := &types.Delete{TableName: &s.table, Key: k.av()}
	if cond != nil {
		e, err := condition(*cond)
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		d.ConditionExpression, d.ExpressionAttributeNames, d.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	return types.TransactWriteItem{Delete: d}, nil
}

// txUpdate updates k if cond holds; a failed condition reports the item as
// it was (CancellationReason.Item), so callers can tell why.
func (s *Store) txUpdate(k key, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (types.TransactWriteItem, error) {
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("dynamodb build update: %w", err)
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           &s.table,
		Key:                                 k.av(),
		UpdateExpression:                    e.Update(),
		ConditionExpression:                 e.Condition(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}, nil
}

func (s *Store) txCheck(k key, cond expression.ConditionBuilder) (types.TransactWriteItem, error) {
	e, err := condition(cond)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 &s.table,
		Key:                       k.av(),
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}}, nil
}

// txBuilder collects transaction items and the first error building one.
type txBuilder struct {
	items []types.TransactWriteItem
	err   error
}

func (b *txBuilder) add(it types.TransactWriteItem, err error) {
	if b.err == nil {
		b.err = err
	}
	b.items = append(b.items, it)
}

// transact runs the collected items as one TransactWriteItems.
func (s *Store) transact(ctx context.Context, b *txBuilder) error {
	if b.err != nil {
		return b.err
	}
	if len(b.items) > 100 {
		return fmt.Errorf("dynamodb transaction of %d items is over the limit of 100", len(b.items))
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: b.items})
	return err
}

// Cancellation reason codes.
const (
	reasonNone        = "None"
	reasonCondition   = "ConditionalCheckFailed"
	reasonConflict    = "TransactionConflict"
	reasonThrottling  = "ThrottlingError"
	reasonProvisioned = "ProvisionedThroughputExceeded"
)

// cancelled returns the reasons of a cancelled transaction, one per item,
// or nil when err is not a cancellation.
func cancelled(err error) []types.CancellationReason {
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		return tc.CancellationReasons
	}
	return nil
}

func failedCondition(reasons []types.CancellationReason, i int) bool {
	return i < len(reasons) && aws.ToString(reasons[i].Code) == reasonCondition
}

// lostRace reports whether err says a write lost to another writer (or was
// throttled): the cure is to read again and retry.
func lostRace(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	var conflict *types.TransactionConflictException
	if errors.As(err, &ccf) || errors.As(err, &conflict) {
		return true
	}
	reasons := cancelled(err)
	if len(reasons) == 0 {
		return false
	}
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonNone, reasonCondition, reasonConflict, reasonThrottling, reasonProvisioned:
		default:
			return false
		}
	}
	return true
}

// onlyConflicts reports whether a cancelled transaction failed for
// concurrency alone (no condition of its own failed).
func onlyConflicts(err error) bool {
	reasons := cancelled(err)
	if len(reasons) == 0 {
		var conflict *types.TransactionConflictException
		return errors.As(err, &conflict)
	}
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonNone, reasonConflict, reasonThrottling, reasonProvisioned:
		default:
			return false
		}
	}
	return true
}

// ---- retries ----

// errRetry is what an attempt returns when its write lost a race.
var errRetry = errors.New("lost a race; read again")

// retry runs attempt until it returns something other than errRetry, at most
// maxAttempts times, with jittered exponential backoff in between; then
// domain.ErrContention.
func retry(ctx context.Context, attempt func() error) error {
	for i := 0; ; i++ {
		began := time.Now()
		err := attempt()
		if !errors.Is(err, errRetry) {
			return err
		}
		if i+1 >= maxAttempts {
			return domain.ErrContention
		}
		if err := sleep(ctx, backoff(time.Since(began), i)); err != nil {
			return err
		}
	}
}

// backoff is a random pause in [0, d]: d is unit (at least backoffBase)
// doubled per attempt, at most backoffMax.
func backoff(unit time.Duration, attempt int) time.Duration {
	unit = max(unit, backoffBase)
	d := backoffMax
	if attempt < 16 && unit < backoffMax && unit<<attempt < backoffMax {
		d = unit << attempt
	}
	return rand.N(d + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ---- lists ----

func encodeCursor(sk string) string { return base64.RawURLEncoding.EncodeToString([]byte(sk)) }

// decodeCursor returns the sort key a cursor stands for; it must belong to
// the list of sort keys under prefix.
func decodeCursor(c, prefix string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(raw) {
		return "", domain.Errorf(domain.CodeInvalid, "the cursor is not one this service gave out")
	}
	sk := string(raw)
	if !strings.HasPrefix(sk, prefix) || len(sk) == len(prefix) {
		return "", domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
	}
	return sk, nil
}

// listing is one list: the items under pk whose sort key starts with prefix
// and that pass filter (when set).
type listing struct {
	pk, prefix string
	filter     *expression.ConditionBuilder
	what       string // for errors: "projects", "flags of p", …
}

// list reads one page of a listing, strongly consistent. It keeps querying
// until the page is full or the items end; it reads one item past the page
// to know whether another page follows, so a page with a next cursor is full
// and the last page has none.
func list[T any](ctx context.Context, s *Store, l listing, page domain.Page) ([]T, string, error) {
	page = page.Normalize()
	b := expression.NewBuilder().WithKeyCondition(
		expression.Key(attrPK).Equal(expression.Value(l.pk)).And(expression.Key(attrSK).BeginsWith(l.prefix)))
	if l.filter != nil {
		b = b.WithFilter(*l.filter)
	}
	e, err := b.Build()
	if err != nil {
		return nil, "", fmt.Errorf("dynamodb build query of %s: %w", l.what, err)
	}
	var start item
	if page.Cursor != "" {
		sk, err := decodeCursor(page.Cursor, l.prefix)
		if err != nil {
			return nil, "", err
		}
		start = key{l.pk, sk}.av()
	}
	out := []T{}
	var sks []string
	for {
		limit := int32(page.Limit + 1 - len(out))
		if l.filter != nil {
			// The limit counts items read before the filter; read more of
			// them per request so a selective filter needs fewer requests.
			limit = max(limit, 100)
		}
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    e.KeyCondition(),
			FilterExpression:          e.Filter(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(limit),
		})
		if err != nil {
			return nil, "", fmt.Errorf("dynamodb query %s: %w", l.what, err)
		}
		for _, it := range res.Items {
			v, err := decode[T](it)
			if err != nil {
				return nil, "", err
			}
			if len(out) == page.Limit {
				return out, encodeCursor(sks[len(sks)-1]), nil
			}
			out = append(out, *v)
			sks = append(sks, stringAttr(it, attrSK))
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

// listAll reads every item of a listing (a small one: configs of a flag,
// environments of a project).
func listAll[T any](ctx context.Context, s *Store, l listing) ([]T, error) {
	var all []T
	cursor := ""
	for {
		page, next, err := list[T](ctx, s, l, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

// sortKeys returns the sort keys under pk starting with prefix, at most max+1
// of them (so callers can tell "more than max").
func (s *Store) sortKeys(ctx context.Context, pk, prefix string, max int) ([]string, error) {
	e, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefix))).
		WithProjection(expression.NamesList(expression.Name(attrSK))).
		Build()
	if err != nil {
		return nil, fmt.Errorf("dynamodb build query %s %s: %w", pk, prefix, err)
	}
	var sks []string
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    e.KeyCondition(),
			ProjectionExpression:      e.Projection(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(max + 1 - len(sks))),
		})
		if err != nil {
			return nil, fmt.Errorf("dynamodb query %s %s: %w", pk, prefix, err)
		}
		for _, it := range res.Items {
			sks = append(sks, stringAttr(it, attrSK))
		}
		if len(sks) > max || len(res.LastEvaluatedKey) == 0 {
			return sks, nil
		}
		start = res.LastEvaluatedKey
	}
}
