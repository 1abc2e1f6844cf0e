package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

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
	if err := s.checkNamedTeamCreated(ctx, t); err != nil {
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

// checkNamedTeamCreated refuses (409), while approvals are on, to create
// with members a team whose key a requirement or a flag's maintainer team
// already names: a name left dangling (its team deleted while settings
// naming it waited in a governance request, or a delete that raced the
// settings), where whoever creates the team would choose alone who may
// approve. It is created without members, and adding them is governed
// (UpdateTeam).
func (s *Service) checkNamedTeamCreated(ctx context.Context, t *domain.Team) error {
	if len(t.Members) == 0 {
		return nil
	}
	if on, err := s.approvalsOn(ctx); err != nil || !on {
		return err
	}
	u, err := s.teamUse(ctx, t.Key)
	if err != nil {
		return err
	}
	if use := u.counts(); use != "" {
		return domain.Errorf(domain.CodeConflict, "%s team %q: create it without members, then add them (while approvals are on, another admin approves that)", use, t.Key)
	}
	return nil
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
// organisation since stays until someone takes them out). While the
// organisation's approvals are on, a change that adds members to a team
// a requirement or a flag's maintainer team names (domain.WeakenedTeam)
// opens a governance request instead (Applied is then nil); removing
// members, renaming, and changing a team nothing names apply directly.
func (s *Service) UpdateTeam(ctx context.Context, p *Principal, key string, expected *int64, change func(*domain.Team) error) (Outcome[domain.Team], error) {
	if err := p.requireOrg(domain.RoleManager, "changing a team"); err != nil {
		return Outcome[domain.Team]{}, err
	}
	out, g, err := decidedAgain(func() (*domain.Team, *domain.GovernanceChange, error) {
		return s.updateTeam(ctx, p, key, expected, change)
	})
	if err == nil && out != nil {
		s.log.InfoContext(ctx, "team updated", "team", key, "version", out.Version, "actor", p.Actor())
	}
	return governedOutcome(ctx, s, p, out, err, g)
}

// teamReads is what a team write's decision needs from the store, which
// its update function may not read: whether the members it adds exist, and
// where the team counts for approvals. The function names what it lacks
// (errTeamReads), and the write is tried again after reading it.
type teamReads struct {
	exists  map[string]bool
	unknown []string // members to look up
	wantUse bool     // where the team counts is needed and not read yet
	useRead bool
	use     string // teamUse's answer: "" when the team counts nowhere
}

// updateTeam is UpdateTeam's decision and write: the team written, or the
// governance change to open instead (with errGoverned). Where the team
// counts is read before the write, not in it: a requirement naming the
// team written in the same instant may miss a change in flight.
func (s *Service) updateTeam(ctx context.Context, p *Principal, key string, expected *int64, change func(*domain.Team) error) (*domain.Team, *domain.GovernanceChange, error) {
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	reads := &teamReads{exists: map[string]bool{}}
	for attempt := 1; ; attempt++ {
		var g *domain.GovernanceChange
		t, err := s.store.UpdateTeam(ctx, key, func(t *domain.Team, audit *domain.Audit) error {
			g = nil
			before := cloneTeam(t)
			if err := s.changeTeam(t, expected, change, governed, reads); err != nil {
				return err
			}
			if weak := domain.WeakenedTeam(before, t, reads.use); governed && len(weak) > 0 {
				g = &domain.GovernanceChange{What: domain.GovernTeam, Team: t.Key, NewTeam: cloneTeam(t), BaseTeam: before, Weakens: weak}
				return errGoverned
			}
			t.UpdatedAt = s.clock.Now()
			audit.Guard = guard // decided with approvals off: only while they are
			e := s.audit(p.Actor(), domain.ActionTeamUpdated, p.channel())
			e.Team, e.Version = t.Key, before.Version+1
			e.Diff = teamDiff(before, t)
			audit.Record(e)
			return nil
		})
		switch {
		case errors.Is(err, errTeamReads) && attempt < maxTeamAttempts:
			if err := s.readForTeam(ctx, key, reads); err != nil {
				return nil, nil, err
			}
			continue
		case errors.Is(err, errTeamReads):
			return nil, nil, domain.ErrContention // the team kept changing under the reads
		}
		return t, g, err
	}
}

// changeTeam applies change to t, the team as stored, and checks the
// result; it answers errTeamReads when reads lacks what the check, or the
// decision (governed: whether it weakens), needs.
func (s *Service) changeTeam(t *domain.Team, expected *int64, change func(*domain.Team) error, governed bool, reads *teamReads) error {
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
	t.Version, t.CreatedAt, t.UpdatedAt = before.Version, before.CreatedAt, before.UpdatedAt
	fillTeam(t)
	if err := t.Validate(); err != nil {
		return err
	}
	reads.unknown = notLookedUp(t, before, reads.exists)
	reads.wantUse = governed && !reads.useRead && len(addedMembers(before, t)) > 0
	if len(reads.unknown) > 0 || reads.wantUse {
		return errTeamReads
	}
	return checkTeamMembers(t, before, reads.exists)
}

// readForTeam reads what reads lacks for the write of team key.
func (s *Service) readForTeam(ctx context.Context, key string, reads *teamReads) error {
	if err := s.lookUpMembers(ctx, reads.unknown, reads.exists); err != nil {
		return err
	}
	if !reads.wantUse {
		return nil
	}
	u, err := s.teamUse(ctx, key)
	if err != nil {
		return err
	}
	reads.use, reads.useRead = u.counts(), true
	return nil
}

// applyTeamChange writes team governance change g at now: the team's name
// and members as g leaves them. record checks the team's version as read
// (live) against g's base and records the write (its audit entries, the
// request applied). The members it adds must still be members of the
// organisation, and the team must still exist (409 otherwise).
func (s *Service) applyTeamChange(ctx context.Context, g *domain.GovernanceChange, now time.Time, record func(live int64, written, base *domain.Team, audit *domain.Audit) error) error {
	added := addedMembers(g.BaseTeam, g.NewTeam)
	exists := map[string]bool{}
	if err := s.lookUpMembers(ctx, added, exists); err != nil {
		return err
	}
	for _, id := range added {
		if !exists[id] {
			return domain.Errorf(domain.CodeConflict, "member %s was removed from the organisation since this request was made: make the change again without them", id)
		}
	}
	_, err := s.store.UpdateTeam(ctx, g.Team, func(t *domain.Team, audit *domain.Audit) error {
		base := cloneTeam(t)
		t.Name, t.Members, t.UpdatedAt = g.NewTeam.Name, slices.Clone(g.NewTeam.Members), now
		fillTeam(t)
		if err := t.Validate(); err != nil {
			return err
		}
		return record(base.Version, t, base, audit)
	})
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Errorf(domain.CodeConflict, "team %s was deleted since this request was made: there is nothing to apply", g.Team)
	}
	return err
}

// addedMembers lists the members of after not in before.
func addedMembers(before, after *domain.Team) []string {
	var out []string
	for _, id := range after.Members {
		if !before.HasMember(id) {
			out = append(out, id)
		}
	}
	return out
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

// errTeamReads aborts a team write whose decision needs reads it lacks
// (teamReads: an update function does not read the store);
// maxTeamAttempts bounds how often UpdateTeam reads and tries again (only
// a team changed meanwhile needs a third).
var errTeamReads = errors.New("team write needs reads")

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

// teamDiff is the audit diff of a team change: RFC 6902 operations of its
// name and members, and a summary that names the team, with the members
// added and removed (counts, and at most a few of them).
func teamDiff(before, after *domain.Team) *domain.Diff {
	d, err := domain.AnyDiff(before.Terms(), after.Terms())
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

// teamUsage is where a team counts for approvals: the first environment
// whose approval settings require it, or else the first flag whose
// maintainer team it is; the zero value where it counts nowhere.
type teamUsage struct {
	project, environment, flag string
}

// counts says where the team counts, as domain.WeakenedTeam words it; ""
// where it counts nowhere.
func (u teamUsage) counts() string {
	switch {
	case u.environment != "":
		return fmt.Sprintf("the approval settings of %s/%s require", u.project, u.environment)
	case u.flag != "":
		return fmt.Sprintf("flag %s/%s has as its maintainer team", u.project, u.flag)
	}
	return ""
}

// errTeamUsed stops the walk of teamUse at the first use.
var errTeamUsed = errors.New("team in use")

// teamUse finds where team key counts for approvals: some environment's
// approval settings require it, or some flag names it as its maintainer
// team.
func (s *Service) teamUse(ctx context.Context, key string) (teamUsage, error) {
	var used teamUsage
	err := forEach(ctx, s.store.ListProjects, func(pr domain.Project) error {
		err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
			return s.store.ListEnvironments(ctx, pr.Key, pg)
		}, func(env domain.Environment) error {
			a, err := s.store.GetApprovalSettings(ctx, pr.Key, env.Key)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(a.Require, func(r domain.TeamRequirement) bool { return r.Team == key }) {
				used = teamUsage{project: pr.Key, environment: env.Key}
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
				used = teamUsage{project: pr.Key, flag: f.Key}
				return errTeamUsed
			}
			return nil
		})
	})
	if errors.Is(err, errTeamUsed) {
		err = nil
	}
	return used, err
}

// teamInUse says, as a conflict naming the first it finds, whether some
// environment's approval settings require team key or some flag names
// it as its maintainer team.
func (s *Service) teamInUse(ctx context.Context, key string) error {
	u, err := s.teamUse(ctx, key)
	switch {
	case err != nil:
		return err
	case u.environment != "":
		return domain.Errorf(domain.CodeConflict, "team %q is required by the approval settings of %s/%s; remove it there first", key, u.project, u.environment)
	case u.flag != "":
		return domain.Errorf(domain.CodeConflict, "team %q maintains flag %s/%s; give the flag another maintainer team first", key, u.project, u.flag)
	}
	return nil
}
