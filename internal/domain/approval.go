package domain

import (
	"fmt"
	"slices"
	"time"
)

// OrgSettings are organisation-wide switches. Approvals must be on for any
// environment's approval settings to take effect.
type OrgSettings struct {
	Approvals bool      `json:"approvals"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Required says which flags' changes need approval in an environment.
type Required string

const (
	RequiredOff  Required = "off"
	RequiredAll  Required = "all"
	RequiredTags Required = "tags" // flags carrying any of ApprovalSettings.Tags
)

// ReviewerMode says who may review.
type ReviewerMode string

const (
	ReviewersPeer       ReviewerMode = "peer"       // anyone with review permission (editor and above)
	ReviewersDesignated ReviewerMode = "designated" // the designated list, and admins
)

// ApplyMode says what happens once a request is approved.
type ApplyMode string

const (
	ApplyManual     ApplyMode = "manual"      // someone applies it ("Enable now")
	ApplyOnApproval ApplyMode = "on_approval" // it applies as the approving review lands
)

// Auto-approval windows.
const (
	AutoApproveNever = "never"
	AutoApprove24h   = "24h"
	AutoApprove48h   = "48h"
)

// BypassGrant lets one member or one token change the environment without a
// request, for incidents; every use is audited with a reason.
type BypassGrant struct {
	MemberID string `json:"member_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
}

// ApprovalSettings is an environment's approval policy.
type ApprovalSettings struct {
	Project                         string        `json:"project"`
	Environment                     string        `json:"environment"`
	Required                        Required      `json:"required"`
	Tags                            []string      `json:"tags"`
	MinApprovals                    int           `json:"min_approvals"`
	AllowSelfApproval               bool          `json:"allow_self_approval"`
	RejectionBlocksApply            bool          `json:"rejection_blocks_apply"`
	Reviewers                       ReviewerMode  `json:"reviewers"`
	DesignatedReviewers             []string      `json:"designated_reviewers"`
	AutoApproveAfter                string        `json:"auto_approve_after"`
	ExpireAfter                     string        `json:"expire_after"`
	Apply                           ApplyMode     `json:"apply"`
	LockWhilePending                bool          `json:"lock_while_pending"`
	APITokenBypass                  bool          `json:"api_token_bypass"`
	AllowUnapprovedScheduleDeletion bool          `json:"allow_unapproved_schedule_deletion"`
	Bypass                          []BypassGrant `json:"bypass"`
	// ReviewAfterBypass is how long another reviewer has to acknowledge
	// a bypass (breakglass.go): 1h to 168h, DefaultReviewAfterBypass
	// when unset.
	ReviewAfterBypass string `json:"review_after_bypass"`
	// Require are the teams whose approvals a request needs, on top of
	// (or, with MinApprovals 0, instead of) the overall quorum.
	Require []TeamRequirement `json:"require"`
	// DistinctReviewers: one reviewer fills one requirement at most;
	// without it one approval counts for every team its reviewer is in.
	DistinctReviewers bool `json:"distinct_reviewers"`
	// RequireMaintainer: one approval from the maintainers of each flag
	// a request changes (the maintainer, the maintainer team, the
	// project's admins), like code owners.
	RequireMaintainer bool      `json:"require_maintainer"`
	Version           int64     `json:"version"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// TeamRequirement is "Min approvals from the members of Team".
type TeamRequirement struct {
	Team string `json:"team"`
	Min  int    `json:"min"`
}

// MaxTeamRequirements bounds an environment's team requirements.
const MaxTeamRequirements = 5

// DefaultApprovalSettings are an environment's settings before anyone wrote
// them: protected environments require one approval for every flag (once
// the organisation switch is on); others require none.
func DefaultApprovalSettings(env *Environment) *ApprovalSettings {
	s := &ApprovalSettings{
		Project: env.Project, Environment: env.Key, Required: RequiredOff, Tags: []string{}, MinApprovals: 1,
		RejectionBlocksApply: true, Reviewers: ReviewersPeer, DesignatedReviewers: []string{},
		AutoApproveAfter: AutoApproveNever, Apply: ApplyManual, Bypass: []BypassGrant{},
		ReviewAfterBypass: DefaultReviewAfterBypass,
	}
	if env.Protected {
		s.Required = RequiredAll
	}
	return s
}

// Validate checks the settings on their own; designated reviewers' roles are
// checked by the application, which can read members.
func (s *ApprovalSettings) Validate() error {
	var v Validation
	switch s.Required {
	case RequiredOff, RequiredAll:
	case RequiredTags:
		if len(s.Tags) == 0 {
			v.Add("/tags", "required \"tags\" needs at least one tag")
		}
	default:
		v.Add("/required", "must be off, all or tags")
	}
	for i, t := range s.Tags {
		if !slugRe.MatchString(t) {
			v.Add(fmt.Sprintf("/tags/%d", i), "a tag must be lower-case letters, digits and dashes")
		}
	}
	switch {
	case s.MinApprovals == 0 && (len(s.Require) > 0 || s.RequireMaintainer):
		// the team requirements stand instead of an overall quorum
	case s.MinApprovals < 1 || s.MinApprovals > 5:
		v.Add("/min_approvals", "must be from 1 to 5 (0 only when require or require_maintainer is set)")
	}
	if len(s.Require) > MaxTeamRequirements {
		v.Add("/require", "at most %d team requirements", MaxTeamRequirements)
	}
	for i, r := range s.Require {
		ptr := fmt.Sprintf("/require/%d", i)
		if !ValidKey(r.Team) {
			v.Add(ptr+"/team", "must be a team's key")
		}
		if r.Min < 1 || r.Min > 5 {
			v.Add(ptr+"/min", "must be from 1 to 5")
		}
		if slices.IndexFunc(s.Require[:i], func(o TeamRequirement) bool { return o.Team == r.Team }) >= 0 {
			v.Add(ptr+"/team", "team %q is required twice; name each team once", r.Team)
		}
	}
	switch s.Reviewers {
	case ReviewersPeer:
	case ReviewersDesignated:
		if len(s.DesignatedReviewers) == 0 {
			v.Add("/designated_reviewers", "designated reviewers need at least one member")
		}
	default:
		v.Add("/reviewers", "must be peer or designated")
	}
	switch s.AutoApproveAfter {
	case AutoApproveNever, AutoApprove24h, AutoApprove48h:
	default:
		v.Add("/auto_approve_after", "must be never, 24h or 48h")
	}
	if s.ExpireAfter != "" {
		if d, err := time.ParseDuration(s.ExpireAfter); err != nil || d < time.Hour || d > 365*24*time.Hour {
			v.Add("/expire_after", "must be empty (never) or a duration from 1h to 8760h, like 168h")
		}
	}
	switch s.Apply {
	case ApplyManual, ApplyOnApproval:
	default:
		v.Add("/apply", "must be manual or on_approval")
	}
	if s.ReviewAfterBypass != "" && !validReviewAfterBypass(s.ReviewAfterBypass) {
		v.Add("/review_after_bypass", "must be a duration from 1h to 168h, like 24h")
	}
	for i, b := range s.Bypass {
		if (b.MemberID == "") == (b.TokenID == "") {
			v.Add(fmt.Sprintf("/bypass/%d", i), "a bypass grant names exactly one of member_id or token_id")
		}
	}
	return v.Err()
}

// Gates reports whether changes to f need approval in this environment,
// given the organisation switch.
func (s *ApprovalSettings) Gates(org *OrgSettings, f *Flag) bool {
	if org == nil || !org.Approvals {
		return false
	}
	switch s.Required {
	case RequiredAll:
		return true
	case RequiredTags:
		for _, t := range s.Tags {
			if f.HasTag(t) {
				return true
			}
		}
	}
	return false
}

// CanBypass reports whether the member or token holds a bypass grant.
func (s *ApprovalSettings) CanBypass(memberID, tokenID string) bool {
	for _, b := range s.Bypass {
		if (b.MemberID != "" && b.MemberID == memberID) || (b.TokenID != "" && b.TokenID == tokenID) {
			return true
		}
	}
	return false
}

// Policy is the part of the settings a change request keeps from its
// creation: the quorum does not move under a request.
type Policy struct {
	MinApprovals         int          `json:"min_approvals"`
	AllowSelfApproval    bool         `json:"allow_self_approval"`
	RejectionBlocksApply bool         `json:"rejection_blocks_apply"`
	Reviewers            ReviewerMode `json:"reviewers"`
	DesignatedReviewers  []string     `json:"designated_reviewers"`
	Apply                ApplyMode    `json:"apply"`
	AutoApproveAfter     string       `json:"auto_approve_after"`
	ExpireAfter          string       `json:"expire_after"`
	// AllowUnapprovedScheduleDeletion lets the requester alone delete an
	// approved scheduled change.
	AllowUnapprovedScheduleDeletion bool `json:"allow_unapproved_schedule_deletion"`
	// Environments the policy was drawn from (several for a flag-level
	// change: the strictest of all that serve the variant).
	Environments []string `json:"environments"`
	// Requirements are the team and maintainer requirements, each with
	// who can supply it as read when the request was opened (fixed, as
	// the quorum is): joining or leaving a team later changes nothing.
	Requirements []Requirement `json:"requirements"`
	// DistinctReviewers: one reviewer fills one requirement at most.
	DistinctReviewers bool `json:"distinct_reviewers"`
}

// Requirement is a number of approvals a request needs from a group of
// members: a team's, or a flag's maintainers.
type Requirement struct {
	Name    string   `json:"name"`           // "sre", "maintainers of payment-v2"
	Team    string   `json:"team,omitempty"` // the team; "" for a flag's maintainers
	Flag    string   `json:"flag,omitempty"` // the flag, for maintainer requirements
	Min     int      `json:"min"`
	Members []string `json:"members"` // who counts for it, read when the request was opened
}

// TeamRequirementOf is the requirement of r, with the team's members as
// the application read them.
func TeamRequirementOf(r TeamRequirement, members []string) Requirement {
	return Requirement{Name: r.Team, Team: r.Team, Min: r.Min, Members: slices.Clone(members)}
}

// MaintainerRequirement is "one approval from the maintainers of flag":
// the maintainer, the maintainer team's members and the project's admins
// (members, as the application read them).
func MaintainerRequirement(flag string, members []string) Requirement {
	return Requirement{Name: "maintainers of " + flag, Flag: flag, Min: 1, Members: slices.Clone(members)}
}

// key names what a requirement requires: a team, or a flag's maintainers.
func (r Requirement) key() string {
	if r.Team != "" {
		return "team:" + r.Team
	}
	return "flag:" + r.Flag
}

// UniteRequirements is a and b, one requirement per team (or flag's
// maintainers): for the same one the higher Min, its members united.
func UniteRequirements(a, b []Requirement) []Requirement {
	out := make([]Requirement, 0, len(a)+len(b))
	for _, r := range slices.Concat(a, b) {
		i := slices.IndexFunc(out, func(o Requirement) bool { return o.key() == r.key() })
		if i < 0 {
			r.Members = slices.Clone(r.Members)
			if r.Members == nil {
				r.Members = []string{}
			}
			out = append(out, r)
			continue
		}
		out[i].Min = max(out[i].Min, r.Min)
		for _, m := range r.Members {
			if !slices.Contains(out[i].Members, m) {
				out[i].Members = append(out[i].Members, m)
			}
		}
	}
	return out
}

// PolicyOf is the policy of one environment's settings.
func PolicyOf(s *ApprovalSettings) Policy {
	return Policy{
		MinApprovals: s.MinApprovals, AllowSelfApproval: s.AllowSelfApproval, RejectionBlocksApply: s.RejectionBlocksApply,
		Reviewers: s.Reviewers, DesignatedReviewers: slices.Clone(s.DesignatedReviewers), Apply: s.Apply,
		AutoApproveAfter: s.AutoApproveAfter, ExpireAfter: s.ExpireAfter, Environments: []string{s.Environment},
		AllowUnapprovedScheduleDeletion: s.AllowUnapprovedScheduleDeletion,
		Requirements:                    []Requirement{}, DistinctReviewers: s.DistinctReviewers,
	}
}

// Strictest combines policies as LaunchDarkly does for variations served in
// several environments: the highest quorum, self-approval only if all allow
// it, a rejection blocks if any says so, designated reviewers if any
// designates (the lists united), manual apply if any is manual, the shortest
// expiry, and auto-approval only if all allow it (the longest window).
// Requirements are united (UniteRequirements), and reviewers are distinct
// if any says so.
func Strictest(ps []Policy) Policy {
	if len(ps) == 0 {
		return Policy{MinApprovals: 1, Reviewers: ReviewersPeer, Apply: ApplyManual, AutoApproveAfter: AutoApproveNever, DesignatedReviewers: []string{}, Environments: []string{},
			Requirements: []Requirement{}}
	}
	out := ps[0]
	out.DesignatedReviewers = slices.Clone(out.DesignatedReviewers)
	out.Environments = slices.Clone(out.Environments)
	out.Requirements = UniteRequirements(out.Requirements, nil)
	if out.Reviewers == ReviewersPeer {
		out.DesignatedReviewers = []string{}
	}
	for _, p := range ps[1:] {
		out.MinApprovals = max(out.MinApprovals, p.MinApprovals)
		out.AllowSelfApproval = out.AllowSelfApproval && p.AllowSelfApproval
		out.RejectionBlocksApply = out.RejectionBlocksApply || p.RejectionBlocksApply
		if p.Reviewers == ReviewersDesignated {
			out.Reviewers = ReviewersDesignated
			for _, m := range p.DesignatedReviewers {
				if !slices.Contains(out.DesignatedReviewers, m) {
					out.DesignatedReviewers = append(out.DesignatedReviewers, m)
				}
			}
		}
		if p.Apply == ApplyManual {
			out.Apply = ApplyManual
		}
		out.AutoApproveAfter = laterAutoApproval(out.AutoApproveAfter, p.AutoApproveAfter)
		out.ExpireAfter = shorterExpiry(out.ExpireAfter, p.ExpireAfter)
		out.AllowUnapprovedScheduleDeletion = out.AllowUnapprovedScheduleDeletion && p.AllowUnapprovedScheduleDeletion
		out.Environments = append(out.Environments, p.Environments...)
		out.Requirements = UniteRequirements(out.Requirements, p.Requirements)
		out.DistinctReviewers = out.DistinctReviewers || p.DistinctReviewers
	}
	return out
}

func laterAutoApproval(a, b string) string {
	rank := map[string]int{AutoApprove24h: 1, AutoApprove48h: 2, AutoApproveNever: 3}
	if rank[a] >= rank[b] {
		return a
	}
	return b
}

func shorterExpiry(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	da, _ := time.ParseDuration(a)
	db, _ := time.ParseDuration(b)
	if db < da {
		return b
	}
	return a
}
