package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "time": s.svc.Now().Format(time.RFC3339)})
}

func created(w http.ResponseWriter, location string, version int64, v any) error {
	w.Header().Set("Location", location)
	return writeVersioned(w, http.StatusCreated, version, v)
}

func esc(s string) string { return url.PathEscape(s) }

// ---- projects ----

var (
	projectReadOnly     = []string{"key", "created_at", "updated_at"}
	environmentReadOnly = []string{"project", "key", "created_at", "updated_at"}
	flagReadOnly        = []string{"project", "key", "created_at", "updated_at"}
	configReadOnly      = []string{"project", "flag", "environment", "updated_at"}
	memberReadOnly      = []string{"id", "created_at", "updated_at"}
)

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Project, string, error) { return s.svc.ListProjects(r.Context(), p, pg) })
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.ProjectInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	proj, err := s.svc.CreateProject(r.Context(), p, in)
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(proj.Key), proj.Version, proj)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	proj, err := s.svc.GetProject(r.Context(), p, r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, proj.Version, proj)
}

func (s *Server) patchProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	proj, err := s.svc.UpdateProject(r.Context(), p, r.PathValue("project"), expected, func(proj *domain.Project) error {
		return applyPatch(patch, "project", proj, projectReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, proj.Version, proj)
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.DeleteProject(r.Context(), p, r.PathValue("project")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- environments ----

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Environment, string, error) {
		return s.svc.ListEnvironments(r.Context(), p, r.PathValue("project"), pg)
	})
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.EnvironmentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.CreateEnvironment(r.Context(), p, r.PathValue("project"), in)
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(e.Project)+"/environments/"+esc(e.Key), e.Version, e)
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	e, err := s.svc.GetEnvironment(r.Context(), p, r.PathValue("project"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, e.Version, e)
}

func (s *Server) patchEnvironment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	e, err := s.svc.UpdateEnvironment(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), expected, func(e *domain.Environment) error {
		return applyPatch(patch, "environment", e, environmentReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, e.Version, e)
}

// ---- flags ----

func (s *Server) listFlags(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	archived, err := boolParam(r, "archived")
	if err != nil {
		return err
	}
	filter := domain.FlagFilter{Tag: r.URL.Query().Get("tag"), Archived: archived}
	items, next, err := s.svc.ListFlags(r.Context(), p, r.PathValue("project"), filter, pg)
	if err != nil {
		return err
	}
	return writeList(w, items, next)
}

func (s *Server) createFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.FlagInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	f, err := s.svc.CreateFlag(r.Context(), p, r.PathValue("project"), in)
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(f.Project)+"/flags/"+esc(f.Key), f.Version, f)
}

func (s *Server) getFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	f, err := s.svc.GetFlag(r.Context(), p, r.PathValue("project"), r.PathValue("flag"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, f.Version, f)
}

func (s *Server) patchFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	out, err := s.svc.ChangeFlag(r.Context(), p, r.PathValue("project"), r.PathValue("flag"), expected, changeOptions(r), func(f *domain.Flag) error {
		return applyPatch(patch, "flag", f, flagReadOnly...)
	})
	if err != nil {
		return notifyHeaderErrors(err)
	}
	if out.Request != nil {
		return writeProposed(w, out.Request)
	}
	return writeVersioned(w, http.StatusOK, out.Applied.Version, out.Applied)
}

func (s *Server) deleteFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	hard, err := boolParam(r, "hard")
	if err != nil {
		return err
	}
	project, key := r.PathValue("project"), r.PathValue("flag")
	if hard != nil && *hard {
		if err := s.svc.DeleteFlag(r.Context(), p, project, key); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out, err := s.svc.ArchiveFlag(r.Context(), p, project, key)
	if err != nil {
		return err
	}
	if out.Request != nil {
		return writeProposed(w, out.Request)
	}
	return writeVersioned(w, http.StatusOK, out.Applied.Version, out.Applied)
}

// ---- targeting ----

func (s *Server) getFlagConfig(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	c, err := s.svc.GetFlagConfig(r.Context(), p, r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, c.Version, c)
}

// configPut is a whole targeting document. It may be a GET response sent
// back: project, flag and environment must then match the URL; updated_at is
// ignored; version (or If-Match) is required.
type configPut struct {
	domain.FlagConfig
	Version *int64 `json:"version"`
}

func (s *Server) putFlagConfig(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in configPut
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := requiredVersion(r, in.Version, "targeting")
	if err != nil {
		return err
	}

	project, flag, env := r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment")
	if err := matchesURL([3]string{"project", in.Project, project}, [3]string{"flag", in.Flag, flag}, [3]string{"environment", in.Environment, env}); err != nil {
		return err
	}
	out, err := s.svc.ChangeFlagConfig(r.Context(), p, project, flag, env, expected, changeOptions(r), func(c *domain.FlagConfig) error {
		next := in.FlagConfig
		next.Project, next.Flag, next.Environment, next.Version, next.UpdatedAt = c.Project, c.Flag, c.Environment, c.Version, c.UpdatedAt
		*c = next
		return nil
	})
	return writeConfigOutcome(w, out, notifyHeaderErrors(err))
}

func (s *Server) patchFlagConfig(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	out, err := s.svc.ChangeFlagConfig(r.Context(), p, r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment"), expected, changeOptions(r), func(c *domain.FlagConfig) error {
		return applyPatch(patch, "targeting", c, configReadOnly...)
	})
	return writeConfigOutcome(w, out, notifyHeaderErrors(err))
}

func writeConfigOutcome(w http.ResponseWriter, out app.Outcome[domain.FlagConfig], err error) error {
	if err != nil {
		return err
	}
	if out.Request != nil {
		return writeProposed(w, out.Request)
	}
	return writeVersioned(w, http.StatusOK, out.Applied.Version, out.Applied)
}

// ---- members ----

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Member, string, error) { return s.svc.ListMembers(r.Context(), p, pg) })
}

func (s *Server) createMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.MemberInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	m, err := s.svc.CreateMember(r.Context(), p, in)
	if err != nil {
		return err
	}
	return created(w, "/v1/members/"+esc(m.ID), m.Version, m)
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	m, err := s.svc.GetMember(r.Context(), p, r.PathValue("member"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, m.Version, m)
}

func (s *Server) patchMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	m, err := s.svc.UpdateMember(r.Context(), p, r.PathValue("member"), expected, func(m *domain.Member) error {
		return applyPatch(patch, "member", m, memberReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, m.Version, m)
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.DeleteMember(r.Context(), p, r.PathValue("member")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- tokens ----

// TokenView is a token as clients see it: never its hash.
type TokenView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	MemberID string `json:"member_id,omitempty"`
	Service  bool   `json:"service"`
	// Role is a service token's role, or the cap on a member token's role
	// (absent: the token follows its member's role).
	Role       domain.Role `json:"role,omitempty"`
	CreatedBy  string      `json:"created_by"`
	CreatedAt  time.Time   `json:"created_at"`
	LastUsedAt *time.Time  `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time  `json:"revoked_at,omitempty"`
	// Token is the secret, present only in the response that created it.
	Token string `json:"token,omitempty"`
}

func tokenView(t *domain.Token) TokenView {
	return TokenView{ID: t.ID, Name: t.Name, MemberID: t.MemberID, Service: t.Service(), Role: t.Role,
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.svc.ListTokens(r.Context(), p, r.URL.Query().Get("member"), pg)
	if err != nil {
		return err
	}
	views := make([]TokenView, len(items))
	for i := range items {
		views[i] = tokenView(&items[i])
	}
	return writeList(w, views, next)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.TokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	t, err := s.svc.CreateToken(r.Context(), p, in)
	if err != nil {
		return err
	}
	v := tokenView(t.Token)
	v.Token = t.Secret
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.RevokeToken(r.Context(), p, r.PathValue("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
