package domain

import (
	"context"
	"time"
)

// How people get in: single-use sign-in links sent by e-mail (an
// invitation, or a link asked for at /login), OpenID Connect, and the
// server-side sessions both start. These entities carry no JSON tags: the
// stores keep their own records and the API its own views.

// SignInChannel is how a session was started.
type SignInChannel string

const (
	ChannelEmail SignInChannel = "email"
	ChannelOIDC  SignInChannel = "oidc"
)

// LinkPurpose is why a sign-in link was sent. A member has at most one live
// link per purpose: a new one replaces the old.
type LinkPurpose string

const (
	LinkInvitation LinkPurpose = "invitation" // sent when the member is added, or again by an admin
	LinkSignIn     LinkPurpose = "sign_in"    // asked for at /login
)

// Valid reports whether p is a known purpose.
func (p LinkPurpose) Valid() bool { return p == LinkInvitation || p == LinkSignIn }

// SignInLinkLifetime is how long an e-mailed sign-in link works.
const SignInLinkLifetime = 72 * time.Hour

// SignInLink is a single-use link that signs its member in. Only the hash of
// its secret is kept.
type SignInLink struct {
	MemberID  string
	Purpose   LinkPurpose
	Hash      string // hex SHA-256 of the secret in the link
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Use marks the link used at now, or says why it cannot sign anyone in:
// LinkUsed once used, LinkExpired after its lifetime.
func (l *SignInLink) Use(now time.Time) error {
	if l.UsedAt != nil {
		return ErrLinkUsed
	}
	if !now.Before(l.ExpiresAt) {
		return ErrLinkExpired
	}
	l.UsedAt = &now
	return nil
}

// Refusals of sign-in links. Both are "gone" (410) to the person holding
// the link; neither says whether the member exists.
var (
	ErrLinkUsed    = &Error{Code: CodeGone, Message: "this sign-in link has been used already; ask for a new one at /login"}
	ErrLinkExpired = &Error{Code: CodeGone, Message: "this sign-in link has expired or was replaced; ask for a new one at /login"}
)

// Session lifetimes: a session ends after SessionIdleTimeout without use,
// and at the latest SessionLifetime after sign-in (both configurable).
const (
	DefaultSessionIdleTimeout = 12 * time.Hour
	DefaultSessionLifetime    = 7 * 24 * time.Hour
)

// Session is a signed-in member's server-side session. The cookie holds a
// random secret; the store keeps its hash, never the secret.
type Session struct {
	ID        string // public id, for listing and revoking ("s_…")
	Hash      string // hex SHA-256 of the cookie secret
	MemberID  string
	Role      Role // the member's role at sign-in: a lower role later ends the session
	Channel   SignInChannel
	CSRFToken string // sent back in X-CSRF-Token by cookie-authenticated writes
	CreatedAt time.Time
	LastSeen  time.Time
	IdleUntil time.Time // LastSeen plus the idle timeout
	ExpiresAt time.Time // CreatedAt plus the absolute lifetime
	RevokedAt *time.Time
	UserAgent string
}

// Live reports whether the session may still be used at now.
func (s *Session) Live(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.IdleUntil) && now.Before(s.ExpiresAt)
}

// RateWindow is the fixed window of length window that holds at: windows
// start at whole multiples of window since the Unix epoch, so every process
// (and both stores) puts a hit in the same window. end is when the window
// resets.
func RateWindow(at time.Time, window time.Duration) (start, end time.Time) {
	if window <= 0 {
		return at, at
	}
	ns := at.UnixNano()
	off := ns % int64(window)
	if off < 0 {
		off += int64(window)
	}
	start = time.Unix(0, ns-off).UTC()
	return start, start.Add(window)
}

// IdentityRepository stores sign-in links, sessions and rate-limit
// counters. Stores clean up what can no longer be used (DynamoDB: TTL on
// links, sessions and windows; bbolt: a member's ended sessions when their
// next session is created, and ended windows a few at each hit; a link is
// one per member and purpose on both), and no answer depends on that
// clean-up having happened.
type IdentityRepository interface {
	// PutSignInLink writes l as its member's link for l.Purpose, replacing
	// the one before (which then no longer works: its hash is gone). not_found
	// without the member. Audit entries are written in the same atomic
	// write.
	PutSignInLink(ctx context.Context, l *SignInLink, audit ...AuditEntry) error
	// UseSignInLink is the read-modify-write of the link of memberID for
	// purpose. fn is given the link as stored (a fresh copy each call): it
	// compares the presented secret's hash with l.Hash, calls l.Use(now),
	// records audit entries in a, and returns the session to create (nil
	// creates none), or refuses with an error, which is returned as is with
	// nothing written. The store then writes the link as fn left it, the
	// session and the audit entries in one atomic write, conditioned on the
	// link being still as read (same hash, same UsedAt): of concurrent uses
	// of one link exactly one commits, and the others call fn again with the
	// link now used (so fn refuses, ErrLinkUsed). A store may call fn more
	// than once, so fn must have no side effects. The session must be of
	// memberID; it is created as CreateSession creates one (conflict if its
	// id or hash exists). not_found without such a link, or without the
	// member.
	UseSignInLink(ctx context.Context, memberID string, purpose LinkPurpose, fn func(l *SignInLink, a *Audit) (*Session, error)) (*Session, error)
	// DeleteSignInLinks forgets every link of the member (none is fine).
	DeleteSignInLinks(ctx context.Context, memberID string) error

	// CreateSession writes a new session, with audit entries in the same
	// atomic write: conflict if its id or hash exists, not_found without its
	// member (so no session is created for a member removed meanwhile).
	CreateSession(ctx context.Context, s *Session, audit ...AuditEntry) error
	// GetSessionByHash finds a session by the hash of its secret, revoked
	// and expired ones included (the caller decides with Live); not_found
	// otherwise.
	GetSessionByHash(ctx context.Context, hash string) (*Session, error)
	// ListSessions lists the member's sessions in id order (not newest
	// first); revoked and expired ones are included until they are deleted.
	// A member without sessions (or without existence) has an empty list.
	ListSessions(ctx context.Context, memberID string, page Page) ([]Session, string, error)
	// TouchSession moves the session's LastSeen and IdleUntil forward: each
	// is set only when the new value is later than the stored one, so it
	// never moves back. Revoked sessions are left alone (no error).
	// not_found without the session.
	TouchSession(ctx context.Context, id string, lastSeen, idleUntil time.Time) error
	// RevokeSession marks the session revoked at at, with audit entries in
	// the same write, and returns it. Revoking a revoked one changes nothing
	// and writes no audit entry (the first time stays). not_found without
	// it.
	RevokeSession(ctx context.Context, id string, at time.Time, audit ...AuditEntry) (*Session, error)
	// RevokeMemberSessions revokes, at at, every session of the member not
	// revoked yet, and answers how many of them were live at at (Live).
	// Each revocation is its own conditional write (a session revoked
	// meanwhile keeps its time); a session created after the call began may
	// survive it, so callers that must stop new sign-ins change the member
	// first (CreateSession and UseSignInLink refuse a removed member).
	RevokeMemberSessions(ctx context.Context, memberID string, at time.Time) (int, error)

	// Hit counts one event under key in the fixed window of length window
	// (RateWindow) that holds at, atomically across processes, and answers
	// the count including this one and when the window ends. Windows of
	// different keys, and of different lengths under one key, count apart.
	Hit(ctx context.Context, key string, window time.Duration, at time.Time) (count int, resets time.Time, err error)
}
