package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// reviewAfterRequest is the review after a bypass of f in production, as
// a direct write opens it (domain.ConfigWrite.Opens), due a day after t0.
func reviewAfterRequest(t *testing.T, id string) *domain.ChangeRequest {
	t.Helper()
	cr := newRequest(id, "production", t0)
	if _, err := cr.OpenReviewAfter(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, "incident", "", t0.Add(24*time.Hour), 1, "api", t0); err != nil {
		t.Fatal(err)
	}
	return cr
}

// testWritesOpenTheirRequest: a config, flag or segment write told it
// opens a request (Opens) writes the request, version 1, and its audit
// entries in the same atomic write; a write the store refuses writes
// neither.
func testWritesOpenTheirRequest(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	due := t0.Add(24 * time.Hour)

	// refused: the config names a segment that does not exist
	refused := reviewAfterRequest(t, "cr_ra_refused")
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		c.Enabled = true
		w.Segments = []string{"nobody"}
		w.Opens = refused
		w.Record(auditEntry("a_ra_refused", domain.ActionRequestBypassed, t0))
		return nil
	})
	wantCode(t, err, domain.CodeConflict)
	wantCode(t, func() error { _, err := s.GetChangeRequest(ctx, "cr_ra_refused"); return err }(), domain.CodeNotFound)
	if _, c, err := s.GetFlagConfig(ctx, "p", "f", "production"); err != nil || c.Enabled || c.Version != 0 {
		t.Fatalf("a refused write wrote the config: %+v, %v", c, err)
	}
	for _, id := range projectLog(t, s) {
		if id == "a_ra_refused" {
			t.Fatal("a refused write wrote its audit entry")
		}
	}

	writes := map[string]func(cr *domain.ChangeRequest, e domain.AuditEntry) error{
		"config": func(cr *domain.ChangeRequest, e domain.AuditEntry) error {
			_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
				c.Enabled = !c.Enabled
				w.Opens = cr
				w.Record(e)
				return nil
			})
			return err
		},
		"flag": func(cr *domain.ChangeRequest, e domain.AuditEntry) error {
			_, err := s.WriteFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, w *domain.FlagWrite) error {
				f.Description += "!"
				w.Opens = cr
				w.Record(e)
				return nil
			})
			return err
		},
		"segment": func(cr *domain.ChangeRequest, e domain.AuditEntry) error {
			_, err := s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, w *domain.SegmentWrite) error {
				seg.Included = append(seg.Included, "user-9")
				w.Opens = cr
				w.Record(e)
				return nil
			})
			return err
		},
	}
	for name, write := range writes {
		id := "cr_ra_" + name
		e := auditEntry("a_ra_"+name, domain.ActionRequestBypassed, t0)
		e.ChangeRequest = id
		must(t, write(reviewAfterRequest(t, id), e))
		got, err := s.GetChangeRequest(ctx, id)
		must(t, err)
		if got.Version != 1 || got.Status != domain.StatusReviewAfter || got.Bypass == nil || !got.Bypass.ReviewDueAt.Equal(due) || got.Bypass.Reason != "incident" {
			t.Fatalf("%s: the request as written: %+v (bypass %+v)", name, got, got.Bypass)
		}
		wantPending(t, s, e)
		// the timers find it when its review is due
		found := false
		list, err := s.ListDue(ctx, due, 100)
		must(t, err)
		for _, d := range list {
			found = found || d.ID == id
		}
		if !found {
			t.Fatalf("%s: the review after is not due at %s: %v", name, due, list)
		}
		// a request of the same id is not written over
		again := reviewAfterRequest(t, id)
		if err := write(again, auditEntry("a_ra_again_"+name, domain.ActionRequestBypassed, t0)); err == nil {
			t.Fatalf("%s: a second request of id %s was written", name, id)
		}
	}
	// listed by status
	list, _, err := s.ListChangeRequests(ctx, domain.CRFilter{Status: domain.StatusReviewAfter, Project: "p"}, domain.Page{Limit: 10})
	must(t, err)
	if len(list) != len(writes) {
		t.Fatalf("review_after requests listed: %d, want %d", len(list), len(writes))
	}
}
