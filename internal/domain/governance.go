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
// environment's approval settings or protection, a member's roles, a
// service token with manager or admin rights, a freeze removed or
// narrowed, or members added to a team that approvals count.
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
	GovernServiceToken     GovernanceTarget = "service_token"
	GovernFreeze           GovernanceTarget = "freeze"
	GovernTeam             GovernanceTarget = "team"
)

// GovernanceTargets are every target, in the order above.
var GovernanceTargets = []GovernanceTarget{GovernOrgSettings, GovernApprovalSettings, GovernEnvironment, GovernMember,
	GovernServiceToken, GovernFreeze, GovernTeam}

// GovernanceChange is a proposed change to the rules with its base, the
// value it was made on. One pair of proposal and base is set, by What.
type GovernanceChange struct {
	What        GovernanceTarget
	Project     string // approval settings, environment
	Environment string // approval settings, environment
	Member      string // member
	Token       string // service token: its id
	Freeze      string // freeze: its id
	Team        string // team: its key

	Org, BaseOrg           *OrgSettings
	Settings, BaseSettings *ApprovalSettings
	Env, BaseEnv           *Environment
	Person, BasePerson     *Member
	// NewToken is the service token the change makes live, as written
	// pending (its hash stays with the token, never here); it has no base.
	NewToken *Token
	// NewFreeze is the freeze as the change leaves it, nil when the change
	// deletes it; BaseFreeze the freeze it was made on.
	NewFreeze, BaseFreeze *Freeze
	// NewTeam is the team as the change leaves it (its name and members),
	// BaseTeam the team it was made on.
	NewTeam, BaseTeam *Team
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
	case GovernServiceToken:
		return g.NewToken, (*Token)(nil)
	case GovernFreeze:
		return g.NewFreeze, g.BaseFreeze
	case GovernTeam:
		return g.NewTeam, g.BaseTeam
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
	case GovernServiceToken:
		if g.NewToken != nil {
			return fmt.Sprintf("service token %q (%s)", g.NewToken.Name, g.Token)
		}
		return "service token " + g.Token
	case GovernFreeze:
		if g.BaseFreeze != nil {
			return fmt.Sprintf("freeze %q (%s)", g.BaseFreeze.Name, g.Freeze)
		}
		return "freeze " + g.Freeze
	case GovernTeam:
		return fmt.Sprintf("the members of team %q", g.Team)
	}
	if g.BasePerson != nil {
		return "the roles of " + g.BasePerson.Email
	}
	return "member " + g.Member
}

// ApplyRole is the role applying the change needs where it applies: what
// the direct write needs (manager for settings, environments, freezes and
// teams, admin for members and service tokens).
func (g *GovernanceChange) ApplyRole() Role {
	if g.What == GovernMember || g.What == GovernServiceToken {
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
		line := w.Detail
		if w.Pointer != "" {
			line = w.Pointer + ": " + w.Detail
		}
		d.Summary = append(d.Summary, line)
	}
	return d, nil
}

// Moved is what changed in the rule since the change's base: from the
// base to live (the rule as it is now).
func (g *GovernanceChange) Moved(live any) (*Diff, error) {
	_, base := g.pair()
	return AnyDiff(bookkeepingFree(base), bookkeepingFree(live))
}

// MemberRoles is what a member governance change changes: the member's
// roles (the change's diff, and its audit entry's).
type MemberRoles struct {
	Role     Role            `json:"role"`
	Projects map[string]Role `json:"project_roles,omitempty"`
}

// Roles is m's roles.
func (m *Member) Roles() *MemberRoles { return &MemberRoles{Role: m.Role, Projects: m.Projects} }

// TokenRights is what a service token governance change grants: a live
// token of this name, role and project limits.
type TokenRights struct {
	Name     string   `json:"name"`
	Role     Role     `json:"role"`
	Projects []string `json:"projects,omitempty"`
}

// Rights is what t grants while it is live, nil while it is pending or
// once revoked (it grants nothing then).
func (t *Token) Rights() *TokenRights {
	if t == nil || t.Pending() || t.RevokedAt != nil {
		return nil
	}
	return &TokenRights{Name: t.Name, Role: t.Role, Projects: t.Projects}
}

// bookkeepingFree is v without its version and update time, so that a diff
// shows what changed, not that it was written; a member is its roles, a
// token what it grants.
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
			return x.Roles()
		}
	case *Token:
		if r := x.Rights(); r != nil {
			return r
		}
		return nil
	case *Freeze:
		if x != nil {
			return x.terms()
		}
	case *Team:
		if x != nil {
			return x.Terms()
		}
	}
	return v
}

// freezeTerms is what a freeze freezes, and when, named as the API names
// it: what a freeze governance change's diff shows.
type freezeTerms struct {
	Name         string         `json:"name"`
	Reason       string         `json:"reason,omitempty"`
	Project      string         `json:"project,omitempty"`
	Environments []string       `json:"environments"`
	From         *time.Time     `json:"from,omitempty"`
	To           *time.Time     `json:"to,omitempty"`
	Start        string         `json:"start,omitempty"`
	End          string         `json:"end,omitempty"`
	TimeZone     string         `json:"time_zone,omitempty"`
	Scheduled    FreezeSchedule `json:"scheduled"`
}

func (f *Freeze) terms() *freezeTerms {
	return &freezeTerms{Name: f.Name, Reason: f.Reason, Project: f.Project, Environments: f.Environments,
		From: f.From, To: f.To, Start: f.Start, End: f.End, TimeZone: f.TimeZone, Scheduled: f.Scheduled}
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
	case GovernServiceToken:
		return 0 // a token has no version: pending is 0 (TokenVersion)
	case GovernFreeze:
		return g.BaseFreeze.Version
	case GovernTeam:
		return g.BaseTeam.Version
	}
	return g.BasePerson.Version
}

// CheckActivate refuses to make t live unless it is pending: a revoked
// token stays revoked, a live one is live already.
func (t *Token) CheckActivate() error {
	switch {
	case t.RevokedAt != nil:
		return Errorf(CodeConflict, "token %s was revoked: it can no longer be made live", t.ID)
	case !t.Pending():
		return Errorf(CodeConflict, "token %s is live already", t.ID)
	}
	return nil
}

// TokenVersion is the version a service token governance change checks
// its base against: 0 while the token is pending, 1 once it is live or
// revoked (it moved: the change can no longer apply).
func TokenVersion(t *Token) int64 {
	if t != nil && t.Pending() && t.RevokedAt == nil {
		return 0
	}
	return 1
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
	// every project either names: an override removed gives the
	// organisation role back there, which may be a raise too
	projects := sortedKeys(after.Projects)
	for _, p := range sortedKeys(before.Projects) {
		if _, ok := after.Projects[p]; !ok {
			projects = append(projects, p)
		}
	}
	for _, p := range projects {
		now := after.Role // there, whatever the organisation role (whose raise is above)
		if r, ok := after.Projects[p]; ok {
			now = r
		}
		was := before.RoleIn(p)
		if raisedToManager(was, now) {
			out = append(out, FieldError{Pointer: "/project_roles/" + p, Detail: fmt.Sprintf("%s → %s in %s: promoted", roleName(was), now, p)})
		}
	}
	return out
}

// WeakenedToken is why creating token t needs a second person: a service
// token with the manager or admin role (wherever its project limits let
// it act, the role is the same). A member's token needs none: its rights
// are capped at its member's.
func WeakenedToken(t *Token) []FieldError {
	if t.Service() && t.Role.AtLeast(RoleManager) {
		return []FieldError{{Pointer: "/role", Detail: fmt.Sprintf("a service token with the %s role", t.Role)}}
	}
	return nil
}

// WeakenedTeam is why changing team before into after needs a second
// person, where use says how the team counts for approvals ("the approval
// settings of shop/production require", "flag shop/checkout has as its
// maintainer team"; "" when it counts nowhere, and then nothing weakens).
// Field by field (TestEveryTeamFieldHasADirection):
//
//   - members: one added weakens (one more person may supply the team's
//     approvals, chosen by one person); one removed does not (fewer may: a
//     requirement gets harder to meet, never easier, and offboarding must
//     be fast), so replacing the list weakens when it adds anyone;
//   - name: neither, it names the team only;
//   - key: identity (it never changes); version, created_at, updated_at:
//     bookkeeping.
func WeakenedTeam(before, after *Team, use string) []FieldError {
	if use == "" {
		return nil
	}
	var out []FieldError
	for _, m := range after.Members {
		if !before.HasMember(m) {
			out = append(out, FieldError{Pointer: "/members", Detail: fmt.Sprintf("member %s added: they may approve for team %s, which %s", m, after.Key, use)})
		}
	}
	return out
}

// Concerns reports whether the change is about member id: the member whose
// roles it changes, or one it adds to a team. Nobody approves their own
// promotion, nor their own power to approve for a team.
func (g *GovernanceChange) Concerns(id string) bool {
	if id == "" {
		return false
	}
	if g.Member == id {
		return true
	}
	return g.What == GovernTeam && g.NewTeam != nil && g.NewTeam.HasMember(id) && (g.BaseTeam == nil || !g.BaseTeam.HasMember(id))
}

// freezeHorizon is how far ahead WeakenedFreeze compares a freeze's
// windows: a year, as Validate checks them.
const freezeHorizon = freezeCheckAhead

// WeakenedFreeze is why changing freeze before into after (nil: deleting
// it) at now weakens the rules, one entry per field that narrows it:
//
//   - deleted;
//   - project: every project → one, or one → another;
//   - environments: every environment → some, or one removed;
//   - scheduled: fail → hold (a scheduled apply then waits and applies by
//     itself after the freeze, where it failed and someone had to decide
//     again);
//   - from, to, start, end, time_zone: some instant from now over the next
//     year that before freezes, after does not (a later start, an earlier
//     end, a moved zone...), each of those that changed is named.
//
// Name and reason change nothing frozen. A freeze never in force again
// (a one-off whose window ended) weakens nothing, deleted or changed.
// Every field has a direction (TestEveryFreezeFieldHasADirection).
func WeakenedFreeze(before, after *Freeze, now time.Time) []FieldError {
	if !before.InForceFrom(now) {
		return nil
	}
	if after == nil {
		return []FieldError{{Detail: fmt.Sprintf("freeze %q deleted: its environments are no longer frozen", before.Name)}}
	}
	var out []FieldError
	add := func(ptr, format string, args ...any) {
		out = append(out, FieldError{Pointer: ptr, Detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case before.Project == "" && after.Project != "":
		add("/project", "every project → %s: the other projects are no longer frozen", after.Project)
	case before.Project != "" && after.Project != "" && after.Project != before.Project:
		add("/project", "%s → %s: %s is no longer frozen", before.Project, after.Project, before.Project)
	}
	switch {
	case len(before.Environments) == 0 && len(after.Environments) > 0:
		add("/environments", "every environment → %v: the others are no longer frozen", after.Environments)
	case len(after.Environments) > 0:
		for _, e := range before.Environments {
			if !slices.Contains(after.Environments, e) {
				add("/environments", "%s removed: it is no longer frozen", e)
			}
		}
	}
	if before.Scheduled == FreezeFail && after.Scheduled != FreezeFail {
		add("/scheduled", "fail → %s: a scheduled apply waits for the end and then applies, instead of failing", after.Scheduled)
	}
	windows := [][3]string{
		{"/from", timeString(before.From), timeString(after.From)},
		{"/to", timeString(before.To), timeString(after.To)},
		{"/start", before.Start, after.Start},
		{"/end", before.End, after.End},
		{"/time_zone", before.TimeZone, after.TimeZone},
	}
	if !slices.ContainsFunc(windows, func(w [3]string) bool { return w[1] != w[2] }) {
		return out // the same windows
	}
	if lost, ok := before.uncoveredBy(after, now); ok {
		at := lost.UTC().Format(time.RFC3339)
		for _, w := range windows {
			if w[1] != w[2] {
				add(w[0], "%s → %s: %s is no longer frozen", orNone(w[1]), orNone(w[2]), at)
			}
		}
	}
	return out
}

func timeString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// InForceFrom reports whether the freeze is in force at now or will be
// later (a one-off freeze whose window ended never is again).
func (f *Freeze) InForceFrom(now time.Time) bool {
	if _, _, active := f.Window(now); active {
		return true
	}
	_, _, ok := f.Next(now)
	return ok
}

// uncoveredBy is the first instant, from now over the next freezeHorizon,
// that f freezes and g does not (both read as the freeze checks read
// them: Window); false when g freezes all f does. Past freezeCompareSteps
// windows looked at, it answers the instant it reached as uncovered: a
// comparison it cannot finish needs a second person.
func (f *Freeze) uncoveredBy(g *Freeze, now time.Time) (time.Time, bool) {
	limit := now.Add(freezeHorizon)
	t := now
	for steps := 0; !t.After(limit); {
		if steps++; steps > freezeCompareSteps {
			return t, true
		}
		_, end, active := f.Window(t)
		if !active {
			start, _, ok := f.Next(t)
			if !ok {
				return time.Time{}, false
			}
			t = start
			continue
		}
		// f freezes [t, end): g must freeze it all
		for t.Before(end) {
			if steps++; steps > freezeCompareSteps {
				return t, true
			}
			_, gend, gactive := g.Window(t)
			if !gactive || !gend.After(t) {
				return t, true
			}
			t = gend
		}
	}
	return time.Time{}, false
}

// freezeCompareSteps bounds the windows uncoveredBy looks at.
const freezeCompareSteps = 4 * freezeChecks

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
