package dynamostore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

func outboxShard(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("OUTBOX#%d", h.Sum32()%10)
}

func wantNo(t *testing.T, it map[string]types.AttributeValue, names ...string) {
	t.Helper()
	for _, n := range names {
		if v, ok := it[n]; ok {
			t.Errorf("%s: want none, got %#v", n, v)
		}
	}
}

// An outbox item is OUTBOX#<id> / OUTBOX, written with its audit entry; its
// state puts it in GSI3 (pending), GSI1 (dead) or neither (delivered).
func TestOutboxItemLayout(t *testing.T) {
	s, c, table := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	must(t, s.CreateFlag(ctx, newFlag("f", "on"), []domain.AuditEntry{audited("a1", "p", at0.Add(time.Second))}))

	it := rawItem(t, c, table, "OUTBOX#a1", "OUTBOX")
	wantString(t, it, "id", "a1")
	wantString(t, it, "state", "pending")
	wantN(t, it, "version", "1")
	wantN(t, it, "attempts", "0")
	wantString(t, it, "GSI3PK", outboxShard("a1"))
	wantString(t, it, "GSI3SK", clocktest.Stamp(at0.Add(time.Second))+"#a1")
	wantNo(t, it, "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "last_error")
	if l, ok := it["done"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 0 {
		t.Errorf("done: want an empty list, got %#v", it["done"])
	}
	if m, ok := it["entry"].(*types.AttributeValueMemberM); !ok {
		t.Errorf("entry: want a map, got %#v", it["entry"])
	} else {
		wantString(t, m.Value, "id", "a1")
		wantString(t, m.Value, "action", "x")
	}

	_, err := s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error {
		o.State, o.NextAttemptAt, o.LastError = domain.OutboxDead, at0.Add(time.Hour), "gave up"
		return nil
	})
	must(t, err)
	it = rawItem(t, c, table, "OUTBOX#a1", "OUTBOX")
	wantString(t, it, "GSI1PK", "OUTBOXDEAD")
	wantString(t, it, "GSI1SK", clocktest.Stamp(at0.Add(time.Hour))+"#a1")
	wantString(t, it, "last_error", "gave up")
	wantNo(t, it, "GSI3PK", "GSI3SK")

	_, err = s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error { o.State = domain.OutboxDelivered; return nil })
	must(t, err)
	it = rawItem(t, c, table, "OUTBOX#a1", "OUTBOX")
	wantString(t, it, "state", "delivered")
	wantN(t, it, "version", "3")
	wantNo(t, it, "GSI1PK", "GSI1SK", "GSI3PK", "GSI3SK")

	// An update function cannot move the item: the key is the id read.
	o, err := s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error { o.ID = "elsewhere"; return nil })
	must(t, err)
	if o.Version != 4 || rawItem(t, c, table, "OUTBOX#elsewhere", "OUTBOX") != nil {
		t.Fatalf("an update that renamed the item: %+v", o)
	}
	_, err = s.UpdateOutbox(ctx, "missing", func(*domain.OutboxItem) error { return nil })
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("update of a missing item: want not_found, got %v", err)
	}
}

// Each audit entry costs two transaction items now (the entry and its
// outbox item): 49 entries fit beside a settings write, 50 do not, and the
// write fails whole.
func TestAuditEntriesAndTheTransactionLimit(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	entries := func(from, n int) func(*domain.OrgSettings, *domain.Audit) error {
		return func(o *domain.OrgSettings, a *domain.Audit) error {
			o.Approvals = !o.Approvals
			for i := from; i < from+n; i++ {
				a.Record(audited(fmt.Sprintf("a%03d", i), "", at0.Add(time.Duration(i)*time.Second)))
			}
			return nil
		}
	}
	_, err := s.UpdateOrgSettings(ctx, entries(0, 49))
	must(t, err)
	_, err = s.UpdateOrgSettings(ctx, entries(49, 50))
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("50 audit entries in one write: want the transaction limit, got %v", err)
	}
	items, err := s.ListOutbox(ctx, at0.Add(time.Hour), 200)
	must(t, err)
	if len(items) != 49 {
		t.Fatalf("want the 49 items of the first write only, got %d", len(items))
	}
}

// Deleting a flag leaves room for two items per audit entry beside the flag,
// the ruleset version's increment and the flag's configs.
func TestDeleteFlagRoomForOutboxItems(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s) // three environments
	ctx := context.Background()
	for _, env := range []string{"staging", "production"} {
		_, err := s.UpdateFlagConfig(ctx, "p", "f", env, serve("on"))
		must(t, err)
	}
	record := func(n int) func(*domain.Flag, *domain.Audit) error {
		return func(_ *domain.Flag, a *domain.Audit) error {
			for i := range n {
				a.Record(audited(fmt.Sprintf("d%03d", i), "p", at0.Add(time.Duration(i)*time.Second)))
			}
			return nil
		}
	}
	// 1 flag + 1 ruleset version + 2 configs + 2×49 = 102 items
	err := s.DeleteFlag(ctx, "p", "f", record(49))
	if err == nil || !strings.Contains(err.Error(), "49 audit entries (with their outbox items) are more than one transaction can write") {
		t.Fatalf("want the delete refused before writing, got %v", err)
	}
	// 1 + 1 + 2 + 2×48 = 100 items
	must(t, s.DeleteFlag(ctx, "p", "f", record(48)))
	items, err := s.ListOutbox(ctx, at0.Add(time.Hour), 100)
	must(t, err)
	if len(items) != 48 || items[0].ID != "d000" || items[47].ID != "d047" {
		t.Fatalf("outbox after the delete: %d items", len(items))
	}
}

// ListOutbox merges the ten shards in time order (ties by id) and reads the
// items in batches of at most 100 keys.
func TestListOutboxMergesShardsAndReadsInBatches(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	var want []string
	for w := range 3 {
		_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
			o.Approvals = !o.Approvals
			for i := range 45 {
				// Every fifth entry shares its time with the previous one: ties sort by id.
				n := w*45 + i
				id := fmt.Sprintf("o%03d", 200-n)
				a.Record(audited(id, "", at0.Add(time.Duration(n-n%5/4)*time.Second)))
			}
			return nil
		})
		must(t, err)
	}
	all, err := s.ListOutbox(ctx, at0.Add(time.Hour), 200)
	must(t, err)
	if len(all) != 135 {
		t.Fatalf("want all 135 pending items, got %d", len(all))
	}
	shards := map[string]bool{}
	for i, it := range all {
		want = append(want, it.ID)
		shards[outboxShard(it.ID)] = true
		if i > 0 {
			prev := all[i-1]
			if it.NextAttemptAt.Before(prev.NextAttemptAt) || (it.NextAttemptAt.Equal(prev.NextAttemptAt) && it.ID < prev.ID) {
				t.Fatalf("out of order at %d: %s@%s after %s@%s", i, it.ID, it.NextAttemptAt, prev.ID, prev.NextAttemptAt)
			}
		}
		if it.Entry.ID != it.ID || it.State != domain.OutboxPending || it.Version != 1 || it.Done == nil {
			t.Fatalf("item %d is not a full pending item: %+v", i, it)
		}
	}
	if len(shards) < 5 {
		t.Errorf("135 ids landed in only %d shards", len(shards))
	}
	some, err := s.ListOutbox(ctx, at0.Add(time.Hour), 120)
	must(t, err)
	got := make([]string, len(some))
	for i, it := range some {
		got[i] = it.ID
	}
	if fmt.Sprint(got) != fmt.Sprint(want[:120]) {
		t.Fatalf("limit 120: want the first 120 of the whole list\n got %v\nwant %v", got, want[:120])
	}
	// The bound is inclusive, to the nanosecond.
	edge := all[10].NextAttemptAt
	upTo, err := s.ListOutbox(ctx, edge, 200)
	must(t, err)
	if n := len(upTo); n == 0 || !upTo[n-1].NextAttemptAt.Equal(edge) || (n < len(all) && !all[n].NextAttemptAt.After(edge)) {
		t.Fatalf("ListOutbox(%s): %d items, last %+v", edge, n, upTo[n-1])
	}
	none, err := s.ListOutbox(ctx, edge, 0)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("limit 0: %d items", len(none))
	}
}

// Dead letters are listed newest first in full pages with an opaque cursor;
// a cursor of another list is refused.
func TestDeadLetterPages(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
		for i := range 5 {
			a.Record(audited(fmt.Sprintf("x%d", i), "", at0))
		}
		return nil
	})
	must(t, err)
	for i := range 5 {
		if i == 2 {
			continue // stays pending
		}
		_, err := s.UpdateOutbox(ctx, fmt.Sprintf("x%d", i), func(o *domain.OutboxItem) error {
			o.State, o.Attempts, o.NextAttemptAt = domain.OutboxDead, 8, at0.Add(time.Duration(i)*time.Minute)
			return nil
		})
		must(t, err)
	}
	var pages []string
	cursor := ""
	for range 10 {
		items, next, err := s.ListDeadLetters(ctx, domain.Page{Limit: 2, Cursor: cursor})
		must(t, err)
		var ids []string
		for _, it := range items {
			if it.State != domain.OutboxDead || it.Attempts != 8 {
				t.Fatalf("not a dead letter: %+v", it)
			}
			ids = append(ids, it.ID)
		}
		pages = append(pages, strings.Join(ids, ","))
		if next != "" && len(items) != 2 {
			t.Fatalf("a page with a next cursor must be full: %v", ids)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if got := fmt.Sprint(pages); got != "[x4,x3 x1,x0]" {
		t.Fatalf("dead letter pages: %s", got)
	}

	// Cursors of other lists, and garbage, are refused.
	must(t, s.CreateChangeRequest(ctx, targetingRequest("cr1", "production", at0), false, nil))
	must(t, s.CreateChangeRequest(ctx, targetingRequest("cr2", "production", at0), false, nil))
	_, crNext, err := s.ListChangeRequests(ctx, domain.CRFilter{}, domain.Page{Limit: 1})
	must(t, err)
	for _, c := range []string{crNext, "%%%", base64.RawURLEncoding.EncodeToString([]byte("OUTBOXDEAD|nonsense")),
		base64.RawURLEncoding.EncodeToString([]byte(clocktest.Stamp(at0) + "#x1"))} {
		if _, _, err := s.ListDeadLetters(ctx, domain.Page{Cursor: c}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("cursor %q: want invalid, got %v", c, err)
		}
	}
	// and a dead letter cursor is refused by the change request list
	_, deadNext, err := s.ListDeadLetters(ctx, domain.Page{Limit: 1})
	must(t, err)
	if _, _, err := s.ListChangeRequests(ctx, domain.CRFilter{}, domain.Page{Cursor: deadNext}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("a dead letter cursor on the change request list: want invalid, got %v", err)
	}
}

// An outbox update that loses every race gives up with ErrContention; an
// error of its own function is returned as is, after one attempt.
func TestUpdateOutboxContention(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	_, err := s.UpdateOrgSettings(ctx, func(_ *domain.OrgSettings, a *domain.Audit) error {
		a.Record(audited("a1", "", at0))
		return nil
	})
	must(t, err)
	calls := 0
	_, err = s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error {
		calls++
		if _, err := s.UpdateOutbox(ctx, "a1", func(o *domain.OutboxItem) error { o.Attempts++; return nil }); err != nil {
			t.Errorf("competing write: %v", err)
		}
		o.State = domain.OutboxDelivered
		return nil
	})
	if !errors.Is(err, domain.ErrContention) {
		t.Fatalf("want ErrContention, got %v", err)
	}
	if calls < 5 || calls > 20 {
		t.Fatalf("want about ten attempts, got %d", calls)
	}
	it, err := s.GetOutbox(ctx, "a1")
	must(t, err)
	if it.State != domain.OutboxPending || it.Attempts != calls || int(it.Version) != 1+calls {
		t.Fatalf("item after giving up: %+v", it)
	}

	mine := errors.New("mine")
	calls = 0
	_, err = s.UpdateOutbox(ctx, "a1", func(*domain.OutboxItem) error { calls++; return mine })
	if err != mine || calls != 1 {
		t.Fatalf("want fn's own error after one attempt, got %v after %d", err, calls)
	}
}

// An audit entry whose outbox item exists (same id, another time) is a bug
// of the caller, like a colliding entry: the write fails at once, whole.
func TestOutboxItemCollision(t *testing.T) {
	s, c, table := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	must(t, s.CreateFlag(ctx, newFlag("f", "on"), []domain.AuditEntry{audited("a1", "p", at0)}))
	calls := 0
	_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, a *domain.Audit) error {
		calls++
		f.Name = "changed"
		a.Record(audited("a1", "p", at0.Add(time.Second)))
		return nil
	})
	if err == nil || domain.ErrorCode(err) != domain.CodeInternal || !strings.Contains(err.Error(), `outbox item "a1" exists already`) || calls != 1 {
		t.Fatalf("want an internal error after one attempt, got %v after %d", err, calls)
	}
	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if f.Name != "f" || f.Version != 1 || rawItem(t, c, table, "AUDIT#p", clocktest.Stamp(at0.Add(time.Second))+"#a1") != nil {
		t.Fatalf("nothing may be written: %+v", f)
	}
}
