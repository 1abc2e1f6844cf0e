package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// ---- change freezes ----

// A freeze of a project is read by that project's readers and written by
// its managers; a freeze of every project is read by everyone and written
// by organisation managers (the use cases check: a freeze the caller may
// not read is 404, ScopeFreeze).

func freezePath(f *domain.Freeze) string { return "/v1/freezes/" + esc(f.ID) }

func (s *Server) listFreezes(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	q := r.URL.Query()
	f := app.FreezeFilter{Project: q.Get("project"), Environment: q.Get("environment")}
	if raw := q.Get("active_at"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			var v domain.Validation
			v.AddParameter("active_at", "must be an RFC 3339 date-time like 2026-01-02T15:04:05Z")
			return v.Err()
		}
		f.ActiveAt = &t
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, err := s.svc.ListFreezes(r.Context(), p, f)
	if err != nil {
		return err
	}
	// one item holds them all (at most domain.MaxFreezes): a page starts
	// after the freeze its cursor names
	if pg.Cursor != "" {
		i := slices.IndexFunc(items, func(f domain.Freeze) bool { return f.ID == pg.Cursor })
		items = items[i+1:] // not found: from the start (-1 + 1)
	}
	next := ""
	if pg.Limit > 0 && len(items) > pg.Limit {
		items, next = items[:pg.Limit], items[pg.Limit-1].ID
	}
	now := s.svc.Now()
	out := make([]FreezeView, 0, len(items))
	for i := range items {
		out = append(out, freezeViewAt(&items[i], now))
	}
	return writeList(w, out, next)
}

func (s *Server) createFreeze(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in freezeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	f, err := s.svc.CreateFreeze(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	return created(w, freezePath(f), f.Version, freezeViewAt(f, s.svc.Now()))
}

func (s *Server) getFreeze(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	f, err := s.svc.GetFreeze(r.Context(), p, r.PathValue("freeze"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, f.Version, freezeViewAt(f, s.svc.Now()))
}

// patchFreeze changes a freeze (a merge patch or a JSON Patch of its view;
// id, active, next_window and the creation fields are read-only).
func (s *Server) patchFreeze(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	now := s.svc.Now()
	out, err := s.svc.UpdateFreeze(r.Context(), p, r.PathValue("freeze"), expected, func(f *domain.Freeze) error {
		// the view as the client read it (active and next_window included:
		// read-only, they may come back unchanged)
		at := func(f *domain.Freeze) FreezeView { return freezeViewAt(f, now) }
		return patchView(patch, "freeze", f, at, (*FreezeView).toDomain, freezeReadOnly...)
	})
	if err != nil {
		return err
	}
	// a narrowing while approvals are on: 202 with the governance request
	return writeOutcome(w, out, func(f *domain.Freeze) FreezeView { return freezeViewAt(f, s.svc.Now()) },
		func(f *domain.Freeze) int64 { return f.Version })
}

// deleteFreeze answers 204, or, while approvals are on and the freeze is
// or will be in force, 202 with the governance request that removes it.
func (s *Server) deleteFreeze(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	out, err := s.svc.DeleteFreeze(r.Context(), p, r.PathValue("freeze"))
	if err != nil {
		return err
	}
	if out.Request != nil {
		return writeProposed(w, out.Request)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
