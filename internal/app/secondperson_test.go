package app_test

import (
	"errors"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A change needs a second person: paths around that rule stay closed.

// Editing an approved scheduled change undoes its approval; the requester
// alone may not, as they may not delete it: an edit followed by a
// withdrawal would cancel it without anyone else.
func TestEditOfApprovedScheduleNeedsASecondPerson(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		at := t0.Add(10 * time.Hour)
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 50
		v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		// pending: the requester edits freely
		title := "fifty at ten"
		w.must(w.svc.EditRequest(w.ctx, w.requester, v.ID, nil, app.EditInput{Title: &title}))
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		// approved and scheduled: neither an edit nor a withdrawal by the requester
		title = "just the title"
		_, err = w.svc.EditRequest(w.ctx, w.requester, v.ID, nil, app.EditInput{Title: &title})
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Withdraw(w.ctx, w.requester, v.ID)
		wantCode(t, err, domain.CodeForbidden)
		if got := w.status(v.ID); got != domain.StatusApproved {
			t.Fatalf("after the refused edit: %s", got)
		}
		// an admin may edit (a second person); the schedule then needs approval again
		w.must(w.svc.EditRequest(w.ctx, w.admin, v.ID, nil, app.EditInput{Title: &title}))
		if got := w.status(v.ID); got != domain.StatusPending {
			t.Fatalf("after the admin's edit: %s", got)
		}
		// the setting that lets the requester delete a schedule lets them edit it
		w.settings(func(s *domain.ApprovalSettings) { s.AllowUnapprovedScheduleDeletion = true })
		cfg.DefaultRule.Rollout = 60
		v2, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		w.must(w.svc.Review(w.ctx, w.alice, v2.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.EditRequest(w.ctx, w.requester, v2.ID, nil, app.EditInput{Title: &title}))
	})
}

// An admin who opens a request through a service token they created is
// its requester as far as reviewing goes.
func TestServiceTokenCreatorCannotApproveItsRequest(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		created, err := w.svc.CreateToken(w.ctx, w.admin, app.TokenInput{Name: "deploy bot", Role: domain.RoleEditor, Service: true})
		if err != nil {
			t.Fatal(err)
		}
		bot, err := w.svc.Authenticate(w.ctx, created.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if bot.MemberID != "" || bot.Behind != w.admin.MemberID {
			t.Fatalf("the service token's principal: %+v", bot)
		}
		out, err := w.svc.ChangeFlagConfig(w.ctx, bot, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(30))
		if err != nil || out.Request == nil {
			t.Fatalf("the bot's production change: %v %+v", err, out)
		}
		id := out.Request.ID
		_, err = w.svc.Review(w.ctx, w.admin, id, domain.DecisionApprove, "mine, via the bot", app.ChannelAPI)
		if !errors.Is(err, domain.ErrSelfReview) {
			t.Fatalf("the token's creator approving: %v, want %v", err, domain.ErrSelfReview)
		}
		// anyone else reviews as usual
		w.must(w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "ok", app.ChannelAPI))
		if got := w.status(id); got != domain.StatusApproved {
			t.Fatalf("after alice: %s", got)
		}
	})
}

// Archiving stops serving a flag: where production serves it and needs
// approval, archiving is a change request, and so is restoring it; the
// approved request archives it when applied.
func TestArchivingAServedFlagIsAChangeRequest(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		out, err := w.svc.ArchiveFlag(w.ctx, w.requester, "shop", "checkout")
		if err != nil || out.Request == nil || out.Applied != nil {
			t.Fatalf("archiving a flag production serves: %v %+v", err, out)
		}
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); f.Archived {
			t.Fatal("archived without approval")
		}
		id := out.Request.ID
		w.must(w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "retire it", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.requester, id))
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); !f.Archived {
			t.Fatal("the applied request did not archive the flag")
		}
		// restoring it would serve production again: a request too
		back, err := w.svc.ChangeFlag(w.ctx, w.requester, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
			f.Archived = false
			return nil
		})
		if err != nil || back.Request == nil {
			t.Fatalf("restoring a flag production would serve: %v %+v", err, back)
		}
		// a flag no gated environment serves archives at once
		w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "idle", Name: "Idle",
			Variants: []domain.Variant{{Key: "on", Value: []byte(`true`)}}}))
		idle, err := w.svc.ArchiveFlag(w.ctx, w.requester, "shop", "idle")
		if err != nil || idle.Applied == nil || !idle.Applied.Archived {
			t.Fatalf("archiving an idle flag: %v %+v", err, idle)
		}
	})
}

// A pending request's lock holds only while approval is required: with
// approvals switched off organisation-wide, writes apply.
func TestLockWhilePendingEndsWithApprovals(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.settings(func(s *domain.ApprovalSettings) { s.LockWhilePending = true })
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(20))
		if err != nil || out.Request == nil {
			t.Fatalf("the locking request: %v %+v", err, out)
		}
		w.approvalsOff()
		direct, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(30))
		if err != nil || direct.Applied == nil || direct.Applied.DefaultRule.Rollout != 30 {
			t.Fatalf("a write with approvals off: %v %+v", err, direct)
		}
	})
}
