package domain

import (
	"context"
	"fmt"
	"time"
)

// Page asks for one page of a list. Cursor is opaque: it comes from the
// previous page's next cursor; "" starts at the beginning.
type Page struct {
	Limit  int
	Cursor string
}

// DefaultPageLimit and MaxPageLimit bound list pages.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Normalize fills in the default limit and caps it.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit > MaxPageLimit {
		p.Limit = MaxPageLimit
	}
	return p
}

// FlagFilter narrows a flag list. A nil Archived lists both. Query keeps
// flags whose key or name contains it, ASCII letters matching either case
// (a search box).
type FlagFilter struct {
	Tag      string
	Archived *bool
	Query    string
}

// Matches reports whether f passes the filter.
func (ff FlagFilter) Matches(f *Flag) bool {
	if ff.Tag != "" && !f.HasTag(ff.Tag) {
		return false
	}
	if ff.Archived != nil && f.Archived != *ff.Archived {
		return false
	}
	if ff.Query != "" && !ContainsFoldASCII(f.Key, ff.Query) && !ContainsFoldASCII(f.Name, ff.Query) {
		return false
	}
	return true
}

// ContainsFoldASCII reports whether s contains sub, ASCII letters matching
// either case (and nothing else folded: "K" the Kelvin sign is not "k").
func ContainsFoldASCII(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if equalFoldASCII(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Update functions change the entity they are given in place. Stores call them
// inside their read-modify-write and commit only if nothing changed the
// entity meanwhile; then they set Version to the read version plus one. A
// store may call an update function more than once (it retries when it loses a
// race), so update functions must not have side effects. An error from the
// update function aborts the write and is returned as is.

// ProjectRepository stores projects and their environments.
type ProjectRepository interface {
	// CreateProject writes the project and its environments together, or
	// nothing; conflict if the key is taken.
	CreateProject(ctx context.Context, p *Project, envs []Environment) error
	GetProject(ctx context.Context, key string) (*Project, error)
	ListProjects(ctx context.Context, page Page) ([]Project, string, error)
	UpdateProject(ctx context.Context, key string, fn func(*Project) error) (*Project, error)
	// DeleteProject removes the project and its environments and revokes
	// every SDK key of the project not revoked yet (rotated keys in their
	// grace period included: revoked_at set to the delete's time, hash
	// forgotten, so GetSDKKeyByHash answers not_found), all in one atomic
	// write; the key items stay. A key created concurrently either makes the
	// delete read again or fails with not_found: no key outlives its project.
	// Conflict while the project still has flags (archived ones included), or
	// when a store cannot revoke that many keys in one write (revoke some
	// first). Revocations take the time at; audit (when not nil) is given
	// the ids of the keys revoked and returns the entries written in the
	// same write.
	DeleteProject(ctx context.Context, key string, at time.Time, audit func(revoked []string) []AuditEntry) error

	// CreateEnvironment: not_found without the project, conflict if the key is
	// taken or the project has MaxEnvironmentsPerProject already.
	CreateEnvironment(ctx context.Context, e *Environment) error
	GetEnvironment(ctx context.Context, project, key string) (*Environment, error)
	ListEnvironments(ctx context.Context, project string, page Page) ([]Environment, string, error)
	// UpdateEnvironment writes fn's audit entries with the change (an
	// environment's protection decides its default approval settings).
	// A change of its allowed origins updates the origin index
	// (OriginAllowed) and moves the project's ruleset version in the same
	// write, so evaluators pick the new origins up.
	UpdateEnvironment(ctx context.Context, project, key string, fn func(*Environment, *Audit) error) (*Environment, error)
}

// FlagRepository stores flags and their per-environment configs.
type FlagRepository interface {
	// CreateFlag: not_found without the project, conflict if the key is taken.
	CreateFlag(ctx context.Context, f *Flag, audit []AuditEntry) error
	GetFlag(ctx context.Context, project, key string) (*Flag, error)
	ListFlags(ctx context.Context, project string, filter FlagFilter, page Page) ([]Flag, string, error)
	// UpdateFlag is WriteFlag for a change that tells the store nothing
	// besides the flag and its audit entries (no settings guard).
	UpdateFlag(ctx context.Context, project, key string, fn func(f *Flag, configs []FlagConfig, audit *Audit) error) (*Flag, error)
	// WriteFlag gives fn the flag and every stored config of it, so that fn
	// can refuse to drop a variant in use; no config changes until the write
	// commits. fn says in w what else the write is (see FlagWrite).
	WriteFlag(ctx context.Context, project, key string, fn func(f *Flag, configs []FlagConfig, w *FlagWrite) error) (*Flag, error)
	// DeleteFlag removes the flag and all its configs if check (given the
	// current flag) returns nil.
	DeleteFlag(ctx context.Context, project, key string, check func(*Flag, *Audit) error) error

	// GetFlagConfig returns the flag and its config in env; a config never
	// written is DefaultFlagConfig with version 0. not_found if the flag or
	// the environment does not exist.
	GetFlagConfig(ctx context.Context, project, flag, env string) (*Flag, *FlagConfig, error)
	// UpdateFlagConfig gives fn the current flag (read only) and config, and
	// the open change request holding the pending lock (w.LockedBy); the
	// write (with w's audit entries) commits only if none of them changed
	// meanwhile, and only if the settings w.Settings names are still as
	// named (else ErrContention, nothing written).
	UpdateFlagConfig(ctx context.Context, project, flag, env string, fn func(f *Flag, c *FlagConfig, w *ConfigWrite) error) (*FlagConfig, error)
}

// MemberRepository stores members. E-mail addresses are unique.
//
// The last-admin rule (at least one admin member remains) is decided by the
// store, in the same atomic write as the change, when the caller tells it
// the write takes an admin away (MemberWrite.KeepAnAdmin): counted outside
// the write, two admins demoting each other at once would both pass. A store
// never applies the rule on its own, so writes that are not told (tests,
// tools) are not refused.
type MemberRepository interface {
	// CreateMember is AddMember with audit entries alone.
	CreateMember(ctx context.Context, m *Member, audit ...AuditEntry) error
	// AddMember creates member m: conflict if the id or the e-mail address
	// is taken. w's audit entries are written in the same atomic write, and
	// it commits only while the settings w.Guard names are as read (else
	// ErrContention, nothing written): a manager or admin created directly
	// because approvals were off. w.Applies must be nil (creating a member
	// applies no request); w may be nil.
	AddMember(ctx context.Context, m *Member, w *Audit) error
	GetMember(ctx context.Context, id string) (*Member, error)
	ListMembers(ctx context.Context, page Page) ([]Member, string, error)
	// UpdateMember is WriteMember for a change that tells the store nothing
	// besides the member (no guard, no audit entries).
	UpdateMember(ctx context.Context, id string, fn func(*Member) error) (*Member, error)
	// WriteMember is the read-modify-write of a member: fn changes the member
	// and says in w what else the write is (see MemberWrite); nothing is
	// written if fn fails, or if w.KeepAnAdmin refuses (LastAdmin).
	WriteMember(ctx context.Context, id string, fn func(m *Member, w *MemberWrite) error) (*Member, error)
	// DeleteMember is RemoveMember with no check.
	DeleteMember(ctx context.Context, id string) error
	// RemoveMember deletes the member if check (given the member as it is)
	// returns nil, with what check says in w, in one atomic write; not_found
	// without the member.
	RemoveMember(ctx context.Context, id string, check func(m *Member, w *MemberWrite) error) error
}

// MemberWrite is what a member write function tells the store besides the
// member itself. Stores give each attempt a fresh one.
type MemberWrite struct {
	// Audit entries are written (with their outbox items) in the same
	// atomic write as the change.
	Audit
	// KeepAnAdmin says the write takes admin away from its member (demotes
	// or removes an admin) and must leave another admin member. The store
	// decides it in the same atomic write as the change, so that of two
	// admins demoting each other at once one is refused: bbolt counts the
	// other admins in the write transaction; DynamoDB conditions the
	// transaction on another admin member still being one
	// (docs/dynamodb.md, "The last admin"). When no other admin would
	// remain, the store writes nothing and answers LastAdmin.
	KeepAnAdmin bool
}

// LastAdmin is the conflict a store answers when a write told to keep an
// admin (MemberWrite.KeepAnAdmin) would leave none; email is the member's
// as read, removal says whether the write was a removal.
func LastAdmin(email string, removal bool) *Error {
	if removal {
		return Errorf(CodeConflict, "%s is the last admin and cannot be removed; make someone else admin first", email)
	}
	return Errorf(CodeConflict, "%s is the last admin; make someone else admin first", email)
}

// TokenRepository stores API tokens by id and by hash.
type TokenRepository interface {
	// CreateToken is AddToken with nothing besides the token.
	CreateToken(ctx context.Context, t *Token) error
	// AddToken creates live token t (with its hash entry): conflict if the
	// id or hash exists. w's audit entries are written in the same atomic
	// write, and it commits only while the settings w.Guard names are as
	// read (else ErrContention, nothing written): a service token with
	// manager or admin rights made live because approvals were off.
	// w.Applies must be nil; w may be nil.
	AddToken(ctx context.Context, t *Token, w *Audit) error
	GetToken(ctx context.Context, id string) (*Token, error)
	// GetTokenByHash finds a live (not revoked) token; not_found otherwise.
	GetTokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens lists all tokens, or only memberID's when it is not "".
	ListTokens(ctx context.Context, memberID string, page Page) ([]Token, string, error)
	// RevokeToken marks the token revoked and forgets its hash, with the
	// audit entries in the same atomic write; revoking a revoked token
	// changes nothing (and writes no audit entry).
	RevokeToken(ctx context.Context, id string, at time.Time, audit ...AuditEntry) (*Token, error)
	// TouchToken records a use at time at.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// CreatePendingToken writes token t, pending (t.PendingRequest names
	// cr), without its hash entry, so that it never authenticates, and
	// opens governance request cr with its audit entries, in one atomic
	// write: both or neither. Conflict if the token's id or cr's exists.
	CreatePendingToken(ctx context.Context, t *Token, cr *ChangeRequest, audit []AuditEntry) error
	// ActivateToken makes pending token id live: fn, given the token as
	// stored, checks it and records the audit entries and the request the
	// write applies (Audit.Applies); the store then clears the token's
	// PendingRequest and writes its hash entry, in one atomic write
	// conditioned on the token being as read (pending on the same request,
	// not revoked) and on the applied request's version (ErrRequestMoved).
	// not_found without the token; an error from fn writes nothing.
	ActivateToken(ctx context.Context, id string, fn func(t *Token, audit *Audit) error) (*Token, error)
}

// Store is every repository; each store implementation provides all of them.
type Store interface {
	ProjectRepository
	FlagRepository
	SegmentRepository
	TeamRepository
	MemberRepository
	TokenRepository
	ApprovalRepository
	FreezeRepository
	ChangeRequestRepository
	OutboxRepository
	EvaluationRepository
	AssignmentRepository
	IdentityRepository
	AuditAppender
}

// Audit collects the audit entries an update function wants written in the
// same atomic write as its change. Stores give each attempt a fresh one.
type Audit struct {
	Entries []AuditEntry
	// Applies is a governance change request the write applies (the
	// change is that request's): the store writes it, at Version+1, in
	// the same atomic write as the change, while the stored request is
	// still at Version; otherwise it writes nothing and answers
	// ErrRequestMoved. Settings, environment, member, freeze calendar and
	// token activation writes honour it.
	Applies *ChangeRequest
	// Guard, when set, names the settings a decision made before the
	// write read: a change of the rules written directly because
	// approvals were off (governance.go). The write holds only while they
	// are as read (see SettingsGuard); otherwise the store writes nothing
	// and answers ErrContention, and the application decides again, so no
	// such change commits after approvals are switched on. Approval
	// settings, environment and member writes honour it, and so does the
	// creation of members and tokens (AddMember, AddToken).
	Guard *SettingsGuard
}

// ErrRequestMoved refuses a write that applies a change request
// (Audit.Applies) which changed since it was read.
var ErrRequestMoved = &Error{Code: CodeConflict, Message: "the change request changed while it was being applied; read it again"}

// Record adds an entry.
func (a *Audit) Record(e AuditEntry) { a.Entries = append(a.Entries, e) }

// RequestWrite is what a change request's update function says besides the
// request itself. Stores give each attempt a fresh one.
type RequestWrite struct {
	// Audit entries are written (with their outbox items) in the same
	// atomic write as the request.
	Audit
	// TakeLocks are pending locks (of targeting targets) the write takes for
	// the request; CheckLocks are locks it only checks. Either refuses the
	// write with a conflict when another request holds one of them (one
	// this request holds is fine).
	TakeLocks, CheckLocks []Target
	// ReleaseLocks are released in the same write where this request holds
	// them (a lock held by another request, or by none, is left alone). A
	// store never takes or releases a lock on its own: the application
	// names them when the request is submitted, edited, or reaches a final
	// state (withdrawn, expired, applied).
	ReleaseLocks []Target
}

// Live is the live state of a request's changes as its apply read it: the
// flag of every change that names one (by key) and the config of every
// targeting change (by its target).
type Live struct {
	Flags    map[string]*Flag
	Configs  map[Target]*FlagConfig
	Segments map[string]*Segment // by key, of segment changes
}

// ApplyWrite is what an apply function says its apply writes. Stores give
// each attempt a fresh one.
type ApplyWrite struct {
	// Audit entries and the locks' release, as for an update.
	RequestWrite
	// Applied says fn applied the request: the store writes the request
	// (its read version + 1), the live state named below, the audit entries
	// and the locks' release in one atomic write. Without Applied the apply
	// writes nothing, whatever fn did to the request or put in w (a
	// request fn marks applied included). An apply writes live state:
	// Applied with neither Flags nor Configs is refused with an error (as
	// is a write set Check refuses), and nothing is written.
	Applied bool
	// Flags are flags to write: flags fn was given (Live.Flags), changed,
	// at the version they were read at (fn leaves Version alone). The store
	// writes each with that version + 1, only while the stored flag is
	// still at that version: when it is not (another writer moved it on)
	// the apply writes nothing and answers ErrContention. A writer that
	// comes between the store's own read and write makes the store read
	// again and call fn again, as any lost race does.
	Flags []*Flag
	// Configs are Flags' counterpart for configs fn was given
	// (Live.Configs): each written with its version + 1 only while the
	// stored config is still at its Version (0: never written).
	Configs []*FlagConfig
	// Segments are Flags' counterpart for segments fn was given
	// (Live.Segments).
	Segments []*Segment
	// Requires are the segments the written configs name: the apply holds
	// only while each exists (ErrSegmentGone otherwise), as for a config
	// write (ConfigWrite.Segments).
	Requires []string
	// Approvers are the members whose approvals the apply counts, at the
	// versions the application read when it checked they may still review
	// (demotion): the apply holds only while each is still at that version
	// (not demoted nor removed since); otherwise it writes nothing and
	// answers ErrApplyMoved, and the application checks them again.
	Approvers []MemberVersion
	// Freezes, when set, is the version of the freeze calendar the
	// application read when it found no freeze holding the request: the
	// apply holds only while the calendar is still at it (ErrApplyMoved
	// otherwise), so a freeze created meanwhile is not slipped past.
	Freezes *int64
}

// MemberVersion is a member at a version, as read.
type MemberVersion struct {
	ID      string
	Version int64
}

// ErrApplyMoved refuses an apply one of whose approvers was written
// (their roles changed, or they were removed) since the application
// checked them (ApplyWrite.Approvers), or whose freeze check is stale
// (ApplyWrite.Freezes).
var ErrApplyMoved = &Error{Code: CodeConflict, Message: "an approver of the request or the freeze calendar changed while it was being applied; apply it again"}

// Check refuses a write set a store cannot write for cr: live state that is
// not one of cr's changes' (a flag no flag-level change names, a config of
// no targeting change), an item named twice, or an apply that names no
// live state. The refusals are errors in the application, not conflicts.
func (w *ApplyWrite) Check(cr *ChangeRequest) error {
	if !w.Applied {
		return nil
	}
	if len(w.Flags) == 0 && len(w.Configs) == 0 && len(w.Segments) == 0 {
		return fmt.Errorf("apply of change request %s names no live state to write (ApplyWrite.Flags, Configs or Segments)", cr.ID)
	}
	seen := map[Target]bool{}
	for _, f := range w.Flags {
		t := Target{Kind: KindFlag, Flag: f.Key}
		if _, ok := cr.Change(t); !ok || f.Project != cr.Project || seen[t] {
			return fmt.Errorf("apply of change request %s names flag %s/%s, which none of its changes (or more than one write) names", cr.ID, f.Project, f.Key)
		}
		seen[t] = true
	}
	for _, c := range w.Configs {
		t := Target{Kind: KindTargeting, Flag: c.Flag, Environment: c.Environment}
		if _, ok := cr.Change(t); !ok || c.Project != cr.Project || seen[t] {
			return fmt.Errorf("apply of change request %s names the config of %s/%s in %s, which none of its changes (or more than one write) names", cr.ID, c.Project, c.Flag, c.Environment)
		}
		seen[t] = true
	}
	for _, sg := range w.Segments {
		t := Target{Kind: KindSegment, Segment: sg.Key}
		if _, ok := cr.Change(t); !ok || sg.Project != cr.Project || seen[t] {
			return fmt.Errorf("apply of change request %s names segment %s/%s, which none of its changes (or more than one write) names", cr.ID, sg.Project, sg.Key)
		}
		seen[t] = true
	}
	return nil
}

// DueRequest is a change request a timer must look at, and when.
type DueRequest struct {
	ID  string
	Due time.Time
}

// ConfigWrite is what a config update function learns besides the flag and
// config (LockedBy, read only) and what it adds (audit entries, and the
// settings its gating decision was made on).
type ConfigWrite struct {
	Audit
	LockedBy string
	// Settings, when set, names the settings the write's gating decision
	// (apply directly, not as a change request) was made on: see
	// SettingsGuard.
	Settings *SettingsGuard
	// Segments are the segments the written config names: the write holds
	// only while each exists (ErrSegmentGone otherwise), so a segment's
	// delete and a config that starts naming it never both commit.
	Segments []string
	// Opens, when set, is a change request the store creates in the same
	// atomic write (the review after a bypass, breakglass.go): both commit
	// or neither. Its audit entries are among the write's.
	Opens *ChangeRequest
}

// ErrSegmentGone refuses a write of targeting that names a segment the
// project no longer has (deleted since the write was checked).
func ErrSegmentGone(key string) *Error {
	return Errorf(CodeConflict, "segment %q, which the targeting names, no longer exists; remove it from the rules (or edit the request)", key)
}

// FlagWrite is what a flag update function says besides the flag itself.
// Stores give each attempt a fresh one.
type FlagWrite struct {
	// Audit entries are written (with their outbox items) in the same
	// atomic write as the change.
	Audit
	// Settings, when set, names the settings the write's gating decision
	// was made on: see SettingsGuard.
	Settings *SettingsGuard
	// Opens, when set, is a change request the store creates in the same
	// atomic write (the review after a bypass, breakglass.go): both commit
	// or neither. Its audit entries are among the write's.
	Opens *ChangeRequest
}

// SettingsGuard names the approval settings a direct write's gating decision
// was made on. The application decides whether a change applies directly or
// becomes a change request on reads of the settings, before the store's
// write; a store told a guard writes only if those settings are still as
// read, checked in the same atomic write as the change (bbolt reads them in
// its write transaction; DynamoDB adds ConditionChecks to the write's
// transaction: docs/dynamodb.md, "Writes decided on settings"). Otherwise it
// writes nothing and answers ErrContention, and the application decides
// again on fresh reads. So no write decided before approval was switched on
// commits after the switch: a direct write either commits before the
// settings change, or is decided again after it.
//
// A store never infers a guard: writes without one (tests, tools, applying
// an approved request) check no settings.
type SettingsGuard struct {
	// Org is the organisation settings' version read, 0 when never written.
	Org int64
	// Environments are the approval settings read of each environment the
	// decision looked at. With approvals off organisation-wide nothing else
	// decides, so a decision may name none.
	Environments []EnvironmentGuard
	// AllEnvironments says Environments are every environment of the project
	// (a flag-level change is decided on all of them): the write fails too
	// when the project has another one (created since).
	AllEnvironments bool
	// Freezes, when set, is the version of the freeze calendar (0: never
	// written) the decision read when it found no freeze holding the
	// write (or one it bypasses): the write fails too when a freeze was
	// created or changed since.
	Freezes *int64
}

// EnvironmentGuard is one environment's approval settings as a decision read
// them.
type EnvironmentGuard struct {
	Environment string
	// Version is the settings' version, 0 when never written.
	Version int64
	// Protected, for settings never written (Version 0), is the protection
	// of the environment: such settings are DefaultApprovalSettings, which
	// follow it, so protecting the environment changes them.
	Protected bool
}

// GuardOf is the guard of settings as read (GetApprovalSettings). Settings
// never written are DefaultApprovalSettings, whose Required says the
// environment's protection.
func GuardOf(a *ApprovalSettings) EnvironmentGuard {
	g := EnvironmentGuard{Environment: a.Environment, Version: a.Version}
	if a.Version == 0 {
		g.Protected = a.Required == RequiredAll
	}
	return g
}

// ApprovalRepository stores organisation and environment approval settings.
type ApprovalRepository interface {
	// GetOrgSettings returns the settings, zero-valued (version 0) if never written.
	GetOrgSettings(ctx context.Context) (*OrgSettings, error)
	UpdateOrgSettings(ctx context.Context, fn func(*OrgSettings, *Audit) error) (*OrgSettings, error)
	// GetApprovalSettings returns an environment's settings, or
	// DefaultApprovalSettings (version 0) if never written; not_found without
	// the environment.
	GetApprovalSettings(ctx context.Context, project, env string) (*ApprovalSettings, error)
	UpdateApprovalSettings(ctx context.Context, project, env string, fn func(*ApprovalSettings, *Audit) error) (*ApprovalSettings, error)
}

// ChangeRequestRepository stores change requests and the audit log.
//
// A store writes what the application tells it (the lock flag of
// CreateChangeRequest, a RequestWrite, an ApplyWrite): it never reads a
// request's kind to decide what to write, nor compares the request before
// and after an update function to infer what happened (newly applied, now
// final). What it does derive is bookkeeping of the record it writes: the
// due index from the request's NextDue, the list and reviewer indexes, and
// the project's ruleset version, which moves with every flag or config
// write.
type ChangeRequestRepository interface {
	// CreateChangeRequest writes a new request and its audit entries. With
	// lock, it also takes the pending locks of the request's targeting
	// changes (LockTargets). Conflict if another open request holds one of
	// those locks, whether or not this one takes them; a lock is held until
	// a write releases it (RequestWrite.ReleaseLocks).
	CreateChangeRequest(ctx context.Context, cr *ChangeRequest, lock bool, audit []AuditEntry) error
	GetChangeRequest(ctx context.Context, id string) (*ChangeRequest, error)
	// ListChangeRequests lists newest first.
	ListChangeRequests(ctx context.Context, filter CRFilter, page Page) ([]ChangeRequest, string, error)
	// UpdateChangeRequest is the read-modify-write of a request (reviews,
	// edits, comments, withdrawal, timers): fn changes the request and says
	// in w what else the write is (see RequestWrite). The request is
	// written with the read version + 1, only if it did not change
	// meanwhile (a race retries).
	UpdateChangeRequest(ctx context.Context, id string, fn func(cr *ChangeRequest, w *RequestWrite) error) (*ChangeRequest, error)
	// ApplyChangeRequest is apply as one atomic write. fn gets the request,
	// the live state of its changes (Live) and says in w what the apply
	// writes (see ApplyWrite): fn checks the request may apply, puts each
	// change's proposal into the live flag or config and names it in w,
	// marks the request applied and records audit entries. With w.Applied the store writes the request, the live state
	// w names and the audit entries together, only if none of them changed
	// since they were read (a race retries, calling fn again). Without it
	// the store writes nothing and returns the request as fn left it, so a
	// retried apply gets the same answer and no second version.
	ApplyChangeRequest(ctx context.Context, id string, fn func(cr *ChangeRequest, live *Live, w *ApplyWrite) error) (*ChangeRequest, error)
	// ListDue returns the requests whose NextDue is at or before before,
	// earliest first, at most limit. It reads only the due index (requests no
	// timer concerns are not in it), so its cost follows the number of due
	// requests, not of all requests. Every write of a request keeps the
	// index in step with its NextDue. On DynamoDB the index is eventually
	// consistent: a just-written request may be missing or stale, so callers
	// re-read each request and treat "nothing due" as a no-op.
	ListDue(ctx context.Context, before time.Time, limit int) ([]DueRequest, error)
	// PendingLock returns the id of the open request that locks the flag in
	// env, or "".
	PendingLock(ctx context.Context, project, flag, env string) (string, error)
	// ListAudit lists audit entries newest first.
	ListAudit(ctx context.Context, filter AuditFilter, page Page) ([]AuditEntry, string, error)
}

// Outbox states.
const (
	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxDead      = "dead"
)

// OutboxItem is an audit entry waiting for its notifications: e-mails to
// the people it concerns and a domain event. Every store method that writes
// audit entries also writes one outbox item per entry, pending, in the same
// atomic write: a change that happened is never without its notifications.
type OutboxItem struct {
	ID            string     `json:"id"` // the audit entry's id
	Entry         AuditEntry `json:"entry"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"`
	// Done lists the deliveries (e-mail recipients, "event") already made, so
	// a retry sends only what is missing.
	Done []string `json:"done"`
	// Deliveries is each delivery's own state, by key ("event",
	// "email:<member>"): the deliveries the entry owes, decided at its first
	// attempt. Each is tried, retried and dead-lettered on its own, so one
	// recipient never holds up another; the item stays pending while one of
	// them is, and is then dead if one of them is, else delivered. Empty
	// before the first attempt (and on items older than it).
	Deliveries map[string]OutboxDelivery `json:"deliveries,omitempty"`
	// ClaimedBy and ClaimedUntil: a notifier working on the item claims it
	// until then, so that another one (the stream's and the sweep's) leaves
	// it alone meanwhile; a claim past its time is void.
	ClaimedBy    string     `json:"claimed_by,omitempty"`
	ClaimedUntil *time.Time `json:"claimed_until,omitempty"`
	Version      int64      `json:"version"`
}

// OutboxDelivery is one delivery of an outbox item: one recipient's e-mail,
// or the domain event.
type OutboxDelivery struct {
	State         string    `json:"state"`    // OutboxPending, OutboxDelivered or OutboxDead
	Attempts      int       `json:"attempts"` // attempts that failed
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	// Refused: dead at once, because the recipient was refused for good
	// (not retried).
	Refused bool `json:"refused,omitempty"`
}

// OutboxRepository is the delivery side of the outbox.
type OutboxRepository interface {
	// ListOutbox returns pending items whose next attempt is at or before
	// before, oldest first, at most limit (reads only pending items).
	ListOutbox(ctx context.Context, before time.Time, limit int) ([]OutboxItem, error)
	GetOutbox(ctx context.Context, id string) (*OutboxItem, error)
	// UpdateOutbox is a version-conditioned read-modify-write of an item.
	UpdateOutbox(ctx context.Context, id string, fn func(*OutboxItem) error) (*OutboxItem, error)
	// ListDeadLetters lists items that ran out of attempts, newest first.
	ListDeadLetters(ctx context.Context, page Page) ([]OutboxItem, string, error)
}

// SDKKey lets an SDK (or an OFREP client) read one environment of one
// project, nothing else. Only the SHA-256 hash of its secret is stored.
type SDKKey struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Environment string     `json:"environment"`
	Name        string     `json:"name"`
	Hash        string     `json:"hash"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// ExpiresAt: a rotated key keeps working until then (RotateSDKKey).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ReplacedBy and Replaces link a rotated key and its successor.
	ReplacedBy string `json:"replaced_by,omitempty"`
	Replaces   string `json:"replaces,omitempty"`
	// Kind: a server key (secret) or a client key (public: exposed flags
	// only, no ruleset; clientkey.go). Empty: server.
	Kind SDKKeyKind `json:"kind,omitempty"`
}

// Live says whether the key opens its environment at now: not revoked, not
// expired.
func (k *SDKKey) Live(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// RotateTo retires k for its successor next (same environment): k is
// revoked at `at` when expires is not after it, else it keeps working until
// expires. next takes k's name unless it has one. A revoked key, or one
// rotated already, is a conflict.
func (k *SDKKey) RotateTo(next *SDKKey, at, expires time.Time) error {
	switch {
	case k.RevokedAt != nil:
		return Errorf(CodeConflict, "SDK key %q is revoked", k.ID)
	case k.ReplacedBy != "":
		return Errorf(CodeConflict, "SDK key %q was rotated already (to %q): rotate that one", k.ID, k.ReplacedBy)
	case next.Project != k.Project || next.Environment != k.Environment:
		return Errorf(CodeInvalid, "a key is rotated within its environment")
	}
	k.ReplacedBy, next.Replaces = next.ID, k.ID
	next.Kind = k.Kind // a client key's successor is a client key
	if next.Name == "" {
		next.Name = k.Name
	}
	if expires.After(at) {
		e := expires.UTC()
		k.ExpiresAt = &e
	} else {
		a := at.UTC()
		k.RevokedAt = &a
	}
	return nil
}

// Ruleset is what evaluation needs of one environment: every flag of the
// project, the stored configs of the environment (a flag without one serves
// its default, DefaultFlagConfig), the project's segments (which the
// configs' rules name), and the project's ruleset version.
type Ruleset struct {
	Version  int64
	Flags    []Flag
	Configs  []FlagConfig
	Segments []Segment
	// Environment is the environment read (its allowed origins decide
	// which browser pages may call with its client keys).
	Environment Environment
}

// EvaluationRepository serves evaluation: SDK keys and rulesets.
type EvaluationRepository interface {
	// CreateSDKKey: not_found without the environment (or the project: a
	// project being deleted either loses to the key or the key fails with
	// not_found); conflict if the id or hash exists. The SDK key writes carry
	// their audit entries (and outbox items) in the same atomic write, as
	// flag writes do.
	CreateSDKKey(ctx context.Context, k *SDKKey, audit ...AuditEntry) error
	// GetSDKKeyByHash finds a key that is not revoked (an expired one is
	// found: callers check Live); not_found otherwise.
	GetSDKKeyByHash(ctx context.Context, hash string) (*SDKKey, error)
	ListSDKKeys(ctx context.Context, project, env string, page Page) ([]SDKKey, string, error)
	// RevokeSDKKey marks the key revoked and forgets its hash; revoking
	// twice keeps the first time (and writes no audit entry).
	RevokeSDKKey(ctx context.Context, project, env, id string, at time.Time, audit ...AuditEntry) (*SDKKey, error)
	// RotateSDKKey replaces key id with next (its Replaces set to id) in one
	// write. The old key gets ReplacedBy; it is revoked at `at` (its hash
	// forgotten) when expires is not after at, else it keeps working until
	// expires (ExpiresAt). not_found without the key; conflict when it is
	// revoked or was rotated already (one rotation wins a race).
	RotateSDKKey(ctx context.Context, project, env, id string, next *SDKKey, at, expires time.Time, audit ...AuditEntry) (old *SDKKey, err error)
	// GetSDKKey reads key id of an environment, revoked or not; not_found
	// without it.
	GetSDKKey(ctx context.Context, project, env, id string) (*SDKKey, error)
	// OriginAllowed reports whether some environment allows origin for
	// its client keys (exactly, or by "*"): browsers' CORS preflights,
	// which carry no key, are answered on it. Stores keep an index of the
	// environments' allowed origins for it, written with the environments.
	OriginAllowed(ctx context.Context, origin string) (bool, error)
	// RulesetVersion is a number that changes with every write of a flag or
	// a config of the project, and with every change of an environment's
	// allowed origins (one small read: evaluators poll it).
	RulesetVersion(ctx context.Context, project string) (int64, error)
	// Ruleset reads a whole environment; not_found without it.
	Ruleset(ctx context.Context, project, env string) (*Ruleset, error)
}

// AssignmentKey names a sticky bucketing assignment: the variant one
// bucketing unit (the value of the flag's bucketing unit attribute, or the
// targeting key) was first served by one flag in one environment. Epoch
// starts assignments over: evaluators set it from the flag's bucketing salt
// and creation time, so changing the salt (an approved change) or deleting
// and re-creating the flag forgets every assignment.
type AssignmentKey struct {
	Project     string
	Environment string
	Flag        string
	Epoch       string
	Unit        string
}

// AssignmentRepository keeps sticky bucketing assignments. An assignment is
// written once and then only replaced on purpose (its variant was removed
// from the flag), so readers may cache what they read.
type AssignmentRepository interface {
	// Assignment returns the variant stored for k, "" when there is none.
	Assignment(ctx context.Context, k AssignmentKey) (string, error)
	// Assign stores variant for k when nothing is stored (replacing "") or
	// when replacing is what is stored, and returns the variant stored
	// after the call: variant, or the one that was there first. Concurrent
	// callers all get the same answer.
	Assign(ctx context.Context, k AssignmentKey, variant, replacing string) (string, error)
}
