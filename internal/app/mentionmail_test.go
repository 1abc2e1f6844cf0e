package app_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// mailedMentions counts, per member, the comments on request id whose
// outbox item (what the notifier reads) mails them a mention.
func (w *world) mailedMentions(id string) map[string]int {
	w.t.Helper()
	out := map[string]int{}
	for _, e := range entriesOf(w.outboxActions(), "change_request.commented") {
		if e.ChangeRequest != id {
			continue
		}
		for _, m := range e.Mentions {
			if !slices.Contains(e.MentionsNotMailed, m) {
				out[m]++
			}
		}
	}
	return out
}

// A member gets at most MaxMentionMailsPerHour mention mails per request in
// any rolling hour: the mention beyond still succeeds and shows in the
// timeline, but its outbox item leaves them out; other members and other
// requests keep their own count; an hour after the oldest mail, mail
// resumes. On every store.
func TestMentionMailsArePerMemberPerRequestPerHour(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		id := w.propose(w.requester, 20).ID
		other := w.propose(w.requester, 30).ID
		start := w.clock.Now()
		commenters := []*app.Principal{w.alice, w.viewer, w.carol}
		for i := range domain.MaxMentionMailsPerHour {
			ev, err := w.svc.Comment(w.ctx, commenters[i%len(commenters)], id, fmt.Sprintf("@m_bob look %d", i))
			if err != nil || len(ev.MentionsNotMailed) != 0 || !slices.Equal(ev.Mentions, []string{"m_bob"}) {
				t.Fatalf("mention %d: %v %+v", i+1, err, ev)
			}
			w.clock.Advance(10 * time.Minute)
		}
		// the next one within the hour: recorded, not mailed to bob; carol,
		// mentioned for the first time, is mailed
		ev, err := w.svc.Comment(w.ctx, w.viewer, id, "@m_bob and @carol@example.com, once more")
		if err != nil {
			t.Fatalf("the comment over the mail cap is refused: %v", err)
		}
		if !slices.Equal(ev.Mentions, []string{"m_bob", "m_carol"}) || !slices.Equal(ev.MentionsNotMailed, []string{"m_bob"}) {
			t.Fatalf("over the cap: mentions %v, not mailed %v", ev.Mentions, ev.MentionsNotMailed)
		}
		cr, err := w.store.GetChangeRequest(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := cr.Timeline[len(cr.Timeline)-1]
		if last.Type != "commented" || !slices.Equal(last.Mentions, []string{"m_bob", "m_carol"}) || !slices.Equal(last.MentionsNotMailed, []string{"m_bob"}) {
			t.Fatalf("the timeline keeps the mention: %+v", last)
		}
		if got := w.mailedMentions(id); got["m_bob"] != domain.MaxMentionMailsPerHour || got["m_carol"] != 1 {
			t.Fatalf("mention mails within the hour: %v", got)
		}
		// another request has its own count
		if ev, err := w.svc.Comment(w.ctx, w.alice, other, "@m_bob here too"); err != nil || len(ev.MentionsNotMailed) != 0 {
			t.Fatalf("another request: %v %+v", err, ev)
		}

		// an hour after the first mail, one mail is free again (rolling: the
		// second and third still count)
		w.clock.Set(start.Add(domain.MentionMailWindow))
		if ev, err := w.svc.Comment(w.ctx, w.alice, id, "@m_bob an hour on"); err != nil || len(ev.MentionsNotMailed) != 0 {
			t.Fatalf("an hour after the first: %v %+v", err, ev)
		}
		w.clock.Advance(time.Minute)
		if ev, err := w.svc.Comment(w.ctx, w.alice, id, "@m_bob and again"); err != nil || !slices.Equal(ev.MentionsNotMailed, []string{"m_bob"}) {
			t.Fatalf("the rolling hour holds three again: %v %+v", err, ev)
		}
		if got := w.mailedMentions(id); got["m_bob"] != domain.MaxMentionMailsPerHour+1 {
			t.Fatalf("mention mails after the hour: %v", got)
		}
	})
}

// Concurrent comments that all mention one member mail them at most
// MaxMentionMailsPerHour times: the count is read and written in the
// comment's own transaction, so two comments cannot both take the last
// mail. On every store.
func TestConcurrentMentionsRespectTheMailCap(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		id := w.propose(w.requester, 20).ID
		var who []*app.Principal
		for i := range 8 {
			who = append(who, w.member(fmt.Sprintf("fan%d", i), domain.RoleViewer))
		}
		errs := make([]error, len(who))
		var wg sync.WaitGroup
		for i, p := range who {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = w.svc.Comment(w.ctx, p, id, "@m_bob please look")
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("comment %d: %v", i, err)
			}
		}
		cr, err := w.store.GetChangeRequest(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		comments, mailed := 0, 0
		for _, e := range cr.Timeline {
			if e.Type == "commented" {
				comments++
				if slices.Contains(e.Mentions, "m_bob") && !slices.Contains(e.MentionsNotMailed, "m_bob") {
					mailed++
				}
			}
		}
		if comments != len(who) || mailed != domain.MaxMentionMailsPerHour {
			t.Fatalf("%d comments in the timeline (want %d), %d mail bob (want %d)", comments, len(who), mailed, domain.MaxMentionMailsPerHour)
		}
		if got := w.mailedMentions(id); got["m_bob"] != domain.MaxMentionMailsPerHour {
			t.Fatalf("outbox: %v", got)
		}
	})
}
