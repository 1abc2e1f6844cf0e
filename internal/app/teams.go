package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/countersign/countersign/internal/domain"
)

// Teams are named groups of the organisation's members (domain.Team). They
// belong to no project: every member may read them, managers and admins
// write them. Approval settings require approvals from teams (Require),
// and a flag's maintainer team counts for its maintainers' requirement;
// a request fixes the members it counts when it is opened.

// TeamInput is what a client sends to create a team. The key is made from
// the name when not given. Members are member ids; each must exist.
type TeamInput struct {
	Key     string
	Name    string
	Members []string
}

// TeamPatch is a change of a team's fields, each optional (nil leaves it
// as it is): Members replaces the whole list. Apply is an UpdateTeam
// change.
type TeamPatch struct {
	Name    *string
	Members *[]string
}

// Apply sets the fields the patch names.
func (in TeamPatch) Apply(t *domain.Team) error {
	if in.Name != nil {
		t.Name = *in.Name
	}
	if in.Members != nil {
		t.Members = slices.Clone(*in.Members)
	}
	return nil
}

// CreateTeam creates a team (managers and admins).
func (s *Service) CreateTeam(ctx context.Context, p *Principal, in TeamInput) (*domain.Team, error) {
	if err := p.requireOrg(domain.RoleManager, "creating a team"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	t := &domain.Team{Key: in.Key, Name: in.Name, Members: slices.Clone(in.Members), CreatedAt: now, UpdatedAt: now}
	if t.Key == "" {
		t.Key = domain.Slugify(in.Name)
		if t.Key == "" && in.Name != "" {
			var v domain.Validation
			v.Add("/key", "cannot make a key from the name %q; give a key", in.Name)
			return nil, v.Err()
		}
	}
	fillTeam(t)
	if err := t.Validate(); err != nil {
		return nil, err
	}
	exists := map[string]bool{}
	if err := s.lookUpMembers(ctx, t.Members, exists); err != nil {
		return nil, err
	}
	if err := checkTeamMembers(t, nil, exists); err != nil {
		return nil, err
	}
	e := s.audit(p.Actor(), domain.ActionTeamCreated, p.channel())
	e.Team, e.Version = t.Key, 1
	e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("team %q created with %s", t.Key, teamSize(t))}}
	if err := s.store.CreateTeam(ctx, t, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "team created", "team", t.Key, "actor", p.Actor())
	return t, nil
}

// GetTeam reads a team. Every member reads teams, whatever their roles
// (an organisation role none included): people need team names.
func (s *Service) GetTeam(ctx context.Context, p *Principal, key string) (*domain.Team, error) {
	if err := p.requireAny("reading teams"); err != nil {
		return nil, err
	}
	return s.store.GetTeam(ctx, key)
}

// ListTeams lists the teams, in key order.
func (s *Service) ListTeams(ctx context.Context, p *Principal, page domain.Page) ([]domain.Team, string, error) {
	if err := p.requireAny("reading teams"); err != nil {
		return nil, "", err
	}
	return s.store.ListTeams(ctx, page)
}

// UpdateTeam applies change to a team (a patch, TeamPatch.Apply, or a
// whole replacement, as the caller's change does it), at the version the
// client read when expected is set (a stale one is 409). The key cannot
// change. Members added must exist (422 naming /members/<i>); members
// already in the team are not looked up again (one removed from the
// organisation since stays until someone takes them out).
func (s *Service) UpdateTeam(ctx context.Context, p *Principal, key string, expected *int64, change func(*domain.Team) error) (*domain.Team, error) {
	if err := p.requireOrg(domain.RoleManager, "changing a team"); err != nil {
		return nil, err
	}
	// The update function must not read the store: it names the members
	// added that were not looked up yet, and the write is tried again
	// after looking them up.
	exists := map[string]bool{}
	var t *domain.Team
	for attempt := 1; ; attempt++ {
		var unknown []string
		var err error
		t, err = s.store.UpdateTeam(ctx, key, func(t *domain.Team, audit *domain.Audit) error {
			if err := checkVersion("team", expected, t.Version); err != nil {
				return err
			}
			before := cloneTeam(t)
			if err := change(t); err != nil {
				return err
			}
			if t.Key != before.Key {
				return immutable("/key", "a team's key")
			}
			t.Version, t.CreatedAt = before.Version, before.CreatedAt
			fillTeam(t)
			if err := t.Validate(); err != nil {
				return err
			}
			if unknown = notLookedUp(t, before, exists); len(unknown) > 0 {
				return errLookUpMembers
			}
			if err := checkTeamMembers(t, before, exists); err != nil {
				return err
			}
			t.UpdatedAt = s.clock.Now()
			e := s.audit(p.Actor(), domain.ActionTeamUpdated, p.channel())
			e.Team, e.Version = t.Key, before.Version+1
			e.Diff = teamDiff(before, t)
			audit.Record(e)
			return nil
		})
		if errors.Is(err, errLookUpMembers) && attempt < maxTeamAttempts {
			if err := s.lookUpMembers(ctx, unknown, exists); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, errLookUpMembers) {
			return nil, domain.ErrContention // the team kept changing under the lookups
		}
		if err != nil {
			return nil, err
		}
		break
	}
	s.log.InfoContext(ctx, "team updated", "team", key, "version", t.Version, "actor", p.Actor())
	return t, nil
}

// DeleteTeam deletes a team (managers and admins). A team that some
// environment's approval settings require, or that maintains a flag, is
// not deleted (409 naming one): requests could no longer be opened there.
// A settings write racing the delete can still leave a dangling name;
// opening a request then fails (readRequirements), so the race fails
// closed.
func (s *Service) DeleteTeam(ctx context.Context, p *Principal, key string) error {
	if err := p.requireOrg(domain.RoleManager, "deleting a team"); err != nil {
		return err
	}
	if _, err := s.store.GetTeam(ctx, key); err != nil {
		return err
	}
	if err := s.teamInUse(ctx, key); err != nil {
		return err
	}
	err := s.store.DeleteTeam(ctx, key, func(t *domain.Team, audit *domain.Audit) error {
		e := s.audit(p.Actor(), domain.ActionTeamDeleted, p.channel())
		e.Team = t.Key
		e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("team %q deleted (it had %s)", t.Key, teamSize(t))}}
		audit.Record(e)
		return nil
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "team deleted", "team", key, "actor", p.Actor())
	return nil
}

// removeFromTeams takes member id, just removed from the organisation by
// p, out of every team, each change audited (team.updated, naming the
// member). Best effort: the removal has committed, and an id left in a
// team is harmless (it cannot sign in, nor review); failures are logged.
func (s *Service) removeFromTeams(ctx context.Context, p *Principal, id string) {
	var teams []string
	err := forEach(ctx, s.store.ListTeams, func(t domain.Team) error {
		if t.HasMember(id) {
			teams = append(teams, t.Key)
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "listing teams to remove a removed member from failed", "member", id, "err", err)
		return
	}
	for _, key := range teams {
		_, err := s.store.UpdateTeam(ctx, key, func(t *domain.Team, audit *domain.Audit) error {
			if !t.HasMember(id) {
				return errUnchanged
			}
			before := cloneTeam(t)
			t.Members = slices.DeleteFunc(t.Members, func(m string) bool { return m == id })
			t.UpdatedAt = s.clock.Now()
			e := s.audit(p.Actor(), domain.ActionTeamUpdated, p.channel())
			e.Team, e.Member, e.Version = t.Key, id, before.Version+1
			e.Reason = fmt.Sprintf("member %s removed from the organisation", id)
			e.Diff = teamDiff(before, t)
			audit.Record(e)
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errUnchanged), domain.ErrorCode(err) == domain.CodeNotFound:
		default:
			s.log.WarnContext(ctx, "removing a removed member from a team failed; the id left there is harmless", "member", id, "team", key, "err", err)
		}
	}
}

// errUnchanged aborts a team write that has nothing left to do.
var errUnchanged = errors.New("nothing to change")

// errLookUpMembers aborts a team write that adds members not looked up
// yet (an update function does not read the store); maxTeamAttempts bounds
// how often UpdateTeam looks up and tries again (only a team changed
// meanwhile needs a third).
var errLookUpMembers = errors.New("members to look up")

const maxTeamAttempts = 4

// notLookedUp lists the members of t not in before (the team as stored)
// whose existence exists does not know yet.
func notLookedUp(t, before *domain.Team, exists map[string]bool) []string {
	var out []string
	for _, id := range t.Members {
		if _, seen := exists[id]; !seen && (before == nil || !before.HasMember(id)) {
			out = append(out, id)
		}
	}
	return out
}

// lookUpMembers records in exists whether each of ids is a member of the
// organisation.
func (s *Service) lookUpMembers(ctx context.Context, ids []string, exists map[string]bool) error {
	for _, id := range ids {
		if _, seen := exists[id]; seen {
			continue
		}
		_, err := s.store.GetMember(ctx, id)
		switch {
		case err == nil:
			exists[id] = true
		case domain.ErrorCode(err) == domain.CodeNotFound:
			exists[id] = false
		default:
			return err
		}
	}
	return nil
}

// checkTeamMembers refuses (422) members of t that are not members of the
// organisation (as exists, which has looked them all up, says), each named
// by its pointer /members/<i>. Members already in before (the team as
// stored) are not checked: one removed from the organisation since stays
// until someone takes them out.
func checkTeamMembers(t, before *domain.Team, exists map[string]bool) error {
	var v domain.Validation
	for i, id := range t.Members {
		if before != nil && before.HasMember(id) {
			continue
		}
		if !exists[id] {
			v.Add(fmt.Sprintf("/members/%d", i), "member %q does not exist", id)
		}
	}
	return v.Err()
}

// fillTeam gives a team's member list its empty value, as stored and shown
// ([] rather than null).
func fillTeam(t *domain.Team) {
	if t.Members == nil {
		t.Members = []string{}
	}
}

func cloneTeam(t *domain.Team) *domain.Team {
	c := *t
	c.Members = slices.Clone(t.Members)
	return &c
}

func teamSize(t *domain.Team) string {
	if len(t.Members) == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", len(t.Members))
}

// teamDoc is what a team's audit diff compares.
type teamDoc struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// teamDiff is the audit diff of a team change: RFC 6902 operations of its
// name and members, and a summary that names the team, with the members
// added and removed (counts, and at most a few of them).
func teamDiff(before, after *domain.Team) *domain.Diff {
	d, err := domain.AnyDiff(teamDoc{Name: before.Name, Members: before.Members}, teamDoc{Name: after.Name, Members: after.Members})
	if err != nil {
		d = &domain.Diff{Operations: json.RawMessage(`[]`)}
	}
	summary := []string{}
	if before.Name != after.Name {
		summary = append(summary, fmt.Sprintf("team %q: name %q → %q", after.Key, before.Name, after.Name))
	}
	added, removed := keysDiff(before.Members, after.Members)
	if len(added) > 0 {
		summary = append(summary, fmt.Sprintf("team %q: %d members added%s", after.Key, len(added), someKeys(added)))
	}
	if len(removed) > 0 {
		summary = append(summary, fmt.Sprintf("team %q: %d members removed%s", after.Key, len(removed), someKeys(removed)))
	}
	d.Summary = summary
	return d
}

// errTeamUsed stops the walk of teamInUse at the first use.
var errTeamUsed = errors.New("team in use")

// teamInUse says, as a conflict naming the first it finds, whether some
// environment's approval settings require team key or some flag names
// it as its maintainer team.
func (s *Service) teamInUse(ctx context.Context, key string) error {
	var used *domain.Error
	err := forEach(ctx, s.store.ListProjects, func(pr domain.Project) error {
		err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
			return s.store.ListEnvironments(ctx, pr.Key, pg)
		}, func(env domain.Environment) error {
			a, err := s.store.GetApprovalSettings(ctx, pr.Key, env.Key)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(a.Require, func(r domain.TeamRequirement) bool { return r.Team == key }) {
				used = domain.Errorf(domain.CodeConflict, "team %q is required by the approval settings of %s/%s; remove it there first", key, pr.Key, env.Key)
				return errTeamUsed
			}
			return nil
		})
		if err != nil {
			return err
		}
		return forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Flag, string, error) {
			return s.store.ListFlags(ctx, pr.Key, domain.FlagFilter{}, pg)
		}, func(f domain.Flag) error {
			if f.MaintainerTeam == key {
				used = domain.Errorf(domain.CodeConflict, "team %q maintains flag %s/%s; give the flag another maintainer team first", key, pr.Key, f.Key)
				return errTeamUsed
			}
			return nil
		})
	})
	if errors.Is(err, errTeamUsed) {
		return used
	}
	return err
}
