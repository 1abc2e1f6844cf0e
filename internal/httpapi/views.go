package httpapi

import (
	"encoding/json"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The API's views: what a response shows of the domain's values, in types
// of its own whose json tags are the API's contract (openapi.yaml says the
// same). The domain's structs are never encoded as they are: their tags
// are not the contract, and a field added to one reaches no client until a
// view shows it. views_test.go fails when a domain field has no decision
// here (shown by a view, or listed as deliberately not shown), and the
// golden test (golden_test.go) pins every response byte for byte.
//
// Conversions copy slices and maps as they are: a nil slice stays nil
// (JSON null) and an empty one empty ([]), as the domain values had them.
// Where a view is also what a client sends back (PUT bodies, PATCH
// documents, proposals), toDomain converts it the other way.

// mapSlice converts each element; nil stays nil.
func mapSlice[S, D any](in []S, conv func(*S) D) []D {
	if in == nil {
		return nil
	}
	out := make([]D, len(in))
	for i := range in {
		out[i] = conv(&in[i])
	}
	return out
}

// orEmpty is s, or an empty list for nil: a list the API always shows.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// mapPtr converts a pointed-to value; nil stays nil.
func mapPtr[S, D any](in *S, conv func(*S) D) *D {
	if in == nil {
		return nil
	}
	out := conv(in)
	return &out
}

// ---- projects and environments ----

// ProjectView is a project.
type ProjectView struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func projectView(p *domain.Project) ProjectView {
	return ProjectView{Key: p.Key, Name: p.Name, Description: p.Description, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (v *ProjectView) toDomain() domain.Project {
	return domain.Project{Key: v.Key, Name: v.Name, Description: v.Description, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// EnvironmentView is an environment of a project.
type EnvironmentView struct {
	Project   string `json:"project"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	Protected bool   `json:"protected"`
	// AllowedOrigins: the web origins whose pages may call with the
	// environment's client keys (CORS), [] when none.
	AllowedOrigins []string  `json:"allowed_origins"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func environmentView(e *domain.Environment) EnvironmentView {
	origins := e.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return EnvironmentView{Project: e.Project, Key: e.Key, Name: e.Name, Protected: e.Protected, AllowedOrigins: origins, Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func (v *EnvironmentView) toDomain() domain.Environment {
	var origins []string // none: stored as nothing
	if len(v.AllowedOrigins) > 0 {
		origins = v.AllowedOrigins
	}
	return domain.Environment{Project: v.Project, Key: v.Key, Name: v.Name, Protected: v.Protected, AllowedOrigins: origins, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// ---- flags ----

// VariantView is one value a flag serves.
type VariantView struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
}

func variantView(v *domain.Variant) VariantView {
	return VariantView{Key: v.Key, Value: v.Value, Name: v.Name, Description: v.Description}
}

func (v *VariantView) toDomain() domain.Variant {
	return domain.Variant{Key: v.Key, Value: v.Value, Name: v.Name, Description: v.Description}
}

// FlagView is a flag.
type FlagView struct {
	Project        string                `json:"project"`
	Key            string                `json:"key"`
	Name           string                `json:"name"`
	Description    string                `json:"description"`
	Tags           []string              `json:"tags"`
	Maintainer     string                `json:"maintainer"`
	MaintainerTeam string                `json:"maintainer_team"`
	BucketingUnit  string                `json:"bucketing_unit"`
	BucketingSalt  string                `json:"bucketing_salt"`
	EvaluationMode domain.EvaluationMode `json:"evaluation_mode"`
	Variants       []VariantView         `json:"variants"`
	Archived       bool                  `json:"archived"`
	ClientExposed  bool                  `json:"client_exposed"` // client keys (browsers, mobile apps) may evaluate it
	Version        int64                 `json:"version"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
}

func flagView(f *domain.Flag) FlagView {
	return FlagView{Project: f.Project, Key: f.Key, Name: f.Name, Description: f.Description, Tags: f.Tags, Maintainer: f.Maintainer, MaintainerTeam: f.MaintainerTeam,
		BucketingUnit: f.BucketingUnit, BucketingSalt: f.BucketingSalt, EvaluationMode: f.EvaluationMode,
		Variants: mapSlice(f.Variants, variantView), Archived: f.Archived, ClientExposed: f.ClientExposed, Version: f.Version, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

func (v *FlagView) toDomain() domain.Flag {
	return domain.Flag{Project: v.Project, Key: v.Key, Name: v.Name, Description: v.Description, Tags: v.Tags, Maintainer: v.Maintainer, MaintainerTeam: v.MaintainerTeam,
		BucketingUnit: v.BucketingUnit, BucketingSalt: v.BucketingSalt, EvaluationMode: v.EvaluationMode,
		Variants: mapSlice(v.Variants, (*VariantView).toDomain), Archived: v.Archived, ClientExposed: v.ClientExposed, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// ---- targeting ----

// WeightView is a variant's share of a rule's users.
type WeightView struct {
	Variant string `json:"variant"`
	Weight  int    `json:"weight"`
}

func weightView(w *domain.Weight) WeightView { return WeightView{Variant: w.Variant, Weight: w.Weight} }

func (v *WeightView) toDomain() domain.Weight {
	return domain.Weight{Variant: v.Variant, Weight: v.Weight}
}

// AllocationView is who of a rule's users is served, and which variant.
type AllocationView struct {
	Rollout float64      `json:"rollout"`
	Weights []WeightView `json:"weights"`
}

func allocationView(a *domain.Allocation) AllocationView {
	return AllocationView{Rollout: a.Rollout, Weights: mapSlice(a.Weights, weightView)}
}

func (v *AllocationView) toDomain() domain.Allocation {
	return domain.Allocation{Rollout: v.Rollout, Weights: mapSlice(v.Weights, (*WeightView).toDomain)}
}

// ConditionView is one test on a user attribute.
type ConditionView struct {
	Attribute string          `json:"attribute"`
	Operator  domain.Operator `json:"operator"`
	Values    []string        `json:"values"`
}

func conditionView(c *domain.Condition) ConditionView {
	return ConditionView{Attribute: c.Attribute, Operator: c.Operator, Values: c.Values}
}

func (v *ConditionView) toDomain() domain.Condition {
	return domain.Condition{Attribute: v.Attribute, Operator: v.Operator, Values: v.Values}
}

// RuleView is a targeting rule: its conditions, with its allocation's
// members beside them.
type RuleView struct {
	Name       string          `json:"name"`
	Conditions []ConditionView `json:"conditions"`
	AllocationView
}

func ruleView(r *domain.Rule) RuleView {
	return RuleView{Name: r.Name, Conditions: mapSlice(r.Conditions, conditionView), AllocationView: allocationView(&r.Allocation)}
}

func (v *RuleView) toDomain() domain.Rule {
	return domain.Rule{Name: v.Name, Conditions: mapSlice(v.Conditions, (*ConditionView).toDomain), Allocation: v.AllocationView.toDomain()}
}

// FlagConfigView is a flag's targeting in one environment.
type FlagConfigView struct {
	Project         string         `json:"project"`
	Flag            string         `json:"flag"`
	Environment     string         `json:"environment"`
	Enabled         bool           `json:"enabled"`
	Rules           []RuleView     `json:"rules"`
	DefaultRule     AllocationView `json:"default_rule"`
	OffVariant      string         `json:"off_variant"`
	StickyBucketing bool           `json:"sticky_bucketing"`
	ExposureEvent   string         `json:"exposure_event"`
	Version         int64          `json:"version"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

func flagConfigView(c *domain.FlagConfig) FlagConfigView {
	return FlagConfigView{Project: c.Project, Flag: c.Flag, Environment: c.Environment, Enabled: c.Enabled, Rules: mapSlice(c.Rules, ruleView),
		DefaultRule: allocationView(&c.DefaultRule), OffVariant: c.OffVariant, StickyBucketing: c.StickyBucketing,
		ExposureEvent: c.ExposureEvent, Version: c.Version, UpdatedAt: c.UpdatedAt}
}

func (v *FlagConfigView) toDomain() domain.FlagConfig {
	return domain.FlagConfig{Project: v.Project, Flag: v.Flag, Environment: v.Environment, Enabled: v.Enabled,
		Rules: mapSlice(v.Rules, (*RuleView).toDomain), DefaultRule: v.DefaultRule.toDomain(), OffVariant: v.OffVariant,
		StickyBucketing: v.StickyBucketing, ExposureEvent: v.ExposureEvent, Version: v.Version, UpdatedAt: v.UpdatedAt}
}

// ---- members ----

// SuppressionView says why mail to a member's address is not sent.
type SuppressionView struct {
	Reason     domain.SuppressionReason `json:"reason"`
	At         time.Time                `json:"at"`
	FeedbackID string                   `json:"feedback_id,omitempty"`
	Detail     string                   `json:"detail,omitempty"`
}

func suppressionView(s *domain.Suppression) SuppressionView {
	return SuppressionView{Reason: s.Reason, At: s.At, FeedbackID: s.FeedbackID, Detail: s.Detail}
}

func (v *SuppressionView) toDomain() domain.Suppression {
	return domain.Suppression{Reason: v.Reason, At: v.At, FeedbackID: v.FeedbackID, Detail: v.Detail}
}

// MemberView is a member of the organisation.
type MemberView struct {
	ID    string      `json:"id"`
	Email string      `json:"email"`
	Name  string      `json:"name"`
	Role  domain.Role `json:"role"`
	// ProjectRoles replace Role in their projects ("none" keeps the
	// member out of one); an organisation admin is an admin everywhere.
	Projects        map[string]domain.Role `json:"project_roles"`
	EmailOptOut     bool                   `json:"email_opt_out"`
	EmailSuppressed *SuppressionView       `json:"email_suppressed,omitempty"`
	Version         int64                  `json:"version"`
	CreatedAt       time.Time              `json:"created_at"`
	UpdatedAt       time.Time              `json:"updated_at"`
}

func memberView(m *domain.Member) MemberView {
	return MemberView{ID: m.ID, Email: m.Email, Name: m.Name, Role: m.Role, Projects: projectRolesView(m.Projects), EmailOptOut: m.EmailOptOut,
		EmailSuppressed: mapPtr(m.EmailSuppressed, suppressionView), Version: m.Version, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func (v *MemberView) toDomain() domain.Member {
	return domain.Member{ID: v.ID, Email: v.Email, Name: v.Name, Role: v.Role, Projects: projectRolesOf(v.Projects), EmailOptOut: v.EmailOptOut,
		EmailSuppressed: mapPtr(v.EmailSuppressed, (*SuppressionView).toDomain), Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// ---- settings ----

// OrgSettingsView is the organisation's switches.
type OrgSettingsView struct {
	Approvals bool      `json:"approvals"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

func orgSettingsView(o *domain.OrgSettings) OrgSettingsView {
	return OrgSettingsView{Approvals: o.Approvals, Version: o.Version, UpdatedAt: o.UpdatedAt}
}

// BypassGrantView names the member or token that may skip approval.
type BypassGrantView struct {
	MemberID string `json:"member_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
}

func bypassGrantView(b *domain.BypassGrant) BypassGrantView {
	return BypassGrantView{MemberID: b.MemberID, TokenID: b.TokenID}
}

func (v *BypassGrantView) toDomain() domain.BypassGrant {
	return domain.BypassGrant{MemberID: v.MemberID, TokenID: v.TokenID}
}

// ApprovalSettingsView is an environment's approval policy.
type ApprovalSettingsView struct {
	Project                         string                `json:"project"`
	Environment                     string                `json:"environment"`
	Required                        domain.Required       `json:"required"`
	Tags                            []string              `json:"tags"`
	MinApprovals                    int                   `json:"min_approvals"`
	AllowSelfApproval               bool                  `json:"allow_self_approval"`
	RejectionBlocksApply            bool                  `json:"rejection_blocks_apply"`
	Reviewers                       domain.ReviewerMode   `json:"reviewers"`
	DesignatedReviewers             []string              `json:"designated_reviewers"`
	AutoApproveAfter                string                `json:"auto_approve_after"`
	ExpireAfter                     string                `json:"expire_after"`
	Apply                           domain.ApplyMode      `json:"apply"`
	LockWhilePending                bool                  `json:"lock_while_pending"`
	APITokenBypass                  bool                  `json:"api_token_bypass"`
	AllowUnapprovedScheduleDeletion bool                  `json:"allow_unapproved_schedule_deletion"`
	Bypass                          []BypassGrantView     `json:"bypass"`
	ReviewAfterBypass               string                `json:"review_after_bypass"`
	Require                         []TeamRequirementView `json:"require"`
	DistinctReviewers               bool                  `json:"distinct_reviewers"`
	RequireMaintainer               bool                  `json:"require_maintainer"`
	Version                         int64                 `json:"version"`
	UpdatedAt                       time.Time             `json:"updated_at"`
}

// TeamRequirementView is "min approvals from the members of team".
type TeamRequirementView struct {
	Team string `json:"team"`
	Min  int    `json:"min"`
}

func teamRequirementView(r *domain.TeamRequirement) TeamRequirementView {
	return TeamRequirementView{Team: r.Team, Min: r.Min}
}

func (v *TeamRequirementView) toDomain() domain.TeamRequirement {
	return domain.TeamRequirement{Team: v.Team, Min: v.Min}
}

func approvalSettingsView(a *domain.ApprovalSettings) ApprovalSettingsView {
	return ApprovalSettingsView{Project: a.Project, Environment: a.Environment, Required: a.Required, Tags: a.Tags, MinApprovals: a.MinApprovals,
		AllowSelfApproval: a.AllowSelfApproval, RejectionBlocksApply: a.RejectionBlocksApply, Reviewers: a.Reviewers,
		DesignatedReviewers: a.DesignatedReviewers, AutoApproveAfter: a.AutoApproveAfter, ExpireAfter: a.ExpireAfter, Apply: a.Apply,
		LockWhilePending: a.LockWhilePending, APITokenBypass: a.APITokenBypass, AllowUnapprovedScheduleDeletion: a.AllowUnapprovedScheduleDeletion,
		Bypass: mapSlice(a.Bypass, bypassGrantView), ReviewAfterBypass: a.EffectiveReviewAfterBypass(), Require: orEmpty(mapSlice(a.Require, teamRequirementView)), DistinctReviewers: a.DistinctReviewers,
		RequireMaintainer: a.RequireMaintainer, Version: a.Version, UpdatedAt: a.UpdatedAt}
}

func (v *ApprovalSettingsView) toDomain() domain.ApprovalSettings {
	return domain.ApprovalSettings{Project: v.Project, Environment: v.Environment, Required: v.Required, Tags: v.Tags, MinApprovals: v.MinApprovals,
		AllowSelfApproval: v.AllowSelfApproval, RejectionBlocksApply: v.RejectionBlocksApply, Reviewers: v.Reviewers,
		DesignatedReviewers: v.DesignatedReviewers, AutoApproveAfter: v.AutoApproveAfter, ExpireAfter: v.ExpireAfter, Apply: v.Apply,
		LockWhilePending: v.LockWhilePending, APITokenBypass: v.APITokenBypass, AllowUnapprovedScheduleDeletion: v.AllowUnapprovedScheduleDeletion,
		Bypass: mapSlice(v.Bypass, (*BypassGrantView).toDomain), ReviewAfterBypass: v.ReviewAfterBypass, Require: mapSlice(v.Require, (*TeamRequirementView).toDomain), DistinctReviewers: v.DistinctReviewers,
		RequireMaintainer: v.RequireMaintainer, Version: v.Version, UpdatedAt: v.UpdatedAt}
}

// ---- change requests ----

// PolicyView is the approval policy a request keeps.
type PolicyView struct {
	MinApprovals                    int                 `json:"min_approvals"`
	AllowSelfApproval               bool                `json:"allow_self_approval"`
	RejectionBlocksApply            bool                `json:"rejection_blocks_apply"`
	Reviewers                       domain.ReviewerMode `json:"reviewers"`
	DesignatedReviewers             []string            `json:"designated_reviewers"`
	Apply                           domain.ApplyMode    `json:"apply"`
	AutoApproveAfter                string              `json:"auto_approve_after"`
	ExpireAfter                     string              `json:"expire_after"`
	AllowUnapprovedScheduleDeletion bool                `json:"allow_unapproved_schedule_deletion"`
	Environments                    []string            `json:"environments"`
	Requirements                    []RequirementView   `json:"requirements"`
	DistinctReviewers               bool                `json:"distinct_reviewers"`
}

func policyView(p *domain.Policy) PolicyView {
	return PolicyView{MinApprovals: p.MinApprovals, AllowSelfApproval: p.AllowSelfApproval, RejectionBlocksApply: p.RejectionBlocksApply,
		Reviewers: p.Reviewers, DesignatedReviewers: p.DesignatedReviewers, Apply: p.Apply, AutoApproveAfter: p.AutoApproveAfter,
		ExpireAfter: p.ExpireAfter, AllowUnapprovedScheduleDeletion: p.AllowUnapprovedScheduleDeletion, Environments: p.Environments,
		Requirements: orEmpty(mapSlice(p.Requirements, requirementView)), DistinctReviewers: p.DistinctReviewers}
}

// RequirementView is a number of approvals a request needs from a team or
// a flag's maintainers, with who counts for it (fixed when it was opened).
type RequirementView struct {
	Name    string   `json:"name"`
	Team    string   `json:"team,omitempty"`
	Flag    string   `json:"flag,omitempty"`
	Min     int      `json:"min"`
	Members []string `json:"members"`
}

func requirementView(r *domain.Requirement) RequirementView {
	return RequirementView{Name: r.Name, Team: r.Team, Flag: r.Flag, Min: r.Min, Members: orEmpty(r.Members)}
}

// ReviewView is one reviewer's decision on one revision.
type ReviewView struct {
	Reviewer string          `json:"reviewer"`
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment"`
	Revision int             `json:"revision"`
	Channel  string          `json:"channel"`
	At       time.Time       `json:"at"`
	// Voided: the reviewer lost the right to review (demoted or removed),
	// so the review no longer counts.
	Voided bool `json:"voided,omitempty"`
}

func reviewView(r *domain.Review) ReviewView {
	return ReviewView{Reviewer: r.Reviewer, Decision: r.Decision, Comment: r.Comment, Revision: r.Revision, Channel: r.Channel, At: r.At, Voided: r.Voided}
}

// TimelineEventView is one thing that happened to a request (also a
// comment, as the comment routes answer).
type TimelineEventView struct {
	Type              string    `json:"type"`
	Actor             string    `json:"actor"`
	Revision          int       `json:"revision"`
	Comment           string    `json:"comment,omitempty"`
	Mentions          []string  `json:"mentions,omitempty"`
	MentionsNotMailed []string  `json:"mentions_not_mailed,omitempty"`
	Channel           string    `json:"channel,omitempty"`
	At                time.Time `json:"at"`
}

func timelineEventView(e *domain.TimelineEvent) TimelineEventView {
	return TimelineEventView{Type: string(e.Type), Actor: e.Actor, Revision: e.Revision, Comment: e.Comment, Mentions: e.Mentions,
		MentionsNotMailed: e.MentionsNotMailed, Channel: e.Channel, At: e.At}
}

// ChangeRequestView is a change request as lists show it. It never shows
// the nonces of the e-mail action links already used (UsedLinks): they
// are the server's record of which links are spent.
type ChangeRequestView struct {
	ID          string        `json:"id"`
	Project     string        `json:"project"`
	Flag        string        `json:"flag"`
	Environment string        `json:"environment,omitempty"`
	Kind        domain.CRKind `json:"kind"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	// The proposal of a one-change request (every request has changes).
	ProposedConfig  *FlagConfigView     `json:"proposed_config,omitempty"`
	ProposedFlag    *FlagView           `json:"proposed_flag,omitempty"`
	BaseVersion     *int64              `json:"base_version,omitempty"`
	Changes         []ChangeView        `json:"changes"`
	Requester       string              `json:"requester"`
	RequesterMember string              `json:"requester_member,omitempty"`
	NotifyReviewers []string            `json:"notify_reviewers"`
	Status          domain.CRStatus     `json:"status"`
	Revision        int                 `json:"revision"`
	Policy          PolicyView          `json:"policy"`
	Reviews         []ReviewView        `json:"reviews"`
	Timeline        []TimelineEventView `json:"timeline"`
	AutoApproveAt   *time.Time          `json:"auto_approve_at,omitempty"`
	ExpiresAt       *time.Time          `json:"expires_at,omitempty"`
	ApplyAt         *time.Time          `json:"apply_at,omitempty"`
	ApplyPending    bool                `json:"apply_pending,omitempty"`
	HeldUntil       *time.Time          `json:"held_until,omitempty"`
	HeldBy          string              `json:"held_by,omitempty"`
	Bypass          *BypassRecordView   `json:"bypass,omitempty"`
	RevisionBy      string              `json:"revision_by,omitempty"`
	RequesterBehind string              `json:"requester_behind,omitempty"`
	BaseConfig      *FlagConfigView     `json:"base_config,omitempty"`
	BaseFlag        *FlagView           `json:"base_flag,omitempty"`
	AppliedBy       string              `json:"applied_by,omitempty"`
	AppliedAt       *time.Time          `json:"applied_at,omitempty"`
	AppliedVersion  int64               `json:"applied_version,omitempty"`
	Version         int64               `json:"version"`
	CreatedAt       time.Time           `json:"created_at"`
	UpdatedAt       time.Time           `json:"updated_at"`
}

func changeRequestView(cr *domain.ChangeRequest) ChangeRequestView {
	v := ChangeRequestView{ID: cr.ID, Project: cr.Project, Flag: cr.Flag, Environment: cr.Environment, Kind: cr.Kind, Title: cr.Title,
		Description: cr.Description, Changes: orEmpty(mapSlice(cr.Changes, changeView)), Requester: cr.Requester, RequesterMember: cr.RequesterMember, NotifyReviewers: cr.NotifyReviewers,
		Status: cr.Status, Revision: cr.Revision, Policy: policyView(&cr.Policy), Reviews: mapSlice(cr.Reviews, reviewView),
		Timeline: mapSlice(cr.Timeline, timelineEventView), AutoApproveAt: cr.AutoApproveAt, ExpiresAt: cr.ExpiresAt, ApplyAt: cr.ApplyAt,
		ApplyPending: cr.ApplyPending, HeldUntil: cr.HeldUntil, HeldBy: cr.HeldBy, Bypass: mapPtr(cr.Bypass, bypassRecordView), RevisionBy: cr.RevisionBy, RequesterBehind: cr.RequesterBehind, AppliedBy: cr.AppliedBy,
		AppliedAt: cr.AppliedAt, AppliedVersion: cr.AppliedVersion, Version: cr.Version, CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt}
	if len(cr.Changes) == 1 {
		ch := &cr.Changes[0]
		v.ProposedConfig, v.ProposedFlag, v.BaseVersion = mapPtr(ch.ProposedConfig, flagConfigView), mapPtr(ch.ProposedFlag, flagView), &ch.BaseVersion
		v.BaseConfig, v.BaseFlag = mapPtr(ch.BaseConfig, flagConfigView), mapPtr(ch.BaseFlag, flagView)
	}
	return v
}

// BypassRecordView is, on the review after a bypass, what the bypass was
// and by when another reviewer must acknowledge it.
type BypassRecordView struct {
	Reason      string    `json:"reason"`
	Freeze      string    `json:"freeze,omitempty"`
	ReviewDueAt time.Time `json:"review_due_at"`
	Overdue     bool      `json:"overdue"`
}

func bypassRecordView(b *domain.BypassRecord) BypassRecordView {
	return BypassRecordView{Reason: b.Reason, Freeze: b.Freeze, ReviewDueAt: b.ReviewDueAt, Overdue: b.Overdue}
}

// ChangeView is one change of a request: what it changes, its proposal and
// its base (the live state it was made on, and that state's version).
type ChangeView struct {
	Kind            domain.CRKind   `json:"kind"`
	Flag            string          `json:"flag,omitempty"`
	Environment     string          `json:"environment,omitempty"`
	ProposedConfig  *FlagConfigView `json:"proposed_config,omitempty"`
	Segment         string          `json:"segment,omitempty"`
	ProposedFlag    *FlagView       `json:"proposed_flag,omitempty"`
	ProposedSegment *SegmentView    `json:"proposed_segment,omitempty"`
	BaseVersion     int64           `json:"base_version"`
	BaseConfig      *FlagConfigView `json:"base_config,omitempty"`
	BaseFlag        *FlagView       `json:"base_flag,omitempty"`
	// Governance is a change to the rules (kind governance).
	Governance *GovernanceChangeView `json:"governance,omitempty"`
}

func changeView(ch *domain.Change) ChangeView {
	return ChangeView{Kind: ch.Kind, Flag: ch.Flag, Environment: ch.Environment, ProposedConfig: mapPtr(ch.ProposedConfig, flagConfigView),
		ProposedFlag: mapPtr(ch.ProposedFlag, flagView), Segment: ch.Segment, ProposedSegment: mapPtr(ch.ProposedSegment, segmentView), BaseVersion: ch.BaseVersion, BaseConfig: mapPtr(ch.BaseConfig, flagConfigView),
		BaseFlag: mapPtr(ch.BaseFlag, flagView), Governance: mapPtr(ch.Governance, governanceChangeView)}
}

// GovernanceChangeView is a change to the rules: what it changes, why it
// needs a second person, and the proposal (the request's diff shows it
// against the live rule).
type GovernanceChangeView struct {
	What        domain.GovernanceTarget `json:"what"`
	Project     string                  `json:"project,omitempty"`
	Environment string                  `json:"environment,omitempty"`
	Member      string                  `json:"member,omitempty"`
	Token       string                  `json:"token,omitempty"`
	Freeze      string                  `json:"freeze,omitempty"`
	Team        string                  `json:"team,omitempty"`
	Weakens     []WeakeningView         `json:"weakens"`
	Org         *OrgSettingsView        `json:"org,omitempty"`
	Settings    *ApprovalSettingsView   `json:"settings,omitempty"`
	Env         *EnvironmentView        `json:"env,omitempty"`
	Person      *MemberRolesView        `json:"person,omitempty"`
	// NewToken is the service token the change makes live (never its
	// secret nor its hash).
	NewToken *TokenView `json:"new_token,omitempty"`
	// NewFreeze is the freeze as the change leaves it (absent: the change
	// deletes it); BaseFreeze the freeze it was made on.
	NewFreeze  *FreezeView `json:"new_freeze,omitempty"`
	BaseFreeze *FreezeView `json:"base_freeze,omitempty"`
	// NewTeam is the team as the change leaves it (its members added).
	NewTeam *TeamView `json:"new_team,omitempty"`
}

// WeakeningView is why a governance change needs a second person.
type WeakeningView struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// MemberRolesView is the roles a member governance change proposes.
type MemberRolesView struct {
	Role     domain.Role            `json:"role"`
	Projects map[string]domain.Role `json:"project_roles"`
}

func governanceChangeView(g *domain.GovernanceChange) GovernanceChangeView {
	return GovernanceChangeView{What: g.What, Project: g.Project, Environment: g.Environment, Member: g.Member, Token: g.Token, Freeze: g.Freeze,
		Weakens: append([]WeakeningView{}, mapSlice(g.Weakens, weakeningView)...), Org: mapPtr(g.Org, orgSettingsView), Settings: mapPtr(g.Settings, approvalSettingsView),
		Env: mapPtr(g.Env, environmentView), Person: mapPtr(g.Person, memberRolesView), NewToken: mapPtr(g.NewToken, tokenView),
		NewFreeze: mapPtr(g.NewFreeze, freezeView), BaseFreeze: mapPtr(g.BaseFreeze, freezeView), Team: g.Team, NewTeam: mapPtr(g.NewTeam, teamView)}
}

func weakeningView(f *domain.FieldError) WeakeningView {
	return WeakeningView{Pointer: f.Pointer, Detail: f.Detail}
}

func memberRolesView(m *domain.Member) MemberRolesView {
	return MemberRolesView{Role: m.Role, Projects: projectRolesView(m.Projects)}
}

// ChangeDetailView is a change with where it stands against the live
// state: its diff, the live version, and the conflict that refuses its
// apply when the live state moved on since its base.
type ChangeDetailView struct {
	ChangeView
	Diff        *DiffView        `json:"diff"`
	LiveVersion int64            `json:"live_version"`
	Conflict    string           `json:"conflict,omitempty"`
	Gone        bool             `json:"gone,omitempty"`
	Affects     []SegmentUseView `json:"affects,omitempty"`
}

func changeDetailView(cv *app.ChangeView) ChangeDetailView {
	return ChangeDetailView{ChangeView: changeView(&cv.Change), Diff: mapPtr(cv.Diff, diffView), LiveVersion: cv.LiveVersion, Conflict: cv.Conflict,
		Gone: cv.Gone, Affects: mapSlice(cv.Affects, segmentUseView)}
}

// SegmentUseView is a flag and environment whose targeting uses a segment.
type SegmentUseView struct {
	Flag        string `json:"flag"`
	Environment string `json:"environment"`
}

func segmentUseView(u *app.SegmentUse) SegmentUseView {
	return SegmentUseView{Flag: u.Flag, Environment: u.Environment}
}

// DiffView is what a change does: RFC 6902 operations and readable lines.
type DiffView struct {
	Operations json.RawMessage `json:"operations"`
	Summary    []string        `json:"summary"`
}

func diffView(d *domain.Diff) DiffView { return DiffView{Operations: d.Operations, Summary: d.Summary} }

// UnreachableReviewerView is a member a request waits on whose address is
// suppressed.
type UnreachableReviewerView struct {
	MemberID    string           `json:"member_id"`
	Email       string           `json:"email"`
	Name        string           `json:"name"`
	Suppression *SuppressionView `json:"suppression"`
}

func unreachableReviewerView(u *app.UnreachableReviewer) UnreachableReviewerView {
	return UnreachableReviewerView{MemberID: u.MemberID, Email: u.Email, Name: u.Name, Suppression: mapPtr(u.Suppression, suppressionView)}
}

// RequestView is a change request with where it stands (app.RequestView):
// the request's members, then the diff from the live state, the live
// version and the review counts.
type RequestView struct {
	*ChangeRequestView
	// ChangeDetails are the changes with their diffs; in JSON they are
	// "changes" (the embedded view's changes, without them, are not shown).
	ChangeDetails        []ChangeDetailView        `json:"changes"`
	Diff                 *DiffView                 `json:"diff"`
	LiveVersion          int64                     `json:"live_version"`
	Approvals            int                       `json:"approvals"`
	Rejections           int                       `json:"rejections"`
	Applicable           bool                      `json:"applicable"`
	UnreachableReviewers []UnreachableReviewerView `json:"unreachable_reviewers,omitempty"`
	// Missing says what a pending request still needs: "needs 1 more
	// approval", "needs 1 more from sre".
	Missing []string `json:"missing"`
}

func requestView(v *app.RequestView) RequestView {
	out := RequestView{ChangeDetails: orEmpty(mapSlice(v.ChangeViews, changeDetailView)), Diff: mapPtr(v.Diff, diffView), LiveVersion: v.LiveVersion, Approvals: v.Approvals, Rejections: v.Rejections,
		Applicable: v.Applicable, UnreachableReviewers: mapSlice(v.UnreachableReviewers, unreachableReviewerView), Missing: orEmpty(v.Missing)}
	out.ChangeRequestView = mapPtr(v.ChangeRequest, changeRequestView)
	return out
}

// ---- audit and notifications ----

// AuditEntryView is one line of the audit log.
type AuditEntryView struct {
	ID                string    `json:"id"`
	At                time.Time `json:"at"`
	Actor             string    `json:"actor"`
	Action            string    `json:"action"`
	Channel           string    `json:"channel"`
	Project           string    `json:"project,omitempty"`
	Flag              string    `json:"flag,omitempty"`
	Environment       string    `json:"environment,omitempty"`
	Segment           string    `json:"segment,omitempty"`
	Team              string    `json:"team,omitempty"`
	Freeze            string    `json:"freeze,omitempty"`
	ChangeRequest     string    `json:"change_request,omitempty"`
	SDKKey            string    `json:"sdk_key,omitempty"`
	Member            string    `json:"member,omitempty"`
	Requester         string    `json:"requester,omitempty"`
	Approvers         []string  `json:"approvers,omitempty"`
	Reason            string    `json:"reason,omitempty"`
	Mentions          []string  `json:"mentions,omitempty"`
	MentionsNotMailed []string  `json:"mentions_not_mailed,omitempty"`
	Decision          string    `json:"decision,omitempty"`
	Diff              *DiffView `json:"diff,omitempty"`
	Version           int64     `json:"version,omitempty"`
}

func auditEntryView(e *domain.AuditEntry) AuditEntryView {
	return AuditEntryView{ID: e.ID, At: e.At, Actor: e.Actor, Action: string(e.Action), Channel: e.Channel, Project: e.Project, Flag: e.Flag,
		Environment: e.Environment, Segment: e.Segment, Team: e.Team, Freeze: e.Freeze, ChangeRequest: e.ChangeRequest, SDKKey: e.SDKKey, Member: e.Member, Requester: e.Requester,
		Approvers: e.Approvers, Reason: e.Reason, Mentions: e.Mentions, MentionsNotMailed: e.MentionsNotMailed, Decision: e.Decision,
		Diff: mapPtr(e.Diff, diffView), Version: e.Version}
}

// OutboxDeliveryView is one delivery of an undelivered notification.
type OutboxDeliveryView struct {
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	Refused       bool      `json:"refused,omitempty"`
}

func outboxDeliveryView(d *domain.OutboxDelivery) OutboxDeliveryView {
	return OutboxDeliveryView{State: d.State, Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt, LastError: d.LastError, Refused: d.Refused}
}

// OutboxItemView is a notification that ran out of attempts (a dead
// letter), with the audit entry it was for.
type OutboxItemView struct {
	ID            string                        `json:"id"`
	Entry         AuditEntryView                `json:"entry"`
	State         string                        `json:"state"`
	Attempts      int                           `json:"attempts"`
	NextAttemptAt time.Time                     `json:"next_attempt_at"`
	LastError     string                        `json:"last_error,omitempty"`
	Done          []string                      `json:"done"`
	Deliveries    map[string]OutboxDeliveryView `json:"deliveries,omitempty"`
	ClaimedBy     string                        `json:"claimed_by,omitempty"`
	ClaimedUntil  *time.Time                    `json:"claimed_until,omitempty"`
	Version       int64                         `json:"version"`
}

func outboxItemView(it *domain.OutboxItem) OutboxItemView {
	var deliveries map[string]OutboxDeliveryView
	if it.Deliveries != nil {
		deliveries = make(map[string]OutboxDeliveryView, len(it.Deliveries))
		for k, d := range it.Deliveries {
			deliveries[k] = outboxDeliveryView(&d)
		}
	}
	return OutboxItemView{ID: it.ID, Entry: auditEntryView(&it.Entry), State: it.State, Attempts: it.Attempts, NextAttemptAt: it.NextAttemptAt,
		LastError: it.LastError, Done: it.Done, Deliveries: deliveries, ClaimedBy: it.ClaimedBy, ClaimedUntil: it.ClaimedUntil, Version: it.Version}
}

// ---- tokens, SDK keys, sessions ----

// TokenView is a token as clients see it: never its hash.
type TokenView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	MemberID string `json:"member_id,omitempty"`
	Service  bool   `json:"service"`
	// Role is a service token's role, or the cap on a member token's role
	// (absent: the token follows its member's role).
	Role       domain.Role `json:"role,omitempty"`
	CreatedBy  string      `json:"created_by"`
	CreatedAt  time.Time   `json:"created_at"`
	LastUsedAt *time.Time  `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time  `json:"revoked_at,omitempty"`
	// Projects limits the token to these projects (absent: every project).
	Projects []string `json:"projects,omitempty"`
	// Token is the secret, present only in the response that created it.
	Token string `json:"token,omitempty"`
	// PendingRequest is the governance request whose apply makes the token
	// live (a service token with manager or admin rights made while
	// approvals are on); until then it does not authenticate.
	PendingRequest string `json:"pending_request,omitempty"`
}

func tokenView(t *domain.Token) TokenView {
	return TokenView{ID: t.ID, Name: t.Name, MemberID: t.MemberID, Service: t.Service(), Role: t.Role,
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Projects: t.Projects,
		PendingRequest: t.PendingRequest}
}

// PendingTokenView is the answer (202) of a token created pending: the
// token with its secret, shown once, and the governance request another
// admin must approve before it works.
type PendingTokenView struct {
	TokenView
	ChangeRequest RequestView `json:"change_request"`
}

// SDKKeyView is an SDK key as clients see it: never its hash; the secret
// only in the response that created it.
type SDKKeyView struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Environment string     `json:"environment"`
	Name        string     `json:"name"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ReplacedBy  string     `json:"replaced_by,omitempty"`
	Replaces    string     `json:"replaces,omitempty"`
	// Kind: "server" (secret) or "client" (public: exposed flags only).
	Kind domain.SDKKeyKind `json:"kind"`
	Key  string            `json:"key,omitempty"`
}

func sdkKeyView(k *domain.SDKKey) SDKKeyView {
	return SDKKeyView{ID: k.ID, Project: k.Project, Environment: k.Environment, Name: k.Name, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		RevokedAt: k.RevokedAt, ExpiresAt: k.ExpiresAt, ReplacedBy: k.ReplacedBy, Replaces: k.Replaces, Kind: k.KindOrServer()}
}

// RotatedSDKKeyView is a rotation's answer: the new key with its secret
// (shown only here) and the old key as it now is.
type RotatedSDKKeyView struct {
	SDKKeyView
	Old SDKKeyView `json:"old"`
}

// SessionMember is who a session belongs to.
type SessionMember struct {
	ID    string      `json:"id"`
	Email string      `json:"email"`
	Name  string      `json:"name"`
	Role  domain.Role `json:"role"`
	// ProjectRoles are the member's roles in projects, each replacing Role
	// there.
	Projects map[string]domain.Role `json:"project_roles"`
}

func sessionMember(m *domain.Member) SessionMember {
	return SessionMember{ID: m.ID, Email: m.Email, Name: m.Name, Role: m.Role, Projects: projectRolesView(m.Projects)}
}

// projectRolesView is a member's project roles as shown: {} for none.
func projectRolesView(roles map[string]domain.Role) map[string]domain.Role {
	if roles == nil {
		return map[string]domain.Role{}
	}
	return roles
}

// projectRolesOf is project roles as sent (nil for none).
func projectRolesOf(roles map[string]domain.Role) map[string]domain.Role {
	if len(roles) == 0 {
		return nil
	}
	return roles
}

// CurrentSessionView answers GET /v1/session: the caller's own session,
// with its CSRF token.
type CurrentSessionView struct {
	ID            string        `json:"id"`
	Member        SessionMember `json:"member"`
	Channel       string        `json:"channel"`
	CreatedAt     time.Time     `json:"created_at"`
	IdleExpiresAt time.Time     `json:"idle_expires_at"`
	ExpiresAt     time.Time     `json:"expires_at"`
	CSRFToken     string        `json:"csrf_token"`
}

func currentSessionView(s *domain.Session, m *domain.Member) CurrentSessionView {
	return CurrentSessionView{ID: s.ID, Member: sessionMember(m), Channel: string(s.Channel), CreatedAt: s.CreatedAt,
		IdleExpiresAt: s.IdleUntil, ExpiresAt: s.ExpiresAt, CSRFToken: s.CSRFToken}
}

// SessionView is a session as listed: never its secret, hash or CSRF token.
type SessionView struct {
	ID            string      `json:"id"`
	MemberID      string      `json:"member_id"`
	Role          domain.Role `json:"role"`
	Channel       string      `json:"channel"`
	CreatedAt     time.Time   `json:"created_at"`
	LastSeenAt    time.Time   `json:"last_seen_at"`
	IdleExpiresAt time.Time   `json:"idle_expires_at"`
	ExpiresAt     time.Time   `json:"expires_at"`
	RevokedAt     *time.Time  `json:"revoked_at,omitempty"`
	UserAgent     string      `json:"user_agent,omitempty"`
	Current       bool        `json:"current"`
}

// sessionView is a listed session; current says it is the caller's.
func sessionView(s *domain.Session, current bool) SessionView {
	return SessionView{ID: s.ID, MemberID: s.MemberID, Role: s.Role, Channel: string(s.Channel), CreatedAt: s.CreatedAt,
		LastSeenAt: s.LastSeen, IdleExpiresAt: s.IdleUntil, ExpiresAt: s.ExpiresAt, RevokedAt: s.RevokedAt,
		UserAgent: s.UserAgent, Current: current}
}

// ---- problems ----

// FieldErrorView is one bad field of a request: a body member (pointer),
// or a query parameter or header (parameter).
type FieldErrorView struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

func fieldErrorView(f *domain.FieldError) FieldErrorView {
	return FieldErrorView{Pointer: f.Pointer, Parameter: f.Parameter, Detail: f.Detail}
}

// ---- freezes ----

// FreezeView is a change freeze: one-off (from, to) or recurring (start,
// end, time_zone). Active and NextWindow are computed at the time of the
// answer (withWindows).
type FreezeView struct {
	ID           string                `json:"id"`
	Name         string                `json:"name"`
	Reason       string                `json:"reason"`
	Project      string                `json:"project,omitempty"` // absent: every project
	Environments []string              `json:"environments"`      // empty: every environment
	From         *time.Time            `json:"from,omitempty"`
	To           *time.Time            `json:"to,omitempty"`
	Start        string                `json:"start,omitempty"`
	End          string                `json:"end,omitempty"`
	TimeZone     string                `json:"time_zone,omitempty"`
	Scheduled    domain.FreezeSchedule `json:"scheduled"`
	Version      int64                 `json:"version"`
	Active       bool                  `json:"active"`
	NextWindow   *FreezeWindowView     `json:"next_window,omitempty"`
	CreatedBy    string                `json:"created_by"`
	CreatedAt    time.Time             `json:"created_at"`
	UpdatedAt    time.Time             `json:"updated_at"`
}

// FreezeWindowView is a window of a freeze: in UTC, and on the wall clock
// of its zone.
type FreezeWindowView struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	StartLocal string    `json:"start_local"`
	EndLocal   string    `json:"end_local"`
}

func freezeView(f *domain.Freeze) FreezeView {
	return FreezeView{ID: f.ID, Name: f.Name, Reason: f.Reason, Project: f.Project, Environments: orEmpty(f.Environments), From: f.From, To: f.To,
		Start: f.Start, End: f.End, TimeZone: f.TimeZone, Scheduled: f.Scheduled, Version: f.Version, CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

func (v *FreezeView) toDomain() domain.Freeze {
	return domain.Freeze{ID: v.ID, Name: v.Name, Reason: v.Reason, Project: v.Project, Environments: v.Environments, From: v.From, To: v.To,
		Start: v.Start, End: v.End, TimeZone: v.TimeZone, Scheduled: v.Scheduled, Version: v.Version, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// freezeViewAt is the view of f at now: whether it is in force, and its
// window in force or else its next one.
func freezeViewAt(f *domain.Freeze, now time.Time) FreezeView {
	v := freezeView(f)
	start, end, active := f.Window(now)
	if !active {
		var ok bool
		if start, end, ok = f.Next(now); !ok {
			return v
		}
	}
	v.Active = active
	loc, err := f.Location()
	if err != nil {
		loc = time.UTC
	}
	v.NextWindow = &FreezeWindowView{Start: start.UTC(), End: end.UTC(),
		StartLocal: start.In(loc).Format(time.RFC3339), EndLocal: end.In(loc).Format(time.RFC3339)}
	return v
}
