package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Comments cannot freeze a request: they are capped per member, per
// request and in length, and every transition still goes through with the
// comments at their limits, on every store.
func TestCommentsCannotFreezeARequest(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(s *domain.ApprovalSettings) { s.ExpireAfter = "48h" })
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Request == nil {
			t.Fatalf("opening: %v %+v", err, out)
		}
		id := out.Request.ID
		// one member: at most MaxCommentsPerMember
		for i := range domain.MaxCommentsPerMember {
			w.must(w.svc.Comment(w.ctx, w.viewer, id, fmt.Sprintf("comment %d", i)))
		}
		if _, err := w.svc.Comment(w.ctx, w.viewer, id, "one more"); !errors.Is(err, domain.ErrYourComments) {
			t.Fatalf("comment %d by one member: %v", domain.MaxCommentsPerMember+1, err)
		}
		// long comments from others fill the request's room for text
		long := strings.Repeat("x", domain.MaxCommentLength)
		var full error
		for _, who := range []*app.Principal{w.alice, w.bob, w.carol, w.admin} {
			for range domain.MaxCommentsPerMember {
				if _, full = w.svc.Comment(w.ctx, who, id, long); full != nil {
					break
				}
			}
			if full != nil {
				break
			}
		}
		if !errors.Is(full, domain.ErrCommentsTooLong) {
			t.Fatalf("long comments: %v, want %v", full, domain.ErrCommentsTooLong)
		}
		// the transitions all still work: a review, an edit, a withdrawal,
		// and on a second full request the expiry sweep
		w.must(w.svc.Review(w.ctx, w.alice, id, domain.DecisionReject, "not like this", app.ChannelAPI))
		title := "edited after the comments"
		w.must(w.svc.EditRequest(w.ctx, w.requester, id, nil, app.EditInput{Title: &title}))
		w.must(w.svc.Review(w.ctx, w.bob, id, domain.DecisionApprove, "fine now", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.requester, id))
		if got := w.status(id); got != domain.StatusApplied {
			t.Fatalf("after apply: %s", got)
		}

		out, err = w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(40))
		if err != nil || out.Request == nil {
			t.Fatalf("opening the second: %v %+v", err, out)
		}
		for _, who := range []*app.Principal{w.viewer, w.alice, w.bob, w.carol, w.admin} {
			for range domain.MaxCommentsPerMember {
				if _, err := w.svc.Comment(w.ctx, who, out.Request.ID, "short"); err != nil {
					break
				}
			}
		}
		if _, err := w.svc.Comment(w.ctx, w.requester, out.Request.ID, "mine"); !errors.Is(err, domain.ErrTooManyComments) {
			t.Fatalf("comment %d: %v", domain.MaxComments+1, err)
		}
		w.clock.Advance(49 * time.Hour)
		w.sweep()
		if got := w.status(out.Request.ID); got != domain.StatusExpired {
			t.Fatalf("the full request after its deadline and a sweep: %s", got)
		}
	})
}

// A comment mentions at most MaxMentions members: each mention is an
// e-mail.
func TestMentionsAreCapped(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Request == nil {
			t.Fatalf("opening: %v %+v", err, out)
		}
		var many []string
		for i := range app.MaxMentions + 1 {
			p := w.member(fmt.Sprintf("extra%d", i), domain.RoleViewer)
			many = append(many, "@"+p.MemberID)
		}
		_, err = w.svc.Comment(w.ctx, w.viewer, out.Request.ID, "look "+strings.Join(many, " "))
		wantCode(t, err, domain.CodeInvalid)
		ev, err := w.svc.Comment(w.ctx, w.viewer, out.Request.ID, "look "+strings.Join(many[:app.MaxMentions], " ")+" "+many[0])
		if err != nil || len(ev.Mentions) != app.MaxMentions {
			t.Fatalf("%d mentions: %v %v", app.MaxMentions, err, ev)
		}
	})
}
