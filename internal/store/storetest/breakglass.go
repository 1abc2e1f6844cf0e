package storetest

import (
	"context"
	"fmt"
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

// reviewAfterDue is the review after a bypass, opened at created and due
// at due.
func reviewAfterDue(t *testing.T, id string, created, due time.Time) *domain.ChangeRequest {
	t.Helper()
	cr := newRequest(id, "production", created)
	if _, err := cr.OpenReviewAfter(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, "incident", "", due, 1, "api", created); err != nil {
		t.Fatal(err)
	}
	return cr
}

// testListOverdueReviews: CRFilter.Overdue lists the reviews after a
// bypass whose due time has passed at the filter's Now (due at Now
// included) and that nobody acknowledged, marked overdue by the timers or
// not yet, page by page; false lists every other request. The store
// decides by Now, never by its own clock, also within a second (DynamoDB
// compares the stored times as strings).
func testListOverdueReviews(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	half := 500 * time.Millisecond
	for _, cr := range []*domain.ChangeRequest{
		reviewAfterDue(t, "ra_1h", at(1), t0.Add(time.Hour)),
		reviewAfterDue(t, "ra_2h_half", at(2), t0.Add(2*time.Hour+half)),
		reviewAfterDue(t, "ra_3h", at(3), t0.Add(3*time.Hour)),
		reviewAfterDue(t, "ra_acked", at(4), t0.Add(time.Hour)),
		reviewAfterDue(t, "ra_marked", at(5), t0.Add(time.Hour)),
		newRequest("pending", "production", at(6)),
	} {
		must(t, s.CreateChangeRequest(ctx, cr, false, nil))
	}
	_, err := s.UpdateChangeRequest(ctx, "ra_acked", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.Acknowledge(reviewer, "seen", "api", t0.Add(30*time.Minute)))
	})
	must(t, err)
	_, err = s.UpdateChangeRequest(ctx, "ra_marked", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		return only(cr.MarkOverdue(t0.Add(time.Hour)))
	})
	must(t, err)

	list := func(f domain.CRFilter, limit int) string {
		var ids []string
		cursor := ""
		for range 20 {
			crs, next, err := s.ListChangeRequests(ctx, f, domain.Page{Limit: limit, Cursor: cursor})
			must(t, err)
			for _, cr := range crs {
				ids = append(ids, cr.ID)
			}
			if next == "" {
				return fmt.Sprint(ids)
			}
			cursor = next
		}
		t.Fatal("pagination does not end")
		return ""
	}
	yes, no := true, false
	for _, c := range []struct {
		f    domain.CRFilter
		want string
	}{
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(59 * time.Minute)}, "[]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(time.Hour)}, "[ra_marked ra_1h]"},
		// due 2h and half a second: not yet at 2h, nor a quarter second later
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(2 * time.Hour)}, "[ra_marked ra_1h]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(2*time.Hour + half/2)}, "[ra_marked ra_1h]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(2*time.Hour + half)}, "[ra_marked ra_2h_half ra_1h]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(5 * time.Hour), Project: "p"}, "[ra_marked ra_3h ra_2h_half ra_1h]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(5 * time.Hour), Status: domain.StatusReviewAfter}, "[ra_marked ra_3h ra_2h_half ra_1h]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(5 * time.Hour), Status: domain.StatusPending}, "[]"},
		{domain.CRFilter{Overdue: &yes, Now: t0.Add(5 * time.Hour), Projects: domain.ProjectSet{Except: []string{"p"}}}, "[]"},
		{domain.CRFilter{Overdue: &no, Now: t0.Add(2 * time.Hour)}, "[pending ra_acked ra_3h ra_2h_half]"},
	} {
		for _, limit := range []int{1, 50} {
			if got := list(c.f, limit); got != c.want {
				t.Fatalf("overdue %t at %s (status %q, project %q), %d a page: %s, want %s",
					*c.f.Overdue, c.f.Now.Sub(t0), c.f.Status, c.f.Project, limit, got, c.want)
			}
		}
	}
}
