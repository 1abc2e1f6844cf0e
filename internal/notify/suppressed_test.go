package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/notify/catcher"
)

// mailsTo are the mails the catcher holds for addr.
func (f *fixture) mailsTo(addr string) []catcher.Mail {
	var out []catcher.Mail
	for _, m := range f.box.Mails() {
		if m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

// itemOf is the outbox item of the audit entry of action (the newest of
// them, for a member when member is not "").
func (f *fixture) itemOf(t *testing.T, action domain.AuditAction, member string) *domain.OutboxItem {
	t.Helper()
	entries, _, err := f.store.ListAudit(context.Background(), domain.AuditFilter{}, domain.Page{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action && (member == "" || e.Member == member) {
			it, err := f.store.GetOutbox(context.Background(), e.ID)
			if err != nil {
				t.Fatal(err)
			}
			return it
		}
	}
	t.Fatalf("no %s entry", action)
	return nil
}

func bounceOf(addr, feedback string, at time.Time) app.MailEvent {
	return app.MailEvent{Type: app.MailBounce, BounceType: "Permanent", BounceSubType: "General", Recipients: []string{addr}, FeedbackID: feedback, At: at}
}

// A reviewer's address bounces after the review request went out: their
// address is suppressed, and the requester of the request that waits on
// them is told (the member.email_suppressed entry's mail), once; the
// suppressed reviewer is sent nothing more. When the request asks for
// reviews again (an edit), the suppressed reviewer's delivery is dead at
// once, with the reason, without calling the mailer, and the requester is
// told again with that mail; nothing of it counts as refused or
// dead-lettered mail (the bounce was recorded already).
func TestBounceTellsTheRequesterAndStopsMail(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	f.drain(t)
	if len(f.mailsTo("a@example.com")) != 1 || len(f.mailsTo("b@example.com")) != 1 || len(f.mailsTo("req@example.com")) != 0 {
		t.Fatalf("the review requests: %d to a, %d to b, %d to the requester", len(f.mailsTo("a@example.com")), len(f.mailsTo("b@example.com")), len(f.mailsTo("req@example.com")))
	}

	bounced := f.clock.Now()
	if _, err := f.svc.RecordMailEvent(ctx, bounceOf("a@example.com", "fb-a", bounced)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	got := f.mailsTo("req@example.com")
	if len(got) != 1 || !strings.HasPrefix(got[0].Subject, "Cannot reach a reviewer: ") || !strings.Contains(got[0].Text, "mail to A (a@example.com) bounced for good on") ||
		!strings.Contains(got[0].Text, "Ask them another way") || !strings.Contains(got[0].HTML, "a@example.com") {
		t.Fatalf("the requester's notice: %+v", got)
	}
	it := f.itemOf(t, domain.ActionMemberEmailSuppressed, "m_a")
	if d := it.Deliveries["email:m_req:"+f.request]; it.State != domain.OutboxDelivered || d.State != domain.OutboxDelivered || len(it.Deliveries) != 2 {
		t.Fatalf("the suppression's outbox item: %s %+v", it.State, it.Deliveries)
	}
	if len(f.mailsTo("a@example.com")) != 1 {
		t.Fatal("the bounced reviewer got mail after the bounce")
	}

	// the request asks for reviews again
	before := f.mail.called
	req := &app.Principal{MemberID: "m_req", TokenID: "t2", Role: domain.RoleEditor}
	title := "Enable it, please"
	if _, err := f.svc.EditRequest(ctx, req, f.request, nil, app.EditInput{Title: &title}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if len(f.mailsTo("a@example.com")) != 1 || len(f.mailsTo("b@example.com")) != 2 {
		t.Fatalf("after the edit: %d mails to a (want still 1), %d to b (want 2)", len(f.mailsTo("a@example.com")), len(f.mailsTo("b@example.com")))
	}
	if f.mail.called-before != 2 { // b's review request and the requester's notice: nothing for a
		t.Fatalf("the mailer was called %d times for the edit, want 2", f.mail.called-before)
	}
	it = f.itemOf(t, "change_request.edited", "")
	da := it.Deliveries["email:m_a"]
	if da.State != domain.OutboxDead || !da.Refused || da.Attempts != 1 || !strings.Contains(da.LastError, "not sent: mail to a@example.com is suppressed") ||
		!strings.Contains(da.LastError, "fb-a") {
		t.Fatalf("the suppressed reviewer's delivery: %+v", da)
	}
	if d := it.Deliveries["email:m_req:unreachable"]; d.State != domain.OutboxDelivered || it.Deliveries["email:m_b"].State != domain.OutboxDelivered {
		t.Fatalf("the others: %+v", it.Deliveries)
	}
	got = f.mailsTo("req@example.com")
	if len(got) != 2 || !strings.HasPrefix(got[1].Subject, "Cannot reach a reviewer: ") || !strings.Contains(got[1].Text, title) {
		t.Fatalf("the requester's second notice: %+v", got)
	}
	if m := f.metricCounts(t); m[metrics.MailRefused] != 0 || m[metrics.OutboxDeadLettered] != 0 {
		t.Fatalf("metrics %v: a suppressed address is no refusal and no dead letter to alarm on", m)
	}
	if !strings.Contains(f.logs.String(), "recipient's address is suppressed") {
		t.Fatalf("the log does not say why a was skipped:\n%s", f.logs)
	}

	// cleared by an admin: a gets mail again
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	if _, err := f.svc.UpdateMember(ctx, admin, "m_a", nil, func(m *domain.Member) error { m.EmailSuppressed = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	title = "Enable it, now"
	if _, err := f.svc.EditRequest(ctx, req, f.request, nil, app.EditInput{Title: &title}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if len(f.mailsTo("a@example.com")) != 2 || len(f.mailsTo("req@example.com")) != 2 {
		t.Fatalf("after clearing: %d mails to a (want 2), %d to the requester (want still 2)", len(f.mailsTo("a@example.com")), len(f.mailsTo("req@example.com")))
	}
}

// The requester's own address bouncing tells nobody (a request does not
// wait on its requester), and mail to them stops: the notice of a
// reviewer they cannot reach is not sent either.
func TestSuppressedRequesterIsNotTold(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	f.drain(t)
	for _, addr := range []string{"req@example.com", "b@example.com"} {
		if _, err := f.svc.RecordMailEvent(ctx, bounceOf(addr, "fb-"+addr, f.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	f.drain(t)
	if it := f.itemOf(t, domain.ActionMemberEmailSuppressed, "m_req"); len(it.Deliveries) != 1 || it.State != domain.OutboxDelivered {
		t.Fatalf("the requester's suppression owes only its event: %+v", it.Deliveries)
	}
	it := f.itemOf(t, domain.ActionMemberEmailSuppressed, "m_b")
	d := it.Deliveries["email:m_req:"+f.request]
	if d.State != domain.OutboxDead || !strings.Contains(d.LastError, "req@example.com is suppressed") {
		t.Fatalf("the notice to a suppressed requester: %+v", it.Deliveries)
	}
	if len(f.mailsTo("req@example.com")) != 0 {
		t.Fatal("mail reached a suppressed requester")
	}
}

// A review requested from someone already suppressed (before the request
// existed) is not sent, and the requester hears of it with the request.
func TestReviewerSuppressedBeforeTheRequest(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	// suppressed before the request's mail goes out, with no entry of its own
	if _, err := f.store.UpdateMember(ctx, "m_b", func(m *domain.Member) error {
		m.EmailSuppressed = &domain.Suppression{Reason: domain.SuppressedComplaint, At: f.clock.Now().Add(-24 * time.Hour), FeedbackID: "fb-b", Detail: "abuse"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if len(f.mailsTo("b@example.com")) != 0 || len(f.mailsTo("a@example.com")) != 1 {
		t.Fatalf("mails: %d to the suppressed b, %d to a", len(f.mailsTo("b@example.com")), len(f.mailsTo("a@example.com")))
	}
	got := f.mailsTo("req@example.com")
	if len(got) != 1 || !strings.Contains(got[0].Text, "B (b@example.com) marked mail from Countersign as spam on") {
		t.Fatalf("the requester's notice: %+v", got)
	}
	it := f.createdOutbox(t)
	if it.Deliveries["email:m_b"].State != domain.OutboxDead || it.Deliveries["email:m_req:unreachable"].State != domain.OutboxDelivered || it.State != domain.OutboxDead {
		t.Fatalf("the created entry's deliveries: %s %+v", it.State, it.Deliveries)
	}
}

// An invitation to a suppressed address is not sent (no link is issued).
func TestNoSignInMailToASuppressedAddress(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	f.drain(t)
	if _, err := f.svc.RecordMailEvent(ctx, bounceOf("a@example.com", "fb-a", f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	if err := f.svc.Invite(ctx, admin, "m_a"); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if subjects, _ := f.signInMails(t, "a@example.com"); len(subjects) != 0 {
		t.Fatalf("an invitation went to a suppressed address: %v", subjects)
	}
	if d := f.itemOf(t, domain.ActionMemberInvited, "m_a").Deliveries["email:m_a"]; d.State != domain.OutboxDead || !strings.Contains(d.LastError, "suppressed") {
		t.Fatalf("the invitation's delivery: %+v", d)
	}
}
