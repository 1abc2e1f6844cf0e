package app

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/domain"
)

// Channels a change arrives through, recorded in timelines and the audit log.
const (
	ChannelAPI    = "api"
	ChannelEmail  = "email"
	ChannelSystem = "system"
)

// actorIn is p acting on a request of project: with its role there.
func (p *Principal) actorIn(project string) domain.Actor {
	return domain.Actor{MemberID: p.MemberID, TokenID: p.TokenID, Role: p.RoleIn(project), Behind: p.Behind}
}

func (s *Service) audit(actor string, action domain.AuditAction, channel string) domain.AuditEntry {
	return domain.AuditEntry{ID: newID("a"), At: s.clock.Now(), Actor: actor, Action: action, Channel: channel}
}

// entryOf is the audit entry of transition t of cr: its action, by the
// event's actor, through channel, about cr.
func (s *Service) entryOf(cr *domain.ChangeRequest, t domain.Transition, channel string) domain.AuditEntry {
	e := s.audit(t.Event.Actor, t.Action, channel)
	e.Project, e.Flag, e.Environment, e.ChangeRequest = cr.Project, cr.Flag, cr.Environment, cr.ID
	if len(cr.Changes) > 0 {
		e.Segment = cr.Changes[0].Segment
	}
	return e
}

// ---- settings ----

// GetOrgSettings reads the organisation switches.
func (s *Service) GetOrgSettings(ctx context.Context, p *Principal) (*domain.OrgSettings, error) {
	if err := p.requireSomewhere(domain.RoleViewer, "reading settings"); err != nil {
		return nil, err
	}
	return s.store.GetOrgSettings(ctx)
}

// OrgSettingsInput is the body of PUT /v1/settings.
type OrgSettingsInput struct {
	Approvals bool   `json:"approvals"`
	Version   *int64 `json:"version"`
}

// UpdateOrgSettings changes the organisation switches (managers and
// admins). Turning approvals off opens a governance request instead.
func (s *Service) UpdateOrgSettings(ctx context.Context, p *Principal, expected *int64, in OrgSettingsInput) (Outcome[domain.OrgSettings], error) {
	if err := p.requireOrg(domain.RoleManager, "changing settings"); err != nil {
		return Outcome[domain.OrgSettings]{}, err
	}
	var g *domain.GovernanceChange
	o, err := s.store.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, audit *domain.Audit) error {
		if err := checkVersion("settings", expected, o.Version); err != nil {
			return err
		}
		before := *o
		o.Approvals = in.Approvals
		o.UpdatedAt = s.clock.Now()
		if weak := domain.WeakenedOrg(&before, o); len(weak) > 0 {
			next := *o
			g = &domain.GovernanceChange{What: domain.GovernOrgSettings, Org: &next, BaseOrg: &before, Weakens: weak}
			return errGoverned
		}
		e := s.audit(p.Actor(), domain.ActionSettingsUpdated, p.channel())
		d, err := domain.AnyDiff(&before, o)
		if err != nil {
			return err
		}
		d.Summary = []string{fmt.Sprintf("approvals %t → %t", before.Approvals, o.Approvals)}
		e.Diff = d
		audit.Record(e)
		return nil
	})
	return governedOutcome(ctx, s, p, o, err, g)
}

// GetApprovalSettings reads an environment's approval settings.
func (s *Service) GetApprovalSettings(ctx context.Context, p *Principal, project, env string) (*domain.ApprovalSettings, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading approval settings"); err != nil {
		return nil, err
	}
	return s.store.GetApprovalSettings(ctx, project, env)
}

// UpdateApprovalSettings replaces an environment's approval settings
// (managers and admins). Turning api_token_bypass on revokes the approvals
// of every open request in the environment, as VWO documents. While
// approvals are on, settings that weaken (domain.WeakenedFields) open a
// governance request instead.
func (s *Service) UpdateApprovalSettings(ctx context.Context, p *Principal, project, env string, expected *int64, in *domain.ApprovalSettings) (Outcome[domain.ApprovalSettings], error) {
	out, g, err := decidedAgain(func() (*domain.ApprovalSettings, *domain.GovernanceChange, error) {
		return s.updateApprovalSettings(ctx, p, project, env, expected, in)
	})
	return governedOutcome(ctx, s, p, out, err, g)
}

func (s *Service) updateApprovalSettings(ctx context.Context, p *Principal, project, env string, expected *int64, in *domain.ApprovalSettings) (*domain.ApprovalSettings, *domain.GovernanceChange, error) {
	if err := p.requireIn(project, domain.RoleManager, "changing approval settings"); err != nil {
		return nil, nil, err
	}
	if in.Tags == nil {
		in.Tags = []string{}
	}
	if in.DesignatedReviewers == nil {
		in.DesignatedReviewers = []string{}
	}
	if in.Bypass == nil {
		in.Bypass = []domain.BypassGrant{}
	}
	if in.Require == nil {
		in.Require = []domain.TeamRequirement{}
	}
	if in.AutoApproveAfter == "" {
		in.AutoApproveAfter = domain.AutoApproveNever
	}
	if in.ReviewAfterBypass == "" {
		in.ReviewAfterBypass = domain.DefaultReviewAfterBypass
	}
	if err := in.Validate(); err != nil {
		return nil, nil, err
	}
	var v domain.Validation
	for i, id := range in.DesignatedReviewers {
		m, err := s.store.GetMember(ctx, id)
		switch {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			v.Add(fmt.Sprintf("/designated_reviewers/%d", i), "no member has id %q", id)
		case err != nil:
			return nil, nil, err
		case !m.RoleIn(project).AtLeast(domain.RoleEditor):
			v.Add(fmt.Sprintf("/designated_reviewers/%d", i), "%s is a %s in %s; reviewers must be at least editors", m.Email, m.RoleIn(project), project)
		}
	}
	for i, r := range in.Require {
		_, err := s.store.GetTeam(ctx, r.Team)
		switch {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			v.Add(fmt.Sprintf("/require/%d/team", i), "no team has key %q", r.Team)
		case err != nil:
			return nil, nil, err
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	var bypassTurnedOn bool
	var g *domain.GovernanceChange
	out, err := s.store.UpdateApprovalSettings(ctx, project, env, func(a *domain.ApprovalSettings, audit *domain.Audit) error {
		if err := checkVersion("approval settings", expected, a.Version); err != nil {
			return err
		}
		bypassTurnedOn = in.APITokenBypass && !a.APITokenBypass
		before := *a
		next := *in
		next.Project, next.Environment, next.Version, next.UpdatedAt = a.Project, a.Environment, a.Version, s.clock.Now()
		if weak := domain.WeakenedFields(&before, &next); governed && len(weak) > 0 {
			g = &domain.GovernanceChange{What: domain.GovernApprovalSettings, Project: project, Environment: env, Settings: &next, BaseSettings: &before, Weakens: weak}
			return errGoverned
		}
		*a = next
		audit.Guard = guard
		e := s.audit(p.Actor(), domain.ActionApprovalSettingsUpdated, p.channel())
		e.Project, e.Environment = project, env
		if d, err := domain.AnyDiff(&before, a); err == nil {
			e.Diff = d
		}
		audit.Record(e)
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	if bypassTurnedOn {
		s.revokeApprovals(ctx, p, project, env)
	}
	return out, nil, nil
}

// revokeApprovals sends every open request that the environment's policy
// covers (its targeting requests, and flag-level requests whose policy drew
// on it) back to review, each with an audit entry. It runs after the
// settings change committed; a failure is logged and leaves the rest going.
func (s *Service) revokeApprovals(ctx context.Context, p *Principal, project, env string) {
	var failed int
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.ChangeRequest, string, error) {
		return s.store.ListChangeRequests(ctx, domain.CRFilter{Project: project}, pg)
	}, func(cr domain.ChangeRequest) error {
		if !slices.Contains(cr.Policy.Environments, env) || (cr.Status != domain.StatusPending && cr.Status != domain.StatusApproved) {
			return nil
		}
		_, err := s.store.UpdateChangeRequest(ctx, cr.ID, func(cr *domain.ChangeRequest, audit *domain.RequestWrite) error {
			reason := "api_token_bypass was turned on for " + env
			t, err := cr.RevokeApprovals(p.actorIn(project), reason, s.clock.Now())
			if err != nil {
				return err
			}
			e := s.entryOf(cr, t, p.channel())
			e.Reason = reason
			audit.Record(e)
			return nil
		})
		if err != nil && domain.ErrorCode(err) != domain.CodeConflict {
			failed++
			s.log.ErrorContext(ctx, "revoking approvals of a request failed", "id", cr.ID, "err", err)
		}
		return nil
	})
	if err != nil || failed > 0 {
		s.log.ErrorContext(ctx, "revoking approvals after api_token_bypass did not finish", "project", project, "environment", env, "failed", failed, "err", err)
	}
}

// ---- gating ----

// gate is the approval decision for a change to a flag in an environment.
type gate struct {
	project, flag, env string // the flag in the environment whose gate this is
	gated              bool
	settings           *domain.ApprovalSettings
}

func (s *Service) gateFor(ctx context.Context, org *domain.OrgSettings, f *domain.Flag, project, env string) (gate, error) {
	a, err := s.store.GetApprovalSettings(ctx, project, env)
	if err != nil {
		return gate{}, err
	}
	return gate{project: project, flag: f.Key, env: env, gated: a.Gates(org, f), settings: a}, nil
}

// bypass says whether p may skip approval in env, and audits why.
func bypass(p *Principal, g gate, reason string) (domain.AuditAction, error) {
	if reason != "" {
		if !g.settings.CanBypass(p.MemberID, p.TokenID) {
			return "", domain.Errorf(domain.CodeForbidden, "you hold no bypass grant for this environment")
		}
		return domain.ActionBypass, nil
	}
	if p.MemberID == "" && g.settings.APITokenBypass {
		return domain.ActionAPITokenBypass, nil
	}
	return "", nil
}

// Outcome is what a write to a gated resource did: applied it, or opened a
// change request (Request set).
type Outcome[T any] struct {
	Applied *T
	Request *RequestView
}

// ChangeOptions are the optional parts of a direct write that may become a
// request: who to notify, a title, a bypass reason.
type ChangeOptions struct {
	Title           string
	NotifyReviewers []string
	BypassReason    string
	// Draft names a draft request (the X-Change-Request header): the
	// write proposes its change into the draft instead (AddToDraft).
	Draft string
}

var mentionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`@([A-Za-z0-9_.+-]+(?:@[A-Za-z0-9.-]+)?)`) })

// MaxMentions bounds the members one comment may @mention: each gets an
// e-mail, and a comment is not a mailing list. A member gets at most
// domain.MaxMentionMailsPerHour mention mails per request and hour (Comment).
const MaxMentions = 10

// mentions finds the members a comment @mentions, by id or e-mail; more
// than MaxMentions is refused.
func (s *Service) mentions(ctx context.Context, text string) ([]string, error) {
	refs := mentionRe().FindAllStringSubmatch(text, -1)
	if len(refs) == 0 {
		return nil, nil
	}
	var members []domain.Member
	if err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		members = append(members, m)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range refs {
		ref := strings.TrimRight(m[1], ".")
		for _, mem := range members {
			if (mem.ID == ref || domain.SameEmail(mem.Email, ref)) && !slices.Contains(out, mem.ID) {
				out = append(out, mem.ID)
			}
		}
	}
	if len(out) > MaxMentions {
		var v domain.Validation
		v.Add("/comment", "mentions %d members; a comment may mention at most %d", len(out), MaxMentions)
		return nil, v.Err()
	}
	return out, nil
}
