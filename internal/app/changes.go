package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// ChangeInput is one change as a client proposes it: the targeting of a
// flag in an environment (ProposedConfig) or the flag itself
// (ProposedFlag).
type ChangeInput struct {
	Flag            string
	Environment     string
	Segment         string
	ProposedConfig  *domain.FlagConfig
	ProposedFlag    *domain.Flag
	ProposedSegment *domain.Segment
}

// change checks the input's shape (pointers under ptr) and makes it a
// change without a base yet.
func (in ChangeInput) change(project, ptr string) (domain.Change, error) {
	var v domain.Validation
	if in.Segment != "" || in.ProposedSegment != nil {
		if in.Segment == "" || in.ProposedSegment == nil || in.Flag != "" || in.Environment != "" || in.ProposedConfig != nil || in.ProposedFlag != nil {
			v.Add(ptr+"/segment", "a segment change names the segment and gives proposed_segment, and nothing else")
			return domain.Change{}, v.Err()
		}
		next := *in.ProposedSegment
		next.Project, next.Key = project, in.Segment
		return domain.Change{Kind: domain.KindSegment, Segment: in.Segment, ProposedSegment: &next}, nil
	}
	if in.Flag == "" {
		v.Add(ptr+"/flag", "names the flag the change is about")
	}
	if (in.ProposedConfig == nil) == (in.ProposedFlag == nil) {
		v.Add(ptr+"/proposed_config", "give exactly one of proposed_config (targeting in an environment) or proposed_flag (the flag itself)")
	}
	if in.ProposedConfig != nil && in.Environment == "" {
		v.Add(ptr+"/environment", "a targeting proposal names its environment")
	}
	if in.ProposedFlag != nil && in.Environment != "" {
		v.Add(ptr+"/environment", "a flag-level proposal has no environment")
	}
	if err := v.Err(); err != nil {
		return domain.Change{}, err
	}
	if in.ProposedFlag != nil {
		next := *in.ProposedFlag
		next.Project, next.Key = project, in.Flag
		return domain.Change{Kind: domain.KindFlag, Flag: in.Flag, ProposedFlag: &next}, nil
	}
	next := *in.ProposedConfig
	next.Project, next.Flag, next.Environment = project, in.Flag, in.Environment
	return domain.Change{Kind: domain.KindTargeting, Flag: in.Flag, Environment: in.Environment, ProposedConfig: &next}, nil
}

// changesOf checks a request's inputs: 1 to MaxChanges (none for a draft),
// each target once.
func changesOf(project string, ins []ChangeInput, ptr func(i int) string) ([]domain.Change, error) {
	if len(ins) > domain.MaxChanges {
		return nil, domain.ErrTooManyChanges
	}
	out := make([]domain.Change, 0, len(ins))
	for i, in := range ins {
		ch, err := in.change(project, ptr(i))
		if err != nil {
			return nil, err
		}
		if _, dup := (&domain.ChangeRequest{Changes: out}).Change(ch.Target()); dup {
			var v domain.Validation
			v.Add(ptr(i), "%s is changed twice; one change per flag and environment", ch.Target())
			return nil, v.Err()
		}
		out = append(out, ch)
	}
	return out, nil
}

// prepared is a request's changes made ready against the live state.
type prepared struct {
	changes []domain.Change
	diffs   []*domain.Diff
	gates   []gate
	// needs are who can supply the gates' requirements, read once
	// (readRequirements) and fixed in the policy.
	needs *requirementSources
}

// requirementSources are what a policy's requirements are made of, as
// read when the request is opened: each required team's members, and
// each named flag's maintainers.
type requirementSources struct {
	teams       map[string][]string // team → its members
	maintainers map[string][]string // flag → its maintainer, maintainer team's members and the project's admins
}

// prepareChanges readies each change against the live state (its base)
// and collects the gates its policy draws on. A new change that changes
// nothing is refused (fresh); an edit may leave one so, as the live state
// may have caught up with it.
func (s *Service) prepareChanges(ctx context.Context, project string, chs []domain.Change, ptr func(i int) string, fresh bool) (prepared, error) {
	out := prepared{changes: make([]domain.Change, 0, len(chs))}
	org, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return out, err
	}
	for i := range chs {
		k := proposalOf(&chs[i])
		l, err := k.read(ctx, s, project, &chs[i])
		if err != nil {
			return out, err
		}
		ch, err := k.prepare(ctx, s, chs[i], l, ptr(i))
		if err != nil {
			return out, err
		}
		d, err := k.diff(&ch, l)
		if err != nil {
			return out, err
		}
		if fresh && d.Empty() {
			var v domain.Validation
			v.Add(ptr(i)+"/proposed_config", "the proposal for %s changes nothing", ch.Target())
			return out, v.Err()
		}
		gs, err := k.gates(ctx, s, org, &ch, l)
		if err != nil {
			return out, err
		}
		out.changes, out.diffs, out.gates = append(out.changes, ch), append(out.diffs, d), append(out.gates, gs...)
	}
	if err := s.readRequirements(ctx, project, &out); err != nil {
		return out, err
	}
	return out, nil
}

// readRequirements reads, once, who can supply the requirements of pr's
// gates: the members of each team their settings require (a team that no
// longer exists is a conflict: the settings must be fixed first), and,
// where settings require the maintainer, the maintainers of each flag the
// changes name (flag-level and targeting changes).
func (s *Service) readRequirements(ctx context.Context, project string, pr *prepared) error {
	if pr.needs != nil {
		return nil
	}
	needs := &requirementSources{teams: map[string][]string{}, maintainers: map[string][]string{}}
	var admins []string
	adminsRead := false
	for _, g := range pr.gates {
		for _, r := range g.settings.Require {
			if _, ok := needs.teams[r.Team]; ok {
				continue
			}
			t, err := s.store.GetTeam(ctx, r.Team)
			if domain.ErrorCode(err) == domain.CodeNotFound {
				return domain.Errorf(domain.CodeConflict, "%s requires team %s, which no longer exists; fix its approval settings", g.settings.Environment, r.Team)
			}
			if err != nil {
				return err
			}
			needs.teams[r.Team] = t.Members
		}
		if !g.settings.RequireMaintainer || !namesFlag(pr.changes, g.flag) {
			continue
		}
		if _, ok := needs.maintainers[g.flag]; ok {
			continue
		}
		f, err := s.store.GetFlag(ctx, project, g.flag)
		if err != nil {
			return err
		}
		if f.Maintainer == "" && f.MaintainerTeam == "" {
			needs.maintainers[g.flag] = nil // no maintainer: no requirement
			continue
		}
		if !adminsRead {
			if admins, err = s.projectAdmins(ctx, project); err != nil {
				return err
			}
			adminsRead = true
		}
		var members []string
		add := func(ids ...string) {
			for _, m := range ids {
				if m != "" && !slices.Contains(members, m) {
					members = append(members, m)
				}
			}
		}
		add(f.Maintainer)
		if f.MaintainerTeam != "" {
			t, err := s.store.GetTeam(ctx, f.MaintainerTeam)
			switch {
			case err == nil:
				add(t.Members...)
			case domain.ErrorCode(err) != domain.CodeNotFound: // a team gone leaves the maintainer and the admins
				return err
			}
		}
		add(admins...)
		needs.maintainers[g.flag] = members
	}
	pr.needs = needs
	return nil
}

// namesFlag reports whether one of chs is a flag-level or targeting change
// of flag.
func namesFlag(chs []domain.Change, flag string) bool {
	return slices.ContainsFunc(chs, func(c domain.Change) bool {
		return (c.Kind == domain.KindFlag || c.Kind == domain.KindTargeting) && c.Flag == flag
	})
}

// projectAdmins are the members who are admins in project (organisation
// admins among them).
func (s *Service) projectAdmins(ctx context.Context, project string) ([]string, error) {
	var out []string
	err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		if m.RoleIn(project) == domain.RoleAdmin {
			out = append(out, m.ID)
		}
		return nil
	})
	return out, err
}

// policy is the strictest policy of the prepared changes' gates.
func (pr prepared) policy() domain.Policy { return pr.policyOver(pr.gates) }

// tighten is p made the strictest of itself and the policies of the gates
// of environments p does not cover yet: an edit that reaches a new
// environment takes on its policy; the rest stays as fixed when the
// request was opened.
func (pr prepared) tighten(p domain.Policy) domain.Policy {
	var beyond []gate
	for _, g := range pr.gates {
		if !slices.Contains(p.Environments, g.settings.Environment) {
			beyond = append(beyond, g)
		}
	}
	if len(beyond) == 0 {
		return p
	}
	return domain.Strictest([]domain.Policy{p, pr.policyOver(beyond)})
}

// locks says whether the request takes the pending locks of its targeting
// changes, every one: one of its environments has lock_while_pending.
func (pr prepared) locks() bool {
	return slices.ContainsFunc(pr.gates, func(g gate) bool { return g.settings.LockWhilePending })
}

// legacyPointer is where a one-change body's fields are.
func legacyPointer(int) string { return "" }

// changesPointer is where the i-th change of a body's changes is.
func changesPointer(i int) string { return fmt.Sprintf("/changes/%d", i) }

// policyOver is the strictest policy of gs' environments, each once, with
// their requirements: each required team's, and, where the settings
// require the maintainer, those of the maintainers of each flag the
// changes name that has a maintainer (members as pr.needs read them).
func (pr prepared) policyOver(gs []gate) domain.Policy {
	var ps []domain.Policy
	var seen []string
	for _, g := range gs {
		i := slices.Index(seen, g.settings.Environment)
		if i < 0 {
			i, seen = len(seen), append(seen, g.settings.Environment)
			p := domain.PolicyOf(g.settings)
			for _, r := range g.settings.Require {
				p.Requirements = append(p.Requirements, domain.TeamRequirementOf(r, pr.needs.teamMembers(r.Team)))
			}
			ps = append(ps, p)
		}
		if g.settings.RequireMaintainer && namesFlag(pr.changes, g.flag) {
			if members := pr.needs.maintainersOf(g.flag); len(members) > 0 {
				ps[i].Requirements = domain.UniteRequirements(ps[i].Requirements, []domain.Requirement{domain.MaintainerRequirement(g.flag, members)})
			}
		}
	}
	return domain.Strictest(ps)
}

// policyOver is the strictest policy of gs' environments without their
// team and maintainer requirements (nobody read who can supply them).
func policyOver(gs []gate) domain.Policy {
	p := prepared{}.policyOver(gs)
	p.Requirements = []domain.Requirement{}
	return p
}

func (n *requirementSources) teamMembers(team string) []string {
	if n == nil {
		return []string{}
	}
	return n.teams[team]
}

func (n *requirementSources) maintainersOf(flag string) []string {
	if n == nil {
		return nil
	}
	return n.maintainers[flag]
}

func keepIdentity(c, live *domain.FlagConfig) {
	c.Project, c.Flag, c.Environment, c.Version, c.UpdatedAt = live.Project, live.Flag, live.Environment, live.Version, live.UpdatedAt
}

func keepFlagIdentity(f, live *domain.Flag) {
	f.Project, f.Key, f.Version, f.CreatedAt, f.UpdatedAt = live.Project, live.Key, live.Version, live.CreatedAt, live.UpdatedAt
	if f.Tags == nil {
		f.Tags = []string{}
	}
}

// prefixed moves validation pointers under prefix.
func prefixed(err error, prefix string) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
		return err
	}
	out := *de
	out.Fields = slices.Clone(de.Fields)
	for i := range out.Fields {
		if out.Fields[i].Pointer != "" {
			out.Fields[i].Pointer = prefix + out.Fields[i].Pointer
		}
	}
	return &out
}

// defaultTitle names a request by its changes.
func defaultTitle(cr *domain.ChangeRequest) string {
	switch {
	case len(cr.Changes) == 0:
		return "Draft"
	case len(cr.Changes) > 1:
		return fmt.Sprintf("Change %s and %d more", cr.Changes[0].Target(), len(cr.Changes)-1)
	case cr.Kind == domain.KindSegment || cr.Kind == domain.KindGovernance:
		return "Change " + cr.Changes[0].Target().String()
	case cr.Environment != "":
		return fmt.Sprintf("Change %s in %s", cr.Flag, cr.Environment)
	}
	return fmt.Sprintf("Change flag %s", cr.Flag)
}

// ---- the view ----

// RequestView is a change request as clients see it: the stored request,
// each change's diff against the live state (computed, never typed by a
// client), and where it stands.
type RequestView struct {
	*domain.ChangeRequest
	// Diff and LiveVersion are the first change's (ChangeViews has each).
	Diff        *domain.Diff
	LiveVersion int64
	ChangeViews []ChangeView
	Approvals   int
	Rejections  int
	// Applicable: approved, no blocking rejection, and every change's live
	// state is still the one it was made on.
	Applicable bool
	// UnreachableReviewers are the members the request waits on whose
	// address is suppressed (mail to it bounced, or they complained): they
	// get no mail about it (mailevents.go).
	UnreachableReviewers []UnreachableReviewer
	// Missing says what a pending request still needs ("needs 1 more from
	// sre", "needs 1 more approval"): domain.ChangeRequest.Missing.
	Missing []string
}

// ChangeView is one change of a request against the live state.
type ChangeView struct {
	domain.Change
	Diff        *domain.Diff
	LiveVersion int64
	// Conflict says the live state moved on since the change's base, and
	// what changed: apply refuses the whole request until it is edited.
	Conflict string
	// Gone: the flag or environment no longer exists.
	Gone bool
	// Affects, of a segment change, are the flags and environments whose
	// targeting uses the segment: where the change changes what users see.
	Affects []SegmentUse
}

func (s *Service) view(ctx context.Context, cr *domain.ChangeRequest) (*RequestView, error) {
	v := &RequestView{ChangeRequest: cr, Approvals: len(cr.Approvals()), Rejections: len(cr.Rejections()), Missing: cr.Missing()}
	var err error
	if v.UnreachableReviewers, err = s.unreachableReviewers(ctx, cr); err != nil {
		return nil, err
	}
	fresh := true
	for i := range cr.Changes {
		cv, err := s.changeView(ctx, cr, &cr.Changes[i])
		if err != nil {
			return nil, err
		}
		fresh = fresh && cv.Conflict == "" && !cv.Gone
		v.ChangeViews = append(v.ChangeViews, cv)
	}
	if len(v.ChangeViews) > 0 {
		v.Diff, v.LiveVersion = v.ChangeViews[0].Diff, v.ChangeViews[0].LiveVersion
	}
	v.Applicable = fresh && len(cr.Changes) > 0 && cr.CheckApply(domain.Actor{System: "check"}, s.clock.Now()) == nil
	return v, nil
}

func (s *Service) changeView(ctx context.Context, cr *domain.ChangeRequest, ch *domain.Change) (ChangeView, error) {
	cv := ChangeView{Change: *ch}
	k := proposalOf(ch)
	l, err := k.read(ctx, s, cr.Project, ch)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		// the flag (or environment) is gone; the change is history
		cv.Gone = true
		return cv, nil
	}
	if err != nil {
		return cv, err
	}
	cv.LiveVersion = k.version(l)
	if ch.Kind == domain.KindSegment {
		if cv.Affects, err = s.segmentUsage(ctx, cr.Project, ch.Segment); err != nil {
			return cv, err
		}
	}
	if cr.Bypass != nil {
		// a bypass's review after: what the bypass changed, base to proposal
		cv.Diff, err = bypassDiff(ch)
		return cv, err
	}
	if cr.Status == domain.StatusApplied {
		// the live state now is the proposal (or later); show what was applied
		cv.Diff = &domain.Diff{Operations: []byte("[]"), Summary: []string{}}
		return cv, nil
	}
	if cv.Diff, err = k.diff(ch, l); err != nil {
		return cv, err
	}
	if e := ch.CheckBase(cv.LiveVersion); e != nil {
		cv.Conflict = conflictOf(e, k, ch, l).Message
	}
	return cv, nil
}

// conflictOf is base-changed error e of ch with what moved since its base.
func conflictOf(e *domain.Error, k proposal, ch *domain.Change, l live) *domain.Error {
	if d, err := k.moved(ch, l); err == nil && d != nil {
		return domain.WithChanges(e, d.Summary)
	}
	return e
}

// ApplyRefusal is why a may not apply the request in v now: its state, or
// the first change whose live state moved on (nil: it may).
func (v *RequestView) ApplyRefusal(a domain.Actor, now time.Time) error {
	if err := v.CheckApply(a, now); err != nil {
		return err
	}
	for _, cv := range v.ChangeViews {
		if cv.Conflict != "" {
			return &domain.Error{Code: domain.CodeConflict, Message: cv.Conflict, CurrentVersion: cv.LiveVersion}
		}
	}
	return nil
}
