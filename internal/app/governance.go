package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Four-eyes on the rules (issue 16). While approvals are on, a write that
// weakens them — approvals turned off, an environment's approval settings
// weakened (domain.WeakenedFields), an environment unprotected, a member
// promoted to manager or admin, a freeze deleted or narrowed
// (domain.WeakenedFreeze), members added to a team a requirement or a
// flag's maintainer team names (domain.WeakenedTeam) — is not written: it
// opens a governance request, which another admin approves and someone
// with the direct write's role applies. The decision is made inside the
// store's write function, on the value as read, so a concurrent write
// makes it decide again. Writes that strengthen apply directly. A service token with
// manager or admin rights is written pending with its request (it never
// authenticates until the request applies: members.go, CreateToken).

// errGoverned aborts a store write whose change needs a second person; the
// use case then opens the request instead.
var errGoverned = errors.New("governed: opens a governance request")

// governedOutcome is the outcome of a direct write of the rules: applied,
// or (when it weakened them while approvals are on) the request opened.
func governedOutcome[T any](ctx context.Context, s *Service, p *Principal, applied *T, err error, g *domain.GovernanceChange) (Outcome[T], error) {
	if errors.Is(err, errGoverned) && g != nil {
		v, err := s.openGovernance(ctx, p, g)
		return Outcome[T]{Request: v}, err
	}
	if err != nil {
		return Outcome[T]{}, err
	}
	return Outcome[T]{Applied: applied}, nil
}

// approvalsOn reports whether the organisation's approvals are on.
func (s *Service) approvalsOn(ctx context.Context) (bool, error) {
	o, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return false, err
	}
	return o.Approvals, nil
}

// openGovernance opens the governance request of g, made by p.
func (s *Service) openGovernance(ctx context.Context, p *Principal, g *domain.GovernanceChange) (*RequestView, error) {
	cr, e, err := s.governanceRequest(ctx, p, g)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateChangeRequest(ctx, cr, false, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	return s.openedGovernance(ctx, p, cr)
}

// openTokenGovernance writes service token t pending, with the governance
// request g that makes it live, made by p, in one store write.
func (s *Service) openTokenGovernance(ctx context.Context, p *Principal, t *domain.Token, g *domain.GovernanceChange) (*RequestView, error) {
	cr, e, err := s.governanceRequest(ctx, p, g)
	if err != nil {
		return nil, err
	}
	t.PendingRequest = cr.ID
	if err := s.store.CreatePendingToken(ctx, t, cr, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	return s.openedGovernance(ctx, p, cr)
}

// governanceRequest is the governance request of g, made by p, pending
// under its policy, and its opening audit entry.
func (s *Service) governanceRequest(ctx context.Context, p *Principal, g *domain.GovernanceChange) (*domain.ChangeRequest, domain.AuditEntry, error) {
	now := s.clock.Now()
	cr := &domain.ChangeRequest{Project: g.Project,
		Changes: []domain.Change{{Kind: domain.KindGovernance, Environment: g.Environment, Governance: g, BaseVersion: g.BaseVersion()}}}
	s.start(p, cr, ChangeOptions{}, now)
	policy, err := s.governancePolicy(ctx, cr)
	if err != nil {
		return nil, domain.AuditEntry{}, err
	}
	cr.Status, cr.Policy = domain.StatusPending, policy
	if err := scheduleRequest(cr, now); err != nil {
		return nil, domain.AuditEntry{}, err
	}
	opened, err := cr.Opened(p.actorIn(cr.Project), p.channel(), now)
	if err != nil {
		return nil, domain.AuditEntry{}, err
	}
	e := s.entryOf(cr, opened, p.channel())
	e.Requester, e.Freeze = cr.Requester, g.Freeze
	if d, err := cr.Changes[0].Proposed(); err == nil {
		e.Diff = d
	}
	return cr, e, nil
}

func (s *Service) openedGovernance(ctx context.Context, p *Principal, cr *domain.ChangeRequest) (*RequestView, error) {
	g := cr.Changes[0].Governance
	s.log.InfoContext(ctx, "governance request created", "id", cr.ID, "what", g.What, "project", g.Project, "actor", p.Actor())
	return s.view(ctx, cr)
}

// governancePolicy is the policy of governance request cr: the strictest
// of every protected environment of the organisation, reviewed by admins
// (of cr's project, or of the organisation) other than its requester and
// the member it changes, its quorum capped at how many of them there are.
func (s *Service) governancePolicy(ctx context.Context, cr *domain.ChangeRequest) (domain.Policy, error) {
	var policies []domain.Policy
	err := forEach(ctx, s.store.ListProjects, func(pr domain.Project) error {
		return forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
			return s.store.ListEnvironments(ctx, pr.Key, pg)
		}, func(e domain.Environment) error {
			if !e.Protected {
				return nil
			}
			a, err := s.store.GetApprovalSettings(ctx, pr.Key, e.Key)
			if err != nil {
				return err
			}
			policies = append(policies, domain.PolicyOf(a))
			return nil
		})
	})
	if err != nil {
		return domain.Policy{}, err
	}
	reviewers := 0
	err = forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		probe := domain.Actor{MemberID: m.ID, Role: m.RoleIn(cr.Project)}
		if m.ID != cr.RequesterMember && m.ID != cr.RequesterBehind && probe.Role == domain.RoleAdmin && !changes(cr, m.ID) {
			reviewers++
		}
		return nil
	})
	if err != nil {
		return domain.Policy{}, err
	}
	p, _ := domain.GovernancePolicy(domain.Strictest(policies), reviewers)
	return p, nil
}

// changes reports whether governance request cr changes member id (their
// roles, or a team it adds them to).
func changes(cr *domain.ChangeRequest, id string) bool {
	for _, c := range cr.Changes {
		if c.Governance != nil && c.Governance.Concerns(id) {
			return true
		}
	}
	return false
}

// applyGovernance applies approved governance request id: the rule's new
// value and the request, applied, in one atomic write (domain.Audit's
// Applies), with the same effects after it as the direct write's.
func (s *Service) applyGovernance(ctx context.Context, a domain.Actor, id, channel string, check func(*domain.ChangeRequest) error) (*domain.ChangeRequest, bool, error) {
	for range decideAttempts {
		cr, err := s.store.GetChangeRequest(ctx, id)
		if err != nil {
			return nil, false, err
		}
		if check != nil {
			if err := check(cr); err != nil {
				return nil, false, err
			}
		}
		if cr.Status == domain.StatusApplied {
			return cr, false, nil
		}
		now := s.clock.Now()
		if err := cr.CheckApply(a, now); err != nil {
			return nil, false, err
		}
		if _, err := s.checkApprovers(ctx, cr); err != nil {
			return nil, false, err // an approver was demoted (demotion.go)
		}
		applied, err := s.writeGoverned(ctx, a, cr, channel, now)
		if errors.Is(err, domain.ErrRequestMoved) {
			continue // the request moved between the read and the write: decide again
		}
		if err != nil {
			if de := asDomainError(err); de != nil && de.CurrentVersion > 0 {
				s.noteApplyConflict(ctx, a, id, channel, de)
			}
			return nil, false, err
		}
		s.log.InfoContext(ctx, "governance request applied", "id", id, "actor", a.String())
		s.afterGoverned(ctx, applied)
		return applied, true, nil
	}
	return nil, false, domain.ErrRequestMoved
}

// writeGoverned writes cr's governance change with cr applied: the store
// write of the rule it changes, conditioned on the rule's version (the
// change's base) and on cr's.
func (s *Service) writeGoverned(ctx context.Context, a domain.Actor, cr *domain.ChangeRequest, channel string, now time.Time) (*domain.ChangeRequest, error) {
	ch := &cr.Changes[0]
	g := ch.Governance
	var applied *domain.ChangeRequest
	// record checks the base, marks a copy of cr applied and names both in
	// audit: what the rule's own direct write records (nothing for a
	// token: its direct creation records nothing), and the request's entry
	// (a store may call it again after a lost race)
	record := func(live int64, written any, base any, action domain.AuditAction, audit *domain.Audit) error {
		if e := ch.CheckBase(live); e != nil {
			return e
		}
		next := *cr
		t, err := next.MarkApplied(a, live+1, channel, now)
		if err != nil {
			return err
		}
		applied = &next
		d, _ := domain.AnyDiff(base, written)
		e := s.entryOf(&next, t, channel)
		e.Requester, e.Approvers, e.Diff, e.Version, e.Freeze = cr.Requester, approversOf(cr), d, live+1, g.Freeze
		audit.Record(e)
		if action != "" {
			ruleEntry := s.audit(a.String(), action, channel)
			ruleEntry.Project, ruleEntry.Environment, ruleEntry.Member, ruleEntry.ChangeRequest = g.Project, g.Environment, g.Member, cr.ID
			ruleEntry.Freeze, ruleEntry.Team = g.Freeze, g.Team
			ruleEntry.Version, ruleEntry.Diff, ruleEntry.Approvers = live+1, d, approversOf(cr)
			ruleEntry.Reason = "applied with change request " + cr.ID
			audit.Record(ruleEntry)
		}
		audit.Applies = &next
		return nil
	}
	var err error
	switch g.What {
	case domain.GovernOrgSettings:
		_, err = s.store.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, audit *domain.Audit) error {
			base := *o
			o.Approvals, o.UpdatedAt = g.Org.Approvals, now
			return record(base.Version, o, &base, domain.ActionSettingsUpdated, audit)
		})
	case domain.GovernApprovalSettings:
		_, err = s.store.UpdateApprovalSettings(ctx, g.Project, g.Environment, func(as *domain.ApprovalSettings, audit *domain.Audit) error {
			base := *as
			*as = *g.Settings
			as.Project, as.Environment, as.Version, as.UpdatedAt = base.Project, base.Environment, base.Version, now
			return record(base.Version, as, &base, domain.ActionApprovalSettingsUpdated, audit)
		})
	case domain.GovernEnvironment:
		_, err = s.store.UpdateEnvironment(ctx, g.Project, g.Environment, func(e *domain.Environment, audit *domain.Audit) error {
			base := *e
			e.Protected, e.UpdatedAt = g.Env.Protected, now
			return record(base.Version, e, &base, domain.ActionEnvironmentUpdated, audit)
		})
	case domain.GovernMember:
		_, err = s.store.WriteMember(ctx, g.Member, func(m *domain.Member, w *domain.MemberWrite) error {
			base := copyMember(m)
			m.Role, m.Projects, m.UpdatedAt = g.Person.Role, g.Person.Projects, now
			return record(base.Version, m.Roles(), base.Roles(), domain.ActionMemberUpdated, &w.Audit)
		})
	case domain.GovernServiceToken:
		_, err = s.store.ActivateToken(ctx, g.Token, func(t *domain.Token, audit *domain.Audit) error {
			if t.PendingRequest != cr.ID {
				return domain.Errorf(domain.CodeConflict, "token %s waits for another request (%s)", t.ID, t.PendingRequest)
			}
			made := *t
			made.PendingRequest = ""
			return record(domain.TokenVersion(t), made.Rights(), nil, "", audit)
		})
	case domain.GovernFreeze:
		_, err = s.store.UpdateFreezes(ctx, func(cal *domain.FreezeCalendar, audit *domain.Audit) error {
			return s.applyFreezeChange(cal, g, now, func(live int64, written, base *domain.Freeze, action domain.AuditAction) error {
				return record(live, written, base, action, audit)
			})
		})
	case domain.GovernTeam:
		err = s.applyTeamChange(ctx, g, now, func(live int64, written, base *domain.Team, audit *domain.Audit) error {
			return record(live, written.Terms(), base.Terms(), domain.ActionTeamUpdated, audit)
		})
	default:
		err = fmt.Errorf("governance change of unknown target %q", g.What)
	}
	if err != nil {
		return nil, err
	}
	applied.Version++
	return applied, nil
}

// afterGoverned does what the direct write does after it commits: turning
// api_token_bypass on revokes the approvals of the environment's open
// requests.
func (s *Service) afterGoverned(ctx context.Context, cr *domain.ChangeRequest) {
	g := cr.Changes[0].Governance
	if g.What == domain.GovernApprovalSettings && g.Settings.APITokenBypass && !g.BaseSettings.APITokenBypass {
		s.revokeApprovals(ctx, &Principal{TokenID: "system", Role: domain.RoleAdmin}, g.Project, g.Environment)
	}
}

// governanceProposal shows a governance change against the live rule (the
// request's view); governance requests are opened and applied by
// openGovernance and applyGovernance, not through the generic paths, and
// are not edited.
type governanceProposal struct{}

func (governanceProposal) read(ctx context.Context, s *Service, _ string, ch *domain.Change) (live, error) {
	g := ch.Governance
	var v any
	var err error
	switch g.What {
	case domain.GovernOrgSettings:
		v, err = s.store.GetOrgSettings(ctx)
	case domain.GovernApprovalSettings:
		v, err = s.store.GetApprovalSettings(ctx, g.Project, g.Environment)
	case domain.GovernEnvironment:
		v, err = s.store.GetEnvironment(ctx, g.Project, g.Environment)
	case domain.GovernServiceToken:
		v, err = s.store.GetToken(ctx, g.Token)
	case domain.GovernFreeze:
		var cal *domain.FreezeCalendar
		if cal, err = s.store.GetFreezes(ctx); err == nil {
			v = cal.Freeze(g.Freeze) // nil: deleted since
		}
	case domain.GovernTeam:
		v, err = s.store.GetTeam(ctx, g.Team)
	default:
		v, err = s.store.GetMember(ctx, g.Member)
	}
	return live{rule: v}, err
}

func (governanceProposal) of(*domain.Live, *domain.Change) live { return live{} }

func (governanceProposal) version(l live) int64 {
	switch v := l.rule.(type) {
	case *domain.OrgSettings:
		return v.Version
	case *domain.ApprovalSettings:
		return v.Version
	case *domain.Environment:
		return v.Version
	case *domain.Member:
		return v.Version
	case *domain.Token:
		return domain.TokenVersion(v)
	case *domain.Freeze:
		if v != nil {
			return v.Version
		}
	case *domain.Team:
		return v.Version
	}
	return 0
}

func (governanceProposal) diff(ch *domain.Change, l live) (*domain.Diff, error) {
	return ch.Governance.Diff(l.rule)
}

func (governanceProposal) moved(ch *domain.Change, l live) (*domain.Diff, error) {
	return ch.Governance.Moved(l.rule)
}

var errGovernanceNotEdited = &domain.Error{Code: domain.CodeConflict, Message: "a change to the rules is not edited: withdraw the request and make the change again"}

func (governanceProposal) prepare(context.Context, *Service, domain.Change, live, string) (domain.Change, error) {
	return domain.Change{}, errGovernanceNotEdited
}

func (governanceProposal) gates(context.Context, *Service, *domain.OrgSettings, *domain.Change, live) ([]gate, error) {
	return nil, errGovernanceNotEdited
}

func (governanceProposal) beforeApply(context.Context, *Service, string, *domain.Change) error {
	return nil
}

func (governanceProposal) applyTo(*domain.Change, live, time.Time, *domain.ApplyWrite) (*domain.Diff, int64, error) {
	return nil, 0, errors.New("a governance change applies through applyGovernance")
}
