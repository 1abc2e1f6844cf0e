package app_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
)

// fzSettings writes env's approval settings straight to the store (the
// freezes' tests are not about how settings change).
func (w *world) fzSettings(env string, change func(*domain.ApprovalSettings)) {
	w.t.Helper()
	if _, err := w.store.UpdateApprovalSettings(w.ctx, "shop", env, func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		change(a)
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
}

// freeze creates a one-off freeze of shop's envs from..to, as the manager
// carol.
func (w *world) freeze(name string, from, to time.Time, scheduled domain.FreezeSchedule, envs ...string) *domain.Freeze {
	w.t.Helper()
	f, err := w.svc.CreateFreeze(w.ctx, w.carol, app.FreezeInput{Name: name, Project: "shop", Environments: envs, From: &from, To: &to, Scheduled: scheduled})
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// scheduled opens a production rollout to pct applying at at, approved by
// alice.
func (w *world) scheduled(pct float64, at time.Time) *app.RequestView {
	w.t.Helper()
	cfg := *w.live()
	cfg.DefaultRule.Rollout = pct
	v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production", ProposedConfig: &cfg, ApplyAt: &at})
	if err != nil {
		w.t.Fatal(err)
	}
	w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
	return v
}

func (w *world) request(id string) *app.RequestView {
	w.t.Helper()
	v, err := w.svc.GetRequest(w.ctx, w.admin, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// wantFrozen checks err is the frozen problem naming freeze f.
func wantFrozen(t *testing.T, err error, f *domain.Freeze) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeFrozen || de.Freeze == nil || de.Freeze.ID != f.ID || de.Freeze.Name != f.Name ||
		!strings.Contains(de.Message, f.ID) || !strings.Contains(de.Message, f.Name) {
		t.Fatalf("want the frozen problem naming %s (%s), got %v", f.ID, f.Name, err)
	}
	return de
}

func TestFreezesAreWrittenByManagersAndAudited(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		from, to := now.Add(time.Hour), now.Add(3*time.Hour)
		// editors do not write freezes; managers of the project do
		_, err := w.svc.CreateFreeze(w.ctx, w.alice, app.FreezeInput{Name: "x", Project: "shop", From: &from, To: &to})
		wantCode(t, err, domain.CodeForbidden)
		f := w.freeze("Release", from, to, "", "production")
		if !strings.HasPrefix(f.ID, "fz_") || f.Scheduled != domain.FreezeHold || f.Version != 1 || f.CreatedBy != "member:m_carol" {
			t.Fatalf("created: %+v", f)
		}
		// a freeze of every project is the organisation managers'
		every, err := w.svc.CreateFreeze(w.ctx, w.carol, app.FreezeInput{Name: "Weekends", Start: "0 16 * * fri", End: "0 8 * * mon", TimeZone: "Europe/Berlin", Scheduled: domain.FreezeFail})
		if err != nil {
			t.Fatal(err)
		}
		// what is wrong is named by its pointer
		_, err = w.svc.CreateFreeze(w.ctx, w.carol, app.FreezeInput{Name: "bad", Project: "shop", Start: "0 16 * * fri", End: "nonsense", TimeZone: "Mars/Base", Scheduled: "later"})
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
			t.Fatalf("want invalid, got %v", err)
		}
		var pointers []string
		for _, fe := range de.Fields {
			pointers = append(pointers, fe.Pointer)
		}
		for _, p := range []string{"/end", "/time_zone", "/scheduled"} {
			if !slices.Contains(pointers, p) {
				t.Errorf("the problem does not name %s: %v", p, de.Fields)
			}
		}
		_, err = w.svc.CreateFreeze(w.ctx, w.admin, app.FreezeInput{Name: "x", Project: "nowhere", From: &from, To: &to})
		wantCode(t, err, domain.CodeInvalid) // an admin (a role everywhere) is told /project names none
		// lists: by project, environment and instant
		list := func(f app.FreezeFilter) []string {
			t.Helper()
			fs, err := w.svc.ListFreezes(w.ctx, w.viewer, f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, x := range fs {
				ids = append(ids, x.ID)
			}
			return ids
		}
		in := now.Add(2 * time.Hour)
		if got := list(app.FreezeFilter{}); !slices.Equal(got, []string{f.ID, every.ID}) {
			t.Errorf("all: %v", got)
		}
		if got := list(app.FreezeFilter{Environment: "staging"}); !slices.Equal(got, []string{every.ID}) {
			t.Errorf("staging: %v", got)
		}
		if got := list(app.FreezeFilter{Project: "shop", ActiveAt: &in}); !slices.Contains(got, f.ID) {
			t.Errorf("in force in two hours: %v", got)
		}
		if got := list(app.FreezeFilter{ActiveAt: &now}); slices.Contains(got, f.ID) {
			t.Errorf("not in force now: %v", got)
		}
		// changed at the version read, deleted
		w.clock.Advance(time.Minute)
		stale := int64(7)
		_, err = w.svc.UpdateFreeze(w.ctx, w.carol, f.ID, &stale, func(f *domain.Freeze) error { f.Name = "y"; return nil })
		wantCode(t, err, domain.CodeConflict)
		one := int64(1)
		out, err := w.svc.UpdateFreeze(w.ctx, w.carol, f.ID, &one, func(f *domain.Freeze) error { f.Scheduled = domain.FreezeFail; return nil })
		if g := out.Applied; err != nil || g == nil || g.Version != 2 || g.Scheduled != domain.FreezeFail || g.CreatedBy != f.CreatedBy {
			t.Fatalf("updated: %+v %v", out, err)
		}
		_, err = w.svc.UpdateFreeze(w.ctx, w.alice, f.ID, nil, func(f *domain.Freeze) error { f.Name = "y"; return nil })
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.DeleteFreeze(w.ctx, w.alice, f.ID)
		wantCode(t, err, domain.CodeForbidden)
		w.clock.Advance(time.Minute)
		w.approvalsOff() // with approvals on, a deletion is a governance request (governance_freeze_test.go)
		if _, err := w.svc.DeleteFreeze(w.ctx, w.carol, f.ID); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.GetFreeze(w.ctx, w.carol, f.ID)
		wantCode(t, err, domain.CodeNotFound)
		var actions []domain.AuditAction
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{}, domain.Page{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Freeze == f.ID {
				actions = append(actions, e.Action)
			}
		}
		if want := []domain.AuditAction{domain.ActionFreezeDeleted, domain.ActionFreezeUpdated, domain.ActionFreezeCreated}; !slices.Equal(actions, want) {
			t.Errorf("audited %v, want %v", actions, want)
		}
	})
}

// A scheduled apply inside a freeze that holds: held at its time (the
// request stays approved, held_until the freeze's end), nothing due in
// the freeze, applied by the sweep at its end.
func TestFreezeHoldsAScheduledApply(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		f := w.freeze("Release", now.Add(9*time.Hour), now.Add(12*time.Hour), domain.FreezeHold, "production")
		v := w.scheduled(50, now.Add(10*time.Hour))
		w.clock.Advance(10 * time.Hour)
		r := w.sweep()
		if !slices.Equal(r.Held, []string{v.ID}) || len(r.Applied) != 0 {
			t.Fatalf("at its time, inside the freeze: %+v", r)
		}
		got := w.request(v.ID)
		if got.Status != domain.StatusApproved || got.HeldBy != f.ID || got.HeldUntil == nil || !got.HeldUntil.Equal(now.Add(12*time.Hour)) || w.live().DefaultRule.Rollout != 10 {
			t.Fatalf("held: %+v", got.ChangeRequest)
		}
		if last := got.Timeline[len(got.Timeline)-1]; last.Type != domain.EventHeld {
			t.Fatalf("the timeline ends with %s", last.Type)
		}
		if acts := w.auditActions(v.ID); !slices.ContainsFunc(acts, func(a string) bool { return strings.HasPrefix(a, "change_request.held") }) {
			t.Fatalf("not audited: %v", acts)
		}
		w.clock.Advance(time.Hour)
		if r := w.sweep(); r.Examined != 0 {
			t.Fatalf("nothing is due inside the freeze: %+v", r)
		}
		w.clock.Advance(time.Hour) // the freeze ends
		r = w.sweep()
		if !slices.Equal(r.Applied, []string{v.ID}) || w.live().DefaultRule.Rollout != 50 {
			t.Fatalf("at the freeze's end: %+v", r)
		}
		if got := w.request(v.ID); got.HeldUntil != nil || got.HeldBy != "" || got.Status != domain.StatusApplied {
			t.Fatalf("applied: %+v", got.ChangeRequest)
		}
	})
}

// A scheduled apply inside a freeze that fails: schedule_failed, naming
// the freeze; the schedule is dropped.
func TestFreezeFailsAScheduledApply(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		f := w.freeze("Quarter end", now.Add(9*time.Hour), now.Add(12*time.Hour), domain.FreezeFail, "production")
		v := w.scheduled(50, now.Add(10*time.Hour))
		w.clock.Advance(10 * time.Hour)
		r := w.sweep()
		if !slices.Equal(r.Conflicts, []string{v.ID}) || len(r.Held) != 0 {
			t.Fatalf("inside the freeze: %+v", r)
		}
		got := w.request(v.ID)
		last := got.Timeline[len(got.Timeline)-1]
		if last.Type != domain.EventScheduleFailed || !strings.Contains(last.Comment, f.ID) || !strings.Contains(last.Comment, f.Name) ||
			got.ApplyAt != nil || got.HeldUntil != nil || w.live().DefaultRule.Rollout != 10 {
			t.Fatalf("failed: %+v", got.ChangeRequest)
		}
		w.clock.Advance(3 * time.Hour)
		if r := w.sweep(); r.Examined != 0 || w.live().DefaultRule.Rollout != 10 {
			t.Fatalf("a failed schedule never applies: %+v", r)
		}
	})
}

// Opening a request works in a freeze; an approval that would apply holds
// the request instead; a manual apply is refused naming the freeze.
func TestFreezeHoldsApprovedRequests(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		f := w.freeze("Incident", now, now.Add(2*time.Hour), domain.FreezeFail, "production")
		// manual apply: refused
		manual := w.propose(w.requester, 30)
		w.must(w.svc.Review(w.ctx, w.alice, manual.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		_, err := w.svc.Apply(w.ctx, w.alice, manual.ID)
		de := wantFrozen(t, err, f)
		if !de.Freeze.Until.Equal(now.Add(2 * time.Hour)) {
			t.Fatalf("until %s", de.Freeze.Until)
		}
		w.must(w.svc.Withdraw(w.ctx, w.requester, manual.ID))
		// on approval: held (whatever the freeze says of scheduled applies)
		w.fzSettings("production", func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval })
		cr := w.propose(w.requester, 40)
		v, err := w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != domain.StatusApproved || v.HeldBy != f.ID || v.HeldUntil == nil || w.live().DefaultRule.Rollout != 10 {
			t.Fatalf("held on approval: %+v", v.ChangeRequest)
		}
		w.clock.Advance(2 * time.Hour)
		if r := w.sweep(); !slices.Equal(r.Applied, []string{cr.ID}) || w.live().DefaultRule.Rollout != 40 {
			t.Fatalf("at the freeze's end: %+v", r)
		}
	})
}

// Direct writes in a frozen environment are refused naming the freeze,
// gated or not; a holder of the bypass grant with a reason passes,
// audited with the freeze, and the environment's reviewers are mailed.
func TestFreezeRefusesDirectWrites(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		f := w.freeze("Staging freeze", now, now.Add(2*time.Hour), domain.FreezeHold, "staging")
		// staging needs no approval: still refused
		_, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(70))
		wantFrozen(t, err, f)
		// development is not frozen
		if _, err := w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "development", nil, app.ChangeOptions{}, rollout(70)); err != nil {
			t.Fatal(err)
		}
		// a flag change that shows in staging is refused; one that shows nowhere applies
		// (production needs no approval for a moment: the change would be a request there)
		var required domain.Required
		w.fzSettings("production", func(a *domain.ApprovalSettings) { required, a.Required = a.Required, domain.RequiredOff })
		_, err = w.svc.ChangeFlag(w.ctx, w.alice, "shop", "checkout", nil, app.ChangeOptions{}, func(fl *domain.Flag) error { fl.BucketingSalt = "a-brand-new-salt"; return nil })
		wantFrozen(t, err, f)
		if _, err := w.svc.ChangeFlag(w.ctx, w.alice, "shop", "checkout", nil, app.ChangeOptions{}, func(fl *domain.Flag) error { fl.Description = "labels"; return nil }); err != nil {
			t.Fatal(err)
		}
		w.fzSettings("production", func(a *domain.ApprovalSettings) { a.Required = required })
		// a reason without the grant does not pass
		w.fzSettings("staging", func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m_bob"}} })
		_, err = w.svc.ChangeFlagConfig(w.ctx, w.alice, "shop", "checkout", "staging", nil, app.ChangeOptions{BypassReason: "please"}, rollout(70))
		wantCode(t, err, domain.CodeForbidden)
		// the grant without a reason does not either
		_, err = w.svc.ChangeFlagConfig(w.ctx, w.bob, "shop", "checkout", "staging", nil, app.ChangeOptions{}, rollout(70))
		wantFrozen(t, err, f)
		// the grant with a reason does
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.bob, "shop", "checkout", "staging", nil, app.ChangeOptions{BypassReason: "INC-7 hotfix"}, rollout(70))
		if err != nil || out.Applied == nil || out.Applied.DefaultRule.Rollout != 70 {
			t.Fatalf("bypass: %+v %v", out, err)
		}
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Actor: "member:m_bob"}, domain.Page{})
		entries = withoutReviewAfter(entries) // the bypass opened its review after (breakglass_test.go)
		if err != nil || len(entries) != 1 || entries[0].Action != domain.ActionBypass || entries[0].Freeze != f.ID || entries[0].Reason != "INC-7 hotfix" || entries[0].Environment != "staging" {
			t.Fatalf("the bypass must be audited with its freeze: %+v %v", entries, err)
		}
		// the notifier mails staging's reviewers (editors and above, but not bob)
		reviewers, err := w.svc.FreezeBypassReviewers(w.ctx, &entries[0])
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(reviewers)
		if want := []string{"m_admin", "m_alice", "m_carol", "m_rita"}; !slices.Equal(reviewers, want) {
			t.Fatalf("reviewers %v, want %v", reviewers, want)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		mails := catcher.New("cs@example.com", w.clock.Now)
		n := notify.New(w.store, w.svc, mails, eventbus.NewLogPublisher(log, 100), w.clock, log, "cs@example.com", "http://cs.test")
		if _, _, err := n.Drain(w.ctx); err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range mails.Mails() {
			if strings.HasPrefix(m.Subject, "Freeze bypassed") {
				if !strings.Contains(m.Text, f.ID) || !strings.Contains(m.Text, "INC-7 hotfix") {
					t.Errorf("the mail does not say what happened:\n%s", m.Text)
				}
				to = append(to, m.To...)
			}
		}
		slices.Sort(to)
		if want := []string{"admin@example.com", "alice@example.com", "carol@example.com", "rita@example.com"}; !slices.Equal(to, want) {
			t.Fatalf("mailed %v, want %v", to, want)
		}
		// a service token's api_token_bypass does not pass a freeze
		w.fzSettings("production", func(a *domain.ApprovalSettings) { a.APITokenBypass = true })
		g := w.freeze("Production freeze", now, now.Add(time.Hour), domain.FreezeHold, "production")
		_, err = w.svc.ChangeFlagConfig(w.ctx, w.service, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(90))
		wantFrozen(t, err, g)
		// and a gated write still opens its request, which waits
		if cr := w.propose(w.requester, 60); cr.Status != domain.StatusPending {
			t.Fatalf("request: %+v", cr.ChangeRequest)
		}
	})
}

// A recurring freeze across a daylight-saving change in Europe/Berlin: a
// daily freeze from 01:00 to 04:00 wall time lasts 2 hours on the night
// clocks go forward and 4 on the night they go back; a scheduled apply at
// 01:30 holds until 04:00 local, then applies.
func TestRecurringFreezeAcrossDaylightSaving(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		// the next two changes of Berlin's offset after the clock's now (one
		// forward, one back, whatever the epoch)
		at := w.clock.Now().Truncate(time.Hour)
		for i := range 2 {
			_, before := at.In(berlin).Zone()
			for {
				at = at.Add(time.Hour)
				if _, off := at.In(berlin).Zone(); off != before {
					break
				}
			}
			_, after := at.In(berlin).Zone()
			y, m, d := at.In(berlin).Date()
			start, end := time.Date(y, m, d, 1, 0, 0, 0, berlin), time.Date(y, m, d, 4, 0, 0, 0, berlin)
			if want := 3*time.Hour - time.Duration(after-before)*time.Second; end.Sub(start) != want {
				t.Fatalf("the window on the change day lasts %s, want %s", end.Sub(start), want)
			}
			w.clock.Set(start.Add(-24 * time.Hour))
			if i == 0 {
				if _, err := w.svc.CreateFreeze(w.ctx, w.carol, app.FreezeInput{Name: "Nightly", Project: "shop", Environments: []string{"production"},
					Start: "0 1 * * *", End: "0 4 * * *", TimeZone: "Europe/Berlin"}); err != nil {
					t.Fatal(err)
				}
			}
			pct := float64(50 + 10*i)
			v := w.scheduled(pct, start.Add(30*time.Minute))
			w.clock.Set(start.Add(30 * time.Minute))
			if r := w.sweep(); !slices.Equal(r.Held, []string{v.ID}) {
				t.Fatalf("inside the window of %s: %+v", start, r)
			}
			if got := w.request(v.ID); got.HeldUntil == nil || !got.HeldUntil.Equal(end) {
				t.Fatalf("held until %v, want %s (%s long)", got.HeldUntil, end, end.Sub(start))
			}
			w.clock.Set(end.Add(-time.Minute))
			if r := w.sweep(); r.Examined != 0 {
				t.Fatalf("a minute before the end: %+v", r)
			}
			w.clock.Set(end)
			if r := w.sweep(); !slices.Equal(r.Applied, []string{v.ID}) || w.live().DefaultRule.Rollout != pct {
				t.Fatalf("at the end (%s): %+v", end, r)
			}
		}
	})
}
