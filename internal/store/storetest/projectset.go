package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// everyPage lists with list, limit 1 at a time, until the cursor ends,
// polling a little for what the organisation-wide index shows late: the
// whole list when it holds want's number of items.
func everyPage(t *testing.T, want int, list func(domain.Page) ([]string, string, error)) []string {
	t.Helper()
	var got []string
	for range 100 {
		got = got[:0]
		cursor := ""
		for pages := 0; ; pages++ {
			ids, next, err := list(domain.Page{Limit: 1, Cursor: cursor})
			must(t, err)
			got = append(got, ids...)
			if next == "" || pages > 50 {
				break
			}
			cursor = next
		}
		if len(got) >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(got)
	return got
}

func testAuditListFiltersByProjectSet(t *testing.T, s domain.Store) {
	ctx := context.Background()
	var entries []domain.AuditEntry
	for i, p := range []string{"p", "q", "r", "", "p", "q"} {
		e := auditEntry(fmt.Sprintf("ps-%d-%s", i, p), "flag.noted", t0.Add(time.Duration(i)*time.Second))
		e.Project, e.Actor = p, "member:ps"
		if p == "" {
			e.Flag = ""
		}
		entries = append(entries, e)
	}
	must(t, s.AppendAudit(ctx, entries...))
	list := func(set domain.ProjectSet) func(domain.Page) ([]string, string, error) {
		return func(pg domain.Page) ([]string, string, error) {
			es, next, err := s.ListAudit(ctx, domain.AuditFilter{Actor: "member:ps", Projects: set}, pg)
			ids := []string{}
			for _, e := range es {
				ids = append(ids, e.ID)
			}
			return ids, next, err
		}
	}
	for _, c := range []struct {
		set  domain.ProjectSet
		want []string
	}{
		{domain.ProjectSet{}, []string{"ps-0-p", "ps-1-q", "ps-2-r", "ps-3-", "ps-4-p", "ps-5-q"}},
		{domain.ProjectSet{Only: []string{"p", "q"}}, []string{"ps-0-p", "ps-1-q", "ps-4-p", "ps-5-q"}},
		{domain.ProjectSet{Only: []string{"r"}}, []string{"ps-2-r"}},
		{domain.ProjectSet{Except: []string{"p"}}, []string{"ps-1-q", "ps-2-r", "ps-3-", "ps-5-q"}}, // the entries of no project too
		{domain.ProjectSet{Only: []string{}}, []string{}},
	} {
		got := everyPage(t, len(c.want), list(c.set))
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.set, got, c.want)
		}
	}
	// with a project named as well, the set still holds
	es, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p", Projects: domain.ProjectSet{Only: []string{"q"}}}, domain.Page{})
	must(t, err)
	if len(es) != 0 {
		t.Errorf("project p with only q readable: %d entries", len(es))
	}
}

func testRequestListFiltersByProjectSet(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for i, p := range []string{"p", "q", "r", "p"} {
		cr := newRequest(fmt.Sprintf("cr-%d-%s", i, p), "production", t0.Add(time.Duration(i)*time.Second))
		cr.Project = p
		must(t, s.CreateChangeRequest(ctx, cr, false, nil))
	}
	list := func(set domain.ProjectSet) func(domain.Page) ([]string, string, error) {
		return func(pg domain.Page) ([]string, string, error) {
			crs, next, err := s.ListChangeRequests(ctx, domain.CRFilter{Projects: set}, pg)
			ids := []string{}
			for _, cr := range crs {
				ids = append(ids, cr.ID)
			}
			return ids, next, err
		}
	}
	for _, c := range []struct {
		set  domain.ProjectSet
		want []string
	}{
		{domain.ProjectSet{}, []string{"cr-0-p", "cr-1-q", "cr-2-r", "cr-3-p"}},
		{domain.ProjectSet{Only: []string{"p"}}, []string{"cr-0-p", "cr-3-p"}},
		{domain.ProjectSet{Except: []string{"p", "r"}}, []string{"cr-1-q"}},
		{domain.ProjectSet{Only: []string{}}, []string{}},
	} {
		got := everyPage(t, len(c.want), list(c.set))
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.set, got, c.want)
		}
	}
}
