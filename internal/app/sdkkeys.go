package app

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// SDKKeyInput names a new SDK key and says its kind: "server" (the
// default) or "client" (public: browsers and mobile apps; clientkey.go).
type SDKKeyInput struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// CreatedSDKKey is a new SDK key with its secret, shown only once.
type CreatedSDKKey struct {
	*domain.SDKKey
	Secret string
}

// CreateSDKKey issues a key that reads one environment (admins only).
func (s *Service) CreateSDKKey(ctx context.Context, p *Principal, project, env string, in SDKKeyInput) (*CreatedSDKKey, error) {
	if err := p.requireIn(project, domain.RoleAdmin, "creating SDK keys"); err != nil {
		return nil, err
	}
	var v domain.Validation
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		v.Add("/name", "is required, at most 200 characters")
	}
	kind, ok := domain.ParseSDKKeyKind(in.Kind)
	if !ok {
		v.Add("/kind", `must be "server" (secret: every flag, the ruleset) or "client" (public: browsers and mobile apps, exposed flags only)`)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, secret := s.newSDKKey(p, project, env, in.Name, kind)
	if err := s.store.CreateSDKKey(ctx, k, s.sdkKeyAudit(p, kind.Created(), k, "named "+strconv.Quote(k.Name))); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "SDK key created", "project", project, "environment", env, "key", k.ID, "kind", kind, "actor", p.Actor())
	return &CreatedSDKKey{SDKKey: k, Secret: secret}, nil
}

// sdkKeyHash is evaluate.HashSDKKey (SHA-256 hex), kept here to avoid an import cycle.
func sdkKeyHash(secret string) string { return HashToken(secret) }

// ListSDKKeys lists an environment's SDK keys (admins only).
func (s *Service) ListSDKKeys(ctx context.Context, p *Principal, project, env string, page domain.Page) ([]domain.SDKKey, string, error) {
	if err := p.requireIn(project, domain.RoleAdmin, "listing SDK keys"); err != nil {
		return nil, "", err
	}
	return s.store.ListSDKKeys(ctx, project, env, page)
}

// RevokeSDKKey revokes an SDK key (admins only).
func (s *Service) RevokeSDKKey(ctx context.Context, p *Principal, project, env, id string) error {
	if err := p.requireIn(project, domain.RoleAdmin, "revoking SDK keys"); err != nil {
		return err
	}
	k, err := s.store.GetSDKKey(ctx, project, env, id) // its kind names the audit action
	if err != nil {
		return err
	}
	e := s.sdkKeyAudit(p, k.KindOrServer().Revoked(), k, "")
	if _, err := s.store.RevokeSDKKey(ctx, project, env, id, s.clock.Now(), e); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "SDK key revoked", "project", project, "environment", env, "key", id, "actor", p.Actor())
	return nil
}

// newSDKKey makes a key of kind and its secret: cs_sdk_… for a server key,
// cs_client_… for a client key, so that a secret scanner can tell a leaked
// server key from a client key, which is public by design.
func (s *Service) newSDKKey(p *Principal, project, env, name string, kind domain.SDKKeyKind) (*domain.SDKKey, string) {
	prefix := "cs_sdk_"
	if kind == domain.SDKKeyClient {
		prefix = "cs_client_"
	}
	secret := prefix + strings.ToLower(randomString(32))
	return &domain.SDKKey{ID: newID("sk"), Project: project, Environment: env, Name: name, Hash: sdkKeyHash(secret), CreatedBy: p.Actor(), CreatedAt: s.clock.Now(),
		Kind: kind}, secret
}

// MaxSDKKeyGrace bounds how long a rotated SDK key may keep working.
const MaxSDKKeyGrace = 30 * 24 * time.Hour

// RotateSDKKeyInput says when the rotated key stops working: absent, at
// once.
type RotateSDKKeyInput struct {
	OldKeyExpiresAt *time.Time `json:"old_key_expires_at"`
}

// RotatedSDKKey is a rotation's outcome: the new key with its secret, shown
// only once, and the old key as it now is.
type RotatedSDKKey struct {
	CreatedSDKKey
	Old *domain.SDKKey
}

// RotateSDKKey replaces an SDK key with a new one of the same name in one
// write (admins only). The old key stops working at once, or keeps working
// until old_key_expires_at (at most MaxSDKKeyGrace ahead) so clients can move.
func (s *Service) RotateSDKKey(ctx context.Context, p *Principal, project, env, id string, in RotateSDKKeyInput) (*RotatedSDKKey, error) {
	if err := p.requireIn(project, domain.RoleAdmin, "rotating SDK keys"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	expires := now
	if in.OldKeyExpiresAt != nil {
		expires = *in.OldKeyExpiresAt
		if !expires.After(now) || expires.Sub(now) > MaxSDKKeyGrace {
			var v domain.Validation
			v.Add("/old_key_expires_at", "must be in the future, at most %d days ahead (leave it out to stop the old key at once)", int(MaxSDKKeyGrace.Hours()/24))
			return nil, v.Err()
		}
	}
	cur, err := s.store.GetSDKKey(ctx, project, env, id) // its kind: the successor's, and the audit action
	if err != nil {
		return nil, err
	}
	next, secret := s.newSDKKey(p, project, env, "", cur.KindOrServer()) // named as the old key by the store

	reason := "replaced by " + next.ID + "; the old key stopped at once"
	if expires.After(now) {
		reason = "replaced by " + next.ID + "; the old key works until " + expires.UTC().Format(time.RFC3339)
	}
	e := s.sdkKeyAudit(p, cur.KindOrServer().Rotated(), cur, reason)
	old, err := s.store.RotateSDKKey(ctx, project, env, id, next, now, expires, e)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "SDK key rotated", "project", project, "environment", env, "key", id, "new_key", next.ID, "old_key_expires_at", expires, "actor", p.Actor())
	return &RotatedSDKKey{CreatedSDKKey: CreatedSDKKey{SDKKey: next, Secret: secret}, Old: old}, nil
}

// sdkKeyAudit is the audit entry of an SDK key write (never its secret or
// hash).
func (s *Service) sdkKeyAudit(p *Principal, action domain.AuditAction, k *domain.SDKKey, reason string) domain.AuditEntry {
	e := s.audit(p.Actor(), action, p.channel())
	e.Project, e.Environment, e.SDKKey, e.Reason = k.Project, k.Environment, k.ID, reason
	return e
}
