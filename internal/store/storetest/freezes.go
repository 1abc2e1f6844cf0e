package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the cases, wherever the tests run

	"github.com/countersign/countersign/internal/domain"
)

func freezeTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"FreezeCalendar":                testFreezeCalendar,
		"FreezeCalendarConcurrent":      testFreezeCalendarConcurrent,
		"FreezeCalendarFunctionAborts":  testFreezeCalendarFunctionAborts,
		"FreezeCalendarAuditWithChange": testFreezeCalendarAudit,
	}
}

func weekendFreeze(id string) domain.Freeze {
	return domain.Freeze{
		ID: id, Name: "Weekend " + id, Reason: "nobody on call", Project: "p", Environments: []string{"production"},
		Start: "0 16 * * fri", End: "0 8 * * mon", TimeZone: "Europe/Berlin", Scheduled: domain.FreezeHold,
		CreatedBy: "member:m1", CreatedAt: t0, UpdatedAt: t0,
	}
}

func testFreezeCalendar(t *testing.T, s domain.Store) {
	ctx := context.Background()
	c, err := s.GetFreezes(ctx)
	must(t, err)
	if c.Version != 0 || len(c.Freezes) != 0 {
		t.Fatalf("a calendar never written: %+v", c)
	}

	// Create: a recurring and a one-off freeze, times in other zones.
	berlin, err := domain.LoadTimeZone("Europe/Berlin")
	must(t, err)
	from, to := t0.Add(24*time.Hour).In(berlin), t0.Add(48*time.Hour).In(berlin)
	oneOff := domain.Freeze{ID: "fz_2", Name: "Release", Environments: []string{}, From: &from, To: &to,
		Scheduled: domain.FreezeFail, CreatedBy: "token:t1", CreatedAt: t0.In(berlin), UpdatedAt: t0.In(berlin)}
	c, err = s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
		c.Freezes = append(c.Freezes, weekendFreeze("fz_1"), oneOff)
		return nil
	})
	must(t, err)
	if c.Version != 1 || len(c.Freezes) != 2 {
		t.Fatalf("after the first write: %+v", c)
	}
	c, err = s.GetFreezes(ctx)
	must(t, err)
	if c.Version != 1 || len(c.Freezes) != 2 {
		t.Fatalf("read back: %+v", c)
	}
	got, want := c.Freezes[0], weekendFreeze("fz_1")
	if got.ID != want.ID || got.Name != want.Name || got.Reason != want.Reason || got.Project != want.Project ||
		!slices.Equal(got.Environments, want.Environments) || got.Start != want.Start || got.End != want.End ||
		got.TimeZone != want.TimeZone || got.Scheduled != want.Scheduled || got.CreatedBy != want.CreatedBy ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || got.From != nil || got.To != nil {
		t.Errorf("recurring freeze read back:\n got %+v\nwant %+v", got, want)
	}
	o := c.Freezes[1]
	if o.ID != "fz_2" || o.From == nil || o.To == nil || !o.From.Equal(from) || !o.To.Equal(to) ||
		o.Start != "" || o.TimeZone != "" || o.Scheduled != domain.FreezeFail || len(o.Environments) != 0 {
		t.Errorf("one-off freeze read back: %+v", o)
	}
	if o.From.Location() != time.UTC || o.CreatedAt.Location() != time.UTC {
		t.Errorf("times read back in %s and %s, want UTC (stored as UTC)", o.From.Location(), o.CreatedAt.Location())
	}

	// Update one freeze.
	c, err = s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
		f := c.Freeze("fz_1")
		if f == nil {
			return fmt.Errorf("fz_1 is gone")
		}
		f.End, f.Environments, f.UpdatedAt = "0 9 * * mon", []string{"production", "staging"}, t0.Add(time.Hour)
		return nil
	})
	must(t, err)
	c, err = s.GetFreezes(ctx)
	must(t, err)
	if f := c.Freeze("fz_1"); c.Version != 2 || f == nil || f.End != "0 9 * * mon" || len(f.Environments) != 2 || !f.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the update: %+v", c)
	}

	// Delete both, one at a time.
	for i, id := range []string{"fz_1", "fz_2"} {
		_, err = s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
			c.Freezes = slices.DeleteFunc(c.Freezes, func(f domain.Freeze) bool { return f.ID == id })
			return nil
		})
		must(t, err)
		c, err = s.GetFreezes(ctx)
		must(t, err)
		if c.Version != int64(3+i) || len(c.Freezes) != 1-i || c.Freeze(id) != nil {
			t.Fatalf("after deleting %s: %+v", id, c)
		}
	}
}

// testFreezeCalendarConcurrent: writers adding a freeze each at once all
// land; none loses another's.
func testFreezeCalendarConcurrent(t *testing.T, s domain.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
				c.Freezes = append(c.Freezes, weekendFreeze(fmt.Sprintf("fz_%d", i)))
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	c, err := s.GetFreezes(ctx)
	must(t, err)
	if c.Version != n || len(c.Freezes) != n {
		t.Fatalf("after %d concurrent writes: version %d, %d freezes", n, c.Version, len(c.Freezes))
	}
	for i := range n {
		if c.Freeze(fmt.Sprintf("fz_%d", i)) == nil {
			t.Errorf("fz_%d was lost", i)
		}
	}
}

// testFreezeCalendarFunctionAborts: an error from the update function is
// returned as is, and nothing is written (neither calendar nor audit).
func testFreezeCalendarFunctionAborts(t *testing.T, s domain.Store) {
	ctx := context.Background()
	_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, _ *domain.Audit) error {
		c.Freezes = append(c.Freezes, weekendFreeze("fz_1"))
		return nil
	})
	must(t, err)
	refuse := domain.Errorf(domain.CodeConflict, "no room")
	_, err = s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, a *domain.Audit) error {
		c.Freezes = nil
		a.Record(auditEntry("a_refused", "freeze.deleted", t0))
		return refuse
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("the function's error: %v", err)
	}
	c, err := s.GetFreezes(ctx)
	must(t, err)
	if c.Version != 1 || len(c.Freezes) != 1 {
		t.Fatalf("after an aborted write: %+v", c)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	if len(entries) != 0 {
		t.Fatalf("an aborted write wrote audit entries: %+v", entries)
	}
}

// testFreezeCalendarAudit: the function's audit entries are written with the
// calendar.
func testFreezeCalendarAudit(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for i, action := range []domain.AuditAction{"freeze.created", "freeze.updated"} {
		_, err := s.UpdateFreezes(ctx, func(c *domain.FreezeCalendar, a *domain.Audit) error {
			if i == 0 {
				c.Freezes = append(c.Freezes, weekendFreeze("fz_1"))
			} else {
				c.Freezes[0].Name = "Renamed"
			}
			e := auditEntry(fmt.Sprintf("a_%d", i), action, t0.Add(time.Duration(i)*time.Second))
			e.Project, e.Flag = "p", ""
			a.Record(e)
			return nil
		})
		must(t, err)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	if len(entries) != 2 || entries[0].ID != "a_1" || entries[0].Action != "freeze.updated" || entries[1].ID != "a_0" {
		t.Fatalf("audit entries: %+v", entries)
	}
}
