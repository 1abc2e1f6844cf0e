package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

// sweepAt is the time the timer sweeps of these tests look at.
var sweepAt = clocktest.At(19, 9, 0, 0)

// duePopulation makes total change requests of which due have a NextDue at
// or before at, spread evenly; the others have no timer, or one after at
// (some of them a nanosecond after), or timers that no longer count (a
// rejection stops auto-approval; an applied request has none). It returns
// the requests and the due ones as ListDue must list them: by due time, ties
// by id (due times come in pairs, the first exactly at).
func duePopulation(t testing.TB, total, due int, at time.Time) ([]*domain.ChangeRequest, []domain.DueRequest) {
	t.Helper()
	ptr := func(x time.Time) *time.Time { return &x }
	every := total / due
	created := at.Add(-30 * 24 * time.Hour)
	crs := make([]*domain.ChangeRequest, total)
	var want []domain.DueRequest
	for i := range total {
		cr := realisticRequest(fmt.Sprintf("cr_%07d", i), created.Add(time.Duration(i)*time.Second))
		if i%every == 0 {
			j := i / every
			when := at.Add(-time.Duration(j/2) * time.Minute)
			switch j % 3 {
			case 0: // auto-approval due
				cr.AutoApproveAt, cr.ExpiresAt = ptr(when), ptr(at.Add(7*24*time.Hour))
			case 1: // approved, scheduled apply due
				cr.Status, cr.ApplyAt, cr.ExpiresAt = domain.StatusApproved, ptr(when), ptr(at.Add(7*24*time.Hour))
				cr.Reviews = []domain.Review{{Reviewer: "m_bob", Decision: domain.DecisionApprove, Revision: 1, Channel: "api", At: created}}
			case 2: // rejected, expiry due
				cr.Status, cr.ExpiresAt = domain.StatusRejected, ptr(when)
				cr.Reviews = []domain.Review{{Reviewer: "m_bob", Decision: domain.DecisionReject, Revision: 1, Channel: "api", At: created}}
			}
		} else {
			switch i % 5 {
			case 0: // no timer
			case 1: // expires later
				cr.ExpiresAt = ptr(at.Add(time.Hour + time.Duration(i)*time.Second))
			case 2: // scheduled a few nanoseconds after the sweep
				cr.Status, cr.ApplyAt = domain.StatusApproved, ptr(at.Add(time.Duration(i)*time.Nanosecond))
			case 3: // auto-approval past, but a rejection stops it; expires later
				cr.AutoApproveAt, cr.ExpiresAt = ptr(at.Add(-time.Hour)), ptr(at.Add(48*time.Hour))
				cr.Reviews = []domain.Review{{Reviewer: "m_bob", Decision: domain.DecisionReject, Revision: 1, Channel: "api", At: created}}
			case 4: // applied: its past timers concern nobody
				cr.Status, cr.ApplyAt, cr.ExpiresAt = domain.StatusApplied, ptr(at.Add(-2*time.Hour)), ptr(at.Add(-time.Hour))
				cr.AppliedBy, cr.AppliedAt, cr.AppliedVersion = "member:m_bob", ptr(at.Add(-2*time.Hour)), 2
			}
		}
		if d := cr.NextDue(); d != nil && !d.After(at) {
			want = append(want, domain.DueRequest{ID: cr.ID, Due: *d})
		}
		crs[i] = cr
	}
	if len(want) != due {
		t.Fatalf("the population has %d due requests, want %d", len(want), due)
	}
	slices.SortFunc(want, func(a, b domain.DueRequest) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return crs, want
}

// realisticRequest is a pending targeting request of the size the service
// makes (about 1 KB as an item).
func realisticRequest(id string, at time.Time) *domain.ChangeRequest {
	cfg := &domain.FlagConfig{Project: "shop", Flag: "checkout", Environment: "production", Enabled: true, OffVariant: "off",
		Rules: []domain.Rule{{
			Name:       "employees",
			Conditions: []domain.Condition{{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}},
		}},
		DefaultRule: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}, Version: 1}
	return &domain.ChangeRequest{
		ID: id, Project: "shop", Flag: "checkout", Environment: "production", Kind: domain.KindTargeting,
		Title: "Roll the new checkout out to half of production", Description: "Employees first, then 50%.",
		Changes: []domain.Change{{Kind: domain.KindTargeting, Flag: "checkout", Environment: "production", ProposedConfig: cfg, BaseVersion: 1}}, Requester: "member:m_ada", RequesterMember: "m_ada",
		NotifyReviewers: []string{"m_bob", "m_cy"}, Status: domain.StatusPending, Revision: 1,
		Policy: domain.Policy{MinApprovals: 1, RejectionBlocksApply: true, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual,
			AutoApproveAfter: "72h", ExpireAfter: "720h", DesignatedReviewers: []string{}, Environments: []string{"production"}},
		Reviews:  []domain.Review{},
		Timeline: []domain.TimelineEvent{{Type: "created", Actor: "member:m_ada", Revision: 1, Channel: "api", At: at}},
		Version:  1, CreatedAt: at, UpdatedAt: at,
	}
}

// loadRequests writes the requests' items, exactly as the store encodes
// them (dynamostore.RequestItem), with BatchWriteItem: 25 items a call,
// several calls at once, unprocessed items retried. It reports progress on
// stderr every 10 000 items.
func loadRequests(t testing.TB, c *dynamodb.Client, table string, crs []*domain.ChangeRequest) {
	t.Helper()
	const batchSize, workers, every = 25, 8, 10_000
	ctx := context.Background()
	began := time.Now() // wall clock: progress of the load
	batches := make(chan []*domain.ChangeRequest)
	var (
		loaded   atomic.Int64
		firstErr error
		failed   atomic.Bool
		once     sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) { once.Do(func() { firstErr = err; failed.Store(true) }) }
	for range workers {
		wg.Go(func() {
			for batch := range batches {
				if failed.Load() {
					continue // drain
				}
				if err := writeBatch(ctx, c, table, batch); err != nil {
					fail(err)
					continue
				}
				n := loaded.Add(int64(len(batch)))
				if prev := n - int64(len(batch)); n/every != prev/every {
					fmt.Fprintf(os.Stderr, "loaded %d of %d change requests (%s)\n", n/every*every, len(crs), time.Since(began).Round(time.Millisecond)) // wall clock: progress of the load
				}
			}
		})
	}
	for from := 0; from < len(crs); from += batchSize {
		batches <- crs[from:min(from+batchSize, len(crs))]
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("load change requests: %v", firstErr)
	}
	fmt.Fprintf(os.Stderr, "loaded %d change requests into %s in %s\n", loaded.Load(), table, time.Since(began).Round(time.Millisecond)) // wall clock: progress of the load
}

func writeBatch(ctx context.Context, c *dynamodb.Client, table string, crs []*domain.ChangeRequest) error {
	reqs := make([]types.WriteRequest, len(crs))
	for i, cr := range crs {
		it, err := dynamostore.RequestItem(cr)
		if err != nil {
			return err
		}
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	pending := map[string][]types.WriteRequest{table: reqs}
	for attempt := 0; len(pending[table]) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 50 {
				return errors.New("BatchWriteItem: items still unprocessed after 50 attempts")
			}
			time.Sleep(time.Duration(min(attempt, 20)) * 50 * time.Millisecond)
		}
		out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("BatchWriteItem: %w", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}

func dueString(ds []domain.DueRequest) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s@%s ", d.ID, d.Due.UTC().Format(time.RFC3339Nano))
	}
	return b.String()
}

// A sweep reads the due requests and nothing else: the index is sparse and
// each shard's query stops at the sweep's time.
func TestListDueReadsOnlyDueItems(t *testing.T) {
	const total, due = 3_000, 30
	c := client(t)
	table := newTable(t, c)
	crs, want := duePopulation(t, total, due, sweepAt)
	shards := map[string]bool{}
	for _, d := range want {
		it, err := dynamostore.RequestItem(crs[slices.IndexFunc(crs, func(cr *domain.ChangeRequest) bool { return cr.ID == d.ID })])
		must(t, err)
		shards[it["GSI3PK"].(*types.AttributeValueMemberS).Value] = true
	}
	if len(shards) < 5 {
		t.Errorf("the %d due requests fall into %d shards: %v", due, len(shards), shards)
	}
	loadRequests(t, c, table, crs)
	s := dynamostore.New(c, table)
	ctx := context.Background()

	s.ResetConsumedCapacity()
	s.ResetItemsRead()
	got, err := s.ListDue(ctx, sweepAt, 1000)
	must(t, err)
	read, units := s.ItemsRead(), s.ConsumedCapacity()
	t.Logf("ListDue over %d requests, %d due: %d items read, %.1f capacity units", total, due, read, units)
	if dueString(got) != dueString(want) {
		t.Fatalf("ListDue:\n got %s\nwant %s", dueString(got), dueString(want))
	}
	if read > due+10 {
		t.Fatalf("the sweep read %d items for %d due requests; it must read only the due ones", read, due)
	}
	if units <= 0 {
		t.Fatalf("the sweep consumed %v capacity units", units)
	}

	got, err = s.ListDue(ctx, sweepAt, 7)
	must(t, err)
	if dueString(got) != dueString(want[:7]) {
		t.Fatalf("limit 7:\n got %s\nwant %s", dueString(got), dueString(want[:7]))
	}
	earliest := want[0].Due
	got, err = s.ListDue(ctx, earliest, 1000)
	must(t, err)
	if len(got) != 2 || !got[0].Due.Equal(earliest) || !got[1].Due.Equal(earliest) {
		t.Fatalf("due at or before the earliest due time: %s", dueString(got))
	}
	s.ResetItemsRead()
	got, err = s.ListDue(ctx, earliest.Add(-time.Nanosecond), 1000)
	must(t, err)
	if len(got) != 0 || s.ItemsRead() != 0 {
		t.Fatalf("before the earliest due time: %s (%d items read)", dueString(got), s.ItemsRead())
	}
}

// Only requests a timer concerns carry GSI3PK and GSI3SK; a write that ends
// the timers removes them.
func TestDueIndexIsSparse(t *testing.T) {
	s, c, table := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	must(t, s.CreateChangeRequest(ctx, targetingRequest("cr-none", "production", at0), false, nil))
	timed := targetingRequest("cr-exp", "staging", at0)
	exp := at0.Add(24 * time.Hour)
	timed.ExpiresAt = &exp
	must(t, s.CreateChangeRequest(ctx, timed, false, nil))

	none := rawItem(t, c, table, "CR#cr-none", "CR")
	if _, ok := none["GSI3PK"]; ok {
		t.Errorf("a request no timer concerns is in GSI3: %v", none["GSI3PK"])
	}
	it := rawItem(t, c, table, "CR#cr-exp", "CR")
	pk, _ := it["GSI3PK"].(*types.AttributeValueMemberS)
	if pk == nil || len(pk.Value) != len("DUE#0") || !strings.HasPrefix(pk.Value, "DUE#") || pk.Value[4] < '0' || pk.Value[4] > '9' {
		t.Errorf("GSI3PK: want DUE#<0..9>, got %#v", it["GSI3PK"])
	}
	wantString(t, it, "GSI3SK", clocktest.Stamp(at0.Add(24*time.Hour))+"#cr-exp")

	_, err := s.UpdateChangeRequest(ctx, "cr-exp", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.Withdraw(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, at0))
	})
	must(t, err)
	it = rawItem(t, c, table, "CR#cr-exp", "CR")
	if _, ok := it["GSI3PK"]; ok {
		t.Errorf("a withdrawn request is still in GSI3: %v %v", it["GSI3PK"], it["GSI3SK"])
	}
	if _, ok := it["GSI3SK"]; ok {
		t.Errorf("a withdrawn request keeps GSI3SK: %v", it["GSI3SK"])
	}
	wantString(t, it, "GSI1PK", "CR")
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), IndexName: aws.String("GSI3")})
	must(t, err)
	if len(out.Items) != 0 {
		t.Fatalf("GSI3 should be empty, has %d items", len(out.Items))
	}
}

// The items-read counter counts what reads return (GetItem, BatchGetItem)
// and what queries read, not writes; and resets.
func TestItemsReadCounter(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"m1", "m2", "m3"} {
		must(t, s.CreateMember(ctx, &domain.Member{ID: id, Email: id + "@example.com", Name: id, Role: domain.RoleViewer}))
	}
	s.ResetItemsRead()
	if got := s.ItemsRead(); got != 0 {
		t.Fatalf("after reset: %d", got)
	}
	_, err := s.GetMember(ctx, "m1")
	must(t, err)
	if got := s.ItemsRead(); got != 1 {
		t.Fatalf("one GetItem: %d items read, want 1", got)
	}
	_, _, err = s.ListMembers(ctx, domain.Page{Limit: 10})
	must(t, err)
	if got := s.ItemsRead(); got != 4 {
		t.Fatalf("a GetItem and a query of 3 members: %d items read, want 4", got)
	}
	_, err = s.GetMember(ctx, "nobody")
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("missing member: %v", err)
	}
	if got := s.ItemsRead(); got != 4 {
		t.Fatalf("a GetItem of a missing item read something: %d", got)
	}
	capacity := s.ConsumedCapacity()
	s.ResetItemsRead()
	if s.ItemsRead() != 0 || s.ConsumedCapacity() != capacity {
		t.Fatalf("ResetItemsRead must reset only the items read: %d items, %v units (was %v)", s.ItemsRead(), s.ConsumedCapacity(), capacity)
	}
}
