package app

import (
	"context"
	"strings"

	"github.com/countersign/countersign/internal/domain"
)

// SDKKeyInput names a new SDK key.
type SDKKeyInput struct {
	Name string `json:"name"`
}

// CreatedSDKKey is a new SDK key with its secret, shown only once.
type CreatedSDKKey struct {
	*domain.SDKKey
	Secret string
}

// CreateSDKKey issues a key that reads one environment (admins only).
// Rotating is creating a new key, moving clients to it, then revoking the old.
func (s *Service) CreateSDKKey(ctx context.Context, p *Principal, project, env string, in SDKKeyInput) (*CreatedSDKKey, error) {
	if err := p.require(domain.RoleAdmin, "creating SDK keys"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		var v domain.Validation
		v.Add("/name", "is required, at most 200 characters")
		return nil, v.Err()
	}
	secret := "cs_sdk_" + strings.ToLower(randomString(32))
	k := &domain.SDKKey{ID: newID("sk"), Project: project, Environment: env, Name: in.Name, Hash: sdkKeyHash(secret), CreatedBy: p.Actor(), CreatedAt: s.clock.Now()}
	if err := s.store.CreateSDKKey(ctx, k); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "SDK key created", "project", project, "environment", env, "key", k.ID, "actor", p.Actor())
	return &CreatedSDKKey{SDKKey: k, Secret: secret}, nil
}

// sdkKeyHash is evaluate.HashSDKKey (SHA-256 hex), kept here to avoid an import cycle.
func sdkKeyHash(secret string) string { return HashToken(secret) }

// ListSDKKeys lists an environment's SDK keys (admins only).
func (s *Service) ListSDKKeys(ctx context.Context, p *Principal, project, env string, page domain.Page) ([]domain.SDKKey, string, error) {
	if err := p.require(domain.RoleAdmin, "listing SDK keys"); err != nil {
		return nil, "", err
	}
	return s.store.ListSDKKeys(ctx, project, env, page)
}

// RevokeSDKKey revokes an SDK key (admins only).
func (s *Service) RevokeSDKKey(ctx context.Context, p *Principal, project, env, id string) error {
	if err := p.require(domain.RoleAdmin, "revoking SDK keys"); err != nil {
		return err
	}
	if _, err := s.store.RevokeSDKKey(ctx, project, env, id, s.clock.Now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "SDK key revoked", "project", project, "environment", env, "key", id, "actor", p.Actor())
	return nil
}
