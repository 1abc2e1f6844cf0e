package notify_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

var signInLinkRe = regexp.MustCompile(`(?m)^(Accept the invitation and sign in|Sign in): http://cs\.test/signin/(\S+)$`)

// signInMails are the mails to addr carrying a sign-in link, with their tokens.
func (f *fixture) signInMails(t *testing.T, addr string) (subjects, tokens []string) {
	t.Helper()
	for _, m := range f.box.Mails() {
		if m.To[0] != addr {
			continue
		}
		if x := signInLinkRe.FindStringSubmatch(m.Text); x != nil {
			subjects, tokens = append(subjects, m.Subject), append(tokens, x[2])
			if !strings.Contains(m.HTML, `href="http://cs.test/signin/`+x[2]+`"`) {
				t.Fatalf("the HTML part has another link: %s", m.HTML)
			}
		}
	}
	return subjects, tokens
}

func (f *fixture) drain(t *testing.T) {
	t.Helper()
	for range 3 {
		if _, _, err := f.n.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
	}
}

// An invitation and a requested link are mailed with a link issued at send
// time: no secret is in the outbox, the link signs in, and only the last
// mail's link works.
func TestInvitationAndSignInLinkMails(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	m, err := f.svc.CreateMember(ctx, admin, app.MemberInput{Email: "new@example.com", Name: "New", Role: domain.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	items, err := f.store.ListOutbox(ctx, f.clock.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	subjects, tokens := f.signInMails(t, "new@example.com")
	if len(tokens) != 1 || subjects[0] != "You are invited to Countersign" || !strings.HasPrefix(tokens[0], "i."+m.ID+".") {
		t.Fatalf("the invitation: %v %v", subjects, tokens)
	}
	for _, it := range items {
		if strings.Contains(it.Entry.Reason, tokens[0][strings.LastIndex(tokens[0], ".")+1:]) {
			t.Fatal("the link's secret is in the outbox")
		}
	}
	text := ""
	for _, mail := range f.box.Mails() {
		if mail.To[0] == "new@example.com" {
			text = mail.Text
		}
	}
	if !strings.Contains(text, "Admin added you to Countersign") || !strings.Contains(text, "as viewer") {
		t.Fatalf("the invitation's text: %s", text)
	}
	// a retried delivery does not mail again
	f.drain(t)
	if _, again := f.signInMails(t, "new@example.com"); len(again) != 1 {
		t.Fatalf("mails after a second drain: %d", len(again))
	}

	// a new invitation: the first link stops, the second works
	if err := f.svc.Invite(ctx, admin, m.ID); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	_, tokens = f.signInMails(t, "new@example.com")
	if len(tokens) != 2 {
		t.Fatalf("mails after a new invitation: %d", len(tokens))
	}
	if _, err := f.svc.CheckSignInLink(ctx, tokens[0]); !errors.Is(err, domain.ErrLinkExpired) {
		t.Fatalf("the first invitation: %v", err)
	}
	if _, err := f.svc.SignInWithLink(ctx, tokens[1], ""); err != nil {
		t.Fatalf("the second invitation: %v", err)
	}

	// a link asked for at /login: only members get one
	if err := f.svc.RequestSignInLink(ctx, "NEW@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequestSignInLink(ctx, "stranger@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	subjects, tokens = f.signInMails(t, "new@example.com")
	if len(tokens) != 3 || subjects[2] != "Your sign-in link for Countersign" || !strings.HasPrefix(tokens[2], "s.") {
		t.Fatalf("the sign-in link mail: %v", subjects)
	}
	for _, mail := range f.box.Mails() {
		if mail.To[0] == "stranger@example.com" {
			t.Fatal("a stranger got mail")
		}
	}
	if _, err := f.svc.SignInWithLink(ctx, tokens[2], ""); err != nil {
		t.Fatal(err)
	}

	// a member removed before the mail goes out gets none
	gone, err := f.svc.CreateMember(ctx, admin, app.MemberInput{Email: "gone@example.com", Name: "Gone", Role: domain.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteMember(ctx, admin, gone.ID); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if _, tokens := f.signInMails(t, "gone@example.com"); len(tokens) != 0 {
		t.Fatal("a removed member was invited")
	}
	dead, _, err := f.store.ListDeadLetters(ctx, domain.Page{})
	if err != nil || len(dead) != 0 {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	// the events name the member
	found := false
	for _, ev := range f.events.Events() {
		found = found || ev.Type == string(domain.ActionMemberInvited) && ev.Detail["member"] == m.ID
	}
	if !found {
		t.Fatal("no member.invited event naming the member")
	}
}
