package app

import (
	"context"

	"github.com/countersign/countersign/internal/domain"
)

// MemberInput is what an admin sends to add a member.
type MemberInput struct {
	Email string      `json:"email"`
	Name  string      `json:"name"`
	Role  domain.Role `json:"role"`
}

// CreateMember adds a member (admins only).
func (s *Service) CreateMember(ctx context.Context, p *Principal, in MemberInput) (*domain.Member, error) {
	if err := p.require(domain.RoleAdmin, "adding members"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	m := &domain.Member{ID: newID("m"), Email: in.Email, Name: in.Name, Role: in.Role, CreatedAt: now, UpdatedAt: now}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.CreateMember(ctx, m); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "member created", "member", m.ID, "role", m.Role, "actor", p.Actor())
	return m, nil
}

// GetMember reads a member.
func (s *Service) GetMember(ctx context.Context, p *Principal, id string) (*domain.Member, error) {
	if err := p.require(domain.RoleViewer, "reading members"); err != nil {
		return nil, err
	}
	return s.store.GetMember(ctx, id)
}

// ListMembers lists members.
func (s *Service) ListMembers(ctx context.Context, p *Principal, page domain.Page) ([]domain.Member, string, error) {
	if err := p.require(domain.RoleViewer, "reading members"); err != nil {
		return nil, "", err
	}
	return s.store.ListMembers(ctx, page)
}

// UpdateMember changes a member. Admins may change anyone; a member may change
// their own name and e-mail but not their role. The last admin cannot be
// demoted.
func (s *Service) UpdateMember(ctx context.Context, p *Principal, id string, expected *int64, change func(*domain.Member) error) (*domain.Member, error) {
	self := p != nil && p.MemberID == id
	if !self {
		if err := p.require(domain.RoleAdmin, "changing other members"); err != nil {
			return nil, err
		}
	}
	admins, err := s.countAdmins(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateMember(ctx, id, func(m *domain.Member) error {
		if err := checkVersion("member", expected, m.Version); err != nil {
			return err
		}
		orig := *m
		if err := change(m); err != nil {
			return err
		}
		if m.ID != orig.ID {
			return immutable("/id", "a member's id")
		}
		if m.Role != orig.Role {
			if !p.Role.AtLeast(domain.RoleAdmin) {
				return domain.Errorf(domain.CodeForbidden, "only admins change roles")
			}
			if orig.Role == domain.RoleAdmin && admins <= 1 {
				return domain.Errorf(domain.CodeConflict, "%s is the last admin; make someone else admin first", orig.Email)
			}
		}
		m.UpdatedAt = s.clock.Now()
		return m.Validate()
	})
}

// DeleteMember removes a member and revokes their tokens (admins only; the
// last admin stays).
func (s *Service) DeleteMember(ctx context.Context, p *Principal, id string) error {
	if err := p.require(domain.RoleAdmin, "removing members"); err != nil {
		return err
	}
	m, err := s.store.GetMember(ctx, id)
	if err != nil {
		return err
	}
	if m.Role == domain.RoleAdmin {
		admins, err := s.countAdmins(ctx)
		if err != nil {
			return err
		}
		if admins <= 1 {
			return domain.Errorf(domain.CodeConflict, "%s is the last admin and cannot be removed", m.Email)
		}
	}
	if err := s.store.DeleteMember(ctx, id); err != nil {
		return err
	}
	// Tokens of a removed member no longer authenticate (Authenticate checks
	// the member); revoking them also makes the list say so.
	now := s.clock.Now()
	err = forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Token, string, error) {
		return s.store.ListTokens(ctx, id, pg)
	},
		func(t domain.Token) error {
			_, err := s.store.RevokeToken(ctx, t.ID, now)
			return err
		})
	if err != nil {
		s.log.WarnContext(ctx, "revoking tokens of a removed member failed; they no longer authenticate anyway", "member", id, "err", err)
	}
	s.log.InfoContext(ctx, "member removed", "member", id, "actor", p.Actor())
	return nil
}

func (s *Service) countAdmins(ctx context.Context) (int, error) {
	n := 0
	err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		if m.Role == domain.RoleAdmin {
			n++
		}
		return nil
	})
	return n, err
}

// forEach walks every page of a list.
func forEach[T any](ctx context.Context, list func(context.Context, domain.Page) ([]T, string, error), fn func(T) error) error {
	cursor := ""
	for {
		items, next, err := list(ctx, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// TokenInput asks for a token. Without Service it is the caller's own token,
// following the caller's role, or capped at Role when given. With Service it is a service token with Role
// (admins only).
type TokenInput struct {
	Name    string      `json:"name"`
	Role    domain.Role `json:"role"`
	Service bool        `json:"service"`
}

// CreatedToken is a new token with its secret, which is never shown again.
type CreatedToken struct {
	*domain.Token
	Secret string
}

// CreateToken issues a token.
func (s *Service) CreateToken(ctx context.Context, p *Principal, in TokenInput) (*CreatedToken, error) {
	if err := p.require(domain.RoleViewer, "creating tokens"); err != nil {
		return nil, err
	}
	var v domain.Validation
	if in.Name == "" || len(in.Name) > 200 {
		v.Add("/name", "is required, at most 200 characters")
	}
	if in.Role != "" && !in.Role.Valid() {
		v.Add("/role", "must be one of admin, manager, editor, viewer")
	}
	if in.Service && in.Role == "" {
		v.Add("/role", "a service token needs a role")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	t := &domain.Token{ID: newID("t"), Name: in.Name, Role: in.Role, CreatedBy: p.Actor(), CreatedAt: s.clock.Now()}
	if in.Service {
		if err := p.require(domain.RoleAdmin, "creating service tokens"); err != nil {
			return nil, err
		}
	} else {
		if p.MemberID == "" {
			return nil, domain.Errorf(domain.CodeForbidden, "a service token cannot create member tokens; send \"service\": true")
		}
		// Without a role the token follows its member's role as it changes;
		// with one it is capped there.
		t.MemberID = p.MemberID
		if t.Role != "" && !p.Role.AtLeast(t.Role) {
			return nil, domain.Errorf(domain.CodeForbidden, "a token cannot have more rights (%s) than its member (%s)", t.Role, p.Role)
		}
	}
	secret := newTokenSecret()
	t.Hash = HashToken(secret)
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "token created", "token", t.ID, "service", t.Service(), "role", t.Role, "actor", p.Actor())
	return &CreatedToken{Token: t, Secret: secret}, nil
}

// ListTokens lists every token for admins and one's own tokens for others.
func (s *Service) ListTokens(ctx context.Context, p *Principal, page domain.Page) ([]domain.Token, string, error) {
	if err := p.require(domain.RoleViewer, "listing tokens"); err != nil {
		return nil, "", err
	}
	if p.Role.AtLeast(domain.RoleAdmin) {
		return s.store.ListTokens(ctx, "", page)
	}
	if p.MemberID == "" {
		return []domain.Token{}, "", nil
	}
	return s.store.ListTokens(ctx, p.MemberID, page)
}

// RevokeToken revokes a token: one's own, or any for admins.
func (s *Service) RevokeToken(ctx context.Context, p *Principal, id string) error {
	if err := p.require(domain.RoleViewer, "revoking tokens"); err != nil {
		return err
	}
	t, err := s.store.GetToken(ctx, id)
	if err != nil {
		return err
	}
	own := t.MemberID != "" && t.MemberID == p.MemberID || t.ID == p.TokenID
	if !own && !p.Role.AtLeast(domain.RoleAdmin) {
		// Do not reveal that someone else's token exists.
		return domain.NotFound("token", id)
	}
	if _, err := s.store.RevokeToken(ctx, id, s.clock.Now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "token revoked", "token", id, "actor", p.Actor())
	return nil
}
