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
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// Attribute names the store adds beside an entity's own (JSON-named) ones.
const (
	attrPK          = "PK"
	attrSK          = "SK"
	attrGSI1PK      = "GSI1PK"
	attrGSI1SK      = "GSI1SK"
	attrGSI2PK      = "GSI2PK"
	attrGSI2SK      = "GSI2SK"
	attrGSI3PK      = "GSI3PK"
	attrGSI3SK      = "GSI3SK"
	attrVersion     = "version"    // the entities' own version, named as in their JSON
	attrEnvCount    = "env_count"  // project: how many environments it has
	attrFlagSeq     = "flag_seq"   // project: bumped by every flag (and segment) creation
	attrConfigSeq   = "config_seq" // flag: bumped by every config write
	attrMemberID    = "member_id"  // e-mail lookup item → member
	attrTokenID     = "token_id"   // token hash lookup item → token
	attrRevokedAt   = "revoked_at" // token and SDK key, named as in their JSON
	attrLastUsed    = "last_used_at"
	attrLockedBy    = "change_request"  // pending lock item → the request holding it
	attrReviewed    = "reviewed_by"     // change request: every member who reviewed it (for the reviewer filter)
	attrRuleset     = "ruleset_version" // ruleset item: bumped by every write of a flag, config or segment of the project
	attrProject     = "project"         // SDK key hash lookup item → the key's project,
	attrEnvironment = "environment"     // … environment
	attrSDKKeyID    = "sdk_key_id"      // … and id
	attrReplacedBy  = "replaced_by"     // SDK key: its successor once rotated, named as in its JSON
	attrRole        = "role"            // member, named as in its JSON
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
	skSettings    = "SETTINGS"
	prefixApprove = "APPROVAL#"
	prefixLock    = "LOCK#"
	prefixCR      = "CR#"
	skCR          = "CR"
	gsiCR         = "CR" // GSI1PK of every change request
	prefixAudit   = "AUDIT#"
	gsiAudit      = "AUDIT"   // GSI2PK of every audit entry
	prefixDue     = "DUE#"    // GSI3PK of a request a timer concerns: DUE#<shard>
	prefixOutbox  = "OUTBOX#" // PK of an outbox item, OUTBOX#<id>; GSI3PK of a pending one, OUTBOX#<shard>
	skOutbox      = "OUTBOX"
	gsiOutboxDead = "OUTBOXDEAD" // GSI1PK of every dead outbox item
	skRuleset     = "RULESET"    // under PROJECT#<p>: the project's ruleset version
	prefixSDKKey  = "SDKKEY#"    // under PROJECT#<p>: SDKKEY#<env>#<id>
	prefixSDKHash = "SDKKEYHASH#"
	prefixOrigin  = "ORIGIN#" // under ORG: ORIGIN#<origin>, the environments allowing it (evaluation.go)
)

// Index names (see table.go).
const (
	indexGSI1 = "GSI1"
	indexGSI2 = "GSI2"
	indexGSI3 = "GSI3"
)

// Retry policy of read-modify-writes that lost a race: at most maxAttempts
// attempts; between them a random pause of up to unit×2^attempt (at most
// backoffMax), where unit is how long the failed attempt took (at least
// backoffBase). Scaling by the attempt's own duration spreads the retries of
// writers racing for one item over about as many attempt-lengths as there are
// writers, however fast or slow the database answers. Twenty attempts let
// the conformance suite's 32 writers on one flag all commit even on a busy
// DynamoDB Local, where conflicting transactions are often all cancelled;
// ten sometimes ran out.
const (
	maxAttempts = 20
	backoffBase = 10 * time.Millisecond
	backoffMax  = time.Second
)

// Store implements domain.Store on one DynamoDB table.
type Store struct {
	db    *metered
	table string
}

var _ domain.Store = (*Store)(nil)

// New returns a store on table, which must exist (see CreateTable).
func New(client *dynamodb.Client, table string) *Store {
	return &Store{db: newMetered(client), table: table}
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
func emailKey(email string) key { return key{pkOrg, prefixEmail + domain.EmailKey(email)} }
func tokenKey(id string) key    { return key{pkOrg, prefixToken + id} }
func tokenHashKey(h string) key { return key{pkOrg, prefixHash + h} }
func orgSettingsKey() key       { return key{pkOrg, skSettings} }
func approvalKey(p, e string) key {
	return key{prefixProject + p, prefixApprove + e}
}
func lockKey(p, f, e string) key { return key{prefixProject + p, prefixLock + f + "#" + e} }
func crKey(id string) key        { return key{prefixCR + id, skCR} }

// timeFormat is a fixed-width UTC time, so that sort keys starting with it
// sort by time (nanoseconds included). Times keep their order for the years
// 0000 to 9999.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func sortableTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// timeID is the sort key of entries listed by time: "<time>#<id>". Ties of
// time sort by id, as in the embedded store.
func timeID(t time.Time, id string) string { return sortableTime(t) + "#" + id }

// parseTimeID checks that s is a timeID and returns its id.
func parseTimeID(s string) (string, bool) {
	n := len(timeFormat)
	if len(s) < n+2 || s[n] != '#' {
		return "", false
	}
	if _, err := time.Parse(timeFormat, s[:n]); err != nil {
		return "", false
	}
	return s[n+1:], true
}

// ---- attribute values ----

type item = map[string]types.AttributeValue

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

func useJSONNames(o *attributevalue.EncoderOptions)  { o.TagKey = "json" }
func readJSONNames(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// encode marshals an entity's record (internal/store/record) under its JSON
// names and adds its key and extra (store-only) attributes.
func encode[R record.Of[D], D any](k key, r R, extra item) (item, error) {
	it, err := attributevalue.MarshalMapWithOptions(r, useJSONNames)
	if err != nil {
		return nil, fmt.Errorf("dynamodb encode %s: %w", k, err)
	}
	it[attrPK], it[attrSK] = str(k.pk), str(k.sk)
	for n, v := range extra {
		it[n] = v
	}
	return it, nil
}

// decode reads an entity from its record's attributes.
func decode[R record.Of[D], D any](it item) (*D, error) {
	var r R
	if err := attributevalue.UnmarshalMapWithOptions(it, &r, readJSONNames); err != nil {
		return nil, fmt.Errorf("dynamodb decode %s/%s: %w", stringAttr(it, attrPK), stringAttr(it, attrSK), err)
	}
	v := r.Domain()
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

// maxBatchGet is the most keys one BatchGetItem may ask for.
const maxBatchGet = 100

// getMany reads items by key in strongly consistent batches (one per 100
// keys); the result has one entry per key, nil for a missing item.
func (s *Store) getMany(ctx context.Context, keys ...key) ([]item, error) {
	found := map[key]item{}
	for chunk := range slices.Chunk(keys, maxBatchGet) {
		want := make([]map[string]types.AttributeValue, len(chunk))
		for i, k := range chunk {
			want[i] = k.av()
		}
		req := map[string]types.KeysAndAttributes{s.table: {Keys: want, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := sleep(ctx, backoff(backoffBase, attempt-1)); err != nil {
					return nil, err
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("dynamodb batch get %v: %w", chunk, err)
			}
			for _, it := range out.Responses[s.table] {
				found[key{stringAttr(it, attrPK), stringAttr(it, attrSK)}] = it
			}
			req = out.UnprocessedKeys
		}
	}
	items := make([]item, len(keys))
	for i, k := range keys {
		items[i] = found[k]
	}
	return items, nil
}

// putIf writes an item if cond holds. A failed condition on an item that
// is already the one put is the put's own write, sent again by the SDK
// after its answer was lost: it succeeded (ownWrite, lostanswer.go).
func (s *Store) putIf(ctx context.Context, it item, cond expression.ConditionBuilder) error {
	e, err := condition(cond)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                it,
		ConditionExpression:                 e.Condition(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return ownWrite(err, it)
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

// withOld asks a transaction item to report the item as it was when its
// condition fails (CancellationReason.Item).
func withOld(it types.TransactWriteItem, err error) (types.TransactWriteItem, error) {
	all := types.ReturnValuesOnConditionCheckFailureAllOld
	switch {
	case it.Put != nil:
		it.Put.ReturnValuesOnConditionCheckFailure = all
	case it.Delete != nil:
		it.Delete.ReturnValuesOnConditionCheckFailure = all
	case it.ConditionCheck != nil:
		it.ConditionCheck.ReturnValuesOnConditionCheckFailure = all
	case it.Update != nil:
		it.Update.ReturnValuesOnConditionCheckFailure = all
	}
	return it, err
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

// maxTxItems is the most items one TransactWriteItems may hold.
const maxTxItems = 100

// transact runs the collected items as one TransactWriteItems; a single Put
// without return values runs as a PutItem, which costs half as much and
// fails the same way (lostRace and failedCondition understand both).
func (s *Store) transact(ctx context.Context, b *txBuilder) error {
	if b.err != nil {
		return b.err
	}
	if len(b.items) > maxTxItems {
		return fmt.Errorf("dynamodb transaction of %d items is over the limit of %d", len(b.items), maxTxItems)
	}
	if len(b.items) == 1 && b.items[0].Put != nil && b.items[0].Put.ReturnValuesOnConditionCheckFailure == "" {
		p := b.items[0].Put
		in := &dynamodb.PutItemInput{
			TableName:                 p.TableName,
			Item:                      p.Item,
			ConditionExpression:       p.ConditionExpression,
			ExpressionAttributeNames:  p.ExpressionAttributeNames,
			ExpressionAttributeValues: p.ExpressionAttributeValues,
		}
		if p.ConditionExpression != nil {
			// a PutItem has no idempotency token: see ownWrite
			in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		}
		_, err := s.db.PutItem(ctx, in)
		return ownWrite(err, p.Item)
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

// failedCondition reports whether the condition of transaction item i
// failed. A transaction of one Put runs as a PutItem (see transact): its
// failed condition is a ConditionalCheckFailedException, item 0's.
func failedCondition(err error, i int) bool {
	var ccf *types.ConditionalCheckFailedException
	if i == 0 && errors.As(err, &ccf) {
		return true
	}
	reasons := cancelled(err)
	return i < len(reasons) && aws.ToString(reasons[i].Code) == reasonCondition
}

// anyFailedCondition reports whether the condition of one of the items from
// index i on failed, and which.
func anyFailedCondition(err error, from, to int) (int, bool) {
	for i := from; i < to; i++ {
		if failedCondition(err, i) {
			return i, true
		}
	}
	return 0, false
}

// tooLarge reports whether DynamoDB refused a write because an item is over
// its 400 KB limit.
func tooLarge(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "item size")
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

// listing is one list of the table: the items under pk whose sort key starts
// with prefix and that pass filter (when set).
type listing struct {
	pk, prefix string
	filter     *expression.ConditionBuilder
	what       string // for errors: "projects", "flags of p", …
}

// list reads one page of a listing, strongly consistent, in sort key order.
// Its cursors are the base64url of the last returned item's sort key.
func list[R record.Of[D], D any](ctx context.Context, s *Store, l listing, page domain.Page) ([]D, string, error) {
	return listKeep[R](ctx, s, l, page, nil)
}

// listKeep is list with a test of each decoded item (nil keeps all).
func listKeep[R record.Of[D], D any](ctx context.Context, s *Store, l listing, page domain.Page, keep func(*D) bool) ([]D, string, error) {
	return queryPage[R](ctx, s, query{
		key:    expression.Key(attrPK).Equal(expression.Value(l.pk)).And(expression.Key(attrSK).BeginsWith(l.prefix)),
		filter: l.filter,
		what:   l.what,
		cursorOf: func(it item) string {
			return encodeCursor(stringAttr(it, attrSK))
		},
		startKey: func(c string) (item, error) {
			sk, err := decodeCursor(c, l.prefix)
			if err != nil {
				return nil, err
			}
			return key{l.pk, sk}.av(), nil
		},
	}, page, keep)
}

// query is one list read by Query, from the table (strongly consistent) or
// from an index (eventually consistent: DynamoDB cannot read an index
// otherwise).
type query struct {
	index       string // "" for the table
	key         expression.KeyConditionBuilder
	filter      *expression.ConditionBuilder
	newestFirst bool // descending sort key order
	what        string
	// cursorOf makes the cursor that continues after an item; startKey
	// turns a cursor back into the ExclusiveStartKey (every key attribute of
	// the table and of the index), refusing cursors of other lists.
	cursorOf func(item) string
	startKey func(string) (item, error)
}

// queryPage reads one page of a query: the items that pass the filter
// expression and keep (when set). It keeps querying until the page is full
// or the items end; it reads one passing item past the page to know whether
// another page follows, so a page with a next cursor is full and the last
// page has none. The cursor names the last returned item, so a page that
// stopped in the middle of a DynamoDB page loses nothing.
func queryPage[R record.Of[D], D any](ctx context.Context, s *Store, q query, page domain.Page, keep func(*D) bool) ([]D, string, error) {
	page = page.Normalize()
	b := expression.NewBuilder().WithKeyCondition(q.key)
	if q.filter != nil {
		b = b.WithFilter(*q.filter)
	}
	e, err := b.Build()
	if err != nil {
		return nil, "", fmt.Errorf("dynamodb build query of %s: %w", q.what, err)
	}
	var start item
	if page.Cursor != "" {
		if start, err = q.startKey(page.Cursor); err != nil {
			return nil, "", err
		}
	}
	in := dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    e.KeyCondition(),
		FilterExpression:          e.Filter(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ConsistentRead:            aws.Bool(q.index == ""),
		ScanIndexForward:          aws.Bool(!q.newestFirst),
	}
	if q.index != "" {
		in.IndexName = aws.String(q.index)
	}
	out := []D{}
	var last item
	for {
		limit := int32(page.Limit + 1 - len(out))
		if q.filter != nil || keep != nil {
			// The limit counts items read before the filter; read more of
			// them per request so a selective filter needs fewer requests.
			limit = max(limit, 100)
		}
		req := in
		req.ExclusiveStartKey, req.Limit = start, aws.Int32(limit)
		res, err := s.db.Query(ctx, &req)
		if err != nil {
			return nil, "", fmt.Errorf("dynamodb query %s: %w", q.what, err)
		}
		for _, it := range res.Items {
			v, err := decode[R](it)
			if err != nil {
				return nil, "", err
			}
			if keep != nil && !keep(v) {
				continue
			}
			if len(out) == page.Limit {
				return out, q.cursorOf(last), nil
			}
			out = append(out, *v)
			last = it
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

// listAll reads every item of a listing (a small one: configs of a flag,
// environments of a project).
func listAll[R record.Of[D], D any](ctx context.Context, s *Store, l listing) ([]D, error) {
	var all []D
	cursor := ""
	for {
		page, next, err := list[R](ctx, s, l, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
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
