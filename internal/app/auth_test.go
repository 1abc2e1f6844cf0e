package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
)

// How people get in, through the application, on every store.

func (w *world) outboxActions() []domain.AuditEntry {
	w.t.Helper()
	items, err := w.store.ListOutbox(w.ctx, w.clock.Now().Add(time.Hour), 500)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []domain.AuditEntry
	for _, it := range items {
		out = append(out, it.Entry)
	}
	return out
}

func entriesOf(entries []domain.AuditEntry, action domain.AuditAction) []domain.AuditEntry {
	var out []domain.AuditEntry
	for _, e := range entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// linkToken is the token of a link issued as the notifier does.
func (w *world) linkToken(member string, purpose domain.LinkPurpose) string {
	w.t.Helper()
	tok, exp, err := w.svc.IssueSignInLink(w.ctx, member, purpose)
	if err != nil {
		w.t.Fatal(err)
	}
	if !exp.Equal(w.clock.Now().Add(domain.SignInLinkLifetime)) {
		w.t.Fatalf("the link expires at %s", exp)
	}
	return tok
}

func TestSignInWithLink(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		m, err := w.svc.CreateMember(w.ctx, w.admin, app.MemberInput{Email: "Ada@Example.com", Name: "Ada", Role: domain.RoleEditor})
		if err != nil {
			t.Fatal(err)
		}
		// the creation is audited and invites, with no secret anywhere
		out := w.outboxActions()
		if len(entriesOf(out, domain.ActionMemberCreated)) != 1 || len(entriesOf(out, domain.ActionMemberInvited)) != 1 || entriesOf(out, domain.ActionMemberInvited)[0].Member != m.ID {
			t.Fatalf("outbox after adding a member: %+v", out)
		}
		tok := w.linkToken(m.ID, domain.LinkInvitation)
		for _, e := range out {
			if strings.Contains(fmt.Sprintf("%+v", e), tok[strings.LastIndex(tok, ".")+1:]) {
				t.Fatal("a link's secret is in an audit entry")
			}
		}
		for range 3 {
			st, err := w.svc.CheckSignInLink(w.ctx, tok)
			if err != nil || st.Member.ID != m.ID || st.Purpose != domain.LinkInvitation {
				t.Fatalf("check: %+v %v", st, err)
			}
		}
		ns, err := w.svc.SignInWithLink(w.ctx, tok, "test-agent")
		if err != nil {
			t.Fatal(err)
		}
		if ns.Session.Channel != domain.ChannelEmail || ns.Session.Role != domain.RoleEditor || ns.Secret == "" || ns.Session.Hash == ns.Secret || ns.Session.UserAgent != "test-agent" {
			t.Fatalf("the session: %+v", ns.Session)
		}
		p, err := w.svc.AuthenticateSession(w.ctx, ns.Secret)
		if err != nil || p.MemberID != m.ID || p.SessionID != ns.Session.ID || p.Role != domain.RoleEditor || p.Actor() != "member:"+m.ID {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
		if _, err := w.svc.SignInWithLink(w.ctx, tok, ""); !errors.Is(err, domain.ErrLinkUsed) {
			t.Fatalf("replay: %v", err)
		}
		if _, err := w.svc.CheckSignInLink(w.ctx, tok); !errors.Is(err, domain.ErrLinkUsed) {
			t.Fatalf("check after use: %v", err)
		}
		signedIn := entriesOf(w.outboxActions(), domain.ActionSignedIn)
		if len(signedIn) != 1 || signedIn[0].Channel != "email" || signedIn[0].Member != m.ID {
			t.Fatalf("auth.signed_in: %+v", signedIn)
		}

		// expiry: 72 hours
		late := w.linkToken(m.ID, domain.LinkSignIn)
		w.clock.Advance(domain.SignInLinkLifetime)
		if _, err := w.svc.SignInWithLink(w.ctx, late, ""); !errors.Is(err, domain.ErrLinkExpired) {
			t.Fatalf("a link 72 hours old: %v", err)
		}

		// a lower role ends the member's sessions; removal ends the rest
		ns2, err := w.svc.SignInWithLink(w.ctx, w.linkToken(m.ID, domain.LinkSignIn), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdateMember(w.ctx, w.admin, m.ID, nil, func(m *domain.Member) error { m.Role = domain.RoleViewer; return nil }); err != nil {
			t.Fatal(err)
		}
		sessions, _, err := w.store.ListSessions(w.ctx, m.ID, domain.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			if s.RevokedAt == nil {
				t.Fatalf("session %s survived a lower role", s.ID)
			}
		}
		if _, err := w.svc.AuthenticateSession(w.ctx, ns2.Secret); domain.ErrorCode(err) != domain.CodeUnauthenticated {
			t.Fatalf("after a lower role: %v", err)
		}
		pending := w.linkToken(m.ID, domain.LinkSignIn)
		ns3, err := w.svc.SignInWithLink(w.ctx, w.linkToken(m.ID, domain.LinkInvitation), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.svc.DeleteMember(w.ctx, w.admin, m.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.AuthenticateSession(w.ctx, ns3.Secret); domain.ErrorCode(err) != domain.CodeUnauthenticated {
			t.Fatalf("after removal: %v", err)
		}
		if _, err := w.svc.CheckSignInLink(w.ctx, pending); !errors.Is(err, domain.ErrLinkExpired) {
			t.Fatalf("a removed member's link: %v", err)
		}
		if len(entriesOf(w.outboxActions(), domain.ActionMemberRemoved)) != 1 {
			t.Fatal("member.removed is not audited")
		}
	})
}

func TestInvitationAndRequestReplaceTheLink(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		id := w.alice.MemberID
		inv := w.linkToken(id, domain.LinkInvitation)
		sign := w.linkToken(id, domain.LinkSignIn)
		if err := w.svc.Invite(w.ctx, w.alice, id); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Fatalf("an editor invites: %v", err)
		}
		if err := w.svc.Invite(w.ctx, w.admin, id); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.CheckSignInLink(w.ctx, inv); !errors.Is(err, domain.ErrLinkExpired) {
			t.Fatalf("the invitation before a new one: %v", err)
		}
		if _, err := w.svc.CheckSignInLink(w.ctx, sign); err != nil {
			t.Fatalf("a new invitation ended the sign-in link: %v", err)
		}
		if err := w.svc.RequestSignInLink(w.ctx, "ALICE@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.CheckSignInLink(w.ctx, sign); !errors.Is(err, domain.ErrLinkExpired) {
			t.Fatalf("the sign-in link before a new request: %v", err)
		}
		req := entriesOf(w.outboxActions(), domain.ActionSignInLinkRequested)
		if len(req) != 1 || req[0].Member != id || req[0].Actor != app.ActorSignIn {
			t.Fatalf("the request's entry: %+v", req)
		}
	})
}

func TestSignInLinkLimits(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		for i := range app.SignInLinkLimit {
			if err := w.svc.RequestSignInLink(w.ctx, "alice@example.com", fmt.Sprintf("192.0.2.%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		err := w.svc.RequestSignInLink(w.ctx, "Alice@example.com ", "192.0.2.99")
		var de *domain.Error
		if domain.ErrorCode(err) != domain.CodeRateLimited || !asError(err, &de) || de.RetryAfter <= 0 || de.RetryAfter > app.SignInLinkWindow {
			t.Fatalf("the 6th request for an address: %v", err)
		}
		for i := range app.SignInLinkLimit {
			if err := w.svc.RequestSignInLink(w.ctx, fmt.Sprintf("n%d@example.com", i), "198.51.100.1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.svc.RequestSignInLink(w.ctx, "bob@example.com", "198.51.100.1"); domain.ErrorCode(err) != domain.CodeRateLimited {
			t.Fatalf("the 6th request from a client: %v", err)
		}
		w.clock.Advance(app.SignInLinkWindow)
		if err := w.svc.RequestSignInLink(w.ctx, "alice@example.com", "198.51.100.1"); err != nil {
			t.Fatalf("a new window: %v", err)
		}
	})
}

func asError(err error, target **domain.Error) bool {
	e, ok := err.(*domain.Error)
	*target = e
	return ok
}

// Failed sign-ins are counted per address and hour, and audited at the
// 1st, 10th, 100th, … of the hour, not once per attempt: the entries are
// stored (AppendAudit), each with its outbox item.
func TestFailedSignInsAggregated(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			store := factory(t)
			clk := clock.NewFixed(t0)
			svc := app.New(store, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
			ctx := context.Background()
			failed := func() []domain.AuditEntry {
				t.Helper()
				items, err := store.ListOutbox(ctx, clk.Now().Add(time.Hour), 500) // oldest first
				if err != nil {
					t.Fatal(err)
				}
				var out []domain.AuditEntry
				for _, it := range items {
					out = append(out, it.Entry)
				}
				return entriesOf(out, domain.ActionSignInFailed)
			}
			for i := range 12 {
				if i > 0 && i%app.SignInLinkLimit == 0 {
					clk.Advance(app.SignInLinkWindow) // past the address's limit, within the hour
				}
				if err := svc.RequestSignInLink(ctx, "stranger@example.com", fmt.Sprintf("192.0.2.%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			entries := failed()
			if len(entries) != 2 || !strings.Contains(entries[0].Reason, "stranger@example.com") || !strings.Contains(entries[0].Reason, "failure 1 ") ||
				!strings.Contains(entries[1].Reason, "failure 10 ") || entries[0].Action != domain.ActionSignInFailed || entries[0].Actor != app.ActorSignIn {
				t.Fatalf("failed sign-in entries: %+v", entries)
			}
			clk.Advance(time.Hour)
			if err := svc.RequestSignInLink(ctx, "stranger@example.com", "192.0.2.200"); err != nil {
				t.Fatal(err)
			}
			if entries = failed(); len(entries) != 3 || !strings.Contains(entries[2].Reason, "failure 1 ") {
				t.Fatalf("a new hour starts a new count: %+v", entries)
			}
		})
	}
}

// Revoking a token writes token.revoked with the revocation; revoking it
// again writes nothing.
func TestRevokeTokenAudited(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		tok, err := w.svc.CreateToken(w.ctx, w.alice, app.TokenInput{Name: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute)
		for range 2 {
			if err := w.svc.RevokeToken(w.ctx, w.alice, tok.ID); err != nil {
				t.Fatal(err)
			}
		}
		revoked := entriesOf(w.outboxActions(), domain.ActionTokenRevoked)
		if len(revoked) != 1 || revoked[0].Member != w.alice.MemberID || !revoked[0].At.Equal(t0.Add(time.Minute)) || !strings.Contains(revoked[0].Reason, tok.ID) {
			t.Fatalf("token.revoked entries: %+v", revoked)
		}
		got, err := w.store.GetToken(w.ctx, tok.ID)
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("revoked token: %+v %v", got, err)
		}
	})
}

func TestSignInOIDC(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		id := app.OIDCIdentity{Issuer: "https://idp.example", Subject: "1234", Email: "Alice@EXAMPLE.com", Name: "Alice", EmailVerified: true}
		ns, err := w.svc.SignInOIDC(w.ctx, id, "agent")
		if err != nil || ns.Member.ID != w.alice.MemberID || ns.Session.Channel != domain.ChannelOIDC || ns.Session.Role != domain.RoleEditor {
			t.Fatalf("a known member: %+v %v", ns, err)
		}
		if _, err := w.svc.AuthenticateSession(w.ctx, ns.Secret); err != nil {
			t.Fatal(err)
		}
		signedIn := entriesOf(w.outboxActions(), domain.ActionSignedIn)
		if len(signedIn) != 1 || signedIn[0].Channel != "oidc" || signedIn[0].Member != w.alice.MemberID {
			t.Fatalf("auth.signed_in: %+v", signedIn)
		}

		unverified := id
		unverified.EmailVerified = false
		if _, err := w.svc.SignInOIDC(w.ctx, unverified, ""); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Fatalf("an unverified address: %v", err)
		}
		stranger := app.OIDCIdentity{Issuer: "https://idp.example", Subject: "99", Email: "zoe@corp.example", EmailVerified: true}
		if _, err := w.svc.SignInOIDC(w.ctx, stranger, ""); domain.ErrorCode(err) != domain.CodeForbidden || !strings.Contains(err.Error(), "ask an admin") {
			t.Fatalf("an unknown identity: %v", err)
		}

		// auto-provisioning: allowed domains, the configured role
		w.svc.SetOIDCProvisioning([]string{"@Corp.Example"}, domain.RoleEditor)
		ns, err = w.svc.SignInOIDC(w.ctx, stranger, "")
		if err != nil || ns.Member.Email != "zoe@corp.example" || ns.Member.Role != domain.RoleEditor || ns.Member.Name != "zoe" {
			t.Fatalf("provisioned: %+v %v", ns, err)
		}
		again, err := w.svc.SignInOIDC(w.ctx, stranger, "")
		if err != nil || again.Member.ID != ns.Member.ID || again.Session.ID == ns.Session.ID {
			t.Fatalf("the second sign-in of a provisioned member: %+v %v", again, err)
		}
		created := entriesOf(w.outboxActions(), domain.ActionMemberCreated)
		if len(created) != 1 || created[0].Actor != app.ActorOIDC || created[0].Channel != "oidc" {
			t.Fatalf("member.created of provisioning: %+v", created)
		}
		other := app.OIDCIdentity{Issuer: "https://idp.example", Subject: "7", Email: "eve@other.example", EmailVerified: true}
		if _, err := w.svc.SignInOIDC(w.ctx, other, ""); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Fatalf("a domain not allowed: %v", err)
		}
		w.svc.SetOIDCProvisioning([]string{"corp.example"}, "")
		ns, err = w.svc.SignInOIDC(w.ctx, app.OIDCIdentity{Issuer: "i", Subject: "8", Email: "yan@corp.example", Name: "Yan", EmailVerified: true}, "")
		if err != nil || ns.Member.Role != domain.RoleViewer || ns.Member.Name != "Yan" {
			t.Fatalf("the default role of provisioning: %+v %v", ns, err)
		}
	})
}

func TestBootstrapAdminEmail(t *testing.T) {
	for name, factory := range storeFactories {
		t.Run(name, func(t *testing.T) {
			store := factory(t)
			clk := clock.NewFixed(t0)
			svc := app.New(store, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
			ctx := context.Background()
			if _, err := svc.BootstrapAdmin(ctx, app.BootstrapInput{Email: "not an address"}); domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("a bad address: %v", err)
			}
			b, err := svc.BootstrapAdmin(ctx, app.BootstrapInput{Email: "boss@example.com"})
			if err != nil || b.Invited != "boss@example.com" || b.Secret != "" {
				t.Fatalf("bootstrap: %+v %v", b, err)
			}
			ms, _, err := store.ListMembers(ctx, domain.Page{})
			if err != nil || len(ms) != 1 || ms[0].Email != "boss@example.com" || ms[0].Role != domain.RoleAdmin {
				t.Fatalf("members: %+v %v", ms, err)
			}
			items, err := store.ListOutbox(ctx, clk.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			invited := 0
			for _, it := range items {
				if it.Entry.Action == domain.ActionMemberInvited && it.Entry.Member == ms[0].ID && it.Entry.Actor == app.ActorBootstrap {
					invited++
				}
			}
			if invited != 1 {
				t.Fatalf("the first admin's invitation is not in the outbox: %+v", items)
			}
			// later starts change nothing; a token still attaches to the admin
			b, err = svc.BootstrapAdmin(ctx, app.BootstrapInput{Email: "other@example.com", Token: "bootstrap-token-0123456789abcdef"})
			if err != nil || b.Invited != "" || b.Secret != "" {
				t.Fatalf("a second bootstrap: %+v %v", b, err)
			}
			p, err := svc.Authenticate(ctx, "bootstrap-token-0123456789abcdef")
			if err != nil || p.MemberID != ms[0].ID {
				t.Fatalf("the token: %+v %v", p, err)
			}
		})
	}
}

// Creating a live token writes token.created with it: who made it, for
// whom, its role; never its secret.
func TestCreateTokenAudited(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		tok, err := w.svc.CreateToken(w.ctx, w.alice, app.TokenInput{Name: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		created := entriesOf(w.outboxActions(), domain.ActionTokenCreated)
		if len(created) != 1 || created[0].Member != w.alice.MemberID || created[0].Actor != w.alice.Actor() ||
			!strings.Contains(created[0].Reason, tok.ID) || !strings.Contains(created[0].Reason, `"laptop"`) ||
			strings.Contains(created[0].Reason, tok.Secret) {
			t.Fatalf("token.created entries: %+v", created)
		}
	})
}
