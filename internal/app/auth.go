package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/domain"
)

// How people get in: e-mailed sign-in links (an invitation, or a link asked
// for at /login), OpenID Connect, and the server-side sessions both start.
// Sessions authenticate like tokens (AuthenticateSession); the HTTP layer
// adds the cookie and the CSRF rules.

// Actors of what nobody signed in did.
const (
	ActorSignIn = "system:sign-in" // someone not signed in asked for a link or failed to sign in
	ActorOIDC   = "system:oidc"    // a member provisioned on their first OpenID Connect sign-in
)

// ChannelOIDC is the audit channel of OpenID Connect sign-ins.
const ChannelOIDC = string(domain.ChannelOIDC)

// Limits of asking for sign-in links: per address and per client address,
// counted in the store so that they hold across Lambda instances.
const (
	SignInLinkLimit  = 5
	SignInLinkWindow = 15 * time.Minute
)

// sessionTouchInterval bounds writes of a session's last use, as
// tokenTouchInterval does for tokens.
const sessionTouchInterval = time.Minute

// failureWindow is the period failed sign-ins are aggregated over, per
// address.
const failureWindow = time.Hour

type authSettings struct {
	idle, lifetime time.Duration
	oidcDomains    []string    // lower case, without "@"
	oidcRole       domain.Role // of members provisioned through OpenID Connect

	formOnce sync.Once
	formKey  *actionlink.Signer // signs sign-in forms when no action link key is configured
}

func defaultAuthSettings() authSettings {
	return authSettings{idle: domain.DefaultSessionIdleTimeout, lifetime: domain.DefaultSessionLifetime, oidcRole: domain.RoleViewer}
}

// SetSessionLifetimes sets the idle timeout and the absolute lifetime of
// new sessions (a value of 0 or less keeps the default).
func (s *Service) SetSessionLifetimes(idle, lifetime time.Duration) {
	if idle > 0 {
		s.auth.idle = idle
	}
	if lifetime > 0 {
		s.auth.lifetime = lifetime
	}
}

// SessionLifetimes answers the idle timeout and absolute lifetime in force.
func (s *Service) SessionLifetimes() (idle, lifetime time.Duration) {
	return s.auth.idle, s.auth.lifetime
}

// SetOIDCProvisioning lets SignInOIDC create a member for an identity no
// member matches when its verified address is in one of domains (no
// domains: never), with role (default viewer).
func (s *Service) SetOIDCProvisioning(domains []string, role domain.Role) {
	s.auth.oidcDomains = nil
	for _, d := range domains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d != "" {
			s.auth.oidcDomains = append(s.auth.oidcDomains, d)
		}
	}
	if role == "" {
		role = domain.RoleViewer
	}
	s.auth.oidcRole = role
}

// identity is the store's side of signing in.
func (s *Service) identity() domain.IdentityRepository { return s.store }

// appendAudit writes entries that go with no other write (AppendAudit).
// Its callers answer the same whether or not the entries were written (a
// failed sign-in must not turn into a server error), so a failure is only
// logged, with what the entries said.
func (s *Service) appendAudit(ctx context.Context, entries ...domain.AuditEntry) {
	if err := s.store.AppendAudit(ctx, entries...); err != nil {
		for _, e := range entries {
			s.log.ErrorContext(ctx, "writing an audit entry failed", "err", err, "id", e.ID, "action", e.Action, "actor", e.Actor, "member", e.Member, "reason", e.Reason)
		}
	}
}

// NormalizeEmail is how addresses are compared when people sign in
// (domain.EmailKey: ASCII case only).
func NormalizeEmail(addr string) string { return domain.EmailKey(addr) }

// memberByEmail finds the member with addr (any case), nil when there is
// none. It reads every member either way, so that looking up a stranger
// costs what looking up a member does.
func (s *Service) memberByEmail(ctx context.Context, addr string) (*domain.Member, error) {
	var found *domain.Member
	err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		if found == nil && domain.SameEmail(m.Email, addr) {
			found = &m
		}
		return nil
	})
	return found, err
}

// ---- sign-in links ----

// Sign-in link tokens: "<purpose>.<member id>.<secret>". The member id lets
// the store find the link; only the secret's hash is stored.
var linkPurposeCodes = map[domain.LinkPurpose]string{domain.LinkInvitation: "i", domain.LinkSignIn: "s"}

func signInToken(purpose domain.LinkPurpose, memberID, secret string) string {
	return linkPurposeCodes[purpose] + "." + memberID + "." + secret
}

func parseSignInToken(tok string) (purpose domain.LinkPurpose, memberID, secret string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) < 3 || len(parts[1]) > 64 || len(parts[2]) != 52 {
		return "", "", "", false
	}
	for p, code := range linkPurposeCodes {
		if parts[0] == code {
			purpose = p
		}
	}
	if purpose == "" || !plainID(parts[1]) || !plainID(parts[2]) {
		return "", "", "", false
	}
	return purpose, parts[1], parts[2], true
}

func plainID(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// IssueSignInLink makes a new sign-in link for the member (replacing the
// one before of that purpose) and answers its token, for /signin/<token>,
// and when it expires. The notifier calls it when it sends an invitation
// or a link someone asked for, so no secret is ever stored in an audit
// entry or the outbox.
func (s *Service) IssueSignInLink(ctx context.Context, memberID string, purpose domain.LinkPurpose) (string, time.Time, error) {
	if !purpose.Valid() {
		return "", time.Time{}, fmt.Errorf("unknown sign-in link purpose %q", purpose)
	}
	secret := randomString(32)
	now := s.clock.Now()
	l := &domain.SignInLink{MemberID: memberID, Purpose: purpose, Hash: HashToken(secret), CreatedAt: now, ExpiresAt: now.Add(domain.SignInLinkLifetime)}
	if err := s.identity().PutSignInLink(ctx, l); err != nil {
		return "", time.Time{}, err
	}
	return signInToken(purpose, memberID, secret), l.ExpiresAt, nil
}

// deadLink is the link written with an invitation or a request for a
// link: it opens nothing (nobody knows its secret, and it has expired), so
// it ends the link sent before at once; the notifier replaces it with the
// one it mails.
func (s *Service) deadLink(memberID string, purpose domain.LinkPurpose) *domain.SignInLink {
	now := s.clock.Now()
	return &domain.SignInLink{MemberID: memberID, Purpose: purpose, Hash: HashToken(randomString(32)), CreatedAt: now, ExpiresAt: now}
}

// memberAddedEntries are the audit entries of a new member: created, and
// invited (which makes the notifier mail the invitation).
func (s *Service) memberAddedEntries(actor, channel string, m *domain.Member, why string) []domain.AuditEntry {
	created := s.audit(actor, domain.ActionMemberCreated, channel)
	created.Member, created.Version = m.ID, 1
	created.Reason = fmt.Sprintf("%s (%s) added as %s", m.Email, m.ID, m.Role)
	if why != "" {
		created.Reason += ": " + why
	}
	invited := s.audit(actor, domain.ActionMemberInvited, channel)
	invited.Member = m.ID
	invited.Reason = fmt.Sprintf("invitation to %s; its sign-in link works once, for %s", m.Email, domain.SignInLinkLifetime)
	return []domain.AuditEntry{created, invited}
}

// Invite sends the member a new invitation (admins only): the link sent
// before stops working at once.
func (s *Service) Invite(ctx context.Context, p *Principal, memberID string) error {
	if err := p.requireOrg(domain.RoleAdmin, "inviting members"); err != nil {
		return err
	}
	m, err := s.store.GetMember(ctx, memberID)
	if err != nil {
		return err
	}
	e := s.audit(p.Actor(), domain.ActionMemberInvited, p.channel())
	e.Member = m.ID
	e.Reason = fmt.Sprintf("new invitation to %s; the one sent before no longer works", m.Email)
	if err := s.identity().PutSignInLink(ctx, s.deadLink(m.ID, domain.LinkInvitation), e); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "member invited", "member", m.ID, "actor", p.Actor())
	return nil
}

// RequestSignInLink is "mail me a sign-in link" from someone not signed
// in. It answers the same for members and strangers (nil, unless a limit
// or the store refuses) and does the same store work for both as far as it
// can: two rate-limit counts and a read of every member; then, for a
// member, the write that makes the notifier mail a link, and for a
// stranger, the count of failed sign-ins (an audit entry at the first of
// the hour).
func (s *Service) RequestSignInLink(ctx context.Context, email, clientIP string) error {
	addr := NormalizeEmail(email)
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr || len(addr) > 320 {
		var v domain.Validation
		v.Add("/email", "must be an e-mail address like ada@example.com")
		return v.Err()
	}
	err := s.limit(ctx, "signin-link:address:"+addr, SignInLinkLimit, SignInLinkWindow)
	if ipErr := s.limit(ctx, "signin-link:ip:"+clientIP, SignInLinkLimit, SignInLinkWindow); err == nil || laterRetry(ipErr, err) {
		err = ipErr
	}
	if err != nil {
		return err
	}
	m, err := s.memberByEmail(ctx, addr)
	if err != nil {
		return err
	}
	if m == nil {
		s.signInFailed(ctx, addr, "", ChannelEmail, "asked for a sign-in link, but no member has this address")
		return nil
	}
	e := s.audit(ActorSignIn, domain.ActionSignInLinkRequested, ChannelEmail)
	e.Member = m.ID
	e.Reason = "sign-in link asked for at /login for " + m.Email
	return s.identity().PutSignInLink(ctx, s.deadLink(m.ID, domain.LinkSignIn), e)
}

// limit counts one request under key and refuses it (rate_limited, with
// the time until the window ends) beyond max in the window.
func (s *Service) limit(ctx context.Context, key string, max int, window time.Duration) error {
	return s.limitWith(ctx, key, max, window, "too many sign-in links asked for")
}

// limitWith is limit saying what there was too much of.
func (s *Service) limitWith(ctx context.Context, key string, max int, window time.Duration, tooMany string) error {
	now := s.clock.Now()
	n, resets, err := s.identity().Hit(ctx, key, window, now)
	if err != nil {
		return err
	}
	if n <= max {
		return nil
	}
	wait := resets.Sub(now).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return domain.RateLimited(wait, "%s; try again in %s", tooMany, wait)
}

// laterRetry reports whether a is a rate limit that lasts longer than b.
func laterRetry(a, b error) bool {
	var ea, eb *domain.Error
	if !errors.As(a, &ea) || ea.Code != domain.CodeRateLimited {
		return false
	}
	if !errors.As(b, &eb) || eb.Code != domain.CodeRateLimited {
		return true
	}
	return ea.RetryAfter > eb.RetryAfter
}

// signInFailed counts a failed sign-in for addr and audits it aggregated:
// one entry at the 1st, 10th, 100th, … failure for the address in the hour
// (fixed hours, counted in the store), not one per attempt.
func (s *Service) signInFailed(ctx context.Context, addr, memberID, channel, why string) {
	now := s.clock.Now()
	n, resets, err := s.identity().Hit(ctx, "signin-fail:"+addr, failureWindow, now)
	if err != nil {
		s.log.WarnContext(ctx, "counting a failed sign-in failed", "err", err)
		return
	}
	s.log.InfoContext(ctx, "sign-in failed", "member", memberID, "channel", channel, "failures_this_hour", n, "why", why)
	if !powerOfTen(n) {
		return
	}
	e := s.audit(ActorSignIn, domain.ActionSignInFailed, channel)
	e.Member = memberID
	e.Reason = fmt.Sprintf("%s: %s (failure %d for this address in the hour ending %s; entries are written at the 1st, 10th, 100th, … failure of the hour, the others are only counted)",
		addr, why, n, resets.UTC().Format(time.RFC3339))
	s.appendAudit(ctx, e)
}

func powerOfTen(n int) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// SignInLinkState is what a valid sign-in link would do, for its page.
type SignInLinkState struct {
	Member  *domain.Member
	Purpose domain.LinkPurpose
}

// errLinkChecked refuses the read-modify-write that CheckSignInLink uses
// only to read the link.
var errLinkChecked = errors.New("sign-in link checked; nothing to write")

// CheckSignInLink says whether a sign-in link would sign someone in,
// changing nothing (GET must never act: mail scanners fetch links). Every
// refusal is gone (410) and none says whether the member exists.
func (s *Service) CheckSignInLink(ctx context.Context, token string) (*SignInLinkState, error) {
	purpose, secret, m, err := s.linkHolder(ctx, token)
	if err != nil {
		return nil, err
	}
	memberID := m.ID
	_, err = s.identity().UseSignInLink(ctx, memberID, purpose, func(l *domain.SignInLink, _ *domain.Audit) (*domain.Session, error) {
		if err := checkSignInLink(l, secret, s.clock.Now()); err != nil {
			return nil, err
		}
		return nil, errLinkChecked
	})
	switch {
	case errors.Is(err, errLinkChecked):
		return &SignInLinkState{Member: m, Purpose: purpose}, nil
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return nil, domain.ErrLinkExpired
	}
	return nil, err
}

// linkHolder parses a sign-in token and reads the member it names. A
// token that does not parse and a member that does not exist are the same
// gone link, so that no answer says who is a member.
func (s *Service) linkHolder(ctx context.Context, token string) (domain.LinkPurpose, string, *domain.Member, error) {
	purpose, memberID, secret, ok := parseSignInToken(token)
	if !ok {
		return "", "", nil, domain.ErrLinkExpired
	}
	m, err := s.store.GetMember(ctx, memberID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return "", "", nil, domain.ErrLinkExpired
	}
	if err != nil {
		return "", "", nil, err
	}
	return purpose, secret, m, nil
}

// checkSignInLink says why a stored link does not open with secret: a
// different secret is a replaced (or made-up) link.
func checkSignInLink(l *domain.SignInLink, secret string, now time.Time) error {
	if subtle.ConstantTimeCompare([]byte(l.Hash), []byte(HashToken(secret))) != 1 {
		return domain.ErrLinkExpired
	}
	if l.UsedAt != nil {
		return domain.ErrLinkUsed
	}
	if !now.Before(l.ExpiresAt) {
		return domain.ErrLinkExpired
	}
	return nil
}

// SignInWithLink signs in with an e-mailed link: in one write the link is
// used up and a new session starts (audited domain.ActionSignedIn, channel
// email). A refusal counts as a failed sign-in of the member's address.
func (s *Service) SignInWithLink(ctx context.Context, token, userAgent string) (*NewSession, error) {
	purpose, secret, m, err := s.linkHolder(ctx, token)
	if err != nil {
		return nil, err
	}
	memberID := m.ID
	ns := s.newSession(m, domain.ChannelEmail, userAgent)
	_, err = s.identity().UseSignInLink(ctx, memberID, purpose, func(l *domain.SignInLink, a *domain.Audit) (*domain.Session, error) {
		now := s.clock.Now()
		if err := checkSignInLink(l, secret, now); err != nil {
			return nil, err
		}
		if err := l.Use(now); err != nil {
			return nil, err
		}
		a.Record(s.signedInEntry(m, ns.Session, "with an e-mailed "+strings.ReplaceAll(string(purpose), "_", "-")+" link"))
		return ns.Session, nil
	})
	if err != nil {
		if c := domain.ErrorCode(err); c == domain.CodeGone || c == domain.CodeNotFound {
			s.signInFailed(ctx, NormalizeEmail(m.Email), m.ID, ChannelEmail, "a sign-in link that no longer works: "+linkRefusal(err))
			if c == domain.CodeNotFound {
				err = domain.ErrLinkExpired
			}
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "signed in", "member", m.ID, "session", ns.Session.ID, "channel", domain.ChannelEmail)
	return ns, nil
}

func linkRefusal(err error) string {
	if errors.Is(err, domain.ErrLinkUsed) {
		return "used already"
	}
	return "expired, replaced or unknown"
}

// ---- sessions ----

// NewSession is a session just started, with the secret for its cookie,
// which is never shown again.
type NewSession struct {
	Session *domain.Session
	Member  *domain.Member
	Secret  string
}

func (s *Service) newSession(m *domain.Member, channel domain.SignInChannel, userAgent string) *NewSession {
	now := s.clock.Now()
	secret := randomString(32)
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	sess := &domain.Session{
		ID: newID("s"), Hash: HashToken(secret), MemberID: m.ID, Role: m.Role, Channel: channel,
		CSRFToken: randomString(32), CreatedAt: now, LastSeen: now,
		IdleUntil: now.Add(s.auth.idle), ExpiresAt: now.Add(s.auth.lifetime), UserAgent: userAgent,
	}
	if sess.IdleUntil.After(sess.ExpiresAt) {
		sess.IdleUntil = sess.ExpiresAt
	}
	return &NewSession{Session: sess, Member: m, Secret: secret}
}

func (s *Service) signedInEntry(m *domain.Member, sess *domain.Session, how string) domain.AuditEntry {
	e := s.audit("member:"+m.ID, domain.ActionSignedIn, string(sess.Channel))
	e.Member = m.ID
	e.Reason = fmt.Sprintf("%s signed in %s; session %s", m.Email, how, sess.ID)
	return e
}

var errSessionEnded = &domain.Error{Code: domain.CodeUnauthenticated, Message: "your session has ended; sign in again at /login"}

// AuthenticateSession resolves a session cookie to a principal. The
// session must be live (neither idle past its timeout nor past its
// lifetime, nor revoked) and its member must still exist with at least the
// role they signed in with: otherwise the session is revoked and refused.
// Use is recorded at most once a minute.
func (s *Service) AuthenticateSession(ctx context.Context, secret string) (*Principal, error) {
	if len(secret) < 20 || len(secret) > 200 {
		return nil, errSessionEnded
	}
	hash := HashToken(secret)
	sess, err := s.identity().GetSessionByHash(ctx, hash)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, errSessionEnded
	}
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if subtle.ConstantTimeCompare([]byte(sess.Hash), []byte(hash)) != 1 || !sess.Live(now) {
		return nil, errSessionEnded
	}
	m, err := s.store.GetMember(ctx, sess.MemberID)
	if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
		return nil, err
	}
	if err != nil || m.Role.Below(sess.Role) {
		why := "member removed"
		if err == nil {
			why = fmt.Sprintf("role lowered from %s to %s", sess.Role, m.Role)
		}
		if _, err := s.identity().RevokeSession(ctx, sess.ID, now); err != nil {
			s.log.WarnContext(ctx, "revoking a session that lost its member or role failed", "session", sess.ID, "err", err)
		}
		s.log.InfoContext(ctx, "session ended", "session", sess.ID, "member", sess.MemberID, "why", why)
		return nil, errSessionEnded
	}
	if now.Sub(sess.LastSeen) >= sessionTouchInterval {
		idle := now.Add(s.auth.idle)
		if idle.After(sess.ExpiresAt) {
			idle = sess.ExpiresAt
		}
		if err := s.identity().TouchSession(ctx, sess.ID, now, idle); err != nil {
			s.log.WarnContext(ctx, "recording session use failed", "session", sess.ID, "err", err)
		} else {
			sess.LastSeen, sess.IdleUntil = now, idle
		}
	}
	p := principalOf(m, nil)
	p.SessionID, p.session = sess.ID, sess
	return p, nil
}

// Session answers the session the principal came with (as read when it
// authenticated), or nil for token principals.
func (p *Principal) Session() *domain.Session {
	if p == nil {
		return nil
	}
	return p.session
}

var errNoSession = &domain.Error{Code: domain.CodeNotFound, Message: "this request is not signed in with a session (it used an API token)"}

// CurrentSession answers the caller's session and member.
func (s *Service) CurrentSession(ctx context.Context, p *Principal) (*domain.Session, *domain.Member, error) {
	sess := p.Session()
	if sess == nil {
		return nil, nil, errNoSession
	}
	m, err := s.store.GetMember(ctx, sess.MemberID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, nil, errSessionEnded
	}
	return sess, m, err
}

// SignOut ends the caller's session (audited domain.ActionSignedOut).
func (s *Service) SignOut(ctx context.Context, p *Principal) error {
	if p == nil || p.SessionID == "" {
		return errNoSession
	}
	e := s.audit(p.Actor(), domain.ActionSignedOut, p.channel())
	e.Member, e.Reason = p.MemberID, "signed out of session "+p.SessionID
	if _, err := s.identity().RevokeSession(ctx, p.SessionID, s.clock.Now(), e); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "signed out", "member", p.MemberID, "session", p.SessionID)
	return nil
}

// EndSession revokes the session of a cookie that is being replaced by a
// new sign-in, when it is still live; nothing when it is unknown.
func (s *Service) EndSession(ctx context.Context, secret, why string) {
	if secret == "" || len(secret) > 200 {
		return
	}
	sess, err := s.identity().GetSessionByHash(ctx, HashToken(secret))
	if err != nil || !sess.Live(s.clock.Now()) {
		return
	}
	e := s.audit("member:"+sess.MemberID, domain.ActionSignedOut, string(sess.Channel))
	e.Member, e.Reason = sess.MemberID, "session "+sess.ID+" ended: "+why
	if _, err := s.identity().RevokeSession(ctx, sess.ID, s.clock.Now(), e); err != nil {
		s.log.WarnContext(ctx, "ending a replaced session failed", "session", sess.ID, "err", err)
	}
}

// mayManage says whether p may see and end memberID's sessions and
// tokens: admins anyone's, members their own.
func (p *Principal) mayManage(memberID, what string) error {
	if p != nil && p.MemberID != "" && p.MemberID == memberID {
		return nil // one's own, whatever one's roles
	}
	return p.requireOrg(domain.RoleAdmin, what+" of other members")
}

// ListMemberSessions lists a member's sessions (revoked ones included):
// admins anyone's, members their own.
func (s *Service) ListMemberSessions(ctx context.Context, p *Principal, memberID string, page domain.Page) ([]domain.Session, string, error) {
	if err := p.mayManage(memberID, "listing sessions"); err != nil {
		return nil, "", err
	}
	if _, err := s.store.GetMember(ctx, memberID); err != nil {
		return nil, "", err
	}
	return s.identity().ListSessions(ctx, memberID, page)
}

// RevokeMemberSession ends one of a member's sessions (audited
// domain.ActionSessionRevoked): admins anyone's, members their own.
func (s *Service) RevokeMemberSession(ctx context.Context, p *Principal, memberID, sessionID string) error {
	if err := p.mayManage(memberID, "ending sessions"); err != nil {
		return err
	}
	found := false
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Session, string, error) {
		return s.identity().ListSessions(ctx, memberID, pg)
	}, func(sess domain.Session) error {
		found = found || sess.ID == sessionID
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return domain.NotFound("session", sessionID)
	}
	e := s.audit(p.Actor(), domain.ActionSessionRevoked, p.channel())
	e.Member, e.Reason = memberID, "session "+sessionID+" ended by "+p.Actor()
	if _, err := s.identity().RevokeSession(ctx, sessionID, s.clock.Now(), e); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "session revoked", "member", memberID, "session", sessionID, "actor", p.Actor())
	return nil
}

// endMemberAccess ends every way a member is in: sessions (and, when
// removed, sign-in links). Failures are logged: the checks at
// authentication refuse those sessions anyway.
func (s *Service) endMemberSessions(ctx context.Context, memberID, why string) {
	n, err := s.identity().RevokeMemberSessions(ctx, memberID, s.clock.Now())
	if err != nil {
		s.log.WarnContext(ctx, "revoking a member's sessions failed; they are refused at authentication anyway", "member", memberID, "why", why, "err", err)
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "member's sessions ended", "member", memberID, "sessions", n, "why", why)
	}
}

// ---- sign-in forms ----

// formSigner signs the sign-in page's form tokens: the action link key
// when there is one (so a form shown by one instance posts to another),
// else a key of this process.
func (s *Service) formSigner() *actionlink.Signer {
	if s.links != nil {
		return s.links
	}
	s.auth.formOnce.Do(func() {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		s.auth.formKey, _ = actionlink.NewSigner(key)
	})
	return s.auth.formKey
}

// SignInFormToken is the CSRF token of a sign-in link's form, tied to the
// link and to a nonce the browser holds in a cookie: a form posted from
// another site comes without that cookie (SameSite), so nobody can sign a
// victim's browser into their own account.
func (s *Service) SignInFormToken(token, nonce string) string {
	return s.formSigner().CSRF("signin\x00" + token + "\x00" + nonce)
}

// CheckSignInFormToken reports whether form is SignInFormToken(token, nonce).
func (s *Service) CheckSignInFormToken(token, nonce, form string) bool {
	return nonce != "" && form != "" && s.formSigner().CheckCSRF("signin\x00"+token+"\x00"+nonce, form)
}

// NewNonce is a random value for a form cookie.
func NewNonce() string { return randomString(20) }

// ---- OpenID Connect ----

// OIDCIdentity is who an OpenID provider says signed in (from a verified
// ID token).
type OIDCIdentity struct {
	Issuer, Subject, Email, Name string
	EmailVerified                bool
}

// SignInOIDC starts a session for an identity an OpenID provider vouched
// for. It matches a member by verified e-mail address (any case). An
// unverified address is refused, and so is an address no member has,
// unless auto-provisioning (SetOIDCProvisioning) covers its domain: then a
// member is created with the configured role. Refusals are audited as
// failed sign-ins (aggregated per address and hour).
func (s *Service) SignInOIDC(ctx context.Context, id OIDCIdentity, userAgent string) (*NewSession, error) {
	addr := NormalizeEmail(id.Email)
	if addr == "" {
		s.signInFailed(ctx, "(no address) "+id.Issuer+" "+id.Subject, "", ChannelOIDC, "the identity provider sent no e-mail address")
		return nil, domain.Errorf(domain.CodeForbidden, "your identity provider did not tell Countersign your e-mail address; Countersign matches people by verified e-mail address")
	}
	if !id.EmailVerified {
		s.signInFailed(ctx, addr, "", ChannelOIDC, "the identity provider did not verify the address")
		return nil, domain.Errorf(domain.CodeForbidden, "your identity provider has not verified %s; Countersign matches people by verified e-mail address only", addr)
	}
	m, err := s.memberByEmail(ctx, addr)
	if err != nil {
		return nil, err
	}
	if m == nil {
		if m, err = s.provision(ctx, id, addr); err != nil {
			return nil, err
		}
	}
	ns := s.newSession(m, domain.ChannelOIDC, userAgent)
	e := s.signedInEntry(m, ns.Session, "through OpenID Connect ("+id.Issuer+")")
	if err := s.identity().CreateSession(ctx, ns.Session, e); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "signed in", "member", m.ID, "session", ns.Session.ID, "channel", domain.ChannelOIDC)
	return ns, nil
}

// provision creates a member for an identity nobody matches, when its
// domain is allowed; otherwise the sign-in is refused.
func (s *Service) provision(ctx context.Context, id OIDCIdentity, addr string) (*domain.Member, error) {
	_, dom, _ := strings.Cut(addr, "@")
	allowed := false
	for _, d := range s.auth.oidcDomains {
		allowed = allowed || d == dom
	}
	if !allowed {
		s.signInFailed(ctx, addr, "", ChannelOIDC, "no member has this address")
		return nil, domain.Errorf(domain.CodeForbidden, "no member of this Countersign has the address %s; ask an admin to add you", addr)
	}
	now := s.clock.Now()
	name := strings.TrimSpace(id.Name)
	if name == "" {
		name, _, _ = strings.Cut(addr, "@")
	}
	m := &domain.Member{ID: newID("m"), Email: addr, Name: name, Role: s.auth.oidcRole, CreatedAt: now, UpdatedAt: now}
	if err := m.Validate(); err != nil {
		if m.Name = addr; m.Validate() != nil {
			return nil, err
		}
	}
	e := s.audit(ActorOIDC, domain.ActionMemberCreated, ChannelOIDC)
	e.Member, e.Version = m.ID, 1
	e.Reason = fmt.Sprintf("%s (%s) added as %s on their first sign-in through %s (domain %s is allowed)", m.Email, m.ID, m.Role, id.Issuer, dom)
	err := s.store.CreateMember(ctx, m, e)
	if domain.ErrorCode(err) == domain.CodeConflict && !errors.Is(err, domain.ErrContention) {
		// created meanwhile (a second tab signing in at once)
		found, ferr := s.memberByEmail(ctx, addr)
		if ferr != nil || found == nil {
			return nil, err
		}
		return found, nil
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "member provisioned", "member", m.ID, "role", m.Role, "actor", ActorOIDC)
	return m, nil
}

// Failed token authentications are limited per client address: past
// MaxAuthFailures in AuthFailureWindow the caller gets 429 (Retry-After)
// instead of 401. Only failures are counted, in the store (so the limit
// holds across Lambda instances); a valid token never meets the limit.
const (
	MaxAuthFailures   = 30
	AuthFailureWindow = time.Minute
)

// AuthenticationFailed counts a failed authentication from clientIP and
// answers the rate limit when it is over; nil otherwise.
func (s *Service) AuthenticationFailed(ctx context.Context, clientIP string) error {
	err := s.limitWith(ctx, "auth-failed:ip:"+clientIP, MaxAuthFailures, AuthFailureWindow, "too many requests with tokens that are not valid from this address")
	if err != nil && domain.ErrorCode(err) != domain.CodeRateLimited {
		s.log.WarnContext(ctx, "counting a failed authentication failed", "err", err)
		return nil
	}
	return err
}
