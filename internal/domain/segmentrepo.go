package domain

import "context"

// SegmentRepository stores the segments of projects. Every write (create,
// update, delete) writes its audit entries, with their outbox items, in the
// same atomic write, and moves the project's ruleset version (segments are
// part of every environment's ruleset: evaluators poll the version).
type SegmentRepository interface {
	// CreateSegment writes a new segment (Version 1): not_found without the
	// project, conflict if the key is taken in the project.
	CreateSegment(ctx context.Context, s *Segment, audit []AuditEntry) error
	// GetSegment: not_found (of the project, else of the segment).
	GetSegment(ctx context.Context, project, key string) (*Segment, error)
	// ListSegments lists a project's segments in key order, paginated as
	// flags are; not_found without the project.
	ListSegments(ctx context.Context, project string, page Page) ([]Segment, string, error)
	// UpdateSegment is the read-modify-write of a segment, as UpdateFlag
	// is of a flag: fn changes the segment (its version check included:
	// a client's stale version is fn's StaleVersion) and records audit
	// entries; the store writes it with the read version + 1 only if it
	// did not change meanwhile (a lost race reads again and calls fn
	// again; ErrContention when it keeps losing). An error from fn aborts
	// the write and is returned as is. fn may name in w the settings and
	// the ruleset version its gating decision was made on: the write then
	// holds only while they are still those (ErrContention otherwise, and
	// the application decides again).
	UpdateSegment(ctx context.Context, project, key string, fn func(s *Segment, w *SegmentWrite) error) (*Segment, error)
	// DeleteSegment deletes the segment if check (given the segment as it
	// is) returns nil, and only while the project's ruleset version is
	// still rulesetVersion: the version the caller read before it read the
	// configs and found none that uses the segment. Every flag, config or
	// segment write moves that version, so a config write that started
	// using the segment after the caller looked makes the delete answer
	// ErrRulesetMoved and write nothing; the caller looks again.
	DeleteSegment(ctx context.Context, project, key string, rulesetVersion int64, check func(s *Segment, audit *Audit) error) error
}

// SegmentWrite is what a segment's update function says besides the
// segment. Stores give each attempt a fresh one.
type SegmentWrite struct {
	// Audit entries are written (with their outbox items) in the same
	// atomic write.
	Audit
	// Settings, when set, names the settings the write's gating decision
	// (apply directly: no environment that requires approval uses the
	// segment) was made on: see SettingsGuard.
	Settings *SettingsGuard
	// RulesetVersion, when set, is the project's ruleset version read
	// before the configs that use the segment were: the write holds only
	// while it is still that (a config that started using the segment
	// meanwhile moved it).
	RulesetVersion *int64
	// Opens, when set, is a change request the store creates in the same
	// atomic write (the review after a bypass, breakglass.go): both commit
	// or neither. Its audit entries are among the write's.
	Opens *ChangeRequest
}

// ErrRulesetMoved is DeleteSegment's conflict when the project's ruleset
// version is no longer the one the caller read: what it learnt from the
// configs (that no targeting uses the segment) may be stale.
var ErrRulesetMoved = &Error{Code: CodeConflict, Message: "the project's flags, targeting or segments changed while the segment's use was checked; retry"}
