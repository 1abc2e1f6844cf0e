package domain

import (
	"fmt"
	"slices"
	"time"
)

// Four-eyes on the rules themselves (issue 16): while approvals are on,
// a change that weakens them becomes a change request of kind governance,
// which another admin must approve. Changes that strengthen apply
// directly.

// KindGovernance is a change to the rules: the organisation's switch, an
// environment's approval settings or protection, or a member's roles.
const KindGovernance CRKind = "governance"

// ReviewersAdmins is the reviewer mode of governance requests: admins
// only (organisation admins, or the project's admins for a project's
// rules). It is a policy's mode, never an environment's setting.
const ReviewersAdmins ReviewerMode = "admins"

// GovernanceTarget is what a governance change changes.
type GovernanceTarget string

const (
	GovernOrgSettings      GovernanceTarget = "org_settings"
	GovernApprovalSettings GovernanceTarget = "approval_settings"
	GovernEnvironment      GovernanceTarget = "environment"
	GovernMember           GovernanceTarget = "member"
)

// GovernanceTargets are every target, in the order above.
var GovernanceTargets = []GovernanceTarget{GovernOrgSettings, GovernApprovalSettings, GovernEnvironment, GovernMember}

// GovernanceChange is a proposed change to the rules with its base, the
// value it was made on. One pair of proposal and base is set, by What.
type GovernanceChange struct {
	What        GovernanceTarget
	Project     string // approval settings, environment
	Environment string // approval settings, environment
	Member      string // member

	Org, BaseOrg           *OrgSettings
	Settings, BaseSettings *ApprovalSettings
	Env, BaseEnv           *Environment
	Person, BasePerson     *Member
	// Weakens says why the change needs a second person, field by field.
	Weakens []FieldError
}

// pair is the change's proposal and base.
func (g *GovernanceChange) pair() (proposal, base any) {
	switch g.What {
	case GovernOrgSettings:
		return g.Org, g.BaseOrg
	case GovernApprovalSettings:
		return g.Settings, g.BaseSettings
	case GovernEnvironment:
		return g.Env, g.BaseEnv
	}
	return g.Person, g.BasePerson
}

// Name names what the change changes, for people.
func (g *GovernanceChange) Name() string {
	switch g.What {
	case GovernOrgSettings:
		return "the organisation's settings"
	case GovernApprovalSettings:
		return fmt.Sprintf("the approval settings of %s/%s", g.Project, g.Environment)
	case GovernEnvironment:
		return fmt.Sprintf("environment %s/%s", g.Project, g.Environment)
	}
	if g.BasePerson != nil {
		return "the roles of " + g.BasePerson.Email
	}
	return "member " + g.Member
}

// ApplyRole is the role applying the change needs where it applies: what
// the direct write needs (manager for settings and environments, admin
// for members).
func (g *GovernanceChange) ApplyRole() Role {
	if g.What == GovernMember {
		return RoleAdmin
	}
	return RoleManager
}

// Diff is what the change proposes against base (the live value when
// shown before it applies), with its reasons as the summary.
func (g *GovernanceChange) Diff(base any) (*Diff, error) {
	proposal, _ := g.pair()
	d, err := AnyDiff(bookkeepingFree(base), bookkeepingFree(proposal))
	if err != nil {
		return nil, err
	}
	d.Summary = []string{}
	for _, w := range g.Weakens {
		d.Summary = append(d.Summary, w.Pointer+": "+w.Detail)
	}
	return d, nil
}

// bookkeepingFree is v without its version and update time, so that a diff
// shows what changed, not that it was written.
func bookkeepingFree(v any) any {
	switch x := v.(type) {
	case *OrgSettings:
		if x != nil {
			c := *x
			c.Version, c.UpdatedAt = 0, time.Time{}
			return &c
		}
	case *ApprovalSettings:
		if x != nil {
			c := *x
			c.Version, c.UpdatedAt = 0, time.Time{}
			return &c
		}
	case *Environment:
		if x != nil {
			c := *x
			c.Version, c.UpdatedAt = 0, time.Time{}
			return &c
		}
	case *Member:
		if x != nil {
			return &struct {
				Role     Role
				Projects map[string]Role
			}{x.Role, x.Projects}
		}
	}
	return v
}

// BaseVersion is the version of the change's base.
func (g *GovernanceChange) BaseVersion() int64 {
	switch g.What {
	case GovernOrgSettings:
		return g.BaseOrg.Version
	case GovernApprovalSettings:
		return g.BaseSettings.Version
	case GovernEnvironment:
		return g.BaseEnv.Version
	}
	return g.BasePerson.Version
}

// ---- what weakens ----

// WeakenedOrg is why turning the organisation's switch from before to
// after weakens the rules (nil when it does not).
func WeakenedOrg(before, after *OrgSettings) []FieldError {
	if before.Approvals && !after.Approvals {
		return []FieldError{{Pointer: "/approvals", Detail: "true → false: approvals turned off"}}
	}
	return nil
}

// WeakenedEnvironment is why a change of an environment weakens the rules:
// unprotecting it changes the defaults of settings never written and takes
// it out of the governance policy.
func WeakenedEnvironment(before, after *Environment) []FieldError {
	if before.Protected && !after.Protected {
		return []FieldError{{Pointer: "/protected", Detail: "true → false: the environment is no longer protected"}}
	}
	return nil
}

// WeakenedMember is why a change of a member's roles needs a second
// person: a role raised to manager or admin, in the organisation or in a
// project. Raises below manager, and lowering, apply directly.
func WeakenedMember(before, after *Member) []FieldError {
	var out []FieldError
	if raisedToManager(before.Role, after.Role) {
		out = append(out, FieldError{Pointer: "/role", Detail: fmt.Sprintf("%s → %s: promoted to %s", roleName(before.Role), after.Role, after.Role)})
	}
	for _, p := range sortedKeys(after.Projects) {
		was, ok := before.Projects[p]
		if !ok {
			was = before.Role // the organisation role held there before
		}
		if raisedToManager(was, after.Projects[p]) {
			out = append(out, FieldError{Pointer: "/project_roles/" + p, Detail: fmt.Sprintf("%s → %s in %s: promoted", roleName(was), after.Projects[p], p)})
		}
	}
	return out
}

func raisedToManager(before, after Role) bool {
	return after.AtLeast(RoleManager) && before.Below(after)
}

func roleName(r Role) string {
	if r == "" {
		return string(RoleNone)
	}
	return string(r)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// WeakenedFields is why replacing an environment's approval settings
// before by after weakens them, one entry per field that weakens (its
// pointer, and what changed). Every field has a direction
// (TestEveryApprovalSettingsFieldHasADirection): a change that weakens
// one field and strengthens another is a weakening.
func WeakenedFields(before, after *ApprovalSettings) []FieldError {
	var out []FieldError
	add := func(ptr, format string, args ...any) {
		out = append(out, FieldError{Pointer: ptr, Detail: fmt.Sprintf(format, args...)})
	}
	requiredRank := map[Required]int{RequiredOff: 0, RequiredTags: 1, RequiredAll: 2}
	if requiredRank[after.Required] < requiredRank[before.Required] {
		add("/required", "%s → %s: fewer flags need approval", before.Required, after.Required)
	}
	if before.Required == RequiredTags && after.Required == RequiredTags {
		for _, t := range before.Tags {
			if !slices.Contains(after.Tags, t) {
				add("/tags", "tag %q removed: its flags no longer need approval", t)
			}
		}
	}
	if after.MinApprovals < before.MinApprovals {
		add("/min_approvals", "%d → %d: a lower quorum", before.MinApprovals, after.MinApprovals)
	}
	if !before.AllowSelfApproval && after.AllowSelfApproval {
		add("/allow_self_approval", "false → true: requesters may approve their own changes")
	}
	if before.RejectionBlocksApply && !after.RejectionBlocksApply {
		add("/rejection_blocks_apply", "true → false: a rejection no longer blocks the apply")
	}
	if before.Reviewers == ReviewersDesignated && after.Reviewers != ReviewersDesignated {
		add("/reviewers", "designated → %s: anyone may review", after.Reviewers)
	}
	if before.Reviewers == ReviewersDesignated && after.Reviewers == ReviewersDesignated {
		for _, m := range before.DesignatedReviewers {
			if !slices.Contains(after.DesignatedReviewers, m) {
				add("/designated_reviewers", "reviewer %s removed", m)
			}
		}
	}
	autoRank := map[string]int{AutoApprove24h: 1, AutoApprove48h: 2, AutoApproveNever: 3, "": 3}
	if autoRank[after.AutoApproveAfter] < autoRank[before.AutoApproveAfter] {
		add("/auto_approve_after", "%s → %s: auto-approval sooner", orNever(before.AutoApproveAfter), after.AutoApproveAfter)
	}
	if longerExpiry(before.ExpireAfter, after.ExpireAfter) {
		add("/expire_after", "%s → %s: requests stay open longer", orNever(before.ExpireAfter), orNever(after.ExpireAfter))
	}
	if before.Apply == ApplyManual && after.Apply == ApplyOnApproval {
		add("/apply", "manual → on_approval: applies without anyone applying it")
	}
	if before.LockWhilePending && !after.LockWhilePending {
		add("/lock_while_pending", "true → false: direct writes no longer wait for pending requests")
	}
	if !before.APITokenBypass && after.APITokenBypass {
		add("/api_token_bypass", "false → true: service tokens skip approval")
	}
	if !before.AllowUnapprovedScheduleDeletion && after.AllowUnapprovedScheduleDeletion {
		add("/allow_unapproved_schedule_deletion", "false → true: the requester alone may delete an approved schedule")
	}
	if longerReviewAfter(before.ReviewAfterBypass, after.ReviewAfterBypass) {
		add("/review_after_bypass", "%s → %s: a bypass waits longer for its review after", orDefault(before.ReviewAfterBypass), orDefault(after.ReviewAfterBypass))
	}
	for _, r := range before.Require {
		i := slices.IndexFunc(after.Require, func(o TeamRequirement) bool { return o.Team == r.Team })
		switch {
		case i < 0:
			add("/require", "team %s no longer required", r.Team)
		case after.Require[i].Min < r.Min:
			add("/require", "team %s: %d → %d approvals", r.Team, r.Min, after.Require[i].Min)
		}
	}
	if before.DistinctReviewers && !after.DistinctReviewers {
		add("/distinct_reviewers", "true → false: one reviewer may fill several team requirements")
	}
	if before.RequireMaintainer && !after.RequireMaintainer {
		add("/require_maintainer", "true → false: flags' maintainers no longer need to approve")
	}
	for _, g := range after.Bypass {
		if !slices.Contains(before.Bypass, g) {
			who := g.MemberID
			if who == "" {
				who = "token " + g.TokenID
			}
			add("/bypass", "bypass granted to %s", who)
		}
	}
	return out
}

func orNever(d string) string {
	if d == "" {
		return AutoApproveNever
	}
	return d
}

// longerExpiry reports whether expiry b lets requests stay open longer than
// a ("" never expires).
func longerExpiry(a, b string) bool {
	if a == "" {
		return false
	}
	if b == "" {
		return true
	}
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	return errA == nil && errB == nil && db > da
}

// GovernancePolicy is the policy of a governance request: the strictest of
// the organisation's protected environments (strictest), reviewed by
// admins only, never by its requester, never auto-approved, and applied by
// hand. Its quorum is capped at the admins other than the requester who
// may review it (reviewers), and is at least 1; capped says it was.
func GovernancePolicy(strictest Policy, reviewers int) (p Policy, capped bool) {
	p = strictest
	p.AllowSelfApproval = false
	p.AutoApproveAfter = AutoApproveNever
	p.Reviewers = ReviewersAdmins
	p.DesignatedReviewers = []string{}
	p.Requirements, p.DistinctReviewers = []Requirement{}, false // admins review the rules, not teams
	p.Apply = ApplyManual
	p.AllowUnapprovedScheduleDeletion = false
	p.RejectionBlocksApply = true
	if p.MinApprovals < 1 {
		p.MinApprovals = 1
	}
	if reviewers >= 1 && p.MinApprovals > reviewers {
		p.MinApprovals, capped = reviewers, true
	}
	p.Environments = slices.Compact(slices.Sorted(slices.Values(p.Environments)))
	if p.Environments == nil {
		p.Environments = []string{}
	}
	return p, capped
}
