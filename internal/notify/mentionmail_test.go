package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A member is mailed at most domain.MaxMentionMailsPerHour mentions per
// request in a rolling hour: the next mention within the hour is in the
// timeline but sends no mail, and once the hour since the first has passed
// mail resumes.
func TestMentionMailsCappedPerMemberPerRequestPerHour(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	a := &app.Principal{MemberID: "m_a", TokenID: "ta", Role: domain.RoleEditor}
	mentionMails := func() int {
		t.Helper()
		if _, _, err := f.n.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range f.box.Mails() {
			if m.To[0] == "b@example.com" && strings.HasPrefix(m.Subject, "You were mentioned") {
				n++
			}
		}
		return n
	}
	comment := func(text string) {
		t.Helper()
		if _, err := f.svc.Comment(ctx, a, f.request, text); err != nil {
			t.Fatal(err)
		}
	}
	first := f.clock.Now()
	for i := range domain.MaxMentionMailsPerHour {
		comment(fmt.Sprintf("@m_b look %d", i))
		if got := mentionMails(); got != i+1 {
			t.Fatalf("after mention %d: %d mention mails to b", i+1, got)
		}
		f.clock.Advance(10 * time.Minute)
	}
	comment("@m_b one more within the hour")
	if got := mentionMails(); got != domain.MaxMentionMailsPerHour {
		t.Fatalf("mention %d within the hour sent mail: %d mention mails to b", domain.MaxMentionMailsPerHour+1, got)
	}
	comments, err := f.svc.Comments(ctx, a, f.request)
	if err != nil || len(comments) != domain.MaxMentionMailsPerHour+1 || comments[len(comments)-1].Mentions[0] != "m_b" {
		t.Fatalf("the unmailed mention is still in the timeline: %v %+v", err, comments)
	}
	// the first mail leaves the rolling hour: mail resumes
	f.clock.Set(first.Add(domain.MentionMailWindow))
	comment("@m_b an hour later")
	if got := mentionMails(); got != domain.MaxMentionMailsPerHour+1 {
		t.Fatalf("after the hour: %d mention mails to b, want %d", got, domain.MaxMentionMailsPerHour+1)
	}
	for _, m := range f.box.Mails() {
		if m.To[0] == "b@example.com" && strings.Contains(m.Text, "one more within the hour") {
			t.Fatalf("the capped mention was mailed: %q", m.Subject)
		}
	}
}
