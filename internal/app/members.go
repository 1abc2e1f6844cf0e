package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// MemberInput is what an admin sends to add a member.
type MemberInput struct {
	Email string      `json:"email"`
	Name  string      `json:"name"`
	Role  domain.Role `json:"role"`
	// Projects are the member's project roles, each replacing Role in its
	// project.
	Projects map[string]domain.Role `json:"project_roles"`
}

// CreateMember adds a member (admins only). While approvals are on, a
// manager or admin (in the organisation or a project) is refused: a second
// admin approves a promotion instead. With them off such a member is
// created guarded on the organisation settings as read (rulesRead), so
// that approvals switched on meanwhile make the store refuse the write and
// the service decide again, refusing it now.
func (s *Service) CreateMember(ctx context.Context, p *Principal, in MemberInput) (*domain.Member, error) {
	if err := p.requireOrg(domain.RoleAdmin, "adding members"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	m := &domain.Member{ID: newID("m"), Email: in.Email, Name: in.Name, Role: in.Role, Projects: maps.Clone(in.Projects), CreatedAt: now, UpdatedAt: now}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkProjectRoles(ctx, m.Projects, nil); err != nil {
		return nil, err
	}
	m, _, err := decidedAgain(func() (*domain.Member, *domain.GovernanceChange, error) {
		return m, nil, s.addMember(ctx, p, m)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "member created", "member", m.ID, "role", m.Role, "actor", p.Actor())
	return m, nil
}

// addMember is one decision and write of CreateMember, by p.
func (s *Service) addMember(ctx context.Context, p *Principal, m *domain.Member) error {
	w := &domain.Audit{}
	if weak := domain.WeakenedMember(&domain.Member{Role: domain.RoleNone}, m); len(weak) > 0 {
		governed, guard, err := s.rulesRead(ctx)
		if err != nil {
			return err
		}
		if governed {
			return domain.Errorf(domain.CodeConflict, "while approvals are on, a manager or admin needs a second admin: add the member as an editor or below, then promote them (%s); another admin approves the promotion", weak[0].Pointer)
		}
		w.Guard = guard
	}
	// The invitation goes out through the outbox: the notifier issues the
	// sign-in link when it mails it.
	w.Entries = s.memberAddedEntries(p.Actor(), p.channel(), m, "")
	return s.store.AddMember(ctx, m, w)
}

// GetMember reads a member.
func (s *Service) GetMember(ctx context.Context, p *Principal, id string) (*domain.Member, error) {
	if err := p.requireAny("reading members"); err != nil {
		return nil, err
	}
	return s.store.GetMember(ctx, id)
}

// ListMembers lists members.
func (s *Service) ListMembers(ctx context.Context, p *Principal, page domain.Page) ([]domain.Member, string, error) {
	if err := p.requireAny("reading members"); err != nil {
		return nil, "", err
	}
	return s.store.ListMembers(ctx, page)
}

// UpdateMember changes a member. Admins may change anyone; a member may change
// their own name, but not their e-mail address or role. The last admin cannot be
// demoted: a change that takes admin away tells the store to keep another
// admin (domain.MemberWrite.KeepAnAdmin), and the store decides it in the same
// atomic write, so two admins demoting each other at once leave one. A
// lower role ends the member's sessions; a new address ends the sign-in
// links sent to the old one, and clears a mail suppression of the old one.
// Only admins clear a suppression (email_suppressed set to null); nobody
// sets one (SES's events do: RecordMailEvent). The change is audited
// (member.updated).
//
// While approvals are on, a promotion to manager or admin (in the
// organisation or a project) opens a governance request instead.
func (s *Service) UpdateMember(ctx context.Context, p *Principal, id string, expected *int64, change func(*domain.Member) error) (Outcome[domain.Member], error) {
	m, g, err := decidedAgain(func() (*domain.Member, *domain.GovernanceChange, error) {
		return s.updateMember(ctx, p, id, expected, change)
	})
	return governedOutcome(ctx, s, p, m, err, g)
}

func (s *Service) updateMember(ctx context.Context, p *Principal, id string, expected *int64, change func(*domain.Member) error) (*domain.Member, *domain.GovernanceChange, error) {
	self := p != nil && p.MemberID == id
	if !self {
		if err := p.requireOrg(domain.RoleAdmin, "changing other members"); err != nil {
			return nil, nil, err
		}
	}
	if err := s.checkProjectRolesOfChange(ctx, id, change); err != nil {
		return nil, nil, err
	}
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	var g *domain.GovernanceChange
	var orig domain.Member
	m, err := s.store.WriteMember(ctx, id, func(m *domain.Member, w *domain.MemberWrite) error {
		if err := checkVersion("member", expected, m.Version); err != nil {
			return err
		}
		orig = copyMember(m)
		if err := change(m); err != nil {
			return err
		}
		d, err := decideMemberChange(p, &orig, m)
		if err != nil {
			return err
		}
		m.UpdatedAt = s.clock.Now()
		if err := m.Validate(); err != nil {
			return err
		}
		if weak := domain.WeakenedMember(&orig, m); governed && len(weak) > 0 {
			if m.Email != orig.Email || m.Name != orig.Name || (m.EmailSuppressed == nil) != (orig.EmailSuppressed == nil) || m.EmailOptOut != orig.EmailOptOut {
				var v domain.Validation
				v.Add(weak[0].Pointer, "a promotion needs a second admin: send it on its own, without other changes of the member")
				return v.Err()
			}
			base, next := copyMember(&orig), copyMember(m)
			g = &domain.GovernanceChange{What: domain.GovernMember, Member: id, Person: &next, BasePerson: &base, Weakens: weak}
			return errGoverned
		}
		w.KeepAnAdmin, w.Guard = d.keepAnAdmin, guard
		w.Record(s.memberUpdatedEntry(p, &orig, m, d.cleared))
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	s.endAccessAfterUpdate(ctx, id, &orig, m)
	if lowered(&orig, m) {
		s.voidReviews(ctx, id, m, "role lowered")
	}
	return m, nil, nil
}

// lowered reports whether an update (orig as read, m as written) lowered
// the member's role in the organisation or in a project.
func lowered(orig, m *domain.Member) bool {
	if m.Role.Below(orig.Role) {
		return true
	}
	for p := range orig.Projects {
		if m.RoleIn(p).Below(orig.RoleIn(p)) {
			return true
		}
	}
	for p := range m.Projects {
		if m.RoleIn(p).Below(orig.RoleIn(p)) {
			return true
		}
	}
	return false
}

// checkProjectRolesOfChange checks, before the write, that the project
// roles change gives member id name existing projects (the store's write
// function must not read the store).
func (s *Service) checkProjectRolesOfChange(ctx context.Context, id string, change func(*domain.Member) error) error {
	cur, err := s.store.GetMember(ctx, id)
	if err != nil {
		return err
	}
	next := copyMember(cur)
	if err := change(&next); err != nil {
		return err
	}
	return s.checkProjectRoles(ctx, next.Projects, cur.Projects)
}

// copyMember is a copy of m that shares nothing with it.
func copyMember(m *domain.Member) domain.Member {
	c := *m
	c.Projects = maps.Clone(m.Projects)
	if c.EmailSuppressed != nil { // change may write through m's pointer
		sup := *c.EmailSuppressed
		c.EmailSuppressed = &sup
	}
	return c
}

// memberChange is what decideMemberChange allows of an update.
type memberChange struct {
	keepAnAdmin bool   // the role changed from admin: the store keeps another admin (MemberWrite.KeepAnAdmin)
	cleared     string // the audit reason of a cleared mail suppression, "" when none was
}

// decideMemberChange checks what p changed of a member (orig as read, m as
// changed) against what p may change, and answers what the write must do.
// It clears m's mail suppression when the address changed
// (checkSuppressionChange).
func decideMemberChange(p *Principal, orig, m *domain.Member) (memberChange, error) {
	var d memberChange
	if m.ID != orig.ID {
		return d, immutable("/id", "a member's id")
	}
	if m.Email != orig.Email && !p.OrgRole().AtLeast(domain.RoleAdmin) {
		// An address is how a member signs in (links, OpenID Connect) and
		// how admins know who they promote: nobody re-labels themselves.
		return d, domain.Errorf(domain.CodeForbidden, "only admins change e-mail addresses")
	}
	if m.Role != orig.Role || !maps.Equal(m.Projects, orig.Projects) {
		if !p.OrgRole().AtLeast(domain.RoleAdmin) {
			return d, domain.Errorf(domain.CodeForbidden, "only admins change roles")
		}
		d.keepAnAdmin = orig.Role == domain.RoleAdmin
	}
	cleared, err := checkSuppressionChange(p, orig, m)
	if err != nil {
		return d, err
	}
	d.cleared = cleared
	return d, nil
}

// memberUpdatedEntry is the audit entry of p's update of a member (orig as
// read, m as written), with the diff of the two and reason.
func (s *Service) memberUpdatedEntry(p *Principal, orig, m *domain.Member, reason string) domain.AuditEntry {
	e := s.audit(p.Actor(), domain.ActionMemberUpdated, p.channel())
	e.Member, e.Version = m.ID, orig.Version+1
	e.Reason = reason
	before, after := *orig, *m
	before.UpdatedAt, after.UpdatedAt, before.Version, after.Version = time.Time{}, time.Time{}, 0, 0
	if d, err := domain.AnyDiff(&before, &after); err == nil {
		e.Diff = d
	}
	return e
}

// endAccessAfterUpdate ends what let member id in that an update (orig as
// read, m as written) took away: sessions after a lower role, sign-in links
// and sessions after a new address.
func (s *Service) endAccessAfterUpdate(ctx context.Context, id string, orig, m *domain.Member) {
	if m.Role.Below(orig.Role) {
		s.endMemberSessions(ctx, id, fmt.Sprintf("role lowered from %s to %s", orig.Role, m.Role))
	}
	if m.Email != orig.Email {
		if err := s.identity().DeleteSignInLinks(ctx, id); err != nil {
			s.log.WarnContext(ctx, "ending the sign-in links sent to a changed address failed", "member", id, "err", err)
		}
		s.endMemberSessions(ctx, id, "e-mail address changed")
	}
}

// DeleteMember removes a member (admins only; the last admin stays, decided
// by the store in the same write as the removal, which is audited
// member.removed). Everything that let the member in ends: sessions,
// sign-in links (they also need the member to exist) and tokens (they stop
// authenticating with the member; revoking them also makes the list say
// so).
func (s *Service) DeleteMember(ctx context.Context, p *Principal, id string) error {
	if err := p.requireOrg(domain.RoleAdmin, "removing members"); err != nil {
		return err
	}
	err := s.store.RemoveMember(ctx, id, func(m *domain.Member, w *domain.MemberWrite) error {
		w.KeepAnAdmin = m.Role == domain.RoleAdmin
		e := s.audit(p.Actor(), domain.ActionMemberRemoved, p.channel())
		e.Member, e.Reason = m.ID, fmt.Sprintf("%s (%s, %s) removed", m.Email, m.ID, m.Role)
		w.Record(e)
		return nil
	})
	if err != nil {
		return err
	}
	s.endMemberSessions(ctx, id, "member removed")
	s.voidReviews(ctx, id, nil, "member removed")
	if err := s.identity().DeleteSignInLinks(ctx, id); err != nil {
		s.log.WarnContext(ctx, "deleting a removed member's sign-in links failed; they need the member to work anyway", "member", id, "err", err)
	}
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
	s.removeFromTeams(ctx, p, id)
	s.log.InfoContext(ctx, "member removed", "member", id, "actor", p.Actor())
	return nil
}

// ActorRecoverAdmin is who RecoverAdmin's changes are audited as.
const ActorRecoverAdmin = "system:recover-admin"

// RecoverAdminInput names the member an operator makes admin.
type RecoverAdminInput struct {
	Email string // the member's e-mail address (any case); created when no member has it
	Name  string // the name of a member created (default: the address's local part)
	Note  string // why, in the audit entry (optional)
	Token bool   // also issue an API token for the member (its secret is shown once)
}

// RecoveredAdmin is what RecoverAdmin did.
type RecoveredAdmin struct {
	Member       *domain.Member
	Created      bool        // the member was created
	PreviousRole domain.Role // the role before, when promoted
	Unchanged    bool        // the member was an admin already: nothing written
	AdminsBefore int         // admin members found before the change
	AuditID      string      // the audit entry written, "" when nothing was
	LiveTokens   int         // the member's tokens that are not revoked (a new one included)
	TokenSecret  string      // the secret of the token issued, when asked for
}

// RecoverAdmin is the operator's way back when no admin member is left (or
// none can be reached): it runs with direct store access, not through the
// API, and so needs no principal. It makes the member with in.Email an admin,
// or creates an admin member with that address, audited as
// domain.ActionMemberAdminRecovered by ActorRecoverAdmin in the same write as the change.
// A member who is an admin already is left as is.
func (s *Service) RecoverAdmin(ctx context.Context, in RecoverAdminInput) (*RecoveredAdmin, error) {
	email := strings.TrimSpace(in.Email)
	if email == "" {
		return nil, domain.Errorf(domain.CodeInvalid, "an e-mail address is required")
	}
	for attempt := 1; ; attempt++ {
		out, err := s.recoverAdmin(ctx, email, in)
		if errors.Is(err, errMemberMoved) && attempt < decideAttempts {
			continue // a member got or lost that address meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		if in.Token {
			t := &domain.Token{ID: newID("t"), Name: "recover-admin", MemberID: out.Member.ID, CreatedBy: ActorRecoverAdmin, CreatedAt: s.clock.Now()}
			secret := newTokenSecret()
			t.Hash = HashToken(secret)
			if err := s.store.CreateToken(ctx, t); err != nil {
				return out, fmt.Errorf("%s is an admin now, but issuing a token failed: %w", out.Member.Email, err)
			}
			out.TokenSecret = secret
		}
		err = forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Token, string, error) {
			return s.store.ListTokens(ctx, out.Member.ID, pg)
		}, func(t domain.Token) error {
			if t.RevokedAt == nil {
				out.LiveTokens++
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		if out.Unchanged {
			s.log.InfoContext(ctx, "admin recovery: the member is an admin already", "member", out.Member.ID, "token_issued", in.Token, "actor", ActorRecoverAdmin)
		} else {
			s.log.WarnContext(ctx, "admin recovered", "member", out.Member.ID, "created", out.Created, "previous_role", out.PreviousRole,
				"admins_before", out.AdminsBefore, "audit", out.AuditID, "token_issued", in.Token, "actor", ActorRecoverAdmin)
		}
		return out, nil
	}
}

var (
	errAdminAlready = errors.New("the member is an admin already")
	errMemberMoved  = errors.New("a member got or lost the e-mail address meanwhile; run the command again")
)

// recoverAdmin is one attempt of RecoverAdmin: it makes the member with
// email an admin, or creates one. It answers errMemberMoved when a member
// got or lost that address between the read and the write.
func (s *Service) recoverAdmin(ctx context.Context, email string, in RecoverAdminInput) (*RecoveredAdmin, error) {
	found, adminsBefore, err := s.findRecoveryTarget(ctx, email)
	if err != nil {
		return nil, err
	}
	out := &RecoveredAdmin{AdminsBefore: adminsBefore}
	if found == nil {
		err = s.createRecoveredAdmin(ctx, email, in, out)
	} else {
		err = s.promoteRecoveredAdmin(ctx, found, email, in.Note, out)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findRecoveryTarget reads every member: the one with email (nil when
// none has it) and how many admins there are.
func (s *Service) findRecoveryTarget(ctx context.Context, email string) (*domain.Member, int, error) {
	var found *domain.Member
	admins := 0
	err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		if m.Role == domain.RoleAdmin {
			admins++
		}
		if domain.SameEmail(m.Email, email) {
			found = &m
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return found, admins, nil
}

// createRecoveredAdmin creates an admin member with email, named in.Name
// (default: the address's local part), with its audit entry.
func (s *Service) createRecoveredAdmin(ctx context.Context, email string, in RecoverAdminInput, out *RecoveredAdmin) error {
	name := in.Name
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	now := s.clock.Now()
	m := &domain.Member{ID: newID("m"), Email: email, Name: name, Role: domain.RoleAdmin, CreatedAt: now, UpdatedAt: now}
	if err := m.Validate(); err != nil {
		return err
	}
	e := s.recoveryEntry(m, "created as an admin", 1, out.AdminsBefore, in.Note)
	err := s.store.CreateMember(ctx, m, e)
	if domain.ErrorCode(err) == domain.CodeConflict && !errors.Is(err, domain.ErrContention) {
		return memberMoved(err)
	}
	if err != nil {
		return err
	}
	out.Member, out.Created, out.AuditID = m, true, e.ID
	return nil
}

// promoteRecoveredAdmin makes found an admin, with its audit entry, if it
// still has email; one who is an admin already is left as is
// (RecoveredAdmin.Unchanged).
func (s *Service) promoteRecoveredAdmin(ctx context.Context, found *domain.Member, email, note string, out *RecoveredAdmin) error {
	var entry domain.AuditEntry
	m, err := s.store.WriteMember(ctx, found.ID, func(m *domain.Member, w *domain.MemberWrite) error {
		if !domain.SameEmail(m.Email, email) {
			return errMemberMoved
		}
		if m.Role == domain.RoleAdmin {
			return errAdminAlready
		}
		out.PreviousRole = m.Role
		m.Role, m.UpdatedAt = domain.RoleAdmin, s.clock.Now()
		entry = s.recoveryEntry(m, "made an admin (was "+string(out.PreviousRole)+")", m.Version+1, out.AdminsBefore, note)
		w.Record(entry)
		return m.Validate()
	})
	switch {
	case errors.Is(err, errAdminAlready):
		out.Member, out.Unchanged = found, true
		if cur, err := s.store.GetMember(ctx, found.ID); err == nil {
			out.Member = cur
		}
		return nil
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return memberMoved(err)
	case err != nil:
		return err
	}
	out.Member, out.AuditID = m, entry.ID
	return nil
}

// recoveryEntry is the audit entry of a recovery that did what to m,
// written at version.
func (s *Service) recoveryEntry(m *domain.Member, what string, version int64, adminsBefore int, note string) domain.AuditEntry {
	e := s.audit(ActorRecoverAdmin, domain.ActionMemberAdminRecovered, ChannelSystem)
	e.Reason = fmt.Sprintf("%s (%s) %s by the recover-admin command; %d admin member(s) before", m.Email, m.ID, what, adminsBefore)
	if note != "" {
		e.Reason += ": " + note
	}
	e.Version = version
	return e
}

// memberMoved wraps err, which says the member with the address is gone
// or another has it, as errMemberMoved: RecoverAdmin tries again.
func memberMoved(err error) error {
	return fmt.Errorf("%w: %w", errMemberMoved, err)
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
	// Projects limits the token to these projects (none: every project).
	Projects []string `json:"projects"`
}

// checkTokenProjects checks the projects a token is limited to: at most
// domain.MaxTokenProjects, each once, each an existing project.
func (s *Service) checkTokenProjects(ctx context.Context, v *domain.Validation, projects []string) error {
	if len(projects) > domain.MaxTokenProjects {
		v.Add("/projects", "at most %d projects", domain.MaxTokenProjects)
		return nil
	}
	for i, key := range projects {
		ptr := fmt.Sprintf("/projects/%d", i)
		switch _, err := s.store.GetProject(ctx, key); {
		case slices.Index(projects, key) < i:
			v.Add(ptr, "%q is named twice", key)
		case !domain.ValidKey(key) || domain.ErrorCode(err) == domain.CodeNotFound:
			v.Add(ptr, "no project has key %q", key)
		case err != nil:
			return err
		}
	}
	return nil
}

// checkProjectRoles checks that the projects of a member's project roles
// exist, those in before (the roles as read) excepted: a project deleted
// since keeps its role until changed.
func (s *Service) checkProjectRoles(ctx context.Context, roles, before map[string]domain.Role) error {
	var v domain.Validation
	for _, key := range slices.Sorted(maps.Keys(roles)) {
		if _, ok := before[key]; ok {
			continue
		}
		switch _, err := s.store.GetProject(ctx, key); {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			v.Add("/project_roles/"+key, "no project has key %q", key)
		case err != nil:
			return err
		}
	}
	return v.Err()
}

// CreatedToken is a new token with its secret, which is never shown again.
// Request is set when the token is pending: it works once that governance
// request is applied.
type CreatedToken struct {
	*domain.Token
	Secret  string
	Request *RequestView
}

// CreateToken issues a token. While approvals are on, a service token with
// manager or admin rights (domain.WeakenedToken) is written pending, with
// the governance request whose apply makes it live: its secret is shown
// now, and works only then (a request rejected, withdrawn or expired
// leaves it inert; it can be revoked).
func (s *Service) CreateToken(ctx context.Context, p *Principal, in TokenInput) (*CreatedToken, error) {
	if err := p.requireAny("creating tokens"); err != nil {
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
	if err := s.checkTokenProjects(ctx, &v, in.Projects); err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	t := &domain.Token{ID: newID("t"), Name: in.Name, Role: in.Role, CreatedBy: p.Actor(), CreatedAt: s.clock.Now(),
		Projects: slices.Clone(in.Projects)}
	if p.MemberID == "" && p.Behind != "" {
		// made by a service token: the member behind that one is behind
		// this one too, so a chain of tokens never loses its person (who
		// may not approve what the tokens request); the audit entry names
		// the token that made it
		t.CreatedBy = "member:" + p.Behind
	}
	if in.Service {
		if err := p.requireOrg(domain.RoleAdmin, "creating service tokens"); err != nil {
			return nil, err
		}
	} else {
		if p.MemberID == "" {
			return nil, domain.Errorf(domain.CodeForbidden, "a service token cannot create member tokens; send \"service\": true")
		}
		// Without a role the token follows its member's role as it changes;
		// with one it is capped there.
		t.MemberID = p.MemberID
		if t.Role != "" && p.requireSomewhere(t.Role, "") != nil {
			return nil, domain.Errorf(domain.CodeForbidden, "a token cannot have more rights (%s) than its member has anywhere", t.Role)
		}
	}
	secret := newTokenSecret()
	t.Hash = HashToken(secret)
	out, _, err := decidedAgain(func() (*CreatedToken, *domain.GovernanceChange, error) {
		out, err := s.issueToken(ctx, p, t, secret)
		return out, nil, err
	})
	return out, err
}

// issueToken is one decision and write of CreateToken: t pending with its
// governance request (governToken), or live. A live token that needed a
// second person with approvals on is written guarded on the organisation
// settings as read, so that approvals switched on meanwhile make the store
// refuse it (ErrContention) and CreateToken decide again: pending now.
func (s *Service) issueToken(ctx context.Context, p *Principal, t *domain.Token, secret string) (*CreatedToken, error) {
	t.PendingRequest = "" // named by an attempt whose pending write was refused
	v, guard, err := s.governToken(ctx, p, t)
	switch {
	case err != nil:
		return nil, err
	case v != nil:
		return &CreatedToken{Token: t, Secret: secret, Request: v}, nil
	}
	// audited with the token, in its write: who made it, for whom, with
	// which rights (never its secret)
	e := s.audit(p.Actor(), domain.ActionTokenCreated, p.channel())
	e.Member = t.MemberID
	rights := "its member's role"
	if t.Role != "" {
		rights = "role " + string(t.Role)
	}
	e.Reason = fmt.Sprintf("token %s (%q) created with %s", t.ID, t.Name, rights)
	if len(t.Projects) > 0 {
		e.Reason += " in " + strings.Join(t.Projects, ", ")
	}
	if err := s.store.AddToken(ctx, t, &domain.Audit{Guard: guard, Entries: []domain.AuditEntry{e}}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "token created", "token", t.ID, "service", t.Service(), "role", t.Role, "actor", p.Actor())
	return &CreatedToken{Token: t, Secret: secret}, nil
}

// governToken writes t pending with its governance request when creating
// it needs a second person (approvals on, and domain.WeakenedToken); nil
// when it does not. Then guard, when set, is what the live write of t
// carries: t would need a second person, had approvals been on.
func (s *Service) governToken(ctx context.Context, p *Principal, t *domain.Token) (*RequestView, *domain.SettingsGuard, error) {
	weak := domain.WeakenedToken(t)
	if len(weak) == 0 {
		return nil, nil, nil
	}
	governed, guard, err := s.rulesRead(ctx)
	if err != nil || !governed {
		return nil, guard, err
	}
	made := *t
	made.Hash, made.Projects = "", slices.Clone(t.Projects) // the secret's hash stays with the token
	v, err := s.openTokenGovernance(ctx, p, t, &domain.GovernanceChange{What: domain.GovernServiceToken, Token: t.ID, NewToken: &made, Weakens: weak})
	if err != nil {
		return nil, nil, err
	}
	s.log.InfoContext(ctx, "token created pending", "token", t.ID, "role", t.Role, "request", v.ID, "actor", p.Actor())
	return v, nil, nil
}

// ListTokens lists tokens: with member "", every token for admins and
// one's own for others; with a member id, that member's tokens (admins
// anyone's, members their own).
func (s *Service) ListTokens(ctx context.Context, p *Principal, member string, page domain.Page) ([]domain.Token, string, error) {
	if err := p.requireAny("listing tokens"); err != nil {
		return nil, "", err
	}
	if member != "" {
		if err := p.mayManage(member, "listing tokens"); err != nil {
			return nil, "", err
		}
		return s.store.ListTokens(ctx, member, page)
	}
	if p.OrgRole().AtLeast(domain.RoleAdmin) {
		return s.store.ListTokens(ctx, "", page)
	}
	if p.MemberID == "" {
		return []domain.Token{}, "", nil
	}
	return s.store.ListTokens(ctx, p.MemberID, page)
}

// RevokeToken revokes a token: one's own, or any for admins. The
// revocation is audited (token.revoked, naming the token, never its
// secret).
func (s *Service) RevokeToken(ctx context.Context, p *Principal, id string) error {
	if err := p.requireAny("revoking tokens"); err != nil {
		return err
	}
	t, err := s.store.GetToken(ctx, id)
	if err != nil {
		return err
	}
	own := t.MemberID != "" && t.MemberID == p.MemberID || t.ID == p.TokenID
	if !own && !p.OrgRole().AtLeast(domain.RoleAdmin) {
		// Do not reveal that someone else's token exists.
		return domain.NotFound("token", id)
	}
	// The store writes the entry with the revocation, and not at all when
	// the token was revoked already.
	e := s.audit(p.Actor(), domain.ActionTokenRevoked, p.channel())
	e.Member = t.MemberID
	e.Reason = fmt.Sprintf("token %s (%q) revoked", t.ID, t.Name)
	if _, err := s.store.RevokeToken(ctx, id, e.At, e); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "token revoked", "token", id, "actor", p.Actor())
	return nil
}
