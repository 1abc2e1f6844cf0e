package domain

// The closed vocabularies of the audit log and of a request's timeline. Each
// is a type, so a misspelt action or event is a compile error rather than
// an entry no filter, notification or page ever matches. The strings are
// stored and served: they are part of the API (docs/api.md) and of every
// store's data, and never change.

// AuditAction is what an audit entry records.
type AuditAction string

// The audit actions.
const (
	ActionFlagCreated             AuditAction = "flag.created"
	ActionFlagUpdated             AuditAction = "flag.updated"
	ActionFlagDeleted             AuditAction = "flag.deleted"
	ActionTargetingUpdated        AuditAction = "targeting.updated"
	ActionSegmentCreated          AuditAction = "segment.created"
	ActionSegmentUpdated          AuditAction = "segment.updated"
	ActionSegmentDeleted          AuditAction = "segment.deleted"
	ActionProjectDeleted          AuditAction = "project.deleted"
	ActionEnvironmentUpdated      AuditAction = "environment.updated"
	ActionSettingsUpdated         AuditAction = "settings.updated"
	ActionApprovalSettingsUpdated AuditAction = "approval_settings.updated"
	ActionBypass                  AuditAction = "bypass"           // a gated write applied directly by a member's bypass grant
	ActionAPITokenBypass          AuditAction = "api_token_bypass" // a gated write applied directly by a service token (api_token_bypass)
	ActionRequestCreated          AuditAction = "change_request.created"
	ActionRequestEdited           AuditAction = "change_request.edited"
	ActionRequestCommented        AuditAction = "change_request.commented"
	ActionRequestReviewed         AuditAction = "change_request.reviewed" // a review that did not decide the request
	ActionRequestApproved         AuditAction = "change_request.approved"
	ActionRequestRejected         AuditAction = "change_request.rejected"
	ActionRequestAutoApproved     AuditAction = "change_request.auto_approved"
	ActionRequestApprovalsRevoked AuditAction = "change_request.approvals_revoked"
	ActionRequestReviewVoided     AuditAction = "change_request.review_voided"
	ActionRequestApplied          AuditAction = "change_request.applied"
	ActionRequestApplyConflict    AuditAction = "change_request.apply_conflict"
	ActionRequestScheduleFailed   AuditAction = "change_request.schedule_failed"
	ActionRequestWithdrawn        AuditAction = "change_request.withdrawn"
	ActionRequestExpired          AuditAction = "change_request.expired"
	ActionRequestDrafted          AuditAction = "change_request.drafted"   // a draft started or changed: nobody is told
	ActionRequestSubmitted        AuditAction = "change_request.submitted" // a draft sent to review, as created
	ActionSDKKeyCreated           AuditAction = "sdk_key.created"
	ActionSDKKeyRotated           AuditAction = "sdk_key.rotated"
	ActionSDKKeyRevoked           AuditAction = "sdk_key.revoked"
	ActionClientKeyCreated        AuditAction = "client_key.created"
	ActionClientKeyRotated        AuditAction = "client_key.rotated"
	ActionClientKeyRevoked        AuditAction = "client_key.revoked"
	ActionMemberCreated           AuditAction = "member.created"
	ActionMemberUpdated           AuditAction = "member.updated"
	ActionMemberRemoved           AuditAction = "member.removed"
	ActionMemberInvited           AuditAction = "member.invited"
	ActionMemberEmailSuppressed   AuditAction = "member.email_suppressed"
	ActionMemberAdminRecovered    AuditAction = "member.admin_recovered"
	ActionSignInLinkRequested     AuditAction = "auth.sign_in_link_requested"
	ActionSignedIn                AuditAction = "auth.signed_in"
	ActionSignedOut               AuditAction = "auth.signed_out"
	ActionSignInFailed            AuditAction = "auth.sign_in_failed"
	ActionSessionRevoked          AuditAction = "auth.session_revoked"
	ActionTokenCreated            AuditAction = "token.created"
	ActionTokenRevoked            AuditAction = "token.revoked"
	ActionTeamCreated             AuditAction = "team.created"
	ActionTeamUpdated             AuditAction = "team.updated"
	ActionTeamDeleted             AuditAction = "team.deleted"
	ActionFreezeCreated           AuditAction = "freeze.created"
	ActionFreezeUpdated           AuditAction = "freeze.updated"
	ActionFreezeDeleted           AuditAction = "freeze.deleted"
	ActionRequestHeld             AuditAction = "change_request.held" // an apply that a freeze holds until its end
	// Review after a bypass (breakglass): the request a bypass opens, its
	// acknowledgement by another reviewer, and its deadline passing.
	ActionRequestBypassed      AuditAction = "change_request.bypassed"
	ActionRequestAcknowledged  AuditAction = "change_request.acknowledged"
	ActionRequestReviewOverdue AuditAction = "change_request.review_overdue"
)

// AuditActions are every audit action, in the order above.
var AuditActions = []AuditAction{
	ActionFlagCreated, ActionFlagUpdated, ActionFlagDeleted, ActionTargetingUpdated,
	ActionSegmentCreated, ActionSegmentUpdated, ActionSegmentDeleted, ActionProjectDeleted,
	ActionEnvironmentUpdated, ActionSettingsUpdated, ActionApprovalSettingsUpdated, ActionBypass, ActionAPITokenBypass,
	ActionRequestCreated, ActionRequestEdited, ActionRequestCommented, ActionRequestReviewed, ActionRequestApproved,
	ActionRequestRejected, ActionRequestAutoApproved, ActionRequestApprovalsRevoked, ActionRequestReviewVoided, ActionRequestApplied,
	ActionRequestApplyConflict, ActionRequestScheduleFailed, ActionRequestWithdrawn, ActionRequestExpired,
	ActionRequestDrafted, ActionRequestSubmitted,
	ActionSDKKeyCreated, ActionSDKKeyRotated, ActionSDKKeyRevoked, ActionClientKeyCreated, ActionClientKeyRotated, ActionClientKeyRevoked,
	ActionMemberCreated, ActionMemberUpdated,
	ActionMemberRemoved, ActionMemberInvited, ActionMemberEmailSuppressed, ActionMemberAdminRecovered,
	ActionSignInLinkRequested, ActionSignedIn, ActionSignedOut, ActionSignInFailed, ActionSessionRevoked, ActionTokenCreated, ActionTokenRevoked,
	ActionTeamCreated, ActionTeamUpdated, ActionTeamDeleted,
	ActionFreezeCreated, ActionFreezeUpdated, ActionFreezeDeleted, ActionRequestHeld,
	ActionRequestBypassed, ActionRequestAcknowledged, ActionRequestReviewOverdue,
}

// EventType is what a timeline event of a change request records.
type EventType string

// The timeline events.
const (
	EventCreated          EventType = "created"
	EventEdited           EventType = "edited"
	EventCommented        EventType = "commented"
	EventApproved         EventType = "approved"
	EventRejected         EventType = "rejected"
	EventAutoApproved     EventType = "auto_approved"
	EventApprovalsRevoked EventType = "approvals_revoked"
	EventApplied          EventType = "applied"
	EventApplyConflict    EventType = "apply_conflict"
	EventScheduleFailed   EventType = "schedule_failed"
	EventWithdrawn        EventType = "withdrawn"
	EventExpired          EventType = "expired"
	EventDrafted          EventType = "drafted"
	EventSubmitted        EventType = "submitted"
	EventHeld             EventType = "held" // a freeze holds the apply until its end
	// EventReviewVoided: a reviewer lost the right to review (demoted or
	// removed): their review of the revision no longer counts.
	EventReviewVoided EventType = "review_voided"
	// Review after a bypass: the bypass that opened the request, its
	// acknowledgement, and its deadline passing unacknowledged.
	EventBypassed      EventType = "bypassed"
	EventAcknowledged  EventType = "acknowledged"
	EventReviewOverdue EventType = "review_overdue"
)

// EventTypes are every timeline event type, in the order above.
var EventTypes = []EventType{
	EventCreated, EventEdited, EventCommented, EventApproved, EventRejected, EventAutoApproved,
	EventApprovalsRevoked, EventApplied, EventApplyConflict, EventScheduleFailed, EventWithdrawn, EventExpired,
	EventDrafted, EventSubmitted, EventHeld, EventReviewVoided,
	EventBypassed, EventAcknowledged, EventReviewOverdue,
}

// Decides reports whether the event ends the review of the revision it is
// in: the request was decided (approved, rejected, auto-approved) or closed
// (applied, withdrawn, expired). An e-mail action link of that revision is
// spent after it.
func (t EventType) Decides() bool {
	switch t {
	case EventApproved, EventRejected, EventAutoApproved, EventApplied, EventExpired, EventWithdrawn, EventAcknowledged:
		return true
	}
	return false
}
