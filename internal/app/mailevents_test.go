package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// audited are the audit entries of action.
func (w *world) audited(action domain.AuditAction) []domain.AuditEntry {
	w.t.Helper()
	entries, _, err := w.store.ListAudit(w.ctx, domain.AuditFilter{}, domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []domain.AuditEntry
	for _, e := range entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (w *world) get(id string) *domain.Member {
	w.t.Helper()
	m, err := w.store.GetMember(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func hardBounce(at time.Time, feedback string, to ...string) app.MailEvent {
	return app.MailEvent{Type: app.MailBounce, BounceType: "Permanent", BounceSubType: "General", Recipients: to,
		Diagnostic: "smtp; 550 5.1.1 user unknown", FeedbackID: feedback, MessageID: "msg-1", At: at}
}

// A hard bounce marks the member with that address suppressed (any case of
// the address), audited by system:ses with the feedback id, once: the same
// event again (EventBridge delivers at least once) writes nothing. A
// request that waits on the member says so. Addresses of no member, soft
// bounces, deliveries and "not spam" complaints change nothing; a
// complaint suppresses too.
func TestHardBounceSuppressesTheMember(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil,
			app.ChangeOptions{NotifyReviewers: []string{"m_alice", "m_bob"}}, rollout(50))
		if err != nil || out.Request == nil {
			t.Fatalf("propose: %v", err)
		}
		if len(out.Request.UnreachableReviewers) != 0 {
			t.Fatalf("nobody is suppressed yet: %+v", out.Request.UnreachableReviewers)
		}
		bouncedAt := t0.Add(-2 * time.Minute)
		ev := hardBounce(bouncedAt, "fb-alice-1", "ALICE@example.com", "nobody@example.com")
		res, err := w.svc.RecordMailEvent(w.ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(res.Suppressed, ",") != "m_alice" || strings.Join(res.Unknown, ",") != "nobody@example.com" || len(res.Already) != 0 || res.Ignored != "" {
			t.Fatalf("outcome: %+v", res)
		}
		alice := w.get("m_alice")
		s := alice.EmailSuppressed
		if s == nil || s.Reason != domain.SuppressedBounce || !s.At.Equal(bouncedAt) || s.FeedbackID != "fb-alice-1" ||
			s.Detail != "General: smtp; 550 5.1.1 user unknown" || alice.Version != 2 {
			t.Fatalf("alice after the bounce: %+v (version %d)", s, alice.Version)
		}
		entries := w.audited(domain.ActionMemberEmailSuppressed)
		if len(entries) != 1 || entries[0].Actor != app.ActorSES || entries[0].Member != "m_alice" || entries[0].Channel != app.ChannelSystem ||
			!strings.Contains(entries[0].Reason, "fb-alice-1") || !strings.Contains(entries[0].Reason, "alice@example.com") {
			t.Fatalf("audit: %+v", entries)
		}
		if _, err := w.store.GetOutbox(w.ctx, entries[0].ID); err != nil {
			t.Fatalf("the entry's outbox item (the notifier tells the requesters from it): %v", err)
		}

		// delivered again: nothing more
		res, err = w.svc.RecordMailEvent(w.ctx, ev)
		if err != nil || len(res.Suppressed) != 0 || strings.Join(res.Already, ",") != "m_alice" {
			t.Fatalf("the same event again: %+v %v", res, err)
		}
		if n := len(w.audited(domain.ActionMemberEmailSuppressed)); n != 1 || w.get("m_alice").Version != 2 {
			t.Fatalf("a repeated event wrote again: %d entries, version %d", n, w.get("m_alice").Version)
		}

		// the request says whom it cannot reach
		v, err := w.svc.GetRequest(w.ctx, w.requester, out.Request.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.UnreachableReviewers) != 1 || v.UnreachableReviewers[0].MemberID != "m_alice" || v.UnreachableReviewers[0].Suppression.FeedbackID != "fb-alice-1" {
			t.Fatalf("unreachable reviewers: %+v", v.UnreachableReviewers)
		}

		// what changes nothing
		for _, ev := range []app.MailEvent{
			{Type: app.MailBounce, BounceType: "Transient", BounceSubType: "MailboxFull", Recipients: []string{"bob@example.com"}, FeedbackID: "fb-soft"},
			{Type: app.MailBounce, BounceType: "Undetermined", Recipients: []string{"bob@example.com"}},
			{Type: "Delivery", Recipients: []string{"bob@example.com"}},
			{Type: "DeliveryDelay", Recipients: []string{"bob@example.com"}},
			{Type: "Reject", Recipients: []string{"bob@example.com"}},
			{Type: app.MailComplaint, FeedbackType: "not-spam", Recipients: []string{"bob@example.com"}},
		} {
			res, err := w.svc.RecordMailEvent(w.ctx, ev)
			if err != nil || res.Ignored == "" || len(res.Suppressed) != 0 {
				t.Fatalf("%s %s: %+v %v", ev.Type, ev.BounceType, res, err)
			}
		}
		if w.get("m_bob").EmailSuppressed != nil {
			t.Fatal("bob was suppressed by a soft bounce, a delivery or a not-spam complaint")
		}

		// a complaint suppresses
		res, err = w.svc.RecordMailEvent(w.ctx, app.MailEvent{Type: app.MailComplaint, FeedbackType: "abuse", Recipients: []string{"bob@example.com"},
			FeedbackID: "fb-bob", At: t0})
		if err != nil || strings.Join(res.Suppressed, ",") != "m_bob" {
			t.Fatalf("complaint: %+v %v", res, err)
		}
		if s := w.get("m_bob").EmailSuppressed; s == nil || s.Reason != domain.SuppressedComplaint || s.Detail != "abuse" {
			t.Fatalf("bob after the complaint: %+v", s)
		}
		v, _ = w.svc.GetRequest(w.ctx, w.requester, out.Request.ID)
		if len(v.UnreachableReviewers) != 2 {
			t.Fatalf("both reviewers are unreachable now: %+v", v.UnreachableReviewers)
		}
		// once alice has reviewed, the request no longer waits on her
		w.must(w.svc.Review(w.ctx, w.alice, out.Request.ID, domain.DecisionReject, "no", app.ChannelAPI))
		v, _ = w.svc.GetRequest(w.ctx, w.requester, out.Request.ID)
		if len(v.UnreachableReviewers) != 0 {
			t.Fatalf("a rejected request waits on nobody: %+v", v.UnreachableReviewers)
		}
	})
}

// Only admins clear a suppression, and it is audited; nobody sets or
// changes one through an update; a new address clears it, and a bounce of
// the old address afterwards concerns nobody.
func TestClearingASuppression(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		if _, err := w.svc.RecordMailEvent(w.ctx, hardBounce(t0, "fb-1", "alice@example.com")); err != nil {
			t.Fatal(err)
		}
		clear := func(m *domain.Member) error { m.EmailSuppressed = nil; return nil }
		_, err := w.svc.UpdateMember(w.ctx, w.alice, "m_alice", nil, clear)
		wantCode(t, err, domain.CodeForbidden)
		// her own name she may change: the suppression stays
		out, err := w.svc.UpdateMember(w.ctx, w.alice, "m_alice", nil, func(m *domain.Member) error { m.Name = "Alice L."; return nil })
		m := out.Applied
		if err != nil || m.EmailSuppressed == nil {
			t.Fatalf("a name change: %+v %v", m, err)
		}
		// nobody sets or changes one
		_, err = w.svc.UpdateMember(w.ctx, w.admin, "m_bob", nil, func(m *domain.Member) error {
			m.EmailSuppressed = &domain.Suppression{Reason: domain.SuppressedBounce, At: t0}
			return nil
		})
		wantCode(t, err, domain.CodeInvalid)
		_, err = w.svc.UpdateMember(w.ctx, w.admin, "m_alice", nil, func(m *domain.Member) error { m.EmailSuppressed.FeedbackID = "other"; return nil })
		wantCode(t, err, domain.CodeInvalid)

		out, err = w.svc.UpdateMember(w.ctx, w.admin, "m_alice", nil, clear)
		m = out.Applied
		if err != nil || m.EmailSuppressed != nil {
			t.Fatalf("an admin clears it: %+v %v", m, err)
		}
		// (the clock stands still here: entries are found by what they say)
		withReason := func(part string) *domain.AuditEntry {
			for _, e := range w.audited(domain.ActionMemberUpdated) {
				if strings.Contains(e.Reason, part) {
					return &e
				}
			}
			return nil
		}
		last := withReason("cleared")
		if last == nil || last.Actor != "member:m_admin" || !strings.Contains(last.Reason, "fb-1") || last.Diff == nil ||
			!strings.Contains(strings.Join(last.Diff.Summary, " "), "/email_suppressed") {
			t.Fatalf("the clearing's audit entry: %+v", last)
		}

		// suppressed again, then the address changes: cleared with it
		if _, err := w.svc.RecordMailEvent(w.ctx, hardBounce(t0, "fb-2", "alice@example.com")); err != nil || w.get("m_alice").EmailSuppressed == nil {
			t.Fatalf("suppressed again: %v", err)
		}
		out, err = w.svc.UpdateMember(w.ctx, w.admin, "m_alice", nil, func(m *domain.Member) error { m.Email = "alice@new.example.com"; return nil })
		m = out.Applied
		if err != nil || m.EmailSuppressed != nil {
			t.Fatalf("a new address: %+v %v", m, err)
		}
		if e := withReason("address changed"); e == nil || !strings.Contains(e.Reason, "alice@example.com") {
			t.Fatalf("the address change's entry: %+v", e)
		}
		res, err := w.svc.RecordMailEvent(w.ctx, hardBounce(t0, "fb-3", "alice@example.com"))
		if err != nil || len(res.Suppressed) != 0 || strings.Join(res.Unknown, ",") != "alice@example.com" || w.get("m_alice").EmailSuppressed != nil {
			t.Fatalf("a late bounce of the old address: %+v %v", res, err)
		}
	})
}
