package record

import (
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// The identity records (the embedded store's; DynamoDB has its own, see the
// package comment) keep their times in UTC.

type SignInLink struct {
	MemberID  string     `json:"member_id"`
	Purpose   string     `json:"purpose"`
	Hash      string     `json:"hash"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

func FromSignInLink(l domain.SignInLink) SignInLink {
	return SignInLink{
		MemberID: l.MemberID, Purpose: string(l.Purpose), Hash: l.Hash,
		CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(), UsedAt: utc(l.UsedAt),
	}
}

func (r SignInLink) Domain() domain.SignInLink {
	return domain.SignInLink{
		MemberID: r.MemberID, Purpose: domain.LinkPurpose(r.Purpose), Hash: r.Hash,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: utc(r.UsedAt),
	}
}

type Session struct {
	ID        string     `json:"id"`
	Hash      string     `json:"hash"`
	MemberID  string     `json:"member_id"`
	Role      string     `json:"role"`
	Channel   string     `json:"channel"`
	CSRFToken string     `json:"csrf_token"`
	CreatedAt time.Time  `json:"created_at"`
	LastSeen  time.Time  `json:"last_seen"`
	IdleUntil time.Time  `json:"idle_until"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
}

func FromSession(s domain.Session) Session {
	return Session{
		ID: s.ID, Hash: s.Hash, MemberID: s.MemberID, Role: string(s.Role), Channel: string(s.Channel), CSRFToken: s.CSRFToken,
		CreatedAt: s.CreatedAt.UTC(), LastSeen: s.LastSeen.UTC(), IdleUntil: s.IdleUntil.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		RevokedAt: utc(s.RevokedAt), UserAgent: s.UserAgent,
	}
}

func (r Session) Domain() domain.Session {
	return domain.Session{
		ID: r.ID, Hash: r.Hash, MemberID: r.MemberID, Role: domain.Role(r.Role), Channel: domain.SignInChannel(r.Channel), CSRFToken: r.CSRFToken,
		CreatedAt: r.CreatedAt, LastSeen: r.LastSeen, IdleUntil: r.IdleUntil, ExpiresAt: r.ExpiresAt,
		RevokedAt: utc(r.RevokedAt), UserAgent: r.UserAgent,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
