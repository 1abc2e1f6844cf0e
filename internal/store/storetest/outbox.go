package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Every audit entry lands in the outbox in the same write; delivery moves
// items out of the pending list, to delivered or to the dead letters.
func testOutbox(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), []domain.AuditEntry{auditEntry("a1", "flag.created", t0)}))
	_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
		o.Approvals = true
		a.Record(auditEntry("a2", "settings.updated", t0.Add(time.Second)))
		return nil
	})
	must(t, err)
	must(t, s.CreateChangeRequest(ctx, newRequest("cr1", "production", t0), false, []domain.AuditEntry{auditEntry("a3", "change_request.created", t0.Add(2*time.Second))}))
	// a refused write leaves nothing in the outbox
	_, err = s.UpdateFlag(ctx, "p", "f", func(_ *domain.Flag, _ []domain.FlagConfig, a *domain.Audit) error {
		a.Record(auditEntry("never", "flag.updated", t0))
		return domain.Errorf(domain.CodeInvalid, "no")
	})
	wantCode(t, err, domain.CodeInvalid)

	ids := func(before time.Time) string {
		items, err := s.ListOutbox(ctx, before, 10)
		must(t, err)
		out := []string{}
		for _, it := range items {
			out = append(out, it.ID)
		}
		return fmt.Sprint(out)
	}
	if got := ids(t0.Add(time.Hour)); got != "[a1 a2 a3]" {
		t.Fatalf("pending outbox: %s", got)
	}
	if got := ids(t0.Add(time.Second)); got != "[a1 a2]" {
		t.Fatalf("pending up to t0+1s: %s", got)
	}
	it, err := s.GetOutbox(ctx, "a3")
	must(t, err)
	if it.State != domain.OutboxPending || it.Entry.Action != "change_request.created" || it.Version != 1 {
		t.Fatalf("outbox item: %+v", it)
	}
	_, err = s.GetOutbox(ctx, "never")
	wantCode(t, err, domain.CodeNotFound)

	// a failed attempt is retried later; what was done is kept
	it, err = s.UpdateOutbox(ctx, "a1", func(it *domain.OutboxItem) error {
		it.Attempts++
		it.Done = append(it.Done, "email:m1")
		it.LastError = "SES said no"
		it.NextAttemptAt = t0.Add(10 * time.Minute)
		return nil
	})
	must(t, err)
	if it.Version != 2 {
		t.Fatalf("version after update: %d", it.Version)
	}
	if got := ids(t0.Add(time.Minute)); got != "[a2 a3]" {
		t.Fatalf("a1 waits for its next attempt: %s", got)
	}
	if got := ids(t0.Add(time.Hour)); got != "[a2 a3 a1]" {
		t.Fatalf("later: %s", got)
	}
	_, err = s.UpdateOutbox(ctx, "a2", func(it *domain.OutboxItem) error { it.State = domain.OutboxDelivered; return nil })
	must(t, err)
	_, err = s.UpdateOutbox(ctx, "a1", func(it *domain.OutboxItem) error { it.State = domain.OutboxDead; return nil })
	must(t, err)
	// a refused update changes nothing
	_, err = s.UpdateOutbox(ctx, "a3", func(it *domain.OutboxItem) error { it.State = domain.OutboxDead; return domain.ErrContention })
	wantCode(t, err, domain.CodeConflict)
	if got := ids(t0.Add(time.Hour)); got != "[a3]" {
		t.Fatalf("after delivery and death: %s", got)
	}
	dead, _, err := s.ListDeadLetters(ctx, domain.Page{})
	must(t, err)
	if len(dead) != 1 || dead[0].ID != "a1" || dead[0].Done[0] != "email:m1" || dead[0].LastError != "SES said no" {
		t.Fatalf("dead letters: %+v", dead)
	}

	// each delivery's own state, and a notifier's claim, are kept with the
	// item as the update left them, and listed with it
	claim := t0.Add(2 * time.Minute)
	_, err = s.UpdateOutbox(ctx, "a3", func(it *domain.OutboxItem) error {
		it.Deliveries = map[string]domain.OutboxDelivery{
			"event":      {State: domain.OutboxDelivered},
			"email:m1":   {State: domain.OutboxDead, Attempts: 1, NextAttemptAt: t0, LastError: "MessageRejected", Refused: true},
			"email:m2":   {State: domain.OutboxPending, Attempts: 2, NextAttemptAt: t0.Add(90 * time.Second), LastError: "throttled"},
			"email:m3:x": {State: domain.OutboxPending},
		}
		it.Done = append(it.Done, "event")
		it.ClaimedBy, it.ClaimedUntil = "round-1", &claim
		it.NextAttemptAt = t0.Add(90 * time.Second)
		return nil
	})
	must(t, err)
	checkDeliveries := func(where string, it domain.OutboxItem) {
		t.Helper()
		m1, m2 := it.Deliveries["email:m1"], it.Deliveries["email:m2"]
		if len(it.Deliveries) != 4 || it.Deliveries["event"].State != domain.OutboxDelivered ||
			m1.State != domain.OutboxDead || !m1.Refused || m1.Attempts != 1 || !m1.NextAttemptAt.Equal(t0) || m1.LastError != "MessageRejected" ||
			m2.State != domain.OutboxPending || m2.Refused || m2.Attempts != 2 || !m2.NextAttemptAt.Equal(t0.Add(90*time.Second)) ||
			it.Deliveries["email:m3:x"].State != domain.OutboxPending || it.ClaimedBy != "round-1" || it.ClaimedUntil == nil || !it.ClaimedUntil.Equal(claim) {
			t.Fatalf("%s: deliveries %+v, claim %q until %v", where, it.Deliveries, it.ClaimedBy, it.ClaimedUntil)
		}
	}
	it, err = s.GetOutbox(ctx, "a3")
	must(t, err)
	checkDeliveries("read back", *it)
	items, err := s.ListOutbox(ctx, t0.Add(time.Hour), 10)
	must(t, err)
	if len(items) != 1 || items[0].ID != "a3" {
		t.Fatalf("pending after the update: %+v", items)
	}
	checkDeliveries("listed", items[0])
	// a claim is released by writing it empty
	it, err = s.UpdateOutbox(ctx, "a3", func(it *domain.OutboxItem) error {
		it.ClaimedBy, it.ClaimedUntil = "", nil
		it.State = domain.OutboxDead
		return nil
	})
	must(t, err)
	it, err = s.GetOutbox(ctx, "a3")
	must(t, err)
	if it.ClaimedBy != "" || it.ClaimedUntil != nil || len(it.Deliveries) != 4 {
		t.Fatalf("after release: %+v", it)
	}
	dead, _, err = s.ListDeadLetters(ctx, domain.Page{})
	must(t, err)
	if len(dead) != 2 || !dead[0].Deliveries["email:m1"].Refused && !dead[1].Deliveries["email:m1"].Refused {
		t.Fatalf("dead letters with deliveries: %+v", dead)
	}
}
