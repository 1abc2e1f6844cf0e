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
	return listed(w, r, func(pg domain.Page) ([]domain.Project, string, error) { return s.svc.ListProjects(r.Context(), p, pg) }, projectView)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in projectInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	proj, err := s.svc.CreateProject(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(proj.Key), proj.Version, projectView(proj))
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	proj, err := s.svc.GetProject(r.Context(), p, r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, proj.Version, projectView(proj))
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
		return patchView(patch, "project", proj, projectView, (*ProjectView).toDomain, projectReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, proj.Version, projectView(proj))
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
	}, environmentView)
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in environmentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.CreateEnvironment(r.Context(), p, r.PathValue("project"), in.toApp())
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(e.Project)+"/environments/"+esc(e.Key), e.Version, environmentView(e))
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	e, err := s.svc.GetEnvironment(r.Context(), p, r.PathValue("project"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, e.Version, environmentView(e))
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
		return patchView(patch, "environment", e, environmentView, (*EnvironmentView).toDomain, environmentReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeOutcome(w, e, environmentView, func(e *domain.Environment) int64 { return e.Version })
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
	return writeList(w, mapSlice(items, flagView), next)
}

func (s *Server) createFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in flagInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	f, err := s.svc.CreateFlag(r.Context(), p, r.PathValue("project"), in.toApp())
	if err != nil {
		return err
	}
	return created(w, "/v1/projects/"+esc(f.Project)+"/flags/"+esc(f.Key), f.Version, flagView(f))
}

func (s *Server) getFlag(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	f, err := s.svc.GetFlag(r.Context(), p, r.PathValue("project"), r.PathValue("flag"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, f.Version, flagView(f))
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
		return patchView(patch, "flag", f, flagView, (*FlagView).toDomain, flagReadOnly...)
	})
	if err != nil {
		return notifyHeaderErrors(err)
	}
	return writeOutcome(w, out, flagView, flagVersion)
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
	return writeOutcome(w, out, flagView, flagVersion)
}

// ---- targeting ----

func (s *Server) getFlagConfig(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	c, err := s.svc.GetFlagConfig(r.Context(), p, r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, c.Version, flagConfigView(c))
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
		next := in.FlagConfigView.toDomain()
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
		return patchView(patch, "targeting", c, flagConfigView, (*FlagConfigView).toDomain, configReadOnly...)
	})
	return writeConfigOutcome(w, out, notifyHeaderErrors(err))
}

// promoteFlags proposes, as one change request, the targeting several
// flags have in another environment (app.Service.PromoteFlags): 201 with
// the request (202 with the draft, given X-Change-Request).
func (s *Server) promoteFlags(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in promoteFlagsInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	opts := changeOptions(r)
	v, err := s.svc.PromoteFlags(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), in.From, in.Flags, opts)
	if err != nil {
		return notifyHeaderErrors(err)
	}
	if opts.Draft != "" {
		return writeProposed(w, v)
	}
	return created(w, "/v1/change-requests/"+esc(v.ID), v.Version, requestView(v))
}

// promoteFlagConfig gives the environment the targeting the flag has in
// another (app.Service.Promote): 200 where it applied, 202 with the request
// where the environment needs approval. If-Match, optional, is the target's
// version.
func (s *Server) promoteFlagConfig(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in promoteInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	out, err := s.svc.Promote(r.Context(), p, r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment"), in.From, expected, changeOptions(r))
	return writeConfigOutcome(w, out, notifyHeaderErrors(err))
}

func writeConfigOutcome(w http.ResponseWriter, out app.Outcome[domain.FlagConfig], err error) error {
	if err != nil {
		return err
	}
	return writeOutcome(w, out, flagConfigView, configVersion)
}

// writeOutcome answers a write that may have opened a change request: 202
// with the request, or 200 with what was written (its version the ETag).
func writeOutcome[T, V any](w http.ResponseWriter, out app.Outcome[T], view func(*T) V, version func(*T) int64) error {
	if out.Request != nil {
		return writeProposed(w, out.Request)
	}
	return writeVersioned(w, http.StatusOK, version(out.Applied), view(out.Applied))
}

func flagVersion(f *domain.Flag) int64         { return f.Version }
func configVersion(c *domain.FlagConfig) int64 { return c.Version }

// ---- members ----

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Member, string, error) { return s.svc.ListMembers(r.Context(), p, pg) }, memberView)
}

func (s *Server) createMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in memberInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	m, err := s.svc.CreateMember(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	return created(w, "/v1/members/"+esc(m.ID), m.Version, memberView(m))
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	m, err := s.svc.GetMember(r.Context(), p, r.PathValue("member"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, m.Version, memberView(m))
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
		return patchView(patch, "member", m, memberView, (*MemberView).toDomain, memberReadOnly...)
	})
	if err != nil {
		return err
	}
	return writeOutcome(w, m, memberView, func(m *domain.Member) int64 { return m.Version })
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.DeleteMember(r.Context(), p, r.PathValue("member")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- tokens ----

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.svc.ListTokens(r.Context(), p, r.URL.Query().Get("member"), pg)
	if err != nil {
		return err
	}
	return writeList(w, mapSlice(items, tokenView), next)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in tokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	t, err := s.svc.CreateToken(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	v := tokenView(t.Token)
	v.Token = t.Secret
	if t.Request != nil {
		// pending: it works once another admin's approval is applied
		w.Header().Set("Location", "/v1/change-requests/"+esc(t.Request.ID))
		return writeJSON(w, http.StatusAccepted, PendingTokenView{TokenView: v, ChangeRequest: requestView(t.Request)})
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.RevokeToken(r.Context(), p, r.PathValue("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
