package record

import (
	"encoding/json"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

type Policy struct {
	MinApprovals                    int      `json:"min_approvals"`
	AllowSelfApproval               bool     `json:"allow_self_approval"`
	RejectionBlocksApply            bool     `json:"rejection_blocks_apply"`
	Reviewers                       string   `json:"reviewers"`
	DesignatedReviewers             []string `json:"designated_reviewers"`
	Apply                           string   `json:"apply"`
	AutoApproveAfter                string   `json:"auto_approve_after"`
	ExpireAfter                     string   `json:"expire_after"`
	AllowUnapprovedScheduleDeletion bool     `json:"allow_unapproved_schedule_deletion"`
	Environments                    []string `json:"environments"`
	// Requirements and DistinctReviewers: absent in requests opened
	// before teams, read as none and false.
	Requirements      []Requirement `json:"requirements,omitempty"`
	DistinctReviewers bool          `json:"distinct_reviewers,omitempty"`
}

type Requirement struct {
	Name    string   `json:"name"`
	Team    string   `json:"team,omitempty"`
	Flag    string   `json:"flag,omitempty"`
	Min     int      `json:"min"`
	Members []string `json:"members"`
}

func FromRequirement(r domain.Requirement) Requirement {
	return Requirement{Name: r.Name, Team: r.Team, Flag: r.Flag, Min: r.Min, Members: r.Members}
}

func (r Requirement) Domain() domain.Requirement {
	return domain.Requirement{Name: r.Name, Team: r.Team, Flag: r.Flag, Min: r.Min, Members: r.Members}
}

func FromPolicy(p domain.Policy) Policy {
	return Policy{
		MinApprovals: p.MinApprovals, AllowSelfApproval: p.AllowSelfApproval, RejectionBlocksApply: p.RejectionBlocksApply,
		Reviewers: string(p.Reviewers), DesignatedReviewers: p.DesignatedReviewers, Apply: string(p.Apply),
		AutoApproveAfter: p.AutoApproveAfter, ExpireAfter: p.ExpireAfter,
		AllowUnapprovedScheduleDeletion: p.AllowUnapprovedScheduleDeletion, Environments: p.Environments,
		Requirements: each(p.Requirements, FromRequirement), DistinctReviewers: p.DistinctReviewers,
	}
}

func (r Policy) Domain() domain.Policy {
	return domain.Policy{
		MinApprovals: r.MinApprovals, AllowSelfApproval: r.AllowSelfApproval, RejectionBlocksApply: r.RejectionBlocksApply,
		Reviewers: domain.ReviewerMode(r.Reviewers), DesignatedReviewers: r.DesignatedReviewers, Apply: domain.ApplyMode(r.Apply),
		AutoApproveAfter: r.AutoApproveAfter, ExpireAfter: r.ExpireAfter,
		AllowUnapprovedScheduleDeletion: r.AllowUnapprovedScheduleDeletion, Environments: r.Environments,
		Requirements: each(r.Requirements, Requirement.Domain), DistinctReviewers: r.DistinctReviewers,
	}
}

type Review struct {
	Reviewer string    `json:"reviewer"`
	Decision string    `json:"decision"`
	Comment  string    `json:"comment"`
	Revision int       `json:"revision"`
	Channel  string    `json:"channel"`
	At       time.Time `json:"at"`
	Voided   bool      `json:"voided,omitempty"`
}

func FromReview(r domain.Review) Review {
	return Review{Reviewer: r.Reviewer, Decision: string(r.Decision), Comment: r.Comment, Revision: r.Revision, Channel: r.Channel, At: r.At, Voided: r.Voided}
}

func (r Review) Domain() domain.Review {
	return domain.Review{Reviewer: r.Reviewer, Decision: domain.Decision(r.Decision), Comment: r.Comment, Revision: r.Revision, Channel: r.Channel, At: r.At, Voided: r.Voided}
}

type TimelineEvent struct {
	Type              string    `json:"type"`
	Actor             string    `json:"actor"`
	Revision          int       `json:"revision"`
	Comment           string    `json:"comment,omitempty"`
	Mentions          []string  `json:"mentions,omitempty"`
	MentionsNotMailed []string  `json:"mentions_not_mailed,omitempty"`
	Channel           string    `json:"channel,omitempty"`
	At                time.Time `json:"at"`
}

func FromTimelineEvent(e domain.TimelineEvent) TimelineEvent {
	return TimelineEvent{
		Type: string(e.Type), Actor: e.Actor, Revision: e.Revision, Comment: e.Comment, Mentions: e.Mentions,
		MentionsNotMailed: e.MentionsNotMailed, Channel: e.Channel, At: e.At,
	}
}

func (r TimelineEvent) Domain() domain.TimelineEvent {
	return domain.TimelineEvent{
		Type: domain.EventType(r.Type), Actor: r.Actor, Revision: r.Revision, Comment: r.Comment, Mentions: r.Mentions,
		MentionsNotMailed: r.MentionsNotMailed, Channel: r.Channel, At: r.At,
	}
}

// Change is one change of a request.
type Change struct {
	Kind            string            `json:"kind"`
	Flag            string            `json:"flag,omitempty"`
	Environment     string            `json:"environment,omitempty"`
	Segment         string            `json:"segment,omitempty"`
	ProposedConfig  *FlagConfig       `json:"proposed_config,omitempty"`
	ProposedFlag    *Flag             `json:"proposed_flag,omitempty"`
	ProposedSegment *Segment          `json:"proposed_segment,omitempty"`
	BaseConfig      *FlagConfig       `json:"base_config,omitempty"`
	BaseFlag        *Flag             `json:"base_flag,omitempty"`
	BaseVersion     int64             `json:"base_version"`
	Governance      *GovernanceChange `json:"governance,omitempty"`
}

func FromChange(c domain.Change) Change {
	return Change{
		Kind: string(c.Kind), Flag: c.Flag, Environment: c.Environment, Segment: c.Segment,
		ProposedConfig: optional(c.ProposedConfig, FromFlagConfig), ProposedFlag: optional(c.ProposedFlag, FromFlag),
		ProposedSegment: optional(c.ProposedSegment, FromSegment),
		BaseConfig:      optional(c.BaseConfig, FromFlagConfig), BaseFlag: optional(c.BaseFlag, FromFlag), BaseVersion: c.BaseVersion,
		Governance: optional(c.Governance, FromGovernanceChange),
	}
}

func (r Change) Domain() domain.Change {
	return domain.Change{
		Kind: domain.CRKind(r.Kind), Flag: r.Flag, Environment: r.Environment, Segment: r.Segment,
		ProposedConfig: optional(r.ProposedConfig, FlagConfig.Domain), ProposedFlag: optional(r.ProposedFlag, Flag.Domain),
		ProposedSegment: optional(r.ProposedSegment, Segment.Domain),
		BaseConfig:      optional(r.BaseConfig, FlagConfig.Domain), BaseFlag: optional(r.BaseFlag, Flag.Domain), BaseVersion: r.BaseVersion,
		Governance: optional(r.Governance, GovernanceChange.Domain),
	}
}

// ChangeRequest is a request as stored. Flag, Environment and Kind are its
// subject (its first change's), Flags and Environments every one its
// changes name (what list filters match). Requests written before a
// request could hold several changes have no Changes: their one change is
// in the Legacy fields, read as one change and never written again.
type ChangeRequest struct {
	ID              string          `json:"id"`
	Project         string          `json:"project"`
	Flag            string          `json:"flag"`
	Environment     string          `json:"environment,omitempty"`
	Kind            string          `json:"kind"`
	Flags           []string        `json:"flags,omitempty"`
	Environments    []string        `json:"environments,omitempty"`
	Changes         []Change        `json:"changes,omitempty"`
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	Requester       string          `json:"requester"`
	RequesterMember string          `json:"requester_member,omitempty"`
	NotifyReviewers []string        `json:"notify_reviewers"`
	Status          string          `json:"status"`
	Revision        int             `json:"revision"`
	Policy          Policy          `json:"policy"`
	Reviews         []Review        `json:"reviews"`
	Timeline        []TimelineEvent `json:"timeline"`
	AutoApproveAt   *time.Time      `json:"auto_approve_at,omitempty"`
	ExpiresAt       *time.Time      `json:"expires_at,omitempty"`
	ApplyAt         *time.Time      `json:"apply_at,omitempty"`
	ApplyPending    bool            `json:"apply_pending,omitempty"`
	RevisionBy      string          `json:"revision_by,omitempty"`
	RequesterBehind string          `json:"requester_behind,omitempty"`
	UsedLinks       []string        `json:"used_links,omitempty"`
	HeldUntil       *time.Time      `json:"held_until,omitempty"`
	HeldBy          string          `json:"held_by,omitempty"`
	Bypass          *BypassRecord   `json:"bypass,omitempty"`
	AppliedBy       string          `json:"applied_by,omitempty"`
	AppliedAt       *time.Time      `json:"applied_at,omitempty"`
	AppliedVersion  int64           `json:"applied_version,omitempty"`
	Version         int64           `json:"version"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Legacy
}

// BypassRecord is the bypass a review-after request reviews.
type BypassRecord struct {
	Reason      string    `json:"reason"`
	Freeze      string    `json:"freeze,omitempty"`
	ReviewDueAt time.Time `json:"review_due_at"`
	Overdue     bool      `json:"overdue,omitempty"`
}

func FromBypassRecord(b domain.BypassRecord) BypassRecord {
	return BypassRecord{Reason: b.Reason, Freeze: b.Freeze, ReviewDueAt: b.ReviewDueAt, Overdue: b.Overdue}
}

func (r BypassRecord) Domain() domain.BypassRecord {
	return domain.BypassRecord{Reason: r.Reason, Freeze: r.Freeze, ReviewDueAt: r.ReviewDueAt, Overdue: r.Overdue}
}

// Legacy is the one change of a request written before requests held
// several: read, never written (FromChangeRequest leaves it empty).
type Legacy struct {
	ProposedConfig *FlagConfig `json:"proposed_config,omitempty"`
	ProposedFlag   *Flag       `json:"proposed_flag,omitempty"`
	BaseVersion    int64       `json:"base_version,omitempty"`
	BaseConfig     *FlagConfig `json:"base_config,omitempty"`
	BaseFlag       *Flag       `json:"base_flag,omitempty"`
}

func FromChangeRequest(cr domain.ChangeRequest) ChangeRequest {
	return ChangeRequest{
		ID: cr.ID, Project: cr.Project, Flag: cr.Flag, Environment: cr.Environment, Kind: string(cr.Kind),
		Flags: cr.Flags(), Environments: cr.Environments(), Changes: each(cr.Changes, FromChange), Title: cr.Title,
		Description: cr.Description, Requester: cr.Requester, RequesterMember: cr.RequesterMember, NotifyReviewers: cr.NotifyReviewers,
		Status: string(cr.Status), Revision: cr.Revision, Policy: FromPolicy(cr.Policy), Reviews: each(cr.Reviews, FromReview),
		Timeline: each(cr.Timeline, FromTimelineEvent), AutoApproveAt: cr.AutoApproveAt, ExpiresAt: cr.ExpiresAt, ApplyAt: cr.ApplyAt,
		ApplyPending: cr.ApplyPending, RevisionBy: cr.RevisionBy, RequesterBehind: cr.RequesterBehind, UsedLinks: cr.UsedLinks,
		HeldUntil: cr.HeldUntil, HeldBy: cr.HeldBy, Bypass: optional(cr.Bypass, FromBypassRecord),
		AppliedBy: cr.AppliedBy, AppliedAt: cr.AppliedAt, AppliedVersion: cr.AppliedVersion,
		Version: cr.Version, CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt,
	}
}

func (r ChangeRequest) Domain() domain.ChangeRequest {
	changes := each(r.Changes, Change.Domain)
	if len(r.Changes) == 0 && (r.ProposedConfig != nil || r.ProposedFlag != nil) {
		changes = []domain.Change{{
			Kind: domain.CRKind(r.Kind), Flag: r.Flag, Environment: r.Environment,
			ProposedConfig: optional(r.ProposedConfig, FlagConfig.Domain), ProposedFlag: optional(r.ProposedFlag, Flag.Domain),
			BaseConfig: optional(r.BaseConfig, FlagConfig.Domain), BaseFlag: optional(r.BaseFlag, Flag.Domain), BaseVersion: r.BaseVersion,
		}}
	}
	return domain.ChangeRequest{
		ID: r.ID, Project: r.Project, Flag: r.Flag, Environment: r.Environment, Kind: domain.CRKind(r.Kind), Title: r.Title,
		Changes: changes, Description: r.Description, Requester: r.Requester, RequesterMember: r.RequesterMember, NotifyReviewers: r.NotifyReviewers,
		Status: domain.CRStatus(r.Status), Revision: r.Revision, Policy: r.Policy.Domain(), Reviews: each(r.Reviews, Review.Domain),
		Timeline: each(r.Timeline, TimelineEvent.Domain), AutoApproveAt: r.AutoApproveAt, ExpiresAt: r.ExpiresAt, ApplyAt: r.ApplyAt,
		ApplyPending: r.ApplyPending, RevisionBy: r.RevisionBy, RequesterBehind: r.RequesterBehind, UsedLinks: r.UsedLinks,
		HeldUntil: r.HeldUntil, HeldBy: r.HeldBy, Bypass: optional(r.Bypass, BypassRecord.Domain),
		AppliedBy: r.AppliedBy, AppliedAt: r.AppliedAt, AppliedVersion: r.AppliedVersion,
		Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// Diff's Operations are stored as computed: JSON text in the embedded
// store, binary (B) in DynamoDB.
type Diff struct {
	Operations json.RawMessage `json:"operations"`
	Summary    []string        `json:"summary"`
}

func FromDiff(d domain.Diff) Diff { return Diff{Operations: d.Operations, Summary: d.Summary} }

func (r Diff) Domain() domain.Diff { return domain.Diff{Operations: r.Operations, Summary: r.Summary} }

type AuditEntry struct {
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
	Diff              *Diff     `json:"diff,omitempty"`
	Version           int64     `json:"version,omitempty"`
}

func FromAuditEntry(e domain.AuditEntry) AuditEntry {
	return AuditEntry{
		ID: e.ID, At: e.At, Actor: e.Actor, Action: string(e.Action), Channel: e.Channel, Project: e.Project, Flag: e.Flag,
		Environment: e.Environment, Segment: e.Segment, Team: e.Team, Freeze: e.Freeze, ChangeRequest: e.ChangeRequest, SDKKey: e.SDKKey, Member: e.Member, Requester: e.Requester,
		Approvers: e.Approvers, Reason: e.Reason, Mentions: e.Mentions, MentionsNotMailed: e.MentionsNotMailed,
		Decision: e.Decision, Diff: optional(e.Diff, FromDiff), Version: e.Version,
	}
}

func (r AuditEntry) Domain() domain.AuditEntry {
	return domain.AuditEntry{
		ID: r.ID, At: r.At, Actor: r.Actor, Action: domain.AuditAction(r.Action), Channel: r.Channel, Project: r.Project, Flag: r.Flag,
		Environment: r.Environment, Segment: r.Segment, Team: r.Team, Freeze: r.Freeze, ChangeRequest: r.ChangeRequest, SDKKey: r.SDKKey, Member: r.Member, Requester: r.Requester,
		Approvers: r.Approvers, Reason: r.Reason, Mentions: r.Mentions, MentionsNotMailed: r.MentionsNotMailed,
		Decision: r.Decision, Diff: optional(r.Diff, Diff.Domain), Version: r.Version,
	}
}

type OutboxDelivery struct {
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	Refused       bool      `json:"refused,omitempty"`
}

func FromOutboxDelivery(d domain.OutboxDelivery) OutboxDelivery {
	return OutboxDelivery{State: d.State, Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt, LastError: d.LastError, Refused: d.Refused}
}

func (r OutboxDelivery) Domain() domain.OutboxDelivery {
	return domain.OutboxDelivery{State: r.State, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, Refused: r.Refused}
}

type OutboxItem struct {
	ID            string                    `json:"id"`
	Entry         AuditEntry                `json:"entry"`
	State         string                    `json:"state"`
	Attempts      int                       `json:"attempts"`
	NextAttemptAt time.Time                 `json:"next_attempt_at"`
	LastError     string                    `json:"last_error,omitempty"`
	Done          []string                  `json:"done"`
	Deliveries    map[string]OutboxDelivery `json:"deliveries,omitempty"`
	ClaimedBy     string                    `json:"claimed_by,omitempty"`
	ClaimedUntil  *time.Time                `json:"claimed_until,omitempty"`
	Version       int64                     `json:"version"`
}

func FromOutboxItem(it domain.OutboxItem) OutboxItem {
	return OutboxItem{
		ID: it.ID, Entry: FromAuditEntry(it.Entry), State: it.State, Attempts: it.Attempts, NextAttemptAt: it.NextAttemptAt,
		LastError: it.LastError, Done: it.Done, Deliveries: eachValue(it.Deliveries, FromOutboxDelivery),
		ClaimedBy: it.ClaimedBy, ClaimedUntil: it.ClaimedUntil, Version: it.Version,
	}
}

func (r OutboxItem) Domain() domain.OutboxItem {
	return domain.OutboxItem{
		ID: r.ID, Entry: r.Entry.Domain(), State: r.State, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt,
		LastError: r.LastError, Done: r.Done, Deliveries: eachValue(r.Deliveries, OutboxDelivery.Domain),
		ClaimedBy: r.ClaimedBy, ClaimedUntil: r.ClaimedUntil, Version: r.Version,
	}
}
