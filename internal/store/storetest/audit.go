package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func auditTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"AppendAudit":                    testAppendAudit,
		"AppendAuditRefused":             testAppendAuditRefused,
		"RevokeTokenAudit":               testRevokeTokenAudit,
		"AuditListFiltersByProjectSet":   testAuditListFiltersByProjectSet,
		"RequestListFiltersByProjectSet": testRequestListFiltersByProjectSet,
		"WritesApplyTheirRequest":        testWritesApplyTheirRequest,
		"PendingTokenActivates":          testPendingTokenActivates,
		"FreezeWriteGuarded":             testFreezeWriteGuarded,
		"WritesOpenTheirRequest":         testWritesOpenTheirRequest,
		"ListOverdueReviews":             testListOverdueReviews,
	}
}

// projectLog lists the ids of project p's audit entries, newest first (the
// project's log is read consistently on every store).
func projectLog(t *testing.T, s domain.Store) []string {
	t.Helper()
	entries, _, err := s.ListAudit(context.Background(), domain.AuditFilter{Project: "p"}, domain.Page{Limit: domain.MaxPageLimit})
	must(t, err)
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// wantPending checks that entry e has its outbox item, pending, due at the
// entry's time.
func wantPending(t *testing.T, s domain.Store, e domain.AuditEntry) {
	t.Helper()
	it, err := s.GetOutbox(context.Background(), e.ID)
	must(t, err)
	if it.State != domain.OutboxPending || it.Entry.Action != e.Action || !it.NextAttemptAt.Equal(e.At) || it.Version != 1 || it.Attempts != 0 {
		t.Fatalf("outbox item of %s: %+v", e.ID, it)
	}
}

// AppendAudit writes entries on their own, each with its pending outbox
// item; no entries writes nothing; as many as MaxAppendAudit fit one write.
func testAppendAudit(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.AppendAudit(ctx))
	if got := projectLog(t, s); len(got) != 0 {
		t.Fatalf("no entries appended: log %v", got)
	}

	failed := domain.AuditEntry{ID: "a-failed", At: t0, Actor: "system:sign-in", Action: "auth.sign_in_failed", Channel: "email", Reason: "no member has this address"}
	flagged := auditEntry("a-p1", "flag.noted", t0.Add(time.Second))
	must(t, s.AppendAudit(ctx, failed, flagged))
	wantPending(t, s, failed)
	wantPending(t, s, flagged)
	if got := projectLog(t, s); !slices.Equal(got, []string{"a-p1"}) {
		t.Fatalf("project log: %v", got)
	}
	wantAuditLogged(t, s, "system:sign-in", "a-failed")
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].Action != "flag.noted" || !entries[0].At.Equal(t0.Add(time.Second)) || entries[0].Flag != "f" {
		t.Fatalf("appended entry: %+v", entries)
	}

	full := make([]domain.AuditEntry, domain.MaxAppendAudit)
	for i := range full {
		full[i] = auditEntry(fmt.Sprintf("a-full-%02d", i), "flag.noted", t0.Add(time.Minute))
	}
	must(t, s.AppendAudit(ctx, full...))
	if got := projectLog(t, s); len(got) != domain.MaxAppendAudit+1 {
		t.Fatalf("after %d entries in one write: %d in the log", domain.MaxAppendAudit, len(got))
	}
	wantPending(t, s, full[0])
	wantPending(t, s, full[domain.MaxAppendAudit-1])
}

// AppendAudit is all or nothing: an id stored already, an id twice, or more
// than MaxAppendAudit entries fail the whole write.
func testAppendAuditRefused(t *testing.T, s domain.Store) {
	ctx := context.Background()
	first := auditEntry("a-first", "flag.noted", t0)
	must(t, s.AppendAudit(ctx, first))

	// The same entry again, after a new one: nothing written.
	if err := s.AppendAudit(ctx, auditEntry("a-new", "flag.noted", t0.Add(time.Second)), first); err == nil {
		t.Fatal("appending an entry that exists: want an error")
	}
	wantOutbox(t, s, "a-new", false)
	// An entry of a stored id at another time: refused too.
	again := auditEntry("a-first", "flag.noted", t0.Add(2*time.Second))
	if err := s.AppendAudit(ctx, auditEntry("a-new", "flag.noted", t0.Add(time.Second)), again); err == nil {
		t.Fatal("appending an id that exists at another time: want an error")
	}
	wantOutbox(t, s, "a-new", false)

	// One id twice in a write: invalid, nothing written.
	err := s.AppendAudit(ctx, auditEntry("a-twice", "flag.noted", t0), auditEntry("a-twice", "flag.noted", t0.Add(time.Second)))
	wantCode(t, err, domain.CodeInvalid)
	wantOutbox(t, s, "a-twice", false)

	// More than one write holds: invalid, nothing written.
	many := make([]domain.AuditEntry, domain.MaxAppendAudit+1)
	for i := range many {
		many[i] = auditEntry(fmt.Sprintf("a-many-%02d", i), "flag.noted", t0)
	}
	wantCode(t, s.AppendAudit(ctx, many...), domain.CodeInvalid)
	wantOutbox(t, s, "a-many-00", false)

	if got := projectLog(t, s); !slices.Equal(got, []string{"a-first"}) {
		t.Fatalf("log after refused appends: %v", got)
	}
	wantPending(t, s, first)
}

// RevokeToken writes its audit entries with the revocation, and none when
// the token was revoked already.
func testRevokeTokenAudit(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateToken(ctx, &domain.Token{ID: "t1", Name: "ci", MemberID: "m1", Role: domain.RoleEditor, Hash: "hash-1", CreatedBy: "m1", CreatedAt: t0}))
	revoked := auditEntry("a-revoked", "token.revoked", t0.Add(time.Hour))
	r, err := s.RevokeToken(ctx, "t1", t0.Add(time.Hour), revoked)
	must(t, err)
	if r.RevokedAt == nil || !r.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked: %+v", r)
	}
	wantPending(t, s, revoked)
	_, err = s.RevokeToken(ctx, "t1", t0.Add(2*time.Hour), auditEntry("a-again", "token.revoked", t0.Add(2*time.Hour)))
	must(t, err)
	wantOutbox(t, s, "a-again", false)
	_, err = s.RevokeToken(ctx, "nope", t0, auditEntry("a-nope", "token.revoked", t0))
	wantCode(t, err, domain.CodeNotFound)
	wantOutbox(t, s, "a-nope", false)
	if got := projectLog(t, s); !slices.Equal(got, []string{"a-revoked"}) {
		t.Fatalf("log: %v", got)
	}
}
