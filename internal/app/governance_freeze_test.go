package app_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// changeFreeze changes freeze id as p: the outcome.
func (w *world) changeFreeze(p *app.Principal, id string, change func(*domain.Freeze)) app.Outcome[domain.Freeze] {
	w.t.Helper()
	out, err := w.svc.UpdateFreeze(w.ctx, p, id, nil, func(f *domain.Freeze) error { change(f); return nil })
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) freezeNow(id string) *domain.Freeze {
	w.t.Helper()
	f, err := w.svc.GetFreeze(w.ctx, w.admin, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// freezeMove is a change of a freeze: which of the walk's freezes it
// changes (oneOff, recurring or every: a freeze of every project), and how.
type freezeMove struct {
	freeze string
	move   func(*domain.Freeze)
}

// Through the service, with approvals on: every narrowing of a freeze's
// fields (and its deletion) opens a governance request and leaves the
// freeze as it was; every widening, and a change of what freezes nothing
// (its name, its reason), applies at once. Every field a client writes is
// walked: a new field of domain.Freeze fails until it is (the domain's
// TestEveryFreezeFieldHasADirection decides its direction).
func TestFreezeGovernanceFieldWalk(t *testing.T) {
	at := func(f *domain.Freeze, h time.Duration) *time.Time {
		t := f.From.Add(h)
		return &t
	}
	narrowings := map[string][]freezeMove{
		"Project":      {{"every", func(f *domain.Freeze) { f.Project = "shop" }}},
		"Environments": {{"oneOff", func(f *domain.Freeze) { f.Environments = []string{"production"} }}},
		"From":         {{"oneOff", func(f *domain.Freeze) { f.From = at(f, time.Hour) }}},
		"To":           {{"oneOff", func(f *domain.Freeze) { f.To = at(f, 3*time.Hour) }}},
		"Scheduled":    {{"oneOff", func(f *domain.Freeze) { f.Scheduled = domain.FreezeHold }}},
		"Start":        {{"recurring", func(f *domain.Freeze) { f.Start = "0 18 * * *" }}},
		"End":          {{"recurring", func(f *domain.Freeze) { f.End = "0 6 * * *" }}},
		"TimeZone":     {{"recurring", func(f *domain.Freeze) { f.TimeZone = "UTC" }}},
	}
	widenings := map[string][]freezeMove{
		"Project":      {{"oneOff", func(f *domain.Freeze) { f.Project = "" }}},
		"Environments": {{"recurring", func(f *domain.Freeze) { f.Environments = []string{"production", "staging", "development"} }}},
		"From":         {{"oneOff", func(f *domain.Freeze) { f.From = at(f, -time.Minute) }}},
		"To":           {{"oneOff", func(f *domain.Freeze) { f.To = at(f, 9*time.Hour) }}},
		"Scheduled":    {{"recurring", func(f *domain.Freeze) { f.Scheduled = domain.FreezeFail }}},
		"Start":        {{"recurring", func(f *domain.Freeze) { f.Start = "0 14 * * *" }}},
		"End":          {{"recurring", func(f *domain.Freeze) { f.End = "0 10 * * *" }}},
		"Name":         {{"recurring", func(f *domain.Freeze) { f.Name = "Nights" }}},
		"Reason":       {{"oneOff", func(f *domain.Freeze) { f.Reason = "quarter end" }}},
	}
	// written by the service, never by a client (keepFreezeIdentity); a
	// zone (TimeZone) moves windows, it never only widens them
	unwalked := map[string]string{"ID": "identity", "Version": "bookkeeping", "CreatedBy": "bookkeeping", "CreatedAt": "bookkeeping",
		"UpdatedAt": "bookkeeping"}
	for i := range reflect.TypeFor[domain.Freeze]().NumField() {
		name := reflect.TypeFor[domain.Freeze]().Field(i).Name
		_, narrows := narrowings[name]
		_, widens := widenings[name]
		if _, ok := unwalked[name]; !ok && !narrows && !widens {
			t.Errorf("Freeze.%s is not walked: add how it narrows and widens", name)
		}
	}
	onEveryStore(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		fz := map[string]*domain.Freeze{
			"oneOff": w.freeze("Release", now.Add(time.Hour), now.Add(5*time.Hour), domain.FreezeFail, "production", "staging"),
		}
		for key, in := range map[string]app.FreezeInput{
			"recurring": {Name: "Nightly", Project: "shop", Environments: []string{"production"}, Start: "0 16 * * *", End: "0 8 * * *", TimeZone: "Europe/Berlin"},
			"every":     {Name: "Everywhere", From: ptr(now.Add(time.Hour)), To: ptr(now.Add(2 * time.Hour))},
		} {
			f, err := w.svc.CreateFreeze(w.ctx, w.carol, in)
			if err != nil {
				t.Fatal(err)
			}
			fz[key] = f
		}
		for name, moves := range narrowings {
			for _, m := range moves {
				before := w.freezeNow(fz[m.freeze].ID)
				out := w.changeFreeze(w.carol, before.ID, m.move)
				if out.Request == nil || out.Applied != nil {
					t.Errorf("%s narrowed: applied directly", name)
					continue
				}
				if g := out.Request.Changes[0].Governance; out.Request.Kind != domain.KindGovernance || g.What != domain.GovernFreeze || g.Freeze != before.ID ||
					len(g.Weakens) == 0 || out.Request.Policy.Reviewers != domain.ReviewersAdmins {
					t.Errorf("%s narrowed: request %+v", name, out.Request.ChangeRequest)
				}
				if after := w.freezeNow(before.ID); after.Version != before.Version {
					t.Errorf("%s narrowed: the freeze changed before a second person approved", name)
				}
			}
		}
		del, err := w.svc.DeleteFreeze(w.ctx, w.carol, fz["oneOff"].ID)
		if err != nil || del.Request == nil || del.Request.Changes[0].Governance.NewFreeze != nil {
			t.Fatalf("deleting a freeze ahead: %+v %v", del, err)
		}
		w.freezeNow(fz["oneOff"].ID) // still there
		for name, moves := range widenings {
			for _, m := range moves {
				before := w.freezeNow(fz[m.freeze].ID)
				out := w.changeFreeze(w.carol, before.ID, m.move)
				if out.Applied == nil || out.Request != nil || out.Applied.Version != before.Version+1 {
					t.Errorf("%s widened: %+v", name, out)
				}
			}
		}
		// with approvals off, narrowing and deleting apply directly
		w.approvalsOff()
		if out := w.changeFreeze(w.carol, fz["recurring"].ID, narrowings["Start"][0].move); out.Applied == nil {
			t.Error("with approvals off a narrowing must apply")
		}
		if out, err := w.svc.DeleteFreeze(w.ctx, w.carol, fz["recurring"].ID); err != nil || out.Request != nil {
			t.Errorf("with approvals off a deletion must apply: %+v %v", out, err)
		}
	})
}

// A freeze's governance request is approved by an admin other than its
// requester (a manager cannot approve it), and applied by a manager of its
// project: the freeze is deleted, or changed as proposed, in the same
// write as the request, audited naming the request. A freeze that ended
// is deleted directly.
func TestFreezeGovernanceRequestLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		ada := w.secondAdmin()
		now := w.clock.Now()
		f := w.freeze("Release", now.Add(time.Hour), now.Add(5*time.Hour), domain.FreezeHold, "production", "staging")

		del, err := w.svc.DeleteFreeze(w.ctx, w.carol, f.ID)
		if err != nil || del.Request == nil {
			t.Fatalf("deleting: %+v %v", del, err)
		}
		_, err = w.svc.Review(w.ctx, w.carol, del.Request.ID, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		w.must(w.svc.Review(w.ctx, w.admin, del.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.alice, del.Request.ID)
		wantCode(t, err, domain.CodeForbidden) // an editor does not write freezes
		if v, err := w.svc.Apply(w.ctx, w.carol, del.Request.ID); err != nil || v.Status != domain.StatusApplied {
			t.Fatalf("apply: %v", err)
		}
		_, err = w.svc.GetFreeze(w.ctx, w.admin, f.ID)
		wantCode(t, err, domain.CodeNotFound)
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{}, domain.Page{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e domain.AuditEntry) bool {
			return e.Action == domain.ActionFreezeDeleted && e.Freeze == f.ID && e.ChangeRequest == del.Request.ID
		}) {
			t.Fatal("no freeze.deleted entry naming the request")
		}

		// an admin's narrowing: another admin approves it
		g := w.freeze("Launch", now.Add(time.Hour), now.Add(5*time.Hour), domain.FreezeHold, "production", "staging")
		out := w.changeFreeze(w.admin, g.ID, func(f *domain.Freeze) { f.Environments = []string{"production"} })
		_, err = w.svc.Review(w.ctx, w.admin, out.Request.ID, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		w.must(w.svc.Review(w.ctx, ada, out.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.admin, out.Request.ID))
		if got := w.freezeNow(g.ID); !slices.Equal(got.Environments, []string{"production"}) || got.Version != g.Version+1 || got.CreatedBy != g.CreatedBy {
			t.Fatalf("applied: %+v", got)
		}

		// a freeze that ended freezes nothing: deleted directly
		w.clock.Advance(6 * time.Hour)
		if out, err := w.svc.DeleteFreeze(w.ctx, w.carol, g.ID); err != nil || out.Request != nil || out.Applied == nil {
			t.Fatalf("deleting a freeze that ended: %+v %v", out, err)
		}
	})
}

// A freeze changed after its governance request was opened refuses the
// apply (409), and the request says what moved since (its conflict names
// the fields): the freeze keeps the later change.
func TestFreezeGovernanceRequestOfAMovedFreeze(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.secondAdmin()
		now := w.clock.Now()
		f := w.freeze("Release", now.Add(time.Hour), now.Add(5*time.Hour), domain.FreezeHold, "production", "staging")
		out := w.changeFreeze(w.carol, f.ID, func(f *domain.Freeze) { f.Environments = []string{"production"} })
		later := f.To.Add(time.Hour)
		if widened := w.changeFreeze(w.carol, f.ID, func(f *domain.Freeze) { f.To = &later }); widened.Applied == nil {
			t.Fatal("a widening did not apply")
		}
		w.must(w.svc.Review(w.ctx, w.admin, out.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		v, err := w.svc.GetRequest(w.ctx, w.carol, out.Request.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c := v.ChangeViews[0].Conflict; !strings.Contains(c, "/to") {
			t.Errorf("the conflict does not say what moved: %q", c)
		}
		_, err = w.svc.Apply(w.ctx, w.carol, out.Request.ID)
		wantCode(t, err, domain.CodeConflict)
		if got := w.freezeNow(f.ID); len(got.Environments) != 2 || !got.To.Equal(later) {
			t.Fatalf("a refused apply changed the freeze: %+v", got)
		}
	})
}
