package record_test

import (
	"encoding/json"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Fixed times: the goldens must not move with the calendar or with
// COUNTERSIGN_TEST_EPOCH, so they come from time.Unix, not clocktest.
// Nanoseconds are set so that the stored form shows them.
func at(s int64) time.Time { return time.Unix(1_000_000_000+s, 123_456_789).UTC() }

func atPtr(s int64) *time.Time { t := at(s); return &t }

// A fully populated value of every persisted type (checked by
// TestFixturesAreFull), and the values the stores also write often: zero,
// empty lists, defaults.

func fullProject() domain.Project {
	return domain.Project{Key: "checkout", Name: "Checkout", Description: "Pay <now> & ship – ünïcode", Version: 3, CreatedAt: at(1), UpdatedAt: at(2)}
}

func fullEnvironment() domain.Environment {
	return domain.Environment{Project: "checkout", Key: "production", Name: "Production", Protected: true, Version: 2, CreatedAt: at(3), UpdatedAt: at(4),
		AllowedOrigins: []string{"https://shop.example.com", "http://localhost:5173"}}
}

func fullFlag() domain.Flag {
	return domain.Flag{
		Project: "checkout", Key: "new-checkout", Name: "New checkout", Description: "The one-page checkout",
		Tags: []string{"payments", "beta"}, Maintainer: "m_alice", MaintainerTeam: "checkout-owners", BucketingUnit: "account_id", BucketingSalt: "s4lt",
		EvaluationMode: domain.EvaluationLocal,
		Variants: []domain.Variant{
			{Key: "on", Value: json.RawMessage(`{"color": "blue", "steps": [1, 2.5]}`), Name: "On", Description: "New flow"},
			{Key: "off", Value: json.RawMessage(`false`), Name: "Off", Description: "Old flow"},
		},
		Archived: true, Version: 5, CreatedAt: at(5), UpdatedAt: at(6), ClientExposed: true,
	}
}

func fullAllocation() domain.Allocation {
	return domain.Allocation{Rollout: 12.75, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "off", Weight: 4}}}
}

func fullFlagConfig() domain.FlagConfig {
	return domain.FlagConfig{
		Project: "checkout", Flag: "new-checkout", Environment: "production", Enabled: true,
		Rules: []domain.Rule{{
			Name:       "Benelux",
			Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"NL", "BE", "LU"}}},
			Allocation: fullAllocation(),
		}},
		DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "off", Weight: 1}}},
		OffVariant:  "off", StickyBucketing: true, ExposureEvent: "checkout_exposed", Version: 7, UpdatedAt: at(7),
	}
}

func fullSegment() domain.Segment {
	return domain.Segment{
		Project: "checkout", Key: "beta-testers", Name: "Beta testers", Description: "Who tries <new> things & tells us",
		Included: []string{"user-1", "ünïcode-2"}, Excluded: []string{"user-3"},
		Rules: []domain.SegmentRule{{Conditions: []domain.Condition{
			{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}},
			{Attribute: "country", Operator: domain.OpIn, Values: []string{"NL", "BE"}},
		}}},
		Version: 4, CreatedAt: at(41), UpdatedAt: at(42),
	}
}

func fullTeam() domain.Team {
	return domain.Team{Key: "sre", Name: "Site <reliability> & ops", Members: []string{"m_alice", "m_bob"}, Version: 3, CreatedAt: at(61), UpdatedAt: at(62)}
}

func fullMember() domain.Member {
	return domain.Member{
		ID: "m_alice", Email: "Alice@Example.com", Name: "Alice", Role: domain.RoleAdmin, EmailOptOut: true,
		Projects:        map[string]domain.Role{"checkout": domain.RoleEditor, "billing": domain.RoleNone},
		EmailSuppressed: &domain.Suppression{Reason: domain.SuppressedBounce, At: at(8), FeedbackID: "fb-1", Detail: "5.1.1 user unknown"},
		Version:         9, CreatedAt: at(9), UpdatedAt: at(10),
	}
}

func fullToken() domain.Token {
	return domain.Token{
		ID: "t_1", Name: "CI", MemberID: "m_alice", Role: domain.RoleEditor, Hash: "9f86d081884c7d65", CreatedBy: "member:m_alice",
		CreatedAt: at(11), LastUsedAt: atPtr(12), RevokedAt: atPtr(13), Projects: []string{"checkout", "billing"}, PendingRequest: "cr_gov",
	}
}

func fullOrgSettings() domain.OrgSettings {
	return domain.OrgSettings{Approvals: true, Version: 4, UpdatedAt: at(14)}
}

func fullApprovalSettings() domain.ApprovalSettings {
	return domain.ApprovalSettings{
		Project: "checkout", Environment: "production", Required: domain.RequiredTags, Tags: []string{"payments"},
		MinApprovals: 2, AllowSelfApproval: true, RejectionBlocksApply: true, Reviewers: domain.ReviewersDesignated,
		DesignatedReviewers: []string{"m_bob", "m_carol"}, AutoApproveAfter: domain.AutoApprove24h, ExpireAfter: "168h",
		Apply: domain.ApplyOnApproval, LockWhilePending: true, APITokenBypass: true, AllowUnapprovedScheduleDeletion: true,
		Bypass: []domain.BypassGrant{{MemberID: "m_ops", TokenID: "t_deploy"}}, ReviewAfterBypass: "12h",
		Require: []domain.TeamRequirement{{Team: "sre", Min: 1}, {Team: "checkout-owners", Min: 2}}, DistinctReviewers: true, RequireMaintainer: true,
		Version: 6, UpdatedAt: at(15),
	}
}

func fullPolicy() domain.Policy {
	return domain.Policy{
		MinApprovals: 2, AllowSelfApproval: true, RejectionBlocksApply: true, Reviewers: domain.ReviewersDesignated,
		DesignatedReviewers: []string{"m_bob"}, Apply: domain.ApplyOnApproval, AutoApproveAfter: "48h", ExpireAfter: "72h",
		AllowUnapprovedScheduleDeletion: true, Environments: []string{"staging", "production"},
		Requirements: []domain.Requirement{
			{Name: "sre", Team: "sre", Flag: "new-checkout", Min: 1, Members: []string{"m_bob", "m_dan"}},
			{Name: "maintainers of new-checkout", Flag: "new-checkout", Min: 1, Members: []string{}},
		},
		DistinctReviewers: true,
	}
}

func fullChangeRequest() domain.ChangeRequest {
	cfg, flag, segment := fullFlagConfig(), fullFlag(), fullSegment()
	baseCfg, baseFlag := fullFlagConfig(), fullFlag()
	baseCfg.Enabled, baseCfg.Version = false, 6
	baseFlag.Tags, baseFlag.Version = []string{"payments"}, 4
	return domain.ChangeRequest{
		ID: "cr_1", Project: "checkout", Flag: "new-checkout", Environment: "production", Kind: domain.KindTargeting,
		Title: "Turn on in production", Description: "After the <beta> & the review",
		Changes: []domain.Change{
			{Kind: domain.KindTargeting, Flag: "new-checkout", Environment: "production", ProposedConfig: &cfg, BaseConfig: &baseCfg, BaseVersion: 6},
			{Kind: domain.KindFlag, Flag: "new-checkout", ProposedFlag: &flag, BaseFlag: &baseFlag, BaseVersion: 4},
			{Kind: domain.KindSegment, Segment: "beta", ProposedSegment: &segment, BaseVersion: 2},
		},
		Requester: "member:m_alice", RequesterMember: "m_alice", NotifyReviewers: []string{"m_bob", "m_carol"},
		Status: domain.StatusApproved, Revision: 2, Policy: fullPolicy(),
		Reviews: []domain.Review{
			{Reviewer: "m_bob", Decision: domain.DecisionReject, Comment: "not yet", Revision: 1, Channel: "api", At: at(16), Voided: true},
			{Reviewer: "m_carol", Decision: domain.DecisionApprove, Comment: "ok", Revision: 2, Channel: "email", At: at(17)},
		},
		Timeline: []domain.TimelineEvent{{
			Type: "commented", Actor: "member:m_alice", Revision: 2, Comment: "@bob @dan please look",
			Mentions: []string{"m_bob", "m_dan"}, MentionsNotMailed: []string{"m_dan"}, Channel: "api", At: at(18),
		}},
		AutoApproveAt: atPtr(19), ExpiresAt: atPtr(20), ApplyAt: atPtr(21), ApplyPending: true,
		RevisionBy: "m_alice", RequesterBehind: "m_erin",
		UsedLinks: []string{"approve:m_carol:2"}, HeldUntil: atPtr(77), HeldBy: "fz_1",
		Bypass: &domain.BypassRecord{Reason: "incident 42", Freeze: "fz_1", ReviewDueAt: at(78), Overdue: true}, AppliedBy: "system:scheduler", AppliedAt: atPtr(22), AppliedVersion: 8,
		Version: 11, CreatedAt: at(23), UpdatedAt: at(24),
	}
}

// fullGovernanceRequest is a governance request holding every kind of
// proposal and base the record keeps (one request holds one in use).
func fullGovernanceRequest() domain.ChangeRequest {
	org, baseOrg := fullOrgSettings(), fullOrgSettings()
	org.Approvals = false
	settings, baseSettings := fullApprovalSettings(), fullApprovalSettings()
	settings.MinApprovals = 1
	env := domain.Environment{Project: "checkout", Key: "production", Name: "Production", Protected: false, Version: 3, CreatedAt: at(70), UpdatedAt: at(71)}
	baseEnv := env
	baseEnv.Protected = true
	person, basePerson := fullMember(), fullMember()
	person.Role = domain.RoleAdmin
	basePerson.Role = domain.RoleEditor
	newToken := fullToken()
	newToken.Hash, newToken.LastUsedAt, newToken.RevokedAt = "", nil, nil
	baseFreeze := fullFreezeCalendar().Freezes[0]
	newFreeze := fullFreezeCalendar().Freezes[0]
	newFreeze.Environments = []string{"production"}
	baseTeam, newTeam := fullTeam(), fullTeam()
	newTeam.Members = []string{"m_alice", "m_bob", "m_carol"}
	cr := fullChangeRequest()
	cr.ID, cr.Kind, cr.Flag = "cr_gov", domain.KindGovernance, ""
	cr.Changes = []domain.Change{{Kind: domain.KindGovernance, Environment: "production", BaseVersion: 4, Governance: &domain.GovernanceChange{
		What: domain.GovernApprovalSettings, Project: "checkout", Environment: "production", Member: "m_alice",
		Org: &org, BaseOrg: &baseOrg, Settings: &settings, BaseSettings: &baseSettings, Env: &env, BaseEnv: &baseEnv,
		Person: &person, BasePerson: &basePerson, Token: "t_1", NewToken: &newToken, Freeze: "fz_1", NewFreeze: &newFreeze, BaseFreeze: &baseFreeze,
		Team: "sre", NewTeam: &newTeam, BaseTeam: &baseTeam,
		Weakens: []domain.FieldError{{Pointer: "/min_approvals", Parameter: "p", Detail: "2 → 1: a lower quorum"}},
	}}}
	cr.Policy.Reviewers = domain.ReviewersAdmins
	return cr
}

func fullAuditEntry() domain.AuditEntry {
	return domain.AuditEntry{
		ID: "a_1", At: at(25), Actor: "member:m_alice", Action: "change_request.applied", Channel: "api",
		Project: "checkout", Flag: "new-checkout", Environment: "production", Segment: "beta", Team: "sre", Freeze: "fz_1", ChangeRequest: "cr_1", SDKKey: "k_1",
		Member: "m_bob", Requester: "member:m_alice", Approvers: []string{"m_carol"}, Reason: "hotfix",
		Mentions: []string{"m_bob"}, MentionsNotMailed: []string{"m_dan"}, Decision: "approve",
		Diff: &domain.Diff{
			Operations: json.RawMessage(`[{"op":"replace","path":"/enabled","value":true}]`),
			Summary:    []string{"enabled: false → true"},
		},
		Version: 8,
	}
}

func fullOutboxItem() domain.OutboxItem {
	return domain.OutboxItem{
		ID: "a_1", Entry: fullAuditEntry(), State: domain.OutboxDead, Attempts: 3, NextAttemptAt: at(26), LastError: "smtp: 451",
		Done: []string{"event"},
		Deliveries: map[string]domain.OutboxDelivery{
			"event":         {State: domain.OutboxDelivered, Attempts: 1, NextAttemptAt: at(27), LastError: "timeout", Refused: true},
			"email:m_carol": {State: domain.OutboxDead, Attempts: 5, NextAttemptAt: at(28), LastError: "bounced", Refused: true},
		},
		ClaimedBy: "notifier-1", ClaimedUntil: atPtr(29), Version: 4,
	}
}

func fullSDKKey() domain.SDKKey {
	return domain.SDKKey{
		ID: "k_1", Project: "checkout", Environment: "production", Name: "web", Hash: "2c26b46b68ffc68f", CreatedBy: "member:m_alice",
		CreatedAt: at(30), RevokedAt: atPtr(31), ExpiresAt: atPtr(32), ReplacedBy: "k_2", Replaces: "k_0", Kind: domain.SDKKeyClient,
	}
}

func fullSignInLink() domain.SignInLink {
	return domain.SignInLink{MemberID: "m_alice", Purpose: domain.LinkInvitation, Hash: "fcde2b2edba56bf4", CreatedAt: at(33), ExpiresAt: at(34), UsedAt: atPtr(35)}
}

func fullSession() domain.Session {
	return domain.Session{
		ID: "s_1", Hash: "ae4b3280e56e2faf", MemberID: "m_alice", Role: domain.RoleManager, Channel: domain.ChannelOIDC,
		CSRFToken: "csrf-1", CreatedAt: at(36), LastSeen: at(37), IdleUntil: at(38), ExpiresAt: at(39), RevokedAt: atPtr(40),
		UserAgent: "Mozilla/5.0 <test>",
	}
}

func fullFreezeCalendar() domain.FreezeCalendar {
	return domain.FreezeCalendar{
		Freezes: []domain.Freeze{
			{
				ID: "fz_1", Name: "Weekend <freeze> & ünïcode", Reason: "Nobody on call", Project: "checkout",
				Environments: []string{"production", "staging"}, Start: "0 16 * * fri", End: "0 8 * * mon", TimeZone: "Europe/Berlin",
				Scheduled: domain.FreezeHold, Version: 3, CreatedBy: "member:m_alice", CreatedAt: at(71), UpdatedAt: at(72),
			},
			{
				ID: "fz_2", Name: "Year end", From: atPtr(73), To: atPtr(74), TimeZone: "America/New_York",
				Scheduled: domain.FreezeFail, CreatedBy: "token:t_1", CreatedAt: at(75), UpdatedAt: at(76),
			},
		},
		Version: 6,
	}
}
