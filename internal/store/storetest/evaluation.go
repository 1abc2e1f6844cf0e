package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func testSDKKeys(t *testing.T, s domain.Store) {
	ctx := context.Background()
	k := &domain.SDKKey{ID: "k1", Project: "p", Environment: "production", Name: "web", Hash: "h1", CreatedBy: "member:m1", CreatedAt: t0}
	wantCode(t, s.CreateSDKKey(ctx, k), domain.CodeNotFound)
	newProject(t, s, "p")
	must(t, s.CreateSDKKey(ctx, k))
	wantCode(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k2", Project: "p", Environment: "production", Hash: "h1"}), domain.CodeConflict)
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k2", Project: "p", Environment: "production", Hash: "h2", CreatedAt: t0}))
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k3", Project: "p", Environment: "staging", Hash: "h3", CreatedAt: t0}))
	got, err := s.GetSDKKeyByHash(ctx, "h1")
	must(t, err)
	if got.ID != "k1" || got.Environment != "production" || got.Name != "web" {
		t.Fatalf("by hash: %+v", got)
	}
	keys, next, err := s.ListSDKKeys(ctx, "p", "production", domain.Page{Limit: 1})
	must(t, err)
	more, next2, err := s.ListSDKKeys(ctx, "p", "production", domain.Page{Limit: 1, Cursor: next})
	must(t, err)
	if len(keys) != 1 || next == "" || len(more) != 1 || next2 != "" || more[0].ID != "k2" {
		t.Fatalf("keys of production: %+v %+v", keys, more)
	}
	r, err := s.RevokeSDKKey(ctx, "p", "production", "k1", t0)
	must(t, err)
	if r.RevokedAt == nil {
		t.Fatal("not revoked")
	}
	_, err = s.GetSDKKeyByHash(ctx, "h1")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.RevokeSDKKey(ctx, "p", "production", "nope", t0)
	wantCode(t, err, domain.CodeNotFound)
}

// Rotation replaces a key in one write: at once, or with the old key
// working until a time; a revoked or already rotated key refuses, and of
// concurrent rotations of one key exactly one wins.
func testSDKKeyRotation(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	key := func(id string) *domain.SDKKey {
		return &domain.SDKKey{ID: id, Project: "p", Environment: "production", Name: "web", Hash: "hash-" + id, CreatedBy: "member:m1", CreatedAt: t0}
	}
	must(t, s.CreateSDKKey(ctx, key("a")))
	_, err := s.RotateSDKKey(ctx, "p", "production", "nope", key("x"), t0, t0)
	wantCode(t, err, domain.CodeNotFound)

	// with a grace period: both work, the old one until then; the audit
	// entry and its outbox item are in the same write
	later := t0.Add(24 * time.Hour)
	entry := domain.AuditEntry{ID: "a-rotate", At: t0, Actor: "member:m1", Action: "sdk_key.rotated", Channel: "api", Project: "p", Environment: "production", SDKKey: "a"}
	old, err := s.RotateSDKKey(ctx, "p", "production", "a", key("b"), t0, later, entry)
	must(t, err)
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].ID != "a-rotate" || entries[0].SDKKey != "a" {
		t.Fatalf("the rotation's audit entry: %+v", entries)
	}
	if ob, err := s.GetOutbox(ctx, "a-rotate"); err != nil || ob.Entry.ID != "a-rotate" {
		t.Fatalf("the rotation's outbox item: %+v %v", ob, err)
	}
	if old.ReplacedBy != "b" || old.RevokedAt != nil || old.ExpiresAt == nil || !old.ExpiresAt.Equal(later) {
		t.Fatalf("old key after a rotation with grace: %+v", old)
	}
	a, err := s.GetSDKKeyByHash(ctx, "hash-a")
	must(t, err)
	if !a.Live(t0.Add(time.Hour)) || a.Live(later) || a.ReplacedBy != "b" {
		t.Fatalf("the old key works until %v only: %+v", later, a)
	}
	b, err := s.GetSDKKeyByHash(ctx, "hash-b")
	must(t, err)
	if b.Replaces != "a" || !b.Live(later) {
		t.Fatalf("new key: %+v", b)
	}
	// a rotated key is not rotated again; a conflicting id changes nothing
	_, err = s.RotateSDKKey(ctx, "p", "production", "a", key("c"), t0, t0)
	wantCode(t, err, domain.CodeConflict)
	_, err = s.RotateSDKKey(ctx, "p", "production", "b", key("a"), t0, t0,
		domain.AuditEntry{ID: "refused", At: t0, Actor: "member:m1", Action: "sdk_key.rotated", Channel: "api", Project: "p"})
	wantCode(t, err, domain.CodeConflict)
	if entries, _, _ := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{}); len(entries) != 1 {
		t.Fatalf("a refused rotation writes no audit entry: %+v", entries)
	}
	if b, err := s.GetSDKKeyByHash(ctx, "hash-b"); err != nil || b.ReplacedBy != "" || b.RevokedAt != nil {
		t.Fatalf("a refused rotation must leave the key as it was: %+v %v", b, err)
	}

	// at once: the old key's hash is forgotten in the same write
	old, err = s.RotateSDKKey(ctx, "p", "production", "b", key("c"), t0, t0)
	must(t, err)
	if old.RevokedAt == nil || old.ReplacedBy != "c" {
		t.Fatalf("old key after an immediate rotation: %+v", old)
	}
	_, err = s.GetSDKKeyByHash(ctx, "hash-b")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.RotateSDKKey(ctx, "p", "production", "b", key("d"), t0, t0)
	wantCode(t, err, domain.CodeConflict)
	if _, err := s.GetSDKKeyByHash(ctx, "hash-d"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused rotation must not create its key: %v", err)
	}

	// ten concurrent rotations of c: one wins
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for i := range 10 {
		wg.Go(func() {
			id := fmt.Sprintf("r%d", i)
			_, err := s.RotateSDKKey(ctx, "p", "production", "c", key(id), t0, t0)
			switch {
			case err == nil:
				wins <- id
			case domain.ErrorCode(err) == domain.CodeConflict:
			default:
				t.Errorf("rotation %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	close(wins)
	var won []string
	for id := range wins {
		won = append(won, id)
	}
	if len(won) != 1 {
		t.Fatalf("want one winning rotation, got %v", won)
	}
	keys, _, err := s.ListSDKKeys(ctx, "p", "production", domain.Page{Limit: 100})
	must(t, err)
	live := 0
	for _, k := range keys {
		if k.RevokedAt == nil && k.ExpiresAt == nil {
			live++
			if k.ID != won[0] {
				t.Fatalf("the live key is %s, the winner %s", k.ID, won[0])
			}
		}
	}
	if live != 1 || len(keys) != 4 {
		t.Fatalf("after the race: %d keys, %d live: %+v", len(keys), live, keys)
	}

	// a rotation with a grace period racing a revocation: the old key ends
	// revoked either way, and the successor exists exactly when the
	// rotation succeeded
	for round := range 5 {
		old, next := fmt.Sprintf("race-%d", round), fmt.Sprintf("race-%d-next", round)
		must(t, s.CreateSDKKey(ctx, key(old)))
		var rotateErr, revokeErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, rotateErr = s.RotateSDKKey(ctx, "p", "production", old, key(next), t0, later) })
		wg.Go(func() { _, revokeErr = s.RevokeSDKKey(ctx, "p", "production", old, t0) })
		wg.Wait()
		must(t, revokeErr)
		if _, err := s.GetSDKKeyByHash(ctx, "hash-"+old); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("round %d: the revoked key is still found: %v", round, err)
		}
		n, err := s.GetSDKKeyByHash(ctx, "hash-"+next)
		switch {
		case rotateErr == nil && (err != nil || n.Replaces != old):
			t.Fatalf("round %d: the rotation succeeded but its key is %+v, %v", round, n, err)
		case rotateErr != nil && domain.ErrorCode(rotateErr) != domain.CodeConflict:
			t.Fatalf("round %d: rotation failed with %v, want a conflict", round, rotateErr)
		case rotateErr != nil && domain.ErrorCode(err) != domain.CodeNotFound:
			t.Fatalf("round %d: the rotation failed but its key exists: %+v %v", round, n, err)
		}
	}
}

// The ruleset version moves with every flag and config write of the
// project, and the ruleset holds every flag and the environment's configs.
func testRuleset(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	v0, err := s.RulesetVersion(ctx, "p")
	must(t, err)
	moved := func(what string) {
		t.Helper()
		v, err := s.RulesetVersion(ctx, "p")
		must(t, err)
		if v == v0 {
			t.Fatalf("%s did not move the ruleset version (%d)", what, v)
		}
		v0 = v
	}
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	moved("creating a flag")
	must(t, s.CreateFlag(ctx, newFlag("f2"), nil))
	moved("creating another")
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		return nil
	})
	must(t, err)
	moved("a config write")
	_, err = s.UpdateFlag(ctx, "p", "f2", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.Name = "x"; return nil })
	must(t, err)
	moved("a flag write")
	must(t, s.CreateChangeRequest(ctx, newRequest("cr1", "staging", t0), false, nil))
	approve(t, s, "cr1")
	_, err = s.ApplyChangeRequest(ctx, "cr1", applyFn(domain.Actor{MemberID: "m3", Role: domain.RoleEditor}, nil))
	must(t, err)
	moved("an applied change request")

	r, err := s.Ruleset(ctx, "p", "production")
	must(t, err)
	if r.Version != v0 || len(r.Flags) != 2 || len(r.Configs) != 1 || r.Configs[0].Flag != "f" || !r.Configs[0].Enabled {
		t.Fatalf("production ruleset: %+v", r)
	}
	r, err = s.Ruleset(ctx, "p", "staging")
	must(t, err)
	if len(r.Configs) != 1 || r.Configs[0].Flag != "f" {
		t.Fatalf("staging ruleset: %+v", r)
	}
	_, err = s.Ruleset(ctx, "p", "nope")
	wantCode(t, err, domain.CodeNotFound)
	must(t, s.DeleteFlag(ctx, "p", "f2", func(*domain.Flag, *domain.Audit) error { return nil }))
	moved("deleting a flag")
}

func testStickyAssignments(t *testing.T, s domain.Store) {
	ctx := context.Background()
	k := domain.AssignmentKey{Project: "p", Environment: "production", Flag: "f", Epoch: "salt1234@1", Unit: "user#1/ä"}

	v, err := s.Assignment(ctx, k)
	must(t, err)
	if v != "" {
		t.Fatalf("no assignment yet, got %q", v)
	}
	if _, err := s.Assign(ctx, k, "", ""); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("assigning no variant: want invalid, got %v", err)
	}
	got, err := s.Assign(ctx, k, "treatment", "")
	must(t, err)
	if got != "treatment" {
		t.Fatalf("first assignment: got %q", got)
	}
	// the first variant stays: a later assignment with other weights does not move the user
	got, err = s.Assign(ctx, k, "control", "")
	must(t, err)
	if got != "treatment" {
		t.Fatalf("second assignment must keep the first variant, got %q", got)
	}
	// replacing names the wrong variant: nothing changes
	got, err = s.Assign(ctx, k, "control", "other")
	must(t, err)
	if v, _ := s.Assignment(ctx, k); got != "treatment" || v != "treatment" {
		t.Fatalf("replacing a variant that is not stored: got %q, stored %q", got, v)
	}
	// replacing the stored variant (removed from the flag) moves it
	got, err = s.Assign(ctx, k, "control", "treatment")
	must(t, err)
	if v, _ := s.Assignment(ctx, k); got != "control" || v != "control" {
		t.Fatalf("replacing the stored variant: got %q, stored %q", got, v)
	}

	// every part of the key isolates
	for name, other := range map[string]domain.AssignmentKey{
		"project":     {Project: "q", Environment: k.Environment, Flag: k.Flag, Epoch: k.Epoch, Unit: k.Unit},
		"environment": {Project: k.Project, Environment: "staging", Flag: k.Flag, Epoch: k.Epoch, Unit: k.Unit},
		"flag":        {Project: k.Project, Environment: k.Environment, Flag: "g", Epoch: k.Epoch, Unit: k.Unit},
		"epoch":       {Project: k.Project, Environment: k.Environment, Flag: k.Flag, Epoch: "salt5678@1", Unit: k.Unit},
		"unit":        {Project: k.Project, Environment: k.Environment, Flag: k.Flag, Epoch: k.Epoch, Unit: "user#2/ä"},
	} {
		if v, err := s.Assignment(ctx, other); err != nil || v != "" {
			t.Fatalf("another %s must have no assignment: %q, %v", name, v, err)
		}
	}

	// a unit longer than a DynamoDB key allows is still kept apart from others
	long := k
	long.Unit = strings.Repeat("u", 3000)
	longer := long
	longer.Unit += "v"
	got, err = s.Assign(ctx, long, "a", "")
	must(t, err)
	got2, err := s.Assign(ctx, longer, "b", "")
	must(t, err)
	if v, _ := s.Assignment(ctx, long); got != "a" || got2 != "b" || v != "a" {
		t.Fatalf("long units: %q %q, stored %q", got, got2, v)
	}

	// concurrent first evaluations on many instances: one variant wins and
	// every caller is told the same one
	race := k
	race.Unit = "racer"
	const n = 16
	answers := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.Assign(ctx, race, fmt.Sprintf("v%d", i), "")
			if err != nil {
				t.Error(err)
			}
			answers[i] = v
		})
	}
	wg.Wait()
	stored, err := s.Assignment(ctx, race)
	must(t, err)
	for i, a := range answers {
		if a != stored {
			t.Fatalf("caller %d was told %q, but %q is stored (answers %v)", i, a, stored, answers)
		}
	}
}
