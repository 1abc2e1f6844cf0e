package record

import (
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

type Suppression struct {
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	FeedbackID string    `json:"feedback_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

func FromSuppression(s domain.Suppression) Suppression {
	return Suppression{Reason: string(s.Reason), At: s.At, FeedbackID: s.FeedbackID, Detail: s.Detail}
}

func (r Suppression) Domain() domain.Suppression {
	return domain.Suppression{Reason: domain.SuppressionReason(r.Reason), At: r.At, FeedbackID: r.FeedbackID, Detail: r.Detail}
}

type Member struct {
	ID              string            `json:"id"`
	Email           string            `json:"email"`
	Name            string            `json:"name"`
	Role            string            `json:"role"`
	Projects        map[string]string `json:"project_roles,omitempty"`
	EmailOptOut     bool              `json:"email_opt_out"`
	EmailSuppressed *Suppression      `json:"email_suppressed,omitempty"`
	Version         int64             `json:"version"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

func FromMember(m domain.Member) Member {
	return Member{
		ID: m.ID, Email: m.Email, Name: m.Name, Role: string(m.Role), Projects: fromRoles(m.Projects), EmailOptOut: m.EmailOptOut,
		EmailSuppressed: optional(m.EmailSuppressed, FromSuppression), Version: m.Version, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
}

func (r Member) Domain() domain.Member {
	return domain.Member{
		ID: r.ID, Email: r.Email, Name: r.Name, Role: domain.Role(r.Role), Projects: toRoles(r.Projects), EmailOptOut: r.EmailOptOut,
		EmailSuppressed: optional(r.EmailSuppressed, Suppression.Domain), Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	MemberID   string     `json:"member_id,omitempty"`
	Role       string     `json:"role,omitempty"`
	Hash       string     `json:"hash"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Projects   []string   `json:"projects,omitempty"`
	// PendingRequest names the governance request whose apply makes the
	// token live; absent once it is (and for every token made live).
	PendingRequest string `json:"pending_request,omitempty"`
}

func FromToken(t domain.Token) Token {
	return Token{
		ID: t.ID, Name: t.Name, MemberID: t.MemberID, Role: string(t.Role), Hash: t.Hash, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Projects: slices.Clone(t.Projects),
		PendingRequest: t.PendingRequest,
	}
}

// fromRoles is project roles as stored (nil for none).
func fromRoles(roles map[string]domain.Role) map[string]string {
	if len(roles) == 0 {
		return nil
	}
	out := make(map[string]string, len(roles))
	for p, r := range roles {
		out[p] = string(r)
	}
	return out
}

func toRoles(roles map[string]string) map[string]domain.Role {
	if len(roles) == 0 {
		return nil
	}
	out := make(map[string]domain.Role, len(roles))
	for p, r := range roles {
		out[p] = domain.Role(r)
	}
	return out
}

func (r Token) Domain() domain.Token {
	return domain.Token{
		ID: r.ID, Name: r.Name, MemberID: r.MemberID, Role: domain.Role(r.Role), Hash: r.Hash, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt, Projects: slices.Clone(r.Projects),
		PendingRequest: r.PendingRequest,
	}
}

type SDKKey struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Environment string     `json:"environment"`
	Name        string     `json:"name"`
	Hash        string     `json:"hash"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ReplacedBy  string     `json:"replaced_by,omitempty"`
	Replaces    string     `json:"replaces,omitempty"`
	Kind        string     `json:"kind,omitempty"` // absent: a server key (keys made before kinds existed)
}

func FromSDKKey(k domain.SDKKey) SDKKey {
	return SDKKey{
		ID: k.ID, Project: k.Project, Environment: k.Environment, Name: k.Name, Hash: k.Hash, CreatedBy: k.CreatedBy,
		CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, ExpiresAt: k.ExpiresAt, ReplacedBy: k.ReplacedBy, Replaces: k.Replaces, Kind: string(k.Kind),
	}
}

func (r SDKKey) Domain() domain.SDKKey {
	return domain.SDKKey{
		ID: r.ID, Project: r.Project, Environment: r.Environment, Name: r.Name, Hash: r.Hash, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, ExpiresAt: r.ExpiresAt, ReplacedBy: r.ReplacedBy, Replaces: r.Replaces, Kind: domain.SDKKeyKind(r.Kind),
	}
}

type OrgSettings struct {
	Approvals bool      `json:"approvals"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

func FromOrgSettings(o domain.OrgSettings) OrgSettings {
	return OrgSettings{Approvals: o.Approvals, Version: o.Version, UpdatedAt: o.UpdatedAt}
}

func (r OrgSettings) Domain() domain.OrgSettings {
	return domain.OrgSettings{Approvals: r.Approvals, Version: r.Version, UpdatedAt: r.UpdatedAt}
}

type BypassGrant struct {
	MemberID string `json:"member_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
}

func FromBypassGrant(g domain.BypassGrant) BypassGrant {
	return BypassGrant{MemberID: g.MemberID, TokenID: g.TokenID}
}

func (r BypassGrant) Domain() domain.BypassGrant {
	return domain.BypassGrant{MemberID: r.MemberID, TokenID: r.TokenID}
}

type ApprovalSettings struct {
	Project                         string        `json:"project"`
	Environment                     string        `json:"environment"`
	Required                        string        `json:"required"`
	Tags                            []string      `json:"tags"`
	MinApprovals                    int           `json:"min_approvals"`
	AllowSelfApproval               bool          `json:"allow_self_approval"`
	RejectionBlocksApply            bool          `json:"rejection_blocks_apply"`
	Reviewers                       string        `json:"reviewers"`
	DesignatedReviewers             []string      `json:"designated_reviewers"`
	AutoApproveAfter                string        `json:"auto_approve_after"`
	ExpireAfter                     string        `json:"expire_after"`
	Apply                           string        `json:"apply"`
	LockWhilePending                bool          `json:"lock_while_pending"`
	APITokenBypass                  bool          `json:"api_token_bypass"`
	AllowUnapprovedScheduleDeletion bool          `json:"allow_unapproved_schedule_deletion"`
	Bypass                          []BypassGrant `json:"bypass"`
	// ReviewAfterBypass: "" (records written before it) reads as the
	// default, domain.DefaultReviewAfterBypass.
	ReviewAfterBypass string `json:"review_after_bypass,omitempty"`
	// Require, DistinctReviewers, RequireMaintainer: absent in records
	// written before teams, read as none and false.
	Require           []TeamRequirement `json:"require,omitempty"`
	DistinctReviewers bool              `json:"distinct_reviewers,omitempty"`
	RequireMaintainer bool              `json:"require_maintainer,omitempty"`
	Version           int64             `json:"version"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

type TeamRequirement struct {
	Team string `json:"team"`
	Min  int    `json:"min"`
}

func FromTeamRequirement(r domain.TeamRequirement) TeamRequirement {
	return TeamRequirement{Team: r.Team, Min: r.Min}
}

func (r TeamRequirement) Domain() domain.TeamRequirement {
	return domain.TeamRequirement{Team: r.Team, Min: r.Min}
}

func FromApprovalSettings(a domain.ApprovalSettings) ApprovalSettings {
	return ApprovalSettings{
		Project: a.Project, Environment: a.Environment, Required: string(a.Required), Tags: a.Tags, MinApprovals: a.MinApprovals,
		AllowSelfApproval: a.AllowSelfApproval, RejectionBlocksApply: a.RejectionBlocksApply, Reviewers: string(a.Reviewers),
		DesignatedReviewers: a.DesignatedReviewers, AutoApproveAfter: a.AutoApproveAfter, ExpireAfter: a.ExpireAfter,
		Apply: string(a.Apply), LockWhilePending: a.LockWhilePending, APITokenBypass: a.APITokenBypass,
		AllowUnapprovedScheduleDeletion: a.AllowUnapprovedScheduleDeletion, Bypass: each(a.Bypass, FromBypassGrant),
		ReviewAfterBypass: a.ReviewAfterBypass,
		Require:           each(a.Require, FromTeamRequirement), DistinctReviewers: a.DistinctReviewers, RequireMaintainer: a.RequireMaintainer,
		Version: a.Version, UpdatedAt: a.UpdatedAt,
	}
}

func (r ApprovalSettings) Domain() domain.ApprovalSettings {
	return domain.ApprovalSettings{
		Project: r.Project, Environment: r.Environment, Required: domain.Required(r.Required), Tags: r.Tags, MinApprovals: r.MinApprovals,
		AllowSelfApproval: r.AllowSelfApproval, RejectionBlocksApply: r.RejectionBlocksApply, Reviewers: domain.ReviewerMode(r.Reviewers),
		DesignatedReviewers: r.DesignatedReviewers, AutoApproveAfter: r.AutoApproveAfter, ExpireAfter: r.ExpireAfter,
		Apply: domain.ApplyMode(r.Apply), LockWhilePending: r.LockWhilePending, APITokenBypass: r.APITokenBypass,
		AllowUnapprovedScheduleDeletion: r.AllowUnapprovedScheduleDeletion, Bypass: each(r.Bypass, BypassGrant.Domain),
		ReviewAfterBypass: r.ReviewAfterBypass,
		Require:           each(r.Require, TeamRequirement.Domain), DistinctReviewers: r.DistinctReviewers, RequireMaintainer: r.RequireMaintainer,
		Version: r.Version, UpdatedAt: r.UpdatedAt,
	}
}
