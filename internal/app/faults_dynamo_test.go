package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/store/dynamostore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// Fault injection on DynamoDB (issue 14, "Proofs that keep it closed").
//
// The service runs the change-request workflow on a DynamoDB Local table
// through a client whose aws-sdk-go-v2 middleware (faultInjector.install,
// given as dynamodb.Options.APIOptions) injects, on a seeded random
// schedule, the faults DynamoDB and the network produce:
//
//   - throttling and ProvisionedThroughputExceeded as DynamoDB answers them:
//     HTTP 400 with their __type, which the SDK's own deserializer reads and
//     its retryer retries; for a transaction also as its cancellation
//     reasons; for a BatchGetItem also as a partial answer (UnprocessedKeys);
//     for a transaction the SDK sends again, TransactionInProgressException;
//   - TransactionConflict: a transaction cancelled with that reason, or a
//     single-item write refused with TransactionConflictException;
//   - a timeout after the request reached DynamoDB Local: the write ran,
//     its answer is dropped, the client sees net/http's timeout (which the
//     SDK retries); or the caller's deadline passes then (Lambda's timeout:
//     the use case ends there);
//   - a connection reset before the request goes out, or after DynamoDB
//     Local answered (the write ran, the client never hears).
//
// DynamoDB answers a read with no conflict, and a transaction the SDK sends
// again with its ClientRequestToken (after its answer was lost) from its
// first run: such draws become throttles. A fault is sometimes followed by
// more on the next requests (the SDK's retries of the same call), so some
// calls run out of SDK attempts and the use case answers an unknown
// outcome. The SDK's retryer is the standard one the service's client has
// (3 attempts, its retry quota, its classification of errors), with short
// pauses. Beside DynamoDB, the event bus refuses some events, so that the
// notifier records failed deliveries too.
//
// Each step is a use case called as a client calls it: propose, create (some
// scheduled), edit, review, comment, apply, withdraw, approval settings, the
// organisation switch, a direct write, the timers' sweep (after moving the
// clock) and the notifier's delivery (its claims and records). A refusal (a
// domain error) ends a call; an answer that leaves the outcome unknown (the
// SDK gave up, the connection broke, the deadline passed) is followed by the
// same call again. Then DynamoDB and the event bus are healthy again: the
// timers sweep and the notifier delivers what waits. What DynamoDB Local
// holds is read without faults and checked (faultRun.check): each effect
// (requests opened, comments, edits, reviews, withdrawals, direct writes,
// settings) lies between the acknowledged calls and those plus the
// attempts whose outcome was unknown (so a use case completes once or fails
// cleanly, and a call answered with a refusal wrote nothing); no request is
// applied twice, and an applied one has one applied event and one audit
// entry naming its version; each version of a live config comes from
// exactly one audited write; each timeline event of a request has exactly
// one audit entry; each audit entry its outbox item, delivered in the end
// with its event published; a delivery round counts at most one failed
// attempt; the pending lock is held by an open request or none; no answer
// is anything but a domain error or a transport failure; no panic; nothing
// is left due after the last sweep.
//
//	go test ./internal/app -run 'TestDynamoDBFaults|TestFaultInjector' -v    # with DynamoDB Local; make test runs them
//	COUNTERSIGN_FAULT_OPS=1000 COUNTERSIGN_FAULT_SEEDS=3 go test ./internal/app -run 'TestDynamoDBFaults$' -v -timeout 60m
//
// COUNTERSIGN_FAULT_OPS is the steps of a run (100 by default: ten to twenty
// seconds), COUNTERSIGN_FAULT_SEED its seed (14), COUNTERSIGN_FAULT_SEEDS
// how many runs, each with the next seed. The faults and the steps follow
// the seed; the ids the service draws do not, so a run repeats closely, not
// exactly. COUNTERSIGN_FAULT_VERBOSE=1 logs every call.
func TestDynamoDBFaults(t *testing.T) {
	t.Parallel()
	endpoint := faultEndpoint(t)
	ops := faultEnvInt(t, "COUNTERSIGN_FAULT_OPS", 100)
	seed := faultEnvInt(t, "COUNTERSIGN_FAULT_SEED", 14)
	seeds := faultEnvInt(t, "COUNTERSIGN_FAULT_SEEDS", 1)
	for i := range seeds {
		s := uint64(seed + i)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			r := newFaultRun(t, endpoint, s, faultRate)
			r.run(ops)
			r.report()
			r.failOnAnomalies()
		})
	}
}

// TestDynamoDBFaultsBaseline runs the same steps and checks without
// faults: the checks hold on a healthy database, so what the faulty run
// finds is the faults' doing.
func TestDynamoDBFaultsBaseline(t *testing.T) {
	t.Parallel()
	endpoint := faultEndpoint(t)
	r := newFaultRun(t, endpoint, 7, 0)
	r.run(20)
	r.report()
	r.failOnAnomalies()
	if n := r.inj.total(); n != 0 {
		t.Fatalf("the baseline injected %d faults", n)
	}
}

// TestDynamoDBFaultsSeeADoubleWrite: the checks catch a use case applied
// twice. Were DynamoDB to run again a transaction the SDK sends again after
// its answer was lost (as it would without the ClientRequestToken the SDK
// puts on TransactWriteItems and keeps across its retries), the store would
// take its own write for a lost race, read again and apply the use case a
// second time. The run gives such transactions a new token, loses the
// answer of every third transaction, and must see anomalies.
func TestDynamoDBFaultsSeeADoubleWrite(t *testing.T) {
	t.Parallel()
	endpoint := faultEndpoint(t)
	r := newFaultRun(t, endpoint, 3, 0)
	r.inj.withoutTokens = true
	r.run(20)
	r.report()
	if len(r.anomalies) == 0 {
		t.Fatal("transactions run twice, and the checks saw nothing")
	}
}

// TestFaultInjectorSpeaksDynamoDB: what the injector returns is read by the
// SDK as DynamoDB's own answers (its deserializer makes the typed errors,
// its retryer retries what it retries), and a fault after the request
// reached DynamoDB Local leaves the write done.
func TestFaultInjectorSpeaksDynamoDB(t *testing.T) {
	t.Parallel()
	endpoint := faultEndpoint(t)
	ctx := context.Background()
	inj := newFaultInjector(1, 0)
	c := faultClient(endpoint, inj)
	table := fmt.Sprintf("cs-faults-probe-%d", time.Now().UnixNano()) // wall clock: a unique table name
	if err := dynamostore.CreateTable(ctx, c, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	inj.enable(true)
	key := func(k string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: k}, "SK": &types.AttributeValueMemberS{Value: "X"}}
	}
	put := func(ctx context.Context, k string) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: key(k), ConditionExpression: aws.String("attribute_not_exists(PK)")})
		return err
	}
	tx := func(ctx context.Context, ks ...string) error {
		in := &dynamodb.TransactWriteItemsInput{}
		for _, k := range ks {
			in.TransactItems = append(in.TransactItems, types.TransactWriteItem{Put: &types.Put{TableName: &table, Item: key(k), ConditionExpression: aws.String("attribute_not_exists(PK)")}})
		}
		_, err := c.TransactWriteItems(ctx, in)
		return err
	}
	exists := func(k string) bool {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key(k), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Item) > 0
	}
	// requests counts the requests fn makes (attempts included)
	requests := func(fn func() error) (int, error) {
		inj.mu.Lock()
		before := inj.requests
		inj.mu.Unlock()
		err := fn()
		inj.mu.Lock()
		defer inj.mu.Unlock()
		return inj.requests - before, err
	}
	throttle, throughput, conflict := faultPlan{kind: faultThrottle}, faultPlan{kind: faultProvisioned}, faultPlan{kind: faultConflict}

	// throttling: retried by the SDK, three attempts, then its typed error
	inj.force(throttle, throttle, throttle)
	n, err := requests(func() error { return put(ctx, "a") })
	var te *types.ThrottlingException
	if !errors.As(err, &te) || n != 3 || !faultTransport(err) || exists("a") {
		t.Fatalf("throttled thrice: %d requests, %v", n, err)
	}
	// ProvisionedThroughputExceeded: retried, and the retry writes
	inj.force(throughput)
	if n, err := requests(func() error { return put(ctx, "b") }); err != nil || n != 2 || !exists("b") {
		t.Fatalf("throughput exceeded once: %d requests, %v", n, err)
	}
	// a single-item write's TransactionConflict: not retried by the SDK
	inj.force(conflict)
	n, err = requests(func() error { return put(ctx, "c") })
	var tce *types.TransactionConflictException
	if !errors.As(err, &tce) || n != 1 || faultTransport(err) {
		t.Fatalf("conflict: %d requests, %v", n, err)
	}
	// a transaction's: cancelled, one reason TransactionConflict, the others None
	inj.force(faultPlan{kind: faultConflict, reason: "TransactionConflict"})
	n, err = requests(func() error { return tx(ctx, "d1", "d2", "d3") })
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) || n != 1 || len(cancelled.CancellationReasons) != 3 {
		t.Fatalf("transaction conflict: %d requests, %v", n, err)
	}
	var codes []string
	for _, r := range cancelled.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"None", "None", "TransactionConflict"}) {
		t.Fatalf("cancellation reasons %v", codes)
	}
	// throttling as a cancellation reason: cancelled, not retried by the SDK
	inj.force(faultPlan{kind: faultThrottle, reason: "ThrottlingError"})
	if n, err := requests(func() error { return tx(ctx, "e1", "e2") }); !errors.As(err, &cancelled) || n != 1 || exists("e1") {
		t.Fatalf("throttled transaction: %d requests, %v", n, err)
	}
	// a transaction sent again while in progress: the SDK retries it
	inj.force(faultPlan{kind: faultThrottle, reason: "in progress"})
	if n, err := requests(func() error { return tx(ctx, "j1", "j2") }); err != nil || n != 2 || !exists("j2") {
		t.Fatalf("transaction in progress: %d requests, %v", n, err)
	}
	// a batch read in part: the rest comes back as UnprocessedKeys
	inj.force(faultPlan{kind: faultThrottle, partial: true})
	batch, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		table: {Keys: []map[string]types.AttributeValue{key("b"), key("j1"), key("j2")}, ConsistentRead: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, left := len(batch.Responses[table]), len(batch.UnprocessedKeys[table].Keys); left == 0 || got+left != 3 || !aws.ToBool(batch.UnprocessedKeys[table].ConsistentRead) {
		t.Fatalf("a batch read in part: %d items, %d keys unprocessed", got, left)
	}
	// a timeout after the transaction committed: the SDK sends it again
	// with the same token, and DynamoDB Local answers from it: committed once
	inj.force(faultPlan{kind: faultTimeoutAfter})
	if n, err := requests(func() error { return tx(ctx, "f1", "f2") }); err != nil || n != 2 || !exists("f1") || inj.replays != 1 {
		t.Fatalf("timeout after a transaction: %d requests, %v, %d replays", n, err, inj.replays)
	}
	// a reset after a single-item write: the SDK sends it again, and
	// DynamoDB runs it again: its condition fails on the write's own item
	inj.force(faultPlan{kind: faultResetAfter})
	n, err = requests(func() error { return put(ctx, "g") })
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || n != 2 || !exists("g") {
		t.Fatalf("reset after a write: %d requests, %v", n, err)
	}
	// resets before sending: retried, then a transport error
	inj.force(faultPlan{kind: faultResetBefore}, faultPlan{kind: faultResetBefore}, faultPlan{kind: faultResetBefore})
	n, err = requests(func() error { return put(ctx, "h") })
	if err == nil || n != 3 || !faultTransport(err) || !strings.Contains(err.Error(), "connection reset") || exists("h") {
		t.Fatalf("resets before sending: %d requests, %v", n, err)
	}
	// the caller's deadline after the write: not retried, the write done
	inj.force(faultPlan{kind: faultDeadlineAfter})
	call := newFaultCall()
	n, err = requests(func() error { return put(call, "i") })
	var canceled *smithy.CanceledError
	if !errors.As(err, &canceled) || n != 1 || !exists("i") || call.Err() != context.DeadlineExceeded || faultClass(err) != "unknown" {
		t.Fatalf("deadline after a write: %d requests, %v", n, err)
	}
}

// faultEndpoint is DynamoDB Local's endpoint; without one the test fails
// under make test (COUNTERSIGN_REQUIRE_DYNAMODB=1) and is skipped otherwise.
func faultEndpoint(t *testing.T) string {
	t.Helper()
	endpoint := dynamotest.Endpoint()
	if endpoint == "" {
		if dynamotest.Required() {
			t.Fatal("COUNTERSIGN_DYNAMODB_ENDPOINT is not set but COUNTERSIGN_REQUIRE_DYNAMODB=1: start DynamoDB Local with scripts/dynamodb-local.sh start")
		}
		t.Skip("no DynamoDB Local (COUNTERSIGN_DYNAMODB_ENDPOINT unset); make test runs this")
	}
	return endpoint
}

func faultEnvInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// ---- the faults ----

type faultKind int

const (
	faultNone faultKind = iota
	faultThrottle
	faultProvisioned
	faultConflict
	faultTimeoutAfter  // the request reached DynamoDB Local; the client times out
	faultDeadlineAfter // the request reached DynamoDB Local; the caller's deadline passes
	faultResetBefore   // connection reset before the request went out
	faultResetAfter    // connection reset after DynamoDB Local answered
)

const (
	// faultRate is the share of requests faulted (writes, where a fault
	// matters most, three times as often; reads are most requests);
	// faultBurst the share of faults followed by one to three more on the
	// next requests (the SDK's retries of the same call, since the steps
	// run one after the other).
	faultRate  = 0.1
	faultBurst = 0.3
)

// faultWeights: how often each kind is drawn when a request is faulted.
var faultWeights = []struct {
	kind   faultKind
	weight int
}{
	{faultThrottle, 3}, {faultProvisioned, 2}, {faultConflict, 3}, {faultTimeoutAfter, 2},
	{faultDeadlineAfter, 1}, {faultResetBefore, 1}, {faultResetAfter, 2},
}

// burstKinds are drawn for the requests that follow a fault: those the
// SDK retries, so that a call can run out of attempts.
var burstKinds = []faultKind{faultThrottle, faultProvisioned, faultTimeoutAfter, faultResetBefore, faultResetAfter}

// faultInjector decides, request by request, whether and how to fail it.
type faultInjector struct {
	mu        sync.Mutex
	rng       *rand.Rand
	rate      float64
	enabled   bool
	burst     int
	forced    []faultPlan       // the next requests' faults (TestFaultInjectorSpeaksDynamoDB)
	committed map[string]bool   // ClientRequestTokens of transactions DynamoDB Local committed
	counts    map[string]int    // faults injected, by kind and form
	requests  int               // requests while enabled
	lostWrite int               // writes DynamoDB Local carried out whose answer the client never got
	replays   int               // transactions sent again after DynamoDB Local committed them (same token)
	reruns    int               // single-item writes sent again after DynamoDB Local carried them out
	lastWrite map[*faultOp]bool // single-item writes (their calls) DynamoDB Local carried out

	// withoutTokens: a transaction sent again gets a new token, as if the
	// SDK did not make TransactWriteItems idempotent, and every third one
	// loses its answer (TestDynamoDBFaultsSeeADoubleWrite)
	withoutTokens bool
	txs           int
}

func newFaultInjector(seed uint64, rate float64) *faultInjector {
	return &faultInjector{rng: rand.New(rand.NewPCG(seed, 0x14)), rate: rate, committed: map[string]bool{}, counts: map[string]int{},
		lastWrite: map[*faultOp]bool{}}
}

func (f *faultInjector) enable(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enabled, f.burst = on, 0
}

// force makes the next requests' faults these, in order (a reason: as a
// transaction's cancellation reason).
func (f *faultInjector) force(plans ...faultPlan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forced = append(f.forced, plans...)
}

func (f *faultInjector) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.counts {
		n += c
	}
	return n
}

// faultOp is what the injector knows of the operation a request belongs to.
type faultOp struct {
	name  string
	tx    bool   // TransactWriteItems
	token string // its ClientRequestToken (the SDK fills one per call, kept by its retries)
	items int    // its items
	write bool
}

type faultOpKey struct{}

// install adds the injector to a client's stacks (dynamodb.Options.APIOptions):
// an Initialize step that notes the operation (after the SDK filled the
// idempotency token), and, innermost in the Deserialize step, between the
// operation's deserializer and the HTTP client, the injection itself. What
// it returns in place of DynamoDB's answer goes through the SDK's own
// deserializer, retryer and error wrapping.
func (f *faultInjector) install(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("FaultInjectionOperation",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := &faultOp{name: middleware.GetOperationName(ctx)}
			switch p := in.Parameters.(type) {
			case *dynamodb.TransactWriteItemsInput:
				op.tx, op.write, op.token, op.items = true, true, aws.ToString(p.ClientRequestToken), len(p.TransactItems)
			case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput, *dynamodb.BatchWriteItemInput:
				op.write = true
			}
			return next.HandleInitialize(middleware.WithStackValue(ctx, faultOpKey{}, op), in)
		}), middleware.After)
	if err != nil {
		return err
	}
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("FaultInjection", f.deserialize), middleware.After)
}

// faultPlan is one request's fault.
type faultPlan struct {
	kind     faultKind
	reason   string // as a transaction's cancellation reason (its code), "" for the top-level error
	name     string
	newToken bool   // send the transaction with a new token (withoutTokens)
	partial  bool   // a BatchGetItem answered in part: the rest as UnprocessedKeys
	dice     uint64 // the seed of the plan's own choices
}

// decide draws the fault of one request. DynamoDB never answers a read
// with a conflict, nor a transaction sent again with its token after it
// committed with anything but its success, a throttle, or (while it still
// finishes) TransactionInProgressException: such draws become throttles.
func (f *faultInjector) decide(op *faultOp, inCall bool) faultPlan {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.enabled {
		return faultPlan{}
	}
	f.requests++
	replay := op.tx && f.committed[op.token]
	switch {
	case replay:
		f.replays++
	case op.write && !op.tx && f.lastWrite[op]:
		f.reruns++
	}
	if len(f.forced) > 0 {
		p := f.forced[0]
		f.forced = f.forced[1:]
		p.dice, p.name = f.rng.Uint64(), "forced"
		f.counts[p.name]++
		return p
	}
	rate := f.rate
	if op.write {
		rate *= 3
	}
	var k faultKind
	switch {
	case f.withoutTokens:
		if replay {
			return faultPlan{newToken: true}
		}
		if op.tx {
			if f.txs++; f.txs%3 == 0 {
				k = faultTimeoutAfter
			}
		}
	case f.burst > 0:
		f.burst--
		k = burstKinds[f.rng.IntN(len(burstKinds))]
	case f.rng.Float64() < rate:
		sum := 0
		for _, w := range faultWeights {
			sum += w.weight
		}
		n := f.rng.IntN(sum)
		for _, w := range faultWeights {
			if n < w.weight {
				k = w.kind
				break
			}
			n -= w.weight
		}
		if f.rng.Float64() < faultBurst {
			f.burst = 1 + f.rng.IntN(3)
		}
	}
	if k == faultNone {
		return faultPlan{}
	}
	if k == faultConflict && (!op.write || replay) {
		k = faultThrottle
	}
	if k == faultDeadlineAfter && !inCall {
		k = faultTimeoutAfter
	}
	p := faultPlan{kind: k, dice: f.rng.Uint64()}
	asReason := op.tx && !replay && f.rng.IntN(2) == 0
	switch k {
	case faultThrottle:
		p.name = "throttling: ThrottlingException"
		switch {
		case asReason:
			p.reason, p.name = "ThrottlingError", "throttling: transaction cancelled, reason ThrottlingError"
		case replay && f.rng.IntN(3) == 0:
			// the transaction sent again while DynamoDB still works on it
			p.reason, p.name = "in progress", "replay of a transaction in progress: TransactionInProgressException"
		case op.name == "BatchGetItem" && f.rng.IntN(2) == 0:
			p.partial, p.name = true, "throttling: BatchGetItem answered in part (UnprocessedKeys)"
		}
	case faultProvisioned:
		p.name = "throughput: ProvisionedThroughputExceededException"
		if asReason {
			p.reason, p.name = "ProvisionedThroughputExceeded", "throughput: transaction cancelled, reason ProvisionedThroughputExceeded"
		}
	case faultConflict:
		p.name = "conflict: TransactionConflictException (single-item write)"
		if op.tx {
			p.reason, p.name = "TransactionConflict", "conflict: transaction cancelled, reason TransactionConflict"
		}
	case faultTimeoutAfter:
		p.name = "timeout after the request reached DynamoDB"
	case faultDeadlineAfter:
		p.name = "caller's deadline after the request reached DynamoDB"
	case faultResetBefore:
		p.name = "connection reset before sending"
	case faultResetAfter:
		p.name = "connection reset after DynamoDB answered"
	}
	f.counts[p.name]++
	return p
}

// answered notes DynamoDB Local's answer to a request that reached it:
// a committed transaction's token, and a write whose answer is dropped.
func (f *faultInjector) answered(op *faultOp, out middleware.DeserializeOutput, dropped bool) {
	raw, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || raw.StatusCode != http.StatusOK {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if op.tx {
		f.committed[op.token] = true
	}
	if op.write {
		f.lastWrite[op] = true
	}
	if dropped && op.write {
		f.lostWrite++
	}
}

func (f *faultInjector) deserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	op, _ := middleware.GetStackValue(ctx, faultOpKey{}).(*faultOp)
	if op == nil {
		op = &faultOp{}
	}
	call, _ := ctx.Value(faultCallKey{}).(*faultCall)
	p := f.decide(op, call != nil)
	target := ""
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		target = req.URL.String()
	}
	if p.newToken {
		req := in.Request.(*smithyhttp.Request)
		body, err := io.ReadAll(req.GetStream())
		if err != nil {
			return middleware.DeserializeOutput{}, middleware.Metadata{}, err
		}
		again := op.token[:len(op.token)-6] + "again0"
		if in.Request, err = req.SetStream(bytes.NewReader(bytes.Replace(body, []byte(op.token), []byte(again), 1))); err != nil {
			return middleware.DeserializeOutput{}, middleware.Metadata{}, err
		}
	}
	switch p.kind {
	case faultNone:
		out, md, err := next.HandleDeserialize(ctx, in)
		if err == nil {
			f.answered(op, out, false)
		}
		return out, md, err
	case faultThrottle, faultProvisioned, faultConflict:
		if p.partial {
			return f.partialBatch(ctx, in, next, p)
		}
		return middleware.DeserializeOutput{RawResponse: faultResponse(p, op)}, middleware.Metadata{}, nil
	case faultResetBefore:
		return middleware.DeserializeOutput{}, middleware.Metadata{}, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: target,
			Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}}}
	}
	// the request reaches DynamoDB Local and runs; its answer is lost
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err // it failed for real
	}
	f.answered(op, out, true)
	if raw, ok := out.RawResponse.(*smithyhttp.Response); ok && raw.Body != nil {
		_, _ = io.Copy(io.Discard, raw.Body)
		_ = raw.Body.Close()
	}
	switch p.kind {
	case faultTimeoutAfter:
		return middleware.DeserializeOutput{}, md, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: target, Err: faultTimeout{}}}
	case faultDeadlineAfter:
		call.expire()
		return middleware.DeserializeOutput{}, md, &smithy.CanceledError{Err: context.DeadlineExceeded}
	default: // faultResetAfter
		return middleware.DeserializeOutput{}, md, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: target,
			Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}}
	}
}

// partialBatch sends a BatchGetItem and returns DynamoDB Local's answer
// with some of the items taken out and their keys returned as
// UnprocessedKeys, as DynamoDB answers a batch it could not read whole.
func (f *faultInjector) partialBatch(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler, p faultPlan) (middleware.DeserializeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return next.HandleDeserialize(ctx, in)
	}
	sent, err := io.ReadAll(req.GetStream())
	if err != nil {
		return middleware.DeserializeOutput{}, middleware.Metadata{}, err
	}
	if in.Request, err = req.SetStream(bytes.NewReader(sent)); err != nil {
		return middleware.DeserializeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleDeserialize(ctx, in)
	raw, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || raw.StatusCode != http.StatusOK {
		return out, md, err
	}
	got, err := io.ReadAll(raw.Body)
	_ = raw.Body.Close()
	if err != nil {
		return out, md, err
	}
	var request struct {
		RequestItems map[string]map[string]any
	}
	var answer map[string]any
	if err := json.Unmarshal(sent, &request); err != nil {
		return out, md, err
	}
	if err := json.Unmarshal(got, &answer); err != nil {
		return out, md, err
	}
	dice := rand.New(rand.NewPCG(p.dice, 1))
	keyOf := func(m map[string]any) string {
		b, _ := json.Marshal([]any{m["PK"], m["SK"]})
		return string(b)
	}
	responses, _ := answer["Responses"].(map[string]any)
	unprocessed := map[string]any{}
	for table, ka := range request.RequestItems {
		keys, _ := ka["Keys"].([]any)
		var left []any
		drop := map[string]bool{}
		for i, k := range keys {
			if km, ok := k.(map[string]any); ok && (dice.IntN(2) == 0 || i == len(keys)-1 && len(left) == 0) {
				left = append(left, k)
				drop[keyOf(km)] = true
			}
		}
		if len(left) == 0 {
			continue
		}
		rest := map[string]any{}
		for n, v := range ka {
			rest[n] = v
		}
		rest["Keys"] = left
		unprocessed[table] = rest
		items, _ := responses[table].([]any)
		var kept []any
		for _, it := range items {
			if im, ok := it.(map[string]any); !ok || !drop[keyOf(im)] {
				kept = append(kept, it)
			}
		}
		if kept == nil {
			kept = []any{}
		}
		responses[table] = kept
	}
	answer["UnprocessedKeys"] = unprocessed
	body, err := json.Marshal(answer)
	if err != nil {
		return out, md, err
	}
	raw.Body, raw.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	raw.Header.Set("Content-Length", strconv.Itoa(len(body)))
	if raw.Header.Get("X-Amz-Crc32") != "" {
		raw.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	return out, md, nil
}

// faultTimeout is the error net/http gives when an answer's headers do not
// come in time.
type faultTimeout struct{}

func (faultTimeout) Error() string   { return "net/http: timeout awaiting response headers" }
func (faultTimeout) Timeout() bool   { return true }
func (faultTimeout) Temporary() bool { return true }

// faultResponse is DynamoDB's HTTP answer for a throttle, a conflict or a
// cancelled transaction, as DynamoDB (and DynamoDB Local) writes it.
func faultResponse(p faultPlan, op *faultOp) *smithyhttp.Response {
	body := map[string]any{}
	if p.reason == "in progress" {
		body["__type"] = "com.amazonaws.dynamodb.v20120810#TransactionInProgressException"
		body["message"] = "Transaction from previous request is still in progress"
	} else if p.reason != "" {
		messages := map[string]string{
			"ThrottlingError":               "Throughput exceeds the current capacity of your table or index.",
			"ProvisionedThroughputExceeded": "The level of configured provisioned throughput for the table was exceeded.",
			"TransactionConflict":           "Transaction is ongoing for the item",
		}
		reasons := make([]map[string]string, max(op.items, 1))
		codes := make([]string, len(reasons))
		hit := rand.New(rand.NewPCG(p.dice, 2)).IntN(len(reasons))
		for i := range reasons {
			reasons[i], codes[i] = map[string]string{"Code": "None"}, "None"
			if i == hit {
				reasons[i], codes[i] = map[string]string{"Code": p.reason, "Message": messages[p.reason]}, p.reason
			}
		}
		body["__type"] = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
		body["CancellationReasons"] = reasons
		body["Message"] = "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"
	} else {
		switch p.kind {
		case faultThrottle:
			body["__type"] = "com.amazonaws.dynamodb.v20120810#ThrottlingException"
			body["message"] = "Throughput exceeds the current capacity of your table or index."
		case faultProvisioned:
			body["__type"] = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
			body["message"] = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
		case faultConflict:
			body["__type"] = "com.amazonaws.dynamodb.v20120810#TransactionConflictException"
			body["message"] = "Transaction is ongoing for the item"
		}
	}
	b, _ := json.Marshal(body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", "fault-injection")
	return &smithyhttp.Response{Response: &http.Response{
		Status: "400 Bad Request", StatusCode: http.StatusBadRequest, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(string(b))), ContentLength: int64(len(b)),
	}}
}

// faultCall is the context of one call of a use case, whose deadline the
// injector can make pass (faultDeadlineAfter), as Lambda's would.
type faultCall struct {
	context.Context
	done chan struct{}
	once sync.Once
}

type faultCallKey struct{}

func newFaultCall() *faultCall {
	return &faultCall{Context: context.Background(), done: make(chan struct{})}
}

func (c *faultCall) Done() <-chan struct{} { return c.done }

func (c *faultCall) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *faultCall) Value(k any) any {
	if k == (faultCallKey{}) {
		return c
	}
	return c.Context.Value(k)
}

func (c *faultCall) expire() { c.once.Do(func() { close(c.done) }) }

// faultClient is a DynamoDB client on endpoint through the injector: the
// standard retryer the service's client has, with short pauses.
func faultClient(endpoint string, inj *faultInjector) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
				return rand.N(time.Duration(2<<min(attempt, 6)) * time.Millisecond), nil
			})
		}),
		APIOptions: []func(*middleware.Stack) error{inj.install},
	})
}

// ---- errors ----

var errFaultPanic = errors.New("the use case panicked")

// faultClass sorts a use case's answer: "ok"; "refused" (a domain error,
// the clean way to fail); "unknown" (a transport failure: the write may or
// may not have happened, and a client sends the call again); "panic"; or
// "unclean" (anything else: a store error leaking out, a partial outcome).
func faultClass(err error) string {
	var de *domain.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errFaultPanic):
		return "panic"
	case errors.As(err, &de) && de.Code != domain.CodeInternal:
		return "refused"
	case faultTransport(err):
		return "unknown"
	}
	return "unclean"
}

// faultTransport reports whether err is a transport failure: the SDK could
// not send or hear, ran out of attempts or retry quota on throttles, or
// the caller's deadline passed.
func faultTransport(err error) bool {
	var send *smithyhttp.RequestSendError
	var canceled *smithy.CanceledError
	var quota *ratelimit.QuotaExceededError
	var api smithy.APIError
	switch {
	case errors.As(err, &send), errors.As(err, &canceled), errors.As(err, &quota), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "TransactionInProgressException":
			return true
		}
	}
	return false
}

// faultTransportText is faultTransport for an error known by its text (a
// sweep's report of a request it failed on).
func faultTransportText(msg string) bool {
	for _, s := range []string{"connection reset", "timeout awaiting response headers", "context deadline exceeded", "canceled, context",
		"ThrottlingException", "ProvisionedThroughputExceeded", "TransactionInProgressException", "RequestLimitExceeded",
		"retry quota exceeded", "failed to get rate limit token"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ---- the run ----

// faultPublisher records the domain events the notifier publishes, and
// fails a share of them (failRate) as a throttled event bus would, so that
// the notifier records failed deliveries too.
type faultPublisher struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	ids      map[string]int // published, by event (audit entry) id
	failed   int
}

var errFaultPublish = errors.New("eventbus: rate exceeded (injected)")

func (p *faultPublisher) Publish(_ context.Context, events ...eventbus.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Float64() < p.failRate {
		p.failed++
		return errFaultPublish
	}
	for _, e := range events {
		p.ids[e.ID]++
	}
	return nil
}

func (p *faultPublisher) setFailRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRate = rate
}

// faultVerbose logs every call (COUNTERSIGN_FAULT_VERBOSE=1).
var faultVerbose = os.Getenv("COUNTERSIGN_FAULT_VERBOSE") == "1"

// faultClientTries is how often a client sends a call whose outcome stays
// unknown.
const faultClientTries = 4

type faultRun struct {
	t     *testing.T
	seed  uint64
	start time.Time
	w     *world
	inj   *faultInjector
	truth *dynamostore.Store // the same table, without faults
	rng   *rand.Rand         // the steps' choices
	n     *notify.Notifier
	pub   *faultPublisher

	ops       map[string]int // use cases by name
	outcomes  map[string]int
	acked     map[string]int // acknowledged calls, by effect
	unknown   map[string]int // attempts with an unknown outcome, by effect
	anomalies []string
	base      faultBase
	crs       []domain.ChangeRequest // as last listed

	deliverBatch int // outbox items one delivery step takes
}

// faultBase is what the store held before the faults.
type faultBase struct {
	staging          int64 // staging's config version
	settings, org    int64 // production's approval settings, organisation settings
	directProduction int   // audited direct writes to production
	settingsAudited  int   // approval_settings.updated entries of production
	orgAudited       int   // settings.updated entries
}

func newFaultRun(t *testing.T, endpoint string, seed uint64, rate float64) *faultRun {
	ctx := context.Background()
	inj := newFaultInjector(seed, rate)
	client := faultClient(endpoint, inj)
	plain := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	table := fmt.Sprintf("cs-faults-%d-%d", seed, time.Now().UnixNano()) // wall clock: a unique table name
	if err := dynamostore.CreateTable(ctx, plain, table); err != nil {
		t.Fatalf("create table on %s: %v", endpoint, err)
	}
	t.Cleanup(func() {
		_, _ = plain.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	r := &faultRun{
		t: t, seed: seed, start: time.Now(), // wall clock: the run's duration, reported
		inj: inj, truth: dynamostore.New(plain, table), rng: rand.New(rand.NewPCG(seed, 0x5eed)),
		pub:          &faultPublisher{ids: map[string]int{}, rng: rand.New(rand.NewPCG(seed, 0xe7)), failRate: min(rate*2, 0.2)},
		deliverBatch: 5,
		ops:          map[string]int{}, outcomes: map[string]int{}, acked: map[string]int{}, unknown: map[string]int{},
	}
	r.w = newWorld(t, dynamostore.New(client, table)) // faults off while the world is made
	signer, err := actionlink.NewSigner([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	r.w.svc.WithLinks(signer)
	r.n = notify.New(r.w.store, r.w.svc, catcher.New("cs@example.com", r.w.clock.Now), r.pub, r.w.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), "cs@example.com", "http://cs.test")
	r.base = faultBase{
		staging:  r.liveConfig("staging").Version,
		settings: r.approvalSettings().Version, org: r.orgSettings().Version,
	}
	audit := r.allAudit()
	r.base.directProduction = r.countAudit(audit, "targeting.updated", "production")
	r.base.settingsAudited = r.countAudit(audit, "approval_settings.updated", "production")
	r.base.orgAudited = r.countAudit(audit, "settings.updated", "")
	return r
}

func (r *faultRun) anomaly(format string, args ...any) {
	r.anomalies = append(r.anomalies, fmt.Sprintf(format, args...))
}

// run makes n steps with faults, then finishes as the timers and the
// notifier would once DynamoDB is healthy again, and checks.
func (r *faultRun) run(n int) {
	r.inj.enable(true)
	steps := []struct {
		name   string
		weight int
		do     func()
	}{
		{"propose", 8, r.propose}, {"create", 5, r.create}, {"edit", 5, r.edit}, {"review", 16, r.review},
		{"comment", 9, r.comment}, {"apply", 9, r.apply}, {"withdraw", 3, r.withdraw}, {"settings", 3, r.settings},
		{"switch", 2, r.toggle}, {"direct", 6, r.direct}, {"sweep", 6, r.sweep}, {"deliver", 5, r.deliver},
	}
	sum := 0
	for _, s := range steps {
		sum += s.weight
	}
	for i := range n {
		if i%10 == 0 {
			r.listRequests(false)
		}
		k := r.rng.IntN(sum)
		for _, s := range steps {
			if k < s.weight {
				s.do()
				break
			}
			k -= s.weight
		}
		if (i+1)%100 == 0 && i+1 < n {
			r.inj.enable(false)
			r.check(false)
			r.inj.enable(true)
		}
	}
	r.inj.enable(false)
	r.pub.setFailRate(0)
	// DynamoDB and the event bus are healthy again: claims left by
	// interrupted deliveries lapse, and backoffs pass (an hour at most),
	// the timers sweep, the notifier delivers what waits.
	r.deliverBatch = 1000
	for range 10 {
		r.w.clock.Advance(time.Hour)
		r.sweep()
		items, err := r.w.store.ListOutbox(context.Background(), r.w.clock.Now(), 1000)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		r.deliver()
	}
	r.check(true)
}

// call runs one use case as a client does: a refusal ends it, an unknown
// outcome sends the same call again (at most faultClientTries times).
// effect names what the call adds, for the exactly-once accounting ("" for
// none counted).
func (r *faultRun) call(effect, what string, fn func(ctx context.Context) error) string {
	r.ops[what]++
	for attempt := 1; ; attempt++ {
		ctx := newFaultCall()
		err := r.protect(what, func() error { return fn(ctx) })
		c := faultClass(err)
		if faultVerbose {
			r.t.Logf("%s (%s), attempt %d: %s %v", what, effect, attempt, c, err)
		}
		switch c {
		case "ok":
			r.outcomes["ok"]++
			if effect != "" {
				r.acked[effect]++
			}
			return c
		case "refused":
			r.outcomes["refused (a domain error)"]++
			return c
		case "unknown":
			r.outcomes["unknown outcome (the client calls again)"]++
			if effect != "" {
				r.unknown[effect]++
			}
			if attempt < faultClientTries {
				continue
			}
			r.outcomes["unknown outcome, the client gave up"]++
			return c
		case "unclean":
			r.anomaly("%s answered an error that is neither a refusal nor a transport failure: %v", what, err)
			return c
		default:
			return c
		}
	}
}

func (r *faultRun) protect(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.anomaly("%s panicked: %v", what, p)
			err = errFaultPanic
		}
	}()
	return fn()
}

// ---- the steps ----

func (r *faultRun) editor() *app.Principal {
	ps := []*app.Principal{r.w.requester, r.w.alice, r.w.bob, r.w.carol}
	return ps[r.rng.IntN(len(ps))]
}

func (r *faultRun) anyone() *app.Principal {
	ps := []*app.Principal{r.w.requester, r.w.alice, r.w.bob, r.w.carol, r.w.admin, r.w.viewer}
	return ps[r.rng.IntN(len(ps))]
}

// pick draws a request, four times in five one whose status is among
// prefer (any open one when prefer is empty) if there is one; nil when
// there is none.
func (r *faultRun) pick(prefer ...domain.CRStatus) *domain.ChangeRequest {
	// the targeting requests the run opened (governance requests, opened
	// by settings that weaken, are left alone: governance_test.go)
	var all, fit []*domain.ChangeRequest
	for i := range r.crs {
		cr := &r.crs[i]
		if cr.Kind == domain.KindGovernance || cr.Bypass != nil {
			continue // nor the reviews after a bypass (breakglass_test.go)
		}
		all = append(all, cr)
		if slices.Contains(prefer, cr.Status) || len(prefer) == 0 && !cr.Status.Final() {
			fit = append(fit, cr)
		}
	}
	if len(all) == 0 {
		return nil
	}
	if len(fit) > 0 && r.rng.IntN(5) > 0 {
		return fit[r.rng.IntN(len(fit))]
	}
	return all[r.rng.IntN(len(all))]
}

// requesterOf is the member who opened cr, or an editor when none of the
// world's did.
func (r *faultRun) requesterOf(cr *domain.ChangeRequest) *app.Principal {
	for _, p := range []*app.Principal{r.w.requester, r.w.alice, r.w.bob, r.w.carol} {
		if p.Actor() == cr.Requester {
			return p
		}
	}
	return r.editor()
}

// reviewer draws someone other than cr's requester four times in five.
func (r *faultRun) reviewer(cr *domain.ChangeRequest) *app.Principal {
	for {
		p := r.anyone()
		if p.Actor() != cr.Requester || r.rng.IntN(5) == 0 {
			return p
		}
	}
}

func (r *faultRun) rollout() float64 { return float64(r.rng.IntN(101)) }

func (r *faultRun) propose() {
	p, pct := r.editor(), r.rollout()
	r.call("open", "propose", func(ctx context.Context) error {
		_, err := r.w.svc.ChangeFlagConfig(ctx, p, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(pct))
		return err
	})
}

func (r *faultRun) create() {
	p := r.editor()
	cfg := *r.liveConfig("production")
	cfg.Enabled = true
	cfg.DefaultRule = domain.Allocation{Rollout: r.rollout(), Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
	var applyAt *time.Time
	if r.rng.IntN(3) == 0 {
		at := r.w.clock.Now().Add(time.Duration(1+r.rng.IntN(72)) * time.Hour)
		applyAt = &at
	}
	r.call("open", "create", func(ctx context.Context) error {
		_, err := r.w.svc.CreateRequest(ctx, p, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production",
			Title: "faults", ProposedConfig: &cfg, ApplyAt: applyAt})
		return err
	})
}

func (r *faultRun) edit() {
	cr := r.pick()
	if cr == nil {
		return
	}
	p := r.requesterOf(cr)
	if r.rng.IntN(5) == 0 {
		p = r.editor()
	}
	var in app.EditInput
	if r.rng.IntN(2) == 0 {
		cfg := *cr.Changes[0].ProposedConfig
		cfg.DefaultRule.Rollout = r.rollout()
		in.ProposedConfig = &cfg
	} else {
		title := fmt.Sprintf("title %d", r.rng.IntN(1000))
		in.Title = &title
	}
	if r.rng.IntN(4) == 0 {
		at := r.w.clock.Now().Add(time.Duration(1+r.rng.IntN(72)) * time.Hour)
		in.ApplyAt = &at
	}
	id := cr.ID
	r.call("edited "+id, "edit", func(ctx context.Context) error {
		_, err := r.w.svc.EditRequest(ctx, p, id, nil, in)
		return err
	})
}

func (r *faultRun) review() {
	cr := r.pick(domain.StatusPending)
	if cr == nil {
		return
	}
	p, d := r.reviewer(cr), domain.DecisionApprove
	if r.rng.IntN(4) == 0 {
		d = domain.DecisionReject
	}
	id := cr.ID
	r.call("reviewed "+id, "review", func(ctx context.Context) error {
		_, err := r.w.svc.Review(ctx, p, id, d, "looks "+string(d), app.ChannelAPI)
		return err
	})
}

func (r *faultRun) comment() {
	cr := r.pick()
	if cr == nil {
		return
	}
	p, id := r.anyone(), cr.ID
	r.call("commented "+id, "comment", func(ctx context.Context) error {
		_, err := r.w.svc.Comment(ctx, p, id, "a thought")
		return err
	})
}

func (r *faultRun) apply() {
	cr := r.pick(domain.StatusApproved)
	if cr == nil {
		return
	}
	p, id := r.editor(), cr.ID
	if r.call("", "apply", func(ctx context.Context) error {
		_, err := r.w.svc.Apply(ctx, p, id)
		return err
	}) == "ok" {
		if now := r.request(id); now.Status != domain.StatusApplied {
			r.anomaly("apply of %s answered ok, and the request is %s", id, now.Status)
		}
	}
}

func (r *faultRun) withdraw() {
	cr := r.pick()
	if cr == nil {
		return
	}
	p := r.requesterOf(cr)
	if r.rng.IntN(3) == 0 {
		p = r.w.admin
	}
	id := cr.ID
	r.call("withdrawn "+id, "withdraw", func(ctx context.Context) error {
		_, err := r.w.svc.Withdraw(ctx, p, id)
		return err
	})
}

func (r *faultRun) settings() {
	cur := r.approvalSettings()
	in := *cur
	in.MinApprovals = 1 + r.rng.IntN(2)
	in.AllowSelfApproval = r.rng.IntN(2) == 0
	in.RejectionBlocksApply = r.rng.IntN(2) == 0
	in.AutoApproveAfter = []string{domain.AutoApproveNever, domain.AutoApprove24h}[r.rng.IntN(2)]
	in.ExpireAfter = []string{"", "48h"}[r.rng.IntN(2)]
	in.Apply = []domain.ApplyMode{domain.ApplyManual, domain.ApplyOnApproval}[r.rng.IntN(2)]
	in.LockWhilePending = r.rng.IntN(4) == 0
	p := []*app.Principal{r.w.carol, r.w.admin}[r.rng.IntN(2)]
	// settings that weaken, while approvals are on, open a governance
	// request instead of writing (governance.go)
	effect := "settings"
	if r.orgSettings().Approvals && len(domain.WeakenedFields(cur, &in)) > 0 {
		effect = "open"
	}
	r.call(effect, "settings", func(ctx context.Context) error {
		_, err := r.w.svc.UpdateApprovalSettings(ctx, p, "shop", "production", nil, &in)
		return err
	})
}

func (r *faultRun) toggle() {
	on := r.rng.IntN(4) > 0
	effect := "switch"
	if !on && r.orgSettings().Approvals {
		effect = "open" // turning approvals off opens a governance request
	}
	r.call(effect, "switch approvals", func(ctx context.Context) error {
		_, err := r.w.svc.UpdateOrgSettings(ctx, r.w.carol, nil, app.OrgSettingsInput{Approvals: on})
		return err
	})
}

func (r *faultRun) direct() {
	p, pct := r.editor(), r.rollout()
	r.call("staging", "direct write", func(ctx context.Context) error {
		out, err := r.w.svc.ChangeFlagConfig(ctx, p, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(pct))
		if err == nil && out.Applied == nil {
			return fmt.Errorf("a write to staging opened a request: %+v", out.Request)
		}
		return err
	})
}

// sweep moves the clock on (while faults are on) and runs the timers as
// their schedule does: a sweep that failed on something runs again.
func (r *faultRun) sweep() {
	r.ops["sweep"]++
	if r.inj.enabledNow() {
		r.w.clock.Advance(time.Duration(1+r.rng.IntN(30)) * time.Hour)
	}
	for attempt := 1; attempt <= faultClientTries; attempt++ {
		ctx := newFaultCall()
		var rep *app.SweepReport
		err := r.protect("sweep", func() error {
			var err error
			rep, err = r.w.svc.Sweep(ctx)
			return err
		})
		failed := 0
		if rep != nil {
			for id, msg := range rep.Failed {
				failed++
				if !faultTransportText(msg) {
					r.anomaly("the sweep failed on %s with an error that is not a transport failure: %s", id, msg)
				}
			}
		}
		switch c := faultClass(err); {
		case c == "ok" && failed == 0:
			r.outcomes["ok"]++
			return
		case c == "ok", c == "unknown":
			r.outcomes["unknown outcome (the client calls again)"]++
		case c == "unclean":
			r.anomaly("the sweep answered an error that is not a transport failure: %v", err)
			return
		default:
			return
		}
	}
	r.outcomes["unknown outcome, the client gave up"]++
}

// deliver runs the notifier over what is due: each item's claim, sends
// and records go through the faulty client.
func (r *faultRun) deliver() {
	r.ops["deliver"]++
	ctx := newFaultCall()
	var items []domain.OutboxItem
	err := r.protect("list outbox", func() error {
		var err error
		items, err = r.w.store.ListOutbox(ctx, r.w.clock.Now(), r.deliverBatch)
		return err
	})
	if c := faultClass(err); c != "ok" {
		if c == "unclean" {
			r.anomaly("listing the outbox answered %v", err)
		}
		return
	}
	for _, it := range items {
		id := it.ID
		r.call("", "deliver an outbox item", func(ctx context.Context) error {
			before := r.outboxItem(id)
			err := r.n.Deliver(ctx, id)
			r.checkRound(before, r.outboxItem(id))
			switch {
			case err != nil && faultNoLongerOwed(err.Error()):
				// a mail planned at the first attempt, which failed, that
				// nobody is owed any more (the request moved on): dropped
				// with its reason, by design
				return domain.Errorf(domain.CodeConflict, "%v", err)
			case errors.Is(err, errFaultPublish):
				// the event bus refused: recorded, retried in a later round
				return domain.Errorf(domain.CodeConflict, "%v", err)
			}
			return err
		})
	}
}

func (r *faultRun) outboxItem(id string) *domain.OutboxItem {
	it, err := r.truth.GetOutbox(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return it
}

// checkRound: one delivery round counts at most one attempt of each
// delivery, and of the item.
func (r *faultRun) checkRound(before, after *domain.OutboxItem) {
	if n := after.Attempts - before.Attempts; n > 1 {
		r.anomaly("outbox item %s (%s): one delivery round counted %d failed attempts of the item (%d → %d)", after.ID, after.Entry.Action, n, before.Attempts, after.Attempts)
	}
	for k, d := range after.Deliveries {
		if n := d.Attempts - before.Deliveries[k].Attempts; n > 1 {
			r.anomaly("outbox item %s (%s): one delivery round counted %d failed attempts of %s (%d → %d)", after.ID, after.Entry.Action, n, k, before.Deliveries[k].Attempts, d.Attempts)
		}
	}
}

// faultNoLongerOwed reports whether a delivery's error says its recipient
// is no longer concerned (the notifier's goneError): it is dead by design.
func faultNoLongerOwed(msg string) bool { return strings.HasPrefix(msg, "not sent: ") }

// ---- reading what DynamoDB Local holds (without faults) ----

func (r *faultRun) liveConfig(env string) *domain.FlagConfig {
	_, c, err := r.truth.GetFlagConfig(context.Background(), "shop", "checkout", env)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *faultRun) approvalSettings() *domain.ApprovalSettings {
	a, err := r.truth.GetApprovalSettings(context.Background(), "shop", "production")
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

func (r *faultRun) orgSettings() *domain.OrgSettings {
	o, err := r.truth.GetOrgSettings(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return o
}

func (r *faultRun) request(id string) *domain.ChangeRequest {
	cr, err := r.truth.GetChangeRequest(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return cr
}

// listRequests reads every request: from the list, which is eventually
// consistent (enough to choose the next steps), or, strong, one by one
// after it (for the checks).
func (r *faultRun) listRequests(strong bool) {
	r.crs = r.crs[:0]
	for page := (domain.Page{Limit: domain.MaxPageLimit}); ; {
		crs, next, err := r.truth.ListChangeRequests(context.Background(), domain.CRFilter{}, page)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, cr := range crs {
			if strong {
				cr = *r.request(cr.ID)
			}
			r.crs = append(r.crs, cr)
		}
		if next == "" {
			return
		}
		page.Cursor = next
	}
}

func (r *faultRun) allAudit() []domain.AuditEntry {
	var all []domain.AuditEntry
	for page := (domain.Page{Limit: domain.MaxPageLimit}); ; {
		es, next, err := r.truth.ListAudit(context.Background(), domain.AuditFilter{}, page)
		if err != nil {
			r.t.Fatal(err)
		}
		all = append(all, es...)
		if next == "" {
			return all
		}
		page.Cursor = next
	}
}

func (r *faultRun) countAudit(audit []domain.AuditEntry, action, env string) int {
	n := 0
	for _, e := range audit {
		if string(e.Action) == action && (env == "" || e.Environment == env) {
			n++
		}
	}
	return n
}

func (f *faultInjector) enabledNow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enabled
}

// ---- the checks ----

// faultEventOf is the timeline event an audit entry about a request
// stands for.
func faultEventOf(e domain.AuditEntry) string {
	switch a := strings.TrimPrefix(string(e.Action), "change_request."); a {
	case "reviewed", "approved", "rejected":
		if e.Decision == string(domain.DecisionReject) {
			return "rejected"
		}
		return "approved"
	default:
		return a
	}
}

// check reads the table without faults and checks the invariants; final
// adds the outbox (every entry delivered) and the timers (nothing due).
func (r *faultRun) check(final bool) {
	ctx := context.Background()
	r.listRequests(true)
	audit := r.allAudit()
	byID := map[string]*domain.ChangeRequest{}
	for i := range r.crs {
		byID[r.crs[i].ID] = &r.crs[i]
	}

	// every timeline event of a request has exactly one audit entry
	entries := map[string]map[string]int{}
	for _, e := range audit {
		if e.ChangeRequest == "" {
			continue
		}
		if byID[e.ChangeRequest] == nil {
			r.anomaly("audit entry %s (%s) names request %s, which does not exist", e.ID, e.Action, e.ChangeRequest)
			continue
		}
		if entries[e.ChangeRequest] == nil {
			entries[e.ChangeRequest] = map[string]int{}
		}
		entries[e.ChangeRequest][faultEventOf(e)]++
	}
	events := map[string]map[string]int{}
	for _, cr := range r.crs {
		events[cr.ID] = map[string]int{}
		for _, ev := range cr.Timeline {
			events[cr.ID][string(ev.Type)]++
		}
		for typ, n := range events[cr.ID] {
			if m := entries[cr.ID][typ]; m != n {
				r.anomaly("request %s has %d %q events in its timeline and %d audit entries for them", cr.ID, n, typ, m)
			}
		}
		for typ, m := range entries[cr.ID] {
			if events[cr.ID][typ] == 0 {
				r.anomaly("request %s has %d audit entries for %q and no such event", cr.ID, m, typ)
			}
		}
		// applied once, with its entry, or not at all
		applied := events[cr.ID]["applied"]
		switch {
		case cr.Status == domain.StatusApplied && applied != 1:
			r.anomaly("request %s is applied with %d applied events", cr.ID, applied)
		case cr.Status != domain.StatusApplied && (applied != 0 || cr.AppliedVersion != 0):
			r.anomaly("request %s is %s, yet has %d applied events and applied version %d", cr.ID, cr.Status, applied, cr.AppliedVersion)
		}
	}

	// each version of a live config comes from exactly one audited write,
	// and an applied request's entry names its version
	configWrites := []string{"targeting.updated", "bypass", "api_token_bypass", "change_request.applied"}
	for _, env := range []string{"production", "staging"} {
		live := r.liveConfig(env)
		versions := map[int64][]domain.AuditEntry{}
		for _, e := range audit {
			if slices.Contains(configWrites, string(e.Action)) && e.Flag == "checkout" && e.Environment == env {
				versions[e.Version] = append(versions[e.Version], e)
			}
		}
		for v := int64(1); v <= live.Version; v++ {
			if n := len(versions[v]); n != 1 {
				r.anomaly("%s's config version %d comes from %d audited writes", env, v, n)
			}
		}
		for v, es := range versions {
			if v < 1 || v > live.Version {
				r.anomaly("%d audited writes name %s's config version %d; the live config is at %d", len(es), env, v, live.Version)
			}
		}
		for _, e := range versions[live.Version] {
			if cr := byID[e.ChangeRequest]; e.Action == "change_request.applied" && cr != nil &&
				live.DefaultRule.Rollout != cr.Changes[0].ProposedConfig.DefaultRule.Rollout {
				r.anomaly("%s's config is at version %d, applied by %s, but serves %v %%, not its %v %%",
					env, live.Version, cr.ID, live.DefaultRule.Rollout, cr.Changes[0].ProposedConfig.DefaultRule.Rollout)
			}
		}
	}
	for _, cr := range r.crs {
		if cr.Status != domain.StatusApplied {
			continue
		}
		var mine []domain.AuditEntry
		for _, e := range audit {
			if e.Action == "change_request.applied" && e.ChangeRequest == cr.ID {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 || mine[0].Version != cr.AppliedVersion {
			r.anomaly("request %s, applied as version %d, has %d change_request.applied entries %+v", cr.ID, cr.AppliedVersion, len(mine), mine)
		}
	}

	// the pending lock is held by an open request or by none
	holder, err := r.truth.PendingLock(ctx, "shop", "checkout", "production")
	if err != nil {
		r.t.Fatal(err)
	}
	if cr := byID[holder]; holder != "" && (cr == nil || cr.Status.Final()) {
		r.anomaly("production's pending lock is held by %q, which is not an open request", holder)
	}

	// settings: one audited write per version
	if got, want := r.orgSettings().Version-r.base.org, int64(r.countAudit(audit, "settings.updated", "")-r.base.orgAudited); got != want {
		r.anomaly("the organisation settings moved %d versions, with %d settings.updated entries", got, want)
	}
	if got, want := r.approvalSettings().Version-r.base.settings, int64(r.countAudit(audit, "approval_settings.updated", "production")-r.base.settingsAudited); got != want {
		r.anomaly("production's approval settings moved %d versions, with %d approval_settings.updated entries", got, want)
	}

	// exactly once: each effect is at least what was acknowledged and at
	// most that plus the attempts whose outcome was unknown
	effects := r.effects(audit, events)
	for _, k := range faultSortedKeys(effects, r.acked, r.unknown) {
		if got, lo, hi := effects[k], r.acked[k], r.acked[k]+r.unknown[k]; got < lo || got > hi {
			r.anomaly("%s: %d in the store; %d calls acknowledged, %d attempts with an unknown outcome (want %d to %d)", k, got, lo, r.unknown[k], lo, hi)
		}
	}
	if !final {
		return
	}

	// every audit entry has its outbox item, delivered, its event published
	for _, e := range audit {
		it, err := r.truth.GetOutbox(ctx, e.ID)
		switch {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			r.anomaly("audit entry %s (%s) has no outbox item", e.ID, e.Action)
		case err != nil:
			r.t.Fatal(err)
		case it.State != domain.OutboxDelivered && !faultOnlyNoLongerOwed(it):
			r.anomaly("outbox item %s (%s) is %s after the last delivery round: %s", e.ID, e.Action, it.State, it.LastError)
		case r.pub.ids[e.ID] == 0 || it.Deliveries["event"].State != domain.OutboxDelivered:
			r.anomaly("the event of audit entry %s (%s) was never published", e.ID, e.Action)
		}
	}
	// after the last sweep nothing is due
	now := r.w.clock.Now()
	for _, cr := range r.crs {
		if cr.Status.Final() {
			continue
		}
		switch {
		case cr.ExpiresAt != nil && !now.Before(*cr.ExpiresAt):
			r.anomaly("after the last sweep %s stays %s past its deadline", cr.ID, cr.Status)
		case cr.Status == domain.StatusPending && len(cr.Rejections()) == 0 && cr.AutoApproveAt != nil && !now.Before(*cr.AutoApproveAt):
			r.anomaly("after the last sweep %s stays pending past its auto-approval", cr.ID)
		case cr.Status == domain.StatusApproved && (cr.ApplyPending || cr.ApplyAt != nil && !now.Before(*cr.ApplyAt)):
			r.anomaly("after the last sweep %s still waits to apply itself", cr.ID)
		}
	}
}

// faultOnlyNoLongerOwed reports whether a dead item's dead deliveries are
// all mails nobody was owed any more when they were retried.
func faultOnlyNoLongerOwed(it *domain.OutboxItem) bool {
	if it.State != domain.OutboxDead {
		return false
	}
	for _, d := range it.Deliveries {
		if d.State == domain.OutboxPending || d.State == domain.OutboxDead && !faultNoLongerOwed(d.LastError) {
			return false
		}
	}
	return true
}

// effects counts, in the store, what each kind of call adds.
func (r *faultRun) effects(audit []domain.AuditEntry, events map[string]map[string]int) map[string]int {
	out := map[string]int{
		"open": len(r.crs) + r.countAudit(audit, "targeting.updated", "production") - r.base.directProduction,
		// a request, or with approvals off a direct write
		"staging":  int(r.liveConfig("staging").Version - r.base.staging),
		"settings": int(r.approvalSettings().Version - r.base.settings),
		"switch":   int(r.orgSettings().Version - r.base.org),
	}
	for id, ev := range events {
		out["commented "+id] = ev["commented"]
		out["edited "+id] = ev["edited"]
		out["reviewed "+id] = ev["approved"] + ev["rejected"]
		out["withdrawn "+id] = ev["withdrawn"]
	}
	return out
}

func faultSortedKeys(ms ...map[string]int) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// report logs the figures and fails the test on any anomaly.
func (r *faultRun) report() {
	t := r.t
	elapsed := time.Since(r.start) // wall clock: the run's duration, reported
	total := 0
	for _, n := range r.ops {
		total += n
	}
	r.inj.mu.Lock()
	requests, lost, counts, replays, reruns := r.inj.requests, r.inj.lostWrite, r.inj.counts, r.inj.replays, r.inj.reruns
	r.inj.mu.Unlock()
	faults := 0
	for _, n := range counts {
		faults += n
	}
	t.Logf("DynamoDB faults, seed %d: %d operations, %d DynamoDB requests, %d faults injected, %d anomalies, in %s",
		r.seed, total, requests, faults, len(r.anomalies), elapsed.Round(100*time.Millisecond))
	for _, k := range faultSortedKeys(counts) {
		t.Logf("  fault %-75s %5d", k, counts[k])
	}
	t.Logf("  writes DynamoDB carried out whose answer the client never got %14d", lost)
	t.Logf("  events the event bus refused (injected, beside DynamoDB's faults) %10d", r.pub.failed)
	t.Logf("  … transactions the SDK sent again, same token (DynamoDB answers from it) %3d", replays)
	t.Logf("  … single-item writes the SDK sent again (DynamoDB runs them again) %8d", reruns)
	for _, k := range faultSortedKeys(r.ops) {
		t.Logf("  operation %-40s %5d", k, r.ops[k])
	}
	for _, k := range faultSortedKeys(r.outcomes) {
		t.Logf("  answer %-60s %5d", k, r.outcomes[k])
	}
	audit := r.allAudit()
	events := map[string]map[string]int{}
	for _, cr := range r.crs {
		events[cr.ID] = map[string]int{}
		for _, ev := range cr.Timeline {
			events[cr.ID][string(ev.Type)]++
		}
	}
	dups := map[string]int{}
	for k, n := range r.effects(audit, events) {
		if extra := n - r.acked[k]; extra > 0 {
			kind, _, _ := strings.Cut(k, " ")
			dups[kind] += extra
		}
	}
	for _, k := range faultSortedKeys(dups) {
		t.Logf("  effects beyond the acknowledged calls (a client's retry after an unknown outcome, or the unknown attempt itself): %-10s %4d", k, dups[k])
	}
	applied := 0
	for _, cr := range r.crs {
		if cr.Status == domain.StatusApplied {
			applied++
		}
	}
	t.Logf("  requests %d (%d applied), audit entries %d", len(r.crs), applied, len(audit))
	for i, a := range r.anomalies {
		if i == 30 {
			t.Logf("… and %d more anomalies", len(r.anomalies)-30)
			break
		}
		t.Logf("anomaly: %s", a)
	}
}

// failOnAnomalies fails the test if the run saw any.
func (r *faultRun) failOnAnomalies() {
	if len(r.anomalies) > 0 {
		r.t.Errorf("%d anomalies (goal 0); they are listed above", len(r.anomalies))
	}
}
