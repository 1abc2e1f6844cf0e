package app

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/domain"
)

// ProjectInput is what a client sends to create a project.
type ProjectInput struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// CreateProject creates a project with the default environments.
func (s *Service) CreateProject(ctx context.Context, p *Principal, in ProjectInput) (*domain.Project, error) {
	if err := p.requireOrg(domain.RoleManager, "creating a project"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	proj := &domain.Project{Key: in.Key, Name: in.Name, Description: in.Description, CreatedAt: now, UpdatedAt: now}
	if proj.Key == "" {
		proj.Key = domain.Slugify(in.Name)
	}
	if err := proj.Validate(); err != nil {
		return nil, err
	}
	envs := domain.DefaultEnvironments()
	for i := range envs {
		envs[i].CreatedAt, envs[i].UpdatedAt = now, now
	}
	if err := s.store.CreateProject(ctx, proj, envs); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "project created", "project", proj.Key, "actor", p.Actor())
	return proj, nil
}

// GetProject reads a project.
func (s *Service) GetProject(ctx context.Context, p *Principal, key string) (*domain.Project, error) {
	if err := p.requireIn(key, domain.RoleViewer, "reading projects"); err != nil {
		return nil, err
	}
	return s.store.GetProject(ctx, key)
}

// ListProjects lists projects.
func (s *Service) ListProjects(ctx context.Context, p *Principal, page domain.Page) ([]domain.Project, string, error) {
	if p == nil {
		return nil, "", domain.Errorf(domain.CodeForbidden, "reading projects needs a principal")
	}
	// the projects p may read: a page may come out shorter than asked,
	// its cursor stays the store's
	ps, next, err := s.store.ListProjects(ctx, page)
	return slices.DeleteFunc(ps, func(pr domain.Project) bool { return !p.canRead(pr.Key) }), next, err
}

// UpdateProject applies change to a project if the caller read the current
// version (expected nil means no precondition).
func (s *Service) UpdateProject(ctx context.Context, p *Principal, key string, expected *int64, change func(*domain.Project) error) (*domain.Project, error) {
	if err := p.requireIn(key, domain.RoleManager, "changing a project"); err != nil {
		return nil, err
	}
	return s.store.UpdateProject(ctx, key, func(proj *domain.Project) error {
		if err := checkVersion("project", expected, proj.Version); err != nil {
			return err
		}
		orig := *proj
		if err := change(proj); err != nil {
			return err
		}
		if proj.Key != orig.Key {
			return immutable("/key", "a project's key")
		}
		proj.UpdatedAt = s.clock.Now()
		return proj.Validate()
	})
}

// checkNoGrants refuses to delete project key while a member holds a role
// in it or a live token is limited to it: a project made later under the
// same key would inherit them.
func (s *Service) checkNoGrants(ctx context.Context, key string) error {
	var members, tokens int
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Member, string, error) {
		return s.store.ListMembers(ctx, pg)
	}, func(m domain.Member) error {
		if _, ok := m.Projects[key]; ok {
			members++
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Token, string, error) {
		return s.store.ListTokens(ctx, "", pg)
	}, func(t domain.Token) error {
		if t.RevokedAt == nil && slices.Contains(t.Projects, key) {
			tokens++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if members+tokens > 0 {
		return domain.Errorf(domain.CodeConflict, "project %s is still granted (%s with a role in it, %s limited to it); remove them first",
			key, plural(members, "member", "members"), plural(tokens, "live token", "live tokens"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// DeleteProject deletes a project that has no flags, no member's project
// role and no live token limited to it.
func (s *Service) DeleteProject(ctx context.Context, p *Principal, key string) error {
	if err := p.requireIn(key, domain.RoleAdmin, "deleting a project"); err != nil {
		return err
	}
	if err := s.checkNoGrants(ctx, key); err != nil {
		return err
	}
	err := s.store.DeleteProject(ctx, key, s.clock.Now(), func(revoked []string) []domain.AuditEntry {
		e := s.audit(p.Actor(), domain.ActionProjectDeleted, p.channel())
		e.Project = key
		if len(revoked) > 0 {
			e.Reason = "revoked its SDK keys " + strings.Join(revoked, ", ")
		}
		return []domain.AuditEntry{e}
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "project deleted", "project", key, "actor", p.Actor())
	return nil
}

// EnvironmentInput is what a client sends to create an environment.
type EnvironmentInput struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	Protected bool   `json:"protected"`
}

// CreateEnvironment adds an environment to a project.
func (s *Service) CreateEnvironment(ctx context.Context, p *Principal, project string, in EnvironmentInput) (*domain.Environment, error) {
	if err := p.requireIn(project, domain.RoleManager, "creating an environment"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	e := &domain.Environment{Project: project, Key: in.Key, Name: in.Name, Protected: in.Protected, CreatedAt: now, UpdatedAt: now}
	if e.Key == "" {
		e.Key = domain.Slugify(in.Name)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.CreateEnvironment(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

// GetEnvironment reads an environment.
func (s *Service) GetEnvironment(ctx context.Context, p *Principal, project, key string) (*domain.Environment, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading environments"); err != nil {
		return nil, err
	}
	return s.store.GetEnvironment(ctx, project, key)
}

// ListEnvironments lists a project's environments.
func (s *Service) ListEnvironments(ctx context.Context, p *Principal, project string, page domain.Page) ([]domain.Environment, string, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading environments"); err != nil {
		return nil, "", err
	}
	return s.store.ListEnvironments(ctx, project, page)
}

// UpdateEnvironment changes an environment's name or protection.
// While approvals are on, unprotecting it opens a governance request
// instead.
func (s *Service) UpdateEnvironment(ctx context.Context, p *Principal, project, key string, expected *int64, change func(*domain.Environment) error) (Outcome[domain.Environment], error) {
	if err := p.requireIn(project, domain.RoleManager, "changing an environment"); err != nil {
		return Outcome[domain.Environment]{}, err
	}
	out, g, err := decidedAgain(func() (*domain.Environment, *domain.GovernanceChange, error) {
		return s.updateEnvironment(ctx, p, project, key, expected, change)
	})
	return governedOutcome(ctx, s, p, out, err, g)
}

func (s *Service) updateEnvironment(ctx context.Context, p *Principal, project, key string, expected *int64, change func(*domain.Environment) error) (*domain.Environment, *domain.GovernanceChange, error) {
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	var g *domain.GovernanceChange
	out, err := s.store.UpdateEnvironment(ctx, project, key, func(e *domain.Environment, audit *domain.Audit) error {
		if err := checkVersion("environment", expected, e.Version); err != nil {
			return err
		}
		orig := *e
		if err := change(e); err != nil {
			return err
		}
		if e.Key != orig.Key || e.Project != orig.Project {
			return immutable("/key", "an environment's key and project")
		}
		e.UpdatedAt = s.clock.Now()
		if err := e.Validate(); err != nil {
			return err
		}
		if weak := domain.WeakenedEnvironment(&orig, e); governed && len(weak) > 0 {
			alone := *e // the change without the unprotecting: nothing else may ride with it
			alone.Protected, alone.UpdatedAt = orig.Protected, orig.UpdatedAt
			if !reflect.DeepEqual(alone, orig) {
				var v domain.Validation
				v.Add("/protected", "unprotecting an environment needs a second admin: send it on its own, without other changes of the environment")
				return v.Err()
			}
			next := *e
			g = &domain.GovernanceChange{What: domain.GovernEnvironment, Project: project, Environment: key, Env: &next, BaseEnv: &orig, Weakens: weak}
			return errGoverned
		}
		audit.Guard = guard
		// Protection decides the default approval settings: audited like them.
		entry := s.audit(p.Actor(), domain.ActionEnvironmentUpdated, p.channel())
		entry.Project, entry.Environment, entry.Version = project, key, orig.Version+1
		if d, err := domain.AnyDiff(&orig, e); err == nil {
			entry.Diff = d
		}
		audit.Record(entry)
		return nil
	})
	return out, g, err
}

func checkVersion(kind string, expected *int64, current int64) error {
	if expected != nil && *expected != current {
		return domain.StaleVersion(kind, *expected, current)
	}
	return nil
}

func immutable(pointer, what string) error {
	var v domain.Validation
	v.Add(pointer, "%s cannot be changed", what)
	return v.Err()
}
