package httpapi

import (
	"net/http"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// ---- teams ----

// Teams belong to no project (ScopeOrg): every member reads them, whatever
// their roles; managers and admins write them (the use cases check).

func teamPath(t *domain.Team) string { return "/v1/teams/" + esc(t.Key) }

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Team, string, error) { return s.svc.ListTeams(r.Context(), p, pg) }, teamView)
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in teamInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	t, err := s.svc.CreateTeam(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	return created(w, teamPath(t), t.Version, teamView(t))
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	t, err := s.svc.GetTeam(r.Context(), p, r.PathValue("team"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, t.Version, teamView(t))
}

// patchTeam changes a team's name or members (a merge patch replaces the
// member list whole; a JSON Patch may add or remove one), at the version
// the client read when it sends one (If-Match, or "version" in the patch).
// Adding members to a team a requirement names, while approvals are on,
// answers 202 with the governance request instead.
func (s *Server) patchTeam(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	out, err := s.svc.UpdateTeam(r.Context(), p, r.PathValue("team"), expected, func(t *domain.Team) error {
		return patchView(patch, "team", t, teamView, (*TeamView).toDomain, teamReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeOutcome(w, out, teamView, teamVersion)
}

func teamVersion(t *domain.Team) int64 { return t.Version }

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.DeleteTeam(r.Context(), p, r.PathValue("team")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
