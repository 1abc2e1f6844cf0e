package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// A member's mail suppression (a hard bounce or a complaint) is kept with
// the member on every store: written at creation or by a member write
// (with its audit entry), read back whole by GetMember and ListMembers,
// and gone once a write clears it.
func testMemberEmailSuppression(t *testing.T, s domain.Store) {
	ctx := context.Background()
	at := t0.Add(90*time.Minute + 1500*time.Millisecond)
	bounce := domain.Suppression{Reason: domain.SuppressedBounce, At: at, FeedbackID: "0100018f-feedback-000000", Detail: "General: smtp; 550 5.1.1 user unknown"}
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleAdmin, CreatedAt: t0}))
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-bob", Email: "bob@example.com", Name: "Bob", Role: domain.RoleEditor, CreatedAt: t0,
		EmailSuppressed: &domain.Suppression{Reason: domain.SuppressedComplaint, At: t0, FeedbackID: "fb-bob", Detail: "abuse"}}))

	same := func(got *domain.Suppression, want domain.Suppression) bool {
		return got != nil && got.Reason == want.Reason && got.At.Equal(want.At) && got.FeedbackID == want.FeedbackID && got.Detail == want.Detail
	}
	bob, err := s.GetMember(ctx, "m-bob")
	must(t, err)
	if !same(bob.EmailSuppressed, domain.Suppression{Reason: domain.SuppressedComplaint, At: t0, FeedbackID: "fb-bob", Detail: "abuse"}) {
		t.Fatalf("created suppressed, read back %+v", bob.EmailSuppressed)
	}

	entry := memberEntry("a-suppress-ada")
	m, err := s.WriteMember(ctx, "m-ada", func(m *domain.Member, w *domain.MemberWrite) error {
		b := bounce
		m.EmailSuppressed = &b
		w.Record(*entry)
		return nil
	})
	must(t, err)
	if m.Version != 2 || !same(m.EmailSuppressed, bounce) {
		t.Fatalf("after the write: version %d, %+v", m.Version, m.EmailSuppressed)
	}
	wantOutbox(t, s, "a-suppress-ada", true)
	m, err = s.GetMember(ctx, "m-ada")
	must(t, err)
	if !same(m.EmailSuppressed, bounce) {
		t.Fatalf("read back %+v, want %+v", m.EmailSuppressed, bounce)
	}
	ms, _, err := s.ListMembers(ctx, domain.Page{})
	must(t, err)
	listed := 0
	for _, x := range ms {
		if x.ID == "m-ada" && same(x.EmailSuppressed, bounce) || x.ID == "m-bob" && x.EmailSuppressed != nil {
			listed++
		}
	}
	if listed != 2 {
		t.Fatalf("the list does not show both suppressions: %+v", ms)
	}

	// cleared: nothing of it is left
	_, err = s.UpdateMember(ctx, "m-ada", func(m *domain.Member) error { m.EmailSuppressed = nil; return nil })
	must(t, err)
	m, err = s.GetMember(ctx, "m-ada")
	must(t, err)
	if m.EmailSuppressed != nil || m.Version != 3 {
		t.Fatalf("after clearing: %+v (version %d)", m.EmailSuppressed, m.Version)
	}
	bob, err = s.GetMember(ctx, "m-bob")
	must(t, err)
	if bob.EmailSuppressed == nil {
		t.Fatal("clearing one member's suppression cleared another's")
	}
}
