// Package app is Countersign's application layer: the use cases the HTTP API
// (and later the timers and the notifier) call. It enforces who may do what
// and the rules that span entities; entities enforce their own.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
)

// Service holds the use cases.
type Service struct {
	store domain.Store
	clock clock.Clock
	log   *slog.Logger
	links *actionlink.Signer // e-mail action links; nil: none issued or accepted
	auth  authSettings       // sessions, sign-in forms and OpenID Connect provisioning (auth.go)
}

// New builds a Service.
func New(store domain.Store, clk clock.Clock, log *slog.Logger) *Service {
	return &Service{store: store, clock: clk, log: log, auth: defaultAuthSettings()}
}

// Now is the service's time.
func (s *Service) Now() time.Time { return s.clock.Now() }

// Principal is who is calling: a member's token, a service token, or a
// member's session (signed in through a browser).
type Principal struct {
	TokenID   string
	MemberID  string // "" for service tokens
	SessionID string // set when the call came with a session cookie
	Role      domain.Role
	// Channel is where the principal acts, for the audit log and
	// timelines: "" is the API (ChannelAPI); the web console sets
	// ChannelConsole.
	Channel string
	// Behind is, for a service token, the member who created it (for
	// reviewing, what the token requests that member requested).
	Behind string

	session *domain.Session // the session as read when it authenticated

	member *domain.Member // the member as read when it authenticated; nil for service tokens
	cap    domain.Role    // a member token's cap on its member's roles ("" for none)
	limit  []string       // the projects a token is limited to; nil for every project
}

// channel is where p acts (ChannelAPI unless said otherwise).
func (p *Principal) channel() string {
	if p.Channel != "" {
		return p.Channel
	}
	return ChannelAPI
}

// Actor names the principal in audit records.
func (p *Principal) Actor() string {
	if p.MemberID != "" {
		return "member:" + p.MemberID
	}
	return "token:" + p.TokenID
}

// principalOf is the principal of member m (nil for a service token)
// acting through token t (nil for a session or an e-mail link): its
// organisation role, its project roles, and the projects a token is
// limited to. Nothing else is read: every caller has read the member.
func principalOf(m *domain.Member, t *domain.Token) *Principal {
	p := &Principal{}
	var cap domain.Role
	if t != nil {
		p.TokenID, p.MemberID, cap = t.ID, t.MemberID, t.Role
		if len(t.Projects) > 0 {
			p.limit = slices.Clone(t.Projects)
		}
		if t.Service() {
			p.Behind, _ = strings.CutPrefix(t.CreatedBy, "member:")
			if p.Behind == t.CreatedBy { // made by the bootstrap or another token: nobody to name
				p.Behind = ""
			}
		}
	}
	if m == nil {
		p.Role = cap
	} else {
		p.MemberID, p.member = m.ID, m
		p.Role, p.cap = lowerRole(m.Role, cap), cap
	}
	return p
}

// RoleIn is p's role in project: its member's role there (RoleIn of
// domain.Member), capped by its token's role; a service token's role; and
// RoleNone outside the projects a token is limited to.
func (p *Principal) RoleIn(project string) domain.Role {
	if p == nil {
		return domain.RoleNone
	}
	if p.limit != nil && !slices.Contains(p.limit, project) {
		return domain.RoleNone
	}
	if p.member == nil {
		return p.Role
	}
	return lowerRole(p.member.RoleIn(project), p.cap)
}

// OrgRole is p's role for what belongs to no project: its organisation
// role, RoleNone for a token limited to projects.
func (p *Principal) OrgRole() domain.Role {
	if p == nil || p.limit != nil {
		return domain.RoleNone
	}
	return p.Role
}

// requireAny checks that there is a principal: for what every member may
// read whatever their roles (members, teams: people need names to pick
// reviewers), and for what is one's own.
func (p *Principal) requireAny(action string) error {
	if p == nil {
		return domain.Errorf(domain.CodeForbidden, "%s needs a principal", action)
	}
	return nil
}

// requireOrg checks p's organisation role: for what belongs to no
// project (members, tokens, teams, organisation settings, dead letters).
func (p *Principal) requireOrg(min domain.Role, action string) error {
	if p == nil || !p.OrgRole().AtLeast(min) {
		return domain.Errorf(domain.CodeForbidden, "%s needs the %s role or higher", action, min)
	}
	return nil
}

// requireIn checks p's role in project. A caller with no role there is
// told the project does not exist, so that the keys of other teams'
// projects are not confirmed; one who may read but lacks min is refused.
func (p *Principal) requireIn(project string, min domain.Role, action string) error {
	if p == nil {
		return domain.Errorf(domain.CodeForbidden, "%s needs the %s role or higher", action, min)
	}
	r := p.RoleIn(project)
	if r.AtLeast(min) {
		return nil
	}
	if !r.AtLeast(domain.RoleViewer) {
		return domain.NotFound("project", project)
	}
	return domain.Errorf(domain.CodeForbidden, "%s needs the %s role or higher in project %s", action, min, project)
}

// canRead reports whether p may read project.
func (p *Principal) canRead(project string) bool {
	return p.RoleIn(project).AtLeast(domain.RoleViewer)
}

// CanRead reports whether p may read project: a caller who may not is
// told the project does not exist.
func (p *Principal) CanRead(project string) bool { return p.canRead(project) }

// requireSomewhere checks that p holds min in the organisation or in at
// least one project: for what is one's own (one's tokens, sessions,
// comments' mentions) rather than a project's.
func (p *Principal) requireSomewhere(min domain.Role, action string) error {
	if p == nil {
		return domain.Errorf(domain.CodeForbidden, "%s needs the %s role or higher", action, min)
	}
	if p.OrgRole().AtLeast(min) {
		return nil
	}
	for _, proj := range p.projects() {
		if p.RoleIn(proj).AtLeast(min) {
			return nil
		}
	}
	return domain.Errorf(domain.CodeForbidden, "%s needs the %s role or higher", action, min)
}

// projects are the projects p has a role of its own in (its member's
// project roles, or its token's limit); in every other project its role
// is its organisation role.
func (p *Principal) projects() []string {
	if p.limit != nil {
		return p.limit
	}
	if p.member == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(p.member.Projects))
}

// Readable is the set of projects p may read (domain.ProjectSet), for
// lists across projects.
func (p *Principal) Readable() domain.ProjectSet {
	var set domain.ProjectSet
	if p == nil {
		set.Only = []string{}
		return set
	}
	if p.OrgRole().AtLeast(domain.RoleViewer) {
		for _, proj := range p.projects() {
			if !p.canRead(proj) {
				set.Except = append(set.Except, proj)
			}
		}
		return set
	}
	set.Only = []string{}
	for _, proj := range p.projects() {
		if p.canRead(proj) {
			set.Only = append(set.Only, proj)
		}
	}
	return set
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return idEncoding.EncodeToString(b)
}

// newID returns prefix_ plus 16 random base32 characters (80 bits).
func newID(prefix string) string { return prefix + "_" + randomString(10) }

// HashToken is how token secrets are stored: hex SHA-256. Tokens carry 256
// bits of randomness, so a fast hash is the right one (no password stretching
// needed).
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// MinTokenLength bounds bootstrap tokens chosen by operators.
const MinTokenLength = 24

// tokenTouchInterval bounds writes of last-used times to one per minute per token.
const tokenTouchInterval = time.Minute

var errUnauthenticated = &domain.Error{Code: domain.CodeUnauthenticated, Message: "a valid API token is required: send Authorization: Bearer <token>"}

// Authenticate resolves a bearer token to a principal. A member token acts
// with its member's current role, capped by the token's own role.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if len(secret) < MinTokenLength || len(secret) > 512 {
		return nil, errUnauthenticated
	}
	hash := HashToken(secret)
	t, err := s.store.GetTokenByHash(ctx, hash)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		return nil, errUnauthenticated
	}
	var m *domain.Member
	if !t.Service() {
		m, err = s.store.GetMember(ctx, t.MemberID)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return nil, errUnauthenticated
		}
		if err != nil {
			return nil, err
		}
	}
	p := principalOf(m, t)
	now := s.clock.Now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= tokenTouchInterval {
		if err := s.store.TouchToken(ctx, t.ID, now); err != nil {
			s.log.WarnContext(ctx, "recording token use failed", "token", t.ID, "err", err)
		}
	}
	return p, nil
}

func lowerRole(a, b domain.Role) domain.Role {
	if !b.Valid() {
		return a
	}
	if a.AtLeast(b) {
		return b
	}
	return a
}

// Bootstrap makes sure the organisation has an admin. On an empty store it
// creates an admin member and a token for it, and returns the token's secret
// (secret is used when not empty, else one is generated). On a store with
// members it does nothing and returns "".
func (s *Service) Bootstrap(ctx context.Context, secret string) (string, error) {
	b, err := s.BootstrapAdmin(ctx, BootstrapInput{Token: secret})
	if err != nil {
		return "", err
	}
	return b.Secret, nil
}

// ActorBootstrap is who the first admin's creation is audited as.
const ActorBootstrap = "system:bootstrap"

// BootstrapInput says how the first admin gets in: an API token
// (COUNTERSIGN_ADMIN_TOKEN), an invitation to an address
// (COUNTERSIGN_ADMIN_EMAIL), or both.
type BootstrapInput struct {
	Token string
	Email string
}

// Bootstrapped is what BootstrapAdmin did.
type Bootstrapped struct {
	Secret  string // the first admin's API token, when one was made (generated, or Token)
	Invited string // the address the first admin was invited at
	Member  string // the first admin's member id, when this call created it
}

// BootstrapAdmin makes sure the organisation has an admin. On an empty
// store it creates the admin member: with Email, that address, invited
// like any new member (the invitation mail goes through the outbox), and
// a token only when Token is set; without Email, admin@localhost.localdomain
// with a token (Token, or a generated one). On a store with members it only
// makes sure a configured Token works (tied to the first admin). Two
// processes bootstrapping an empty store at once end with one admin.
func (s *Service) BootstrapAdmin(ctx context.Context, in BootstrapInput) (*Bootstrapped, error) {
	out := &Bootstrapped{}
	if in.Token != "" && len(in.Token) < MinTokenLength {
		return out, domain.Errorf(domain.CodeInvalid, "the bootstrap token must be at least %d characters", MinTokenLength)
	}
	members, _, err := s.store.ListMembers(ctx, domain.Page{Limit: 1})
	if err != nil {
		return out, err
	}
	if len(members) > 0 {
		if in.Token != "" {
			// Make a configured bootstrap token work on an existing store too,
			// as scripts expect; it is tied to the first admin.
			return out, s.ensureToken(ctx, in.Token)
		}
		return out, nil
	}
	now := s.clock.Now()
	email := strings.TrimSpace(in.Email)
	m := &domain.Member{ID: newID("m"), Email: "admin@localhost.localdomain", Name: "Administrator", Role: domain.RoleAdmin, CreatedAt: now, UpdatedAt: now}
	var entries []domain.AuditEntry
	if email != "" {
		m.Email = email
		if err := m.Validate(); err != nil {
			return out, domain.Errorf(domain.CodeInvalid, "COUNTERSIGN_ADMIN_EMAIL must be a plain e-mail address like ada@example.com, not %q", email)
		}
		entries = s.memberAddedEntries(ActorBootstrap, ChannelSystem, m, "the first admin, from COUNTERSIGN_ADMIN_EMAIL")
	}
	err = s.store.CreateMember(ctx, m, entries...)
	if domain.ErrorCode(err) == domain.CodeConflict && !errors.Is(err, domain.ErrContention) {
		// another process bootstrapped the store meanwhile
		if in.Token != "" {
			return out, s.ensureToken(ctx, in.Token)
		}
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.Member = m.ID
	if email != "" {
		out.Invited = email
		s.log.InfoContext(ctx, "first admin invited", "member", m.ID, "actor", ActorBootstrap)
		if in.Token == "" {
			return out, nil
		}
	}
	secret := in.Token
	if secret == "" {
		secret = newTokenSecret()
	}
	t := &domain.Token{ID: newID("t"), Name: "bootstrap", MemberID: m.ID, Role: domain.RoleAdmin, Hash: HashToken(secret), CreatedBy: ActorBootstrap, CreatedAt: now}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return out, err
	}
	out.Secret = secret
	return out, nil
}

func (s *Service) ensureToken(ctx context.Context, secret string) error {
	if len(secret) < MinTokenLength {
		return domain.Errorf(domain.CodeInvalid, "the bootstrap token must be at least %d characters", MinTokenLength)
	}
	if _, err := s.store.GetTokenByHash(ctx, HashToken(secret)); err == nil {
		return nil
	}
	var admin *domain.Member
	cursor := ""
	for admin == nil {
		ms, next, err := s.store.ListMembers(ctx, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for i := range ms {
			if ms[i].Role == domain.RoleAdmin {
				admin = &ms[i]
				break
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if admin == nil {
		return domain.Errorf(domain.CodeConflict, "no admin member to attach the bootstrap token to; make one with `go run ./functions/local recover-admin --email <address>` (docs/operations.md: Recovering the last admin)")
	}
	t := &domain.Token{ID: newID("t"), Name: "bootstrap", MemberID: admin.ID, Role: domain.RoleAdmin, Hash: HashToken(secret), CreatedBy: ActorBootstrap, CreatedAt: s.clock.Now()}
	return s.store.CreateToken(ctx, t)
}

// newTokenSecret returns "cs_" and 52 base32 characters: 256 bits.
func newTokenSecret() string { return "cs_" + strings.ToLower(randomString(32)) }
