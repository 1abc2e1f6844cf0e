package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// identityTests are the suite's tests of sign-in links, sessions and the
// rate limiter (IdentityRepository).
func identityTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"IdentitySessions":             testSessions,
		"IdentitySessionTouch":         testSessionTouch,
		"IdentityRevokeMemberSessions": testRevokeMemberSessions,
		"IdentitySignInLinks":          testSignInLinks,
		"IdentityLinkUsedOnce":         testSignInLinkUsedOnce,
		"IdentityRateLimit":            testRateLimit,
	}
}

func newMember(t *testing.T, s domain.Store, id string) {
	t.Helper()
	must(t, s.CreateMember(context.Background(), &domain.Member{ID: id, Email: id + "@example.com", Name: id, Role: domain.RoleEditor, CreatedAt: t0}))
}

func newSession(id, hash, member string) *domain.Session {
	return &domain.Session{
		ID: id, Hash: hash, MemberID: member, Role: domain.RoleEditor, Channel: domain.ChannelEmail, CSRFToken: "csrf-" + id,
		CreatedAt: t0, LastSeen: t0, IdleUntil: t0.Add(domain.DefaultSessionIdleTimeout), ExpiresAt: t0.Add(domain.DefaultSessionLifetime),
		UserAgent: "storetest/1.0",
	}
}

func identityEntry(id string, action domain.AuditAction) domain.AuditEntry {
	return domain.AuditEntry{ID: id, At: t0, Actor: "member:m-ada", Action: action, Channel: "web"}
}

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

// sameSession reports how got differs from want ("" when it does not).
func sameSession(got, want *domain.Session) string {
	g, w := *got, *want
	switch {
	case !g.CreatedAt.Equal(w.CreatedAt), !g.LastSeen.Equal(w.LastSeen), !g.IdleUntil.Equal(w.IdleUntil), !g.ExpiresAt.Equal(w.ExpiresAt), !sameTime(g.RevokedAt, w.RevokedAt):
		return fmt.Sprintf("times differ: got %+v, want %+v", g, w)
	}
	g.CreatedAt, g.LastSeen, g.IdleUntil, g.ExpiresAt, g.RevokedAt = w.CreatedAt, w.LastSeen, w.IdleUntil, w.ExpiresAt, w.RevokedAt
	if g != w {
		return fmt.Sprintf("got %+v, want %+v", *got, *want)
	}
	return ""
}

func getSession(t *testing.T, s domain.Store, hash string) *domain.Session {
	t.Helper()
	got, err := s.GetSessionByHash(context.Background(), hash)
	must(t, err)
	return got
}

// allSessions reads every page of the member's sessions, limit a page.
func allSessions(t *testing.T, s domain.Store, member string, limit int) []domain.Session {
	t.Helper()
	var out []domain.Session
	cursor := ""
	for range 100 {
		page, next, err := s.ListSessions(context.Background(), member, domain.Page{Limit: limit, Cursor: cursor})
		must(t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		if len(page) != limit {
			t.Fatalf("a page with a next cursor must be full: %d of %d", len(page), limit)
		}
		cursor = next
	}
	t.Fatal("the session list does not end")
	return nil
}

func sessionIDs(ss []domain.Session) []string {
	ids := make([]string, len(ss))
	for i := range ss {
		ids[i] = ss[i].ID
	}
	return ids
}

// wantAuditLogged waits until the audit log lists every id among the
// actor's entries: the organisation-wide log may be read from an
// eventually consistent index (DynamoDB's GSI2), so it is polled a little.
func wantAuditLogged(t *testing.T, s domain.Store, actor string, ids ...string) {
	t.Helper()
	var got []string
	for range 100 {
		entries, _, err := s.ListAudit(context.Background(), domain.AuditFilter{Actor: actor}, domain.Page{Limit: domain.MaxPageLimit})
		must(t, err)
		got = got[:0]
		for _, e := range entries {
			got = append(got, e.ID)
		}
		missing := false
		for _, id := range ids {
			missing = missing || !slices.Contains(got, id)
		}
		if !missing {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("audit log of %s: want %v among %v", actor, ids, got)
}

// Sessions: created with their audit entries, found by hash (revoked ones
// too), listed per member in id order over pages, revoked once.
func testSessions(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newMember(t, s, "m-ada")
	newMember(t, s, "m-bob")

	s1 := newSession("s1", "h1", "m-ada")
	must(t, s.CreateSession(ctx, s1, identityEntry("a-s1", "session.created")))
	wantOutbox(t, s, "a-s1", true)
	if d := sameSession(getSession(t, s, "h1"), s1); d != "" {
		t.Fatalf("read back by hash: %s", d)
	}
	_, err := s.GetSessionByHash(ctx, "h-none")
	wantCode(t, err, domain.CodeNotFound)

	// Taken id or hash: conflict; no member: not_found; none writes anything.
	wantCode(t, s.CreateSession(ctx, newSession("s1", "h-other", "m-ada"), identityEntry("a-no-1", "session.created")), domain.CodeConflict)
	wantCode(t, s.CreateSession(ctx, newSession("s-other", "h1", "m-ada"), identityEntry("a-no-2", "session.created")), domain.CodeConflict)
	wantCode(t, s.CreateSession(ctx, newSession("s-ghost", "h-ghost", "m-nobody"), identityEntry("a-no-3", "session.created")), domain.CodeNotFound)
	for _, id := range []string{"a-no-1", "a-no-2", "a-no-3"} {
		wantOutbox(t, s, id, false)
	}
	for _, h := range []string{"h-other", "h-ghost"} {
		_, err := s.GetSessionByHash(ctx, h)
		wantCode(t, err, domain.CodeNotFound)
	}
	if got := getSession(t, s, "h1"); got.ID != "s1" {
		t.Fatalf("a refused session replaced s1: %+v", got)
	}

	for i := 2; i <= 5; i++ {
		must(t, s.CreateSession(ctx, newSession(fmt.Sprintf("s%d", i), fmt.Sprintf("h%d", i), "m-ada")))
	}
	must(t, s.CreateSession(ctx, newSession("s-bob", "h-bob", "m-bob")))
	if ids := sessionIDs(allSessions(t, s, "m-ada", 2)); fmt.Sprint(ids) != "[s1 s2 s3 s4 s5]" {
		t.Fatalf("ada's sessions in pages of 2: %v", ids)
	}
	if ids := sessionIDs(allSessions(t, s, "m-ada", 5)); fmt.Sprint(ids) != "[s1 s2 s3 s4 s5]" {
		t.Fatalf("ada's sessions on one full page: %v", ids)
	}
	bobs := allSessions(t, s, "m-bob", 10)
	if len(bobs) != 1 || sameSession(&bobs[0], newSession("s-bob", "h-bob", "m-bob")) != "" {
		t.Fatalf("bob's sessions: %+v", bobs)
	}
	if none, next, err := s.ListSessions(ctx, "m-nobody", domain.Page{}); err != nil || len(none) != 0 || next != "" {
		t.Fatalf("sessions of nobody: %v %q %v", none, next, err)
	}
	_, _, err = s.ListSessions(ctx, "m-ada", domain.Page{Cursor: "not a cursor!"})
	wantCode(t, err, domain.CodeInvalid)

	// Revocation: once, with its audit entry; again changes nothing and
	// writes no entry.
	at := t0.Add(time.Hour)
	r, err := s.RevokeSession(ctx, "s2", at, identityEntry("a-revoke", "session.revoked"))
	must(t, err)
	if r.ID != "s2" || r.Hash != "h2" || !sameTime(r.RevokedAt, &at) {
		t.Fatalf("revoked: %+v", r)
	}
	wantOutbox(t, s, "a-revoke", true)
	r, err = s.RevokeSession(ctx, "s2", at.Add(time.Hour), identityEntry("a-revoke-again", "session.revoked"))
	must(t, err)
	if !sameTime(r.RevokedAt, &at) {
		t.Fatalf("revoking twice must keep the first time: %+v", r)
	}
	wantOutbox(t, s, "a-revoke-again", false)
	if got := getSession(t, s, "h2"); !sameTime(got.RevokedAt, &at) || got.Live(t0) {
		t.Fatalf("a revoked session is found by hash, revoked: %+v", got)
	}
	if got := getSession(t, s, "h3"); got.RevokedAt != nil || !got.Live(t0) {
		t.Fatalf("another session of the member: %+v", got)
	}
	_, err = s.RevokeSession(ctx, "s-none", at)
	wantCode(t, err, domain.CodeNotFound)
	listed := allSessions(t, s, "m-ada", 10)
	if len(listed) != 5 || !sameTime(listed[1].RevokedAt, &at) {
		t.Fatalf("revoked sessions stay listed: %+v", listed)
	}

	wantAuditLogged(t, s, "member:m-ada", "a-s1", "a-revoke")
}

// TouchSession moves last-seen and idle-until forward only, each on its
// own, leaves revoked sessions alone, and keeps the latest of concurrent
// touches.
func testSessionTouch(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newMember(t, s, "m-ada")
	sess := newSession("s1", "h1", "m-ada")
	must(t, s.CreateSession(ctx, sess))
	idle := domain.DefaultSessionIdleTimeout

	want := func(lastSeen, idleUntil time.Time) {
		t.Helper()
		got := getSession(t, s, "h1")
		if !got.LastSeen.Equal(lastSeen) || !got.IdleUntil.Equal(idleUntil) {
			t.Fatalf("last seen %s, idle until %s; want %s, %s", got.LastSeen, got.IdleUntil, lastSeen, idleUntil)
		}
		got.LastSeen, got.IdleUntil = sess.LastSeen, sess.IdleUntil
		if d := sameSession(got, sess); d != "" {
			t.Fatalf("a touch changed more than its times: %s", d)
		}
	}
	h1, h2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	must(t, s.TouchSession(ctx, "s1", h1, h1.Add(idle)))
	want(h1, h1.Add(idle))
	must(t, s.TouchSession(ctx, "s1", t0.Add(time.Minute), t0.Add(time.Minute).Add(idle))) // older: nothing moves back
	want(h1, h1.Add(idle))
	must(t, s.TouchSession(ctx, "s1", h2, h1.Add(idle))) // only last seen is later
	want(h2, h1.Add(idle))
	must(t, s.TouchSession(ctx, "s1", h1, h2.Add(idle))) // only idle-until is later
	want(h2, h2.Add(idle))
	must(t, s.TouchSession(ctx, "s1", h2, h2.Add(idle))) // the same: nothing to do
	want(h2, h2.Add(idle))
	wantCode(t, s.TouchSession(ctx, "s-none", h2, h2.Add(idle)), domain.CodeNotFound)

	// Concurrent touches keep the latest.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			at := h2.Add(time.Duration(i+1) * time.Minute)
			if err := s.TouchSession(ctx, "s1", at, at.Add(idle)); err != nil {
				t.Errorf("touch %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	latest := h2.Add(16 * time.Minute)
	want(latest, latest.Add(idle))

	// A revoked session is left alone.
	revokedAt := t0.Add(3 * time.Hour)
	_, err := s.RevokeSession(ctx, "s1", revokedAt)
	must(t, err)
	must(t, s.TouchSession(ctx, "s1", t0.Add(4*time.Hour), t0.Add(4*time.Hour).Add(idle)))
	got := getSession(t, s, "h1")
	if !got.LastSeen.Equal(latest) || !sameTime(got.RevokedAt, &revokedAt) {
		t.Fatalf("touching a revoked session: %+v", got)
	}
}

// RevokeMemberSessions revokes every session of the member not revoked yet
// (30 of them: more than one page where the store pages), counts the live
// ones, keeps earlier revocation times, and leaves other members alone.
func testRevokeMemberSessions(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newMember(t, s, "m-ada")
	newMember(t, s, "m-bob")
	const n = 30
	for i := range n {
		sess := newSession(fmt.Sprintf("s-ada-%02d", i), fmt.Sprintf("h-ada-%02d", i), "m-ada")
		if i == 7 {
			sess.IdleUntil = t0.Add(time.Minute) // idle: not live at the revocation
		}
		must(t, s.CreateSession(ctx, sess))
	}
	for i := range 3 {
		must(t, s.CreateSession(ctx, newSession(fmt.Sprintf("s-bob-%d", i), fmt.Sprintf("h-bob-%d", i), "m-bob")))
	}
	early, at := t0.Add(time.Hour), t0.Add(2*time.Hour)
	_, err := s.RevokeSession(ctx, "s-ada-05", early)
	must(t, err)

	revoked, err := s.RevokeMemberSessions(ctx, "m-ada", at)
	must(t, err)
	if revoked != n-2 {
		t.Fatalf("revoked %d live sessions, want %d (30, less one revoked before and one idle)", revoked, n-2)
	}
	listed := allSessions(t, s, "m-ada", 7)
	if len(listed) != n {
		t.Fatalf("listed %d sessions of ada, want %d", len(listed), n)
	}
	for _, sess := range listed {
		want := at
		if sess.ID == "s-ada-05" {
			want = early
		}
		if !sameTime(sess.RevokedAt, &want) {
			t.Fatalf("session %s: revoked at %v, want %s", sess.ID, sess.RevokedAt, want)
		}
		if got := getSession(t, s, sess.Hash); !sameTime(got.RevokedAt, &want) {
			t.Fatalf("session %s by hash: revoked at %v, want %s", sess.ID, got.RevokedAt, want)
		}
	}
	for _, sess := range allSessions(t, s, "m-bob", 10) {
		if sess.RevokedAt != nil || !sess.Live(at) {
			t.Fatalf("bob's session was touched: %+v", sess)
		}
	}
	again, err := s.RevokeMemberSessions(ctx, "m-ada", at.Add(time.Hour))
	must(t, err)
	if again != 0 {
		t.Fatalf("revoking again revoked %d", again)
	}
	if got := getSession(t, s, "h-ada-00"); !sameTime(got.RevokedAt, &at) {
		t.Fatalf("revoking again moved the time: %+v", got)
	}
	none, err := s.RevokeMemberSessions(ctx, "m-nobody", at)
	if err != nil || none != 0 {
		t.Fatalf("revoking nobody's sessions: %d %v", none, err)
	}
}

// useWith is what the application gives UseSignInLink: compare the
// presented secret's hash, use the link, record an entry, create a session.
func useWith(presented string, now time.Time, sess *domain.Session, entry string) func(*domain.SignInLink, *domain.Audit) (*domain.Session, error) {
	return func(l *domain.SignInLink, a *domain.Audit) (*domain.Session, error) {
		if l.Hash != presented {
			return nil, domain.ErrLinkExpired
		}
		if err := l.Use(now); err != nil {
			return nil, err
		}
		if entry != "" {
			a.Record(identityEntry(entry, "member.signed_in"))
		}
		return sess, nil
	}
}

func newLink(member string, p domain.LinkPurpose, hash string) *domain.SignInLink {
	return &domain.SignInLink{MemberID: member, Purpose: p, Hash: hash, CreatedAt: t0, ExpiresAt: t0.Add(domain.SignInLinkLifetime)}
}

// Sign-in links: one per member and purpose (a new one replaces the old),
// used once, only for an existing member; fn's refusal writes nothing.
func testSignInLinks(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newMember(t, s, "m-ada")
	newMember(t, s, "m-bob")

	must(t, s.PutSignInLink(ctx, newLink("m-ada", domain.LinkInvitation, "lh-1"), identityEntry("a-invite-1", "member.invited")))
	wantOutbox(t, s, "a-invite-1", true)
	wantCode(t, s.PutSignInLink(ctx, newLink("m-nobody", domain.LinkInvitation, "lh-x"), identityEntry("a-invite-x", "member.invited")), domain.CodeNotFound)
	wantOutbox(t, s, "a-invite-x", false)
	wantCode(t, s.PutSignInLink(ctx, newLink("m-ada", "bogus", "lh-y")), domain.CodeInvalid)

	// The fn sees the link as stored.
	var seen *domain.SignInLink
	_, err := s.UseSignInLink(ctx, "m-ada", domain.LinkInvitation, func(l *domain.SignInLink, _ *domain.Audit) (*domain.Session, error) {
		seen = l
		return nil, domain.Errorf(domain.CodeInvalid, "just looking")
	})
	wantCode(t, err, domain.CodeInvalid)
	if want := newLink("m-ada", domain.LinkInvitation, "lh-1"); seen == nil || seen.MemberID != want.MemberID || seen.Purpose != want.Purpose ||
		seen.Hash != want.Hash || !seen.CreatedAt.Equal(want.CreatedAt) || !seen.ExpiresAt.Equal(want.ExpiresAt) || seen.UsedAt != nil {
		t.Fatalf("the link fn was given: %+v", seen)
	}

	// A new invitation replaces the old: the old secret no longer matches,
	// and the refusal writes nothing (neither session nor audit entry).
	must(t, s.PutSignInLink(ctx, newLink("m-ada", domain.LinkInvitation, "lh-2")))
	now := t0.Add(time.Hour)
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkInvitation, useWith("lh-1", now, newSession("s-old", "h-old", "m-ada"), "a-use-old"))
	if !errors.Is(err, domain.ErrLinkExpired) {
		t.Fatalf("the replaced link: want ErrLinkExpired as fn returned it, got %v", err)
	}
	_, err = s.GetSessionByHash(ctx, "h-old")
	wantCode(t, err, domain.CodeNotFound)
	wantOutbox(t, s, "a-use-old", false)

	// No link of that purpose, no member: not_found.
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkSignIn, useWith("lh-2", now, nil, ""))
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.UseSignInLink(ctx, "m-nobody", domain.LinkInvitation, useWith("lh-2", now, nil, ""))
	wantCode(t, err, domain.CodeNotFound)

	// A session that exists already: conflict, and the link stays unused.
	must(t, s.CreateSession(ctx, newSession("s-taken", "h-taken", "m-ada")))
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkInvitation, useWith("lh-2", now, newSession("s-new", "h-taken", "m-ada"), "a-use-conflict"))
	wantCode(t, err, domain.CodeConflict)
	wantOutbox(t, s, "a-use-conflict", false)

	// Used: the session and the entry are written with the used link.
	fresh := newSession("s-ada", "h-ada", "m-ada")
	got, err := s.UseSignInLink(ctx, "m-ada", domain.LinkInvitation, useWith("lh-2", now, fresh, "a-use"))
	must(t, err)
	if d := sameSession(got, fresh); d != "" {
		t.Fatalf("the session UseSignInLink answered: %s", d)
	}
	if d := sameSession(getSession(t, s, "h-ada"), fresh); d != "" {
		t.Fatalf("the session created: %s", d)
	}
	wantOutbox(t, s, "a-use", true)
	wantAuditLogged(t, s, "member:m-ada", "a-invite-1", "a-use")

	// Once.
	seen = nil
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkInvitation, func(l *domain.SignInLink, a *domain.Audit) (*domain.Session, error) {
		seen = l
		return useWith("lh-2", now.Add(time.Minute), newSession("s-twice", "h-twice", "m-ada"), "a-use-twice")(l, a)
	})
	if !errors.Is(err, domain.ErrLinkUsed) {
		t.Fatalf("using a link twice: want ErrLinkUsed, got %v", err)
	}
	if seen == nil || !sameTime(seen.UsedAt, &now) {
		t.Fatalf("the used link fn was given: %+v", seen)
	}
	_, err = s.GetSessionByHash(ctx, "h-twice")
	wantCode(t, err, domain.CodeNotFound)

	// Purposes are apart: a sign-in link beside the (used) invitation; one
	// past its lifetime is refused by Use.
	short := newLink("m-ada", domain.LinkSignIn, "lh-s")
	short.ExpiresAt = t0.Add(30 * time.Minute)
	must(t, s.PutSignInLink(ctx, short))
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkSignIn, useWith("lh-s", now, newSession("s-late", "h-late", "m-ada"), ""))
	if !errors.Is(err, domain.ErrLinkExpired) {
		t.Fatalf("an expired link: want ErrLinkExpired, got %v", err)
	}
	// A new sign-in link, used without a session (fn returns none): the
	// link is used all the same.
	must(t, s.PutSignInLink(ctx, newLink("m-ada", domain.LinkSignIn, "lh-s2")))
	sess, err := s.UseSignInLink(ctx, "m-ada", domain.LinkSignIn, useWith("lh-s2", now, nil, ""))
	if err != nil || sess != nil {
		t.Fatalf("use without a session: %+v %v", sess, err)
	}
	_, err = s.UseSignInLink(ctx, "m-ada", domain.LinkSignIn, useWith("lh-s2", now, nil, ""))
	if !errors.Is(err, domain.ErrLinkUsed) {
		t.Fatalf("the sign-in link used without a session: want ErrLinkUsed, got %v", err)
	}

	// A link of a member removed (its links not deleted yet) signs no one in.
	must(t, s.PutSignInLink(ctx, newLink("m-bob", domain.LinkInvitation, "lh-bob")))
	must(t, s.DeleteMember(ctx, "m-bob"))
	_, err = s.UseSignInLink(ctx, "m-bob", domain.LinkInvitation, useWith("lh-bob", now, newSession("s-bob", "h-bob", "m-bob"), "a-use-bob"))
	wantCode(t, err, domain.CodeNotFound)
	wantOutbox(t, s, "a-use-bob", false)
	_, err = s.GetSessionByHash(ctx, "h-bob")
	wantCode(t, err, domain.CodeNotFound)

	// DeleteSignInLinks forgets every link of the member, and no other's.
	must(t, s.DeleteSignInLinks(ctx, "m-bob"))
	must(t, s.DeleteSignInLinks(ctx, "m-nobody"))
	newMember(t, s, "m-cy")
	must(t, s.PutSignInLink(ctx, newLink("m-cy", domain.LinkInvitation, "lh-cy")))
	must(t, s.PutSignInLink(ctx, newLink("m-ada", domain.LinkSignIn, "lh-s3")))
	must(t, s.DeleteSignInLinks(ctx, "m-ada"))
	for _, p := range []domain.LinkPurpose{domain.LinkInvitation, domain.LinkSignIn} {
		_, err = s.UseSignInLink(ctx, "m-ada", p, useWith("lh-s3", now, nil, ""))
		wantCode(t, err, domain.CodeNotFound)
	}
	_, err = s.UseSignInLink(ctx, "m-cy", domain.LinkInvitation, useWith("lh-cy", now, newSession("s-cy", "h-cy", "m-cy"), ""))
	must(t, err)
}

// A link used by 16 requests at once signs in exactly one: one session is
// created, with its audit entry; every other use gets the error fn
// returned (the link is used).
func testSignInLinkUsedOnce(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newMember(t, s, "m-ada")
	must(t, s.PutSignInLink(ctx, newLink("m-ada", domain.LinkSignIn, "lh")))
	const users = 16
	errs := make([]error, users)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			sess := newSession(fmt.Sprintf("s-%02d", i), fmt.Sprintf("h-%02d", i), "m-ada")
			_, errs[i] = s.UseSignInLink(ctx, "m-ada", domain.LinkSignIn, useWith("lh", t0.Add(time.Minute), sess, fmt.Sprintf("a-use-%02d", i)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("uses %d and %d both signed in", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, domain.ErrLinkUsed):
			t.Fatalf("use %d: want ErrLinkUsed, got %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no use signed in")
	}
	sessions := allSessions(t, s, "m-ada", 50)
	if len(sessions) != 1 || sessions[0].ID != fmt.Sprintf("s-%02d", winner) {
		t.Fatalf("want the winner's session alone, got %v", sessionIDs(sessions))
	}
	for i := range users {
		_, err := s.GetSessionByHash(ctx, fmt.Sprintf("h-%02d", i))
		if (err == nil) != (i == winner) {
			t.Fatalf("session of use %d: %v", i, err)
		}
		wantOutbox(t, s, fmt.Sprintf("a-use-%02d", i), i == winner)
	}
}

// Hit counts exactly under concurrency, per key and per window (length and
// start), and says when the window resets.
func testRateLimit(t *testing.T, s domain.Store) {
	ctx := context.Background()
	at := t0.Add(90*time.Second + 500*time.Millisecond)
	start, end := domain.RateWindow(at, time.Minute)
	if end.Sub(start) != time.Minute || at.Before(start) || !at.Before(end) {
		t.Fatalf("RateWindow(%s, 1m) = %s, %s", at, start, end)
	}

	const hits = 32
	counts := make([]int, hits)
	var wg sync.WaitGroup
	for i := range hits {
		wg.Go(func() {
			n, resets, err := s.Hit(ctx, "sign-in:ada@example.com", time.Minute, at)
			if err != nil {
				t.Errorf("hit %d: %v", i, err)
			}
			if !resets.Equal(end) {
				t.Errorf("hit %d: resets %s, want %s", i, resets, end)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("32 concurrent hits counted %v, want 1 to 32 once each", counts)
		}
	}

	hit := func(key string, window time.Duration, at time.Time, want int, wantResets time.Time) {
		t.Helper()
		n, resets, err := s.Hit(ctx, key, window, at)
		must(t, err)
		if n != want || !resets.Equal(wantResets) {
			t.Fatalf("Hit(%.20q, %s, %s) = %d, %s; want %d, %s", key, window, at, n, resets, want, wantResets)
		}
	}
	hit("sign-in:ada@example.com", time.Minute, start, hits+1, end)                               // the window's first instant
	hit("sign-in:ada@example.com", time.Minute, end.Add(-time.Nanosecond), hits+2, end)           // its last
	hit("sign-in:bob@example.com", time.Minute, at, 1, end)                                       // another key
	hit("sign-in:ada@example.com", time.Minute, end, 1, end.Add(time.Minute))                     // the next window
	hit("sign-in:ada@example.com", time.Minute, end.Add(59*time.Second), 2, end.Add(time.Minute)) // still it
	_, hourEnd := domain.RateWindow(at, time.Hour)
	hit("sign-in:ada@example.com", time.Hour, at, 1, hourEnd) // another window length under the same key
	hit("sign-in:ada@example.com", time.Hour, end, 2, hourEnd)
	long := strings.Repeat("k#", 1500) // longer than a key may be: stores shorten it
	hit(long, time.Minute, at, 1, end)
	hit(long, time.Minute, at, 2, end)
	hit(long[:len(long)-1], time.Minute, at, 1, end)
	_, _, err := s.Hit(ctx, "k", 0, at)
	wantCode(t, err, domain.CodeInvalid)
}
