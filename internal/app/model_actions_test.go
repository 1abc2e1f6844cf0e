package app_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"pgregory.net/rapid"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The steps of the model test: each draws its inputs, makes the call on
// the service, compares the answer with the model's prediction and moves
// the model on. The checks after each step are in model_check_test.go.

func (m *model) actions() map[string]func(*rapid.T) {
	// a key per draw: the likelier steps have several
	return map[string]func(*rapid.T){
		"propose":  m.propose, // a gated production write (direct with approvals off)
		"create":   m.create,  // POST /v1/change-requests, maybe scheduled
		"edit":     m.edit,
		"review":   m.reviewStep,
		"review 2": m.reviewStep,
		"review 3": m.reviewStep,
		"comment":  m.comment,
		"comments": m.comments, // a burst, up to the per-member cap and beyond
		"apply":    m.applyStep,
		"apply 2":  m.applyStep,
		"withdraw": m.withdraw,
		"settings": m.changeSettings,
		"switch":   m.switchApprovals,
		"advance":  m.advance,
		"sweep":    m.sweepStep,
		"sweep 2":  m.sweepStep,
		"":         m.check,
	}
}

// begin resets what the last step did.
func (m *model) begin() {
	m.refused, m.conflictOn, m.swept = false, "", false
	m.steps++
}

// answer compares a call's answer with the prediction.
func (m *model) answer(t *rapid.T, kind, what string, w *want, err error) {
	t.Helper()
	m.refused = err != nil
	m.stats.add(kind + ": " + w.String())
	if !w.matches(err) {
		t.Fatalf("%s: want %s, got %v", what, w, err)
	}
	t.Logf("step %d: %s → %s", m.steps, what, w)
}

func (m *model) liveConfig(t *rapid.T) *domain.FlagConfig {
	_, c, err := m.w.store.GetFlagConfig(m.w.ctx, "shop", "checkout", "production")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (m *model) propose(t *rapid.T) {
	m.begin()
	p := m.drawActor(t, "actor")
	pct := float64(rapid.IntRange(0, 100).Draw(t, "rollout"))
	want, direct := m.wantPropose(p, pct)
	out, err := m.w.svc.ChangeFlagConfig(m.w.ctx, p, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(pct))
	m.answer(t, "propose", fmt.Sprintf("%s writes production rollout %v %%", actorName(p), pct), want, err)
	if err != nil {
		return
	}
	if direct {
		if out.Applied == nil || out.Request != nil {
			t.Fatalf("with approvals off the write applies directly: %+v", out)
		}
		m.live++
		m.rollout = pct
		m.direct++
		if out.Applied.Version != m.live {
			t.Fatalf("the direct write made version %d, want %d", out.Applied.Version, m.live)
		}
		return
	}
	if out.Request == nil || out.Applied != nil {
		t.Fatalf("a gated write opens a request: %+v", out)
	}
	r := m.open(out.Request.ID, p, pct, nil)
	t.Logf("  opened %s under %s", r, r.policy)
}

func (m *model) create(t *rapid.T) {
	m.begin()
	p := m.drawActor(t, "actor")
	pct := float64(rapid.IntRange(0, 100).Draw(t, "rollout"))
	var applyAt *time.Time
	if rapid.Bool().Draw(t, "scheduled") {
		applyAt = atTime(m.now.Add(time.Duration(rapid.IntRange(1, 72).Draw(t, "apply_at_hours")) * time.Hour))
	}
	cfg := *m.liveConfig(t)
	cfg.Enabled = true
	cfg.DefaultRule.Rollout = pct
	want := m.wantCreate(p, pct, applyAt)
	v, err := m.w.svc.CreateRequest(m.w.ctx, p, app.RequestInput{Project: "shop", Flag: "checkout", Environment: "production",
		Title: "model", ProposedConfig: &cfg, ApplyAt: applyAt})
	what := fmt.Sprintf("%s requests rollout %v %%", actorName(p), pct)
	if applyAt != nil {
		what += " at " + m.clockText(*applyAt)
	}
	m.answer(t, "create", what, want, err)
	if err != nil {
		return
	}
	r := m.open(v.ID, p, pct, applyAt)
	t.Logf("  opened %s under %s", r, r.policy)
}

func (m *model) edit(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := r.requester // half the time; anyone the other half
	if rapid.Bool().Draw(t, "anyone edits") {
		p = m.drawActor(t, "actor")
	}
	var in app.EditInput
	var pct *float64
	what := fmt.Sprintf("%s edits %s", actorName(p), r)
	if rapid.Bool().Draw(t, "edit_proposal") {
		v := float64(rapid.IntRange(0, 100).Draw(t, "rollout"))
		pct = &v
		cur, err := m.w.store.GetChangeRequest(m.w.ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		cfg := *cur.Changes[0].ProposedConfig
		cfg.DefaultRule.Rollout = v
		in.ProposedConfig = &cfg
		what += fmt.Sprintf(": rollout %v %%", v)
	} else {
		title := fmt.Sprintf("title %d", m.steps)
		in.Title = &title
		what += ": title"
	}
	if rapid.IntRange(0, 3).Draw(t, "reschedule") == 3 { // a quarter of the edits
		in.ApplyAt = atTime(m.now.Add(time.Duration(rapid.IntRange(1, 72).Draw(t, "new apply_at_hours")) * time.Hour))
		what += ", apply at " + m.clockText(*in.ApplyAt)
	}
	want := m.wantEdit(r, p)
	_, err := m.w.svc.EditRequest(m.w.ctx, p, r.id, nil, in)
	m.answer(t, "edit", what, want, err)
	if err == nil {
		if in.ApplyAt != nil && r.expiresAt != nil && !in.ApplyAt.Before(*r.expiresAt) {
			m.stats.add("edit: rescheduled at or after its expiry (accepted)")
		}
		m.editRequest(r, p, pct, in.ApplyAt)
	}
}

func (m *model) reviewStep(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := m.drawActor(t, "actor")
	d := rapid.SampledFrom([]domain.Decision{domain.DecisionApprove, domain.DecisionReject}).Draw(t, "decision")
	want := m.wantReview(r, p)
	_, err := m.w.svc.Review(m.w.ctx, p, r.id, d, "looks "+string(d), app.ChannelAPI)
	m.answer(t, "review", fmt.Sprintf("%s %ss %s", actorName(p), d, r), want, err)
	if err != nil {
		return
	}
	if !m.review(r, p, d) || !r.applyPending {
		return
	}
	// approved, and it applies with the approving review (on_approval, or
	// its schedule has come): onto the base it was made against only
	if r.base == m.live {
		m.apply(r, p.Actor())
		m.stats.add("review applied it")
		t.Logf("  applied: live version %d", m.live)
		return
	}
	m.stats.add("review approved it, base moved")
	m.conflictOn = r.id // the review stands; the refused apply is in the timeline, and the timers retry it
	t.Logf("  approved, but the base moved (%d, live %d)", r.base, m.live)
}

func (m *model) comment(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := m.drawActor(t, "actor")
	want := m.wantComment(r, p)
	_, err := m.w.svc.Comment(m.w.ctx, p, r.id, "a thought")
	m.answer(t, "comment", fmt.Sprintf("%s comments on %s", actorName(p), r), want, err)
	if err == nil {
		r.comments[p.Actor()]++
		r.totalComment++
	}
}

// comments posts a burst of comments by one actor, each checked as it
// comes: past the caps each is refused and changes nothing, while the
// request's transitions keep working (the steps that follow).
func (m *model) comments(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := m.drawActor(t, "actor")
	n := rapid.IntRange(1, domain.MaxCommentsPerMember+5).Draw(t, "comments")
	for i := range n {
		want := m.wantComment(r, p)
		var before *domain.ChangeRequest
		if want != nil {
			before = m.readRequest(t, r)
		}
		_, err := m.w.svc.Comment(m.w.ctx, p, r.id, fmt.Sprintf("thought %d", i))
		m.answer(t, "comment", fmt.Sprintf("%s comments on %s (%d of %d)", actorName(p), r, i+1, n), want, err)
		if err == nil {
			r.comments[p.Actor()]++
			r.totalComment++
			continue
		}
		if after := m.readRequest(t, r); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused comment changed %s:\nwas %+v\nnow %+v", r, before, after)
		}
	}
	m.refused = false // some went through: the checks after the step compare with the model
}

func (m *model) readRequest(t *rapid.T, r *mRequest) *domain.ChangeRequest {
	cr, err := m.w.store.GetChangeRequest(m.w.ctx, r.id)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func (m *model) applyStep(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := m.drawActor(t, "actor")
	want, baseMoved, retry := m.wantApply(r, p)
	_, err := m.w.svc.Apply(m.w.ctx, p, r.id)
	m.answer(t, "apply", fmt.Sprintf("%s applies %s", actorName(p), r), want, err)
	switch {
	case err != nil && baseMoved:
		m.conflictOn = r.id
		var de *domain.Error
		if !errors.As(err, &de) || de.CurrentVersion != m.live {
			t.Fatalf("a refused apply names the live version %d: %v", m.live, err)
		}
	case err != nil, retry:
	default:
		m.apply(r, p.Actor())
		t.Logf("  applied: live version %d", m.live)
	}
}

func (m *model) withdraw(t *rapid.T) {
	r := m.drawRequest(t)
	m.begin()
	p := m.drawActor(t, "actor")
	want := m.wantWithdraw(r, p)
	_, err := m.w.svc.Withdraw(m.w.ctx, p, r.id)
	m.answer(t, "withdraw", fmt.Sprintf("%s withdraws %s", actorName(p), r), want, err)
	if err == nil {
		r.status = domain.StatusWithdrawn
		r.applyPending = false
	}
}

func (m *model) changeSettings(t *rapid.T) {
	m.begin()
	p := m.drawManager(t)
	next := mPolicy{
		min:                rapid.IntRange(1, 3).Draw(t, "min_approvals"),
		self:               rapid.Bool().Draw(t, "allow_self_approval"),
		blocks:             rapid.Bool().Draw(t, "rejection_blocks_apply"),
		auto:               rapid.SampledFrom([]string{domain.AutoApproveNever, domain.AutoApprove24h}).Draw(t, "auto_approve_after"),
		expire:             rapid.SampledFrom([]string{"", "48h"}).Draw(t, "expire_after"),
		onApproval:         rapid.Bool().Draw(t, "apply_on_approval"),
		unapprovedDeletion: rapid.Bool().Draw(t, "allow_unapproved_schedule_deletion"),
		lock:               rapid.IntRange(0, 3).Draw(t, "lock_while_pending") == 3,
	}
	if rapid.IntRange(0, 3).Draw(t, "designated reviewers") == 3 {
		for _, id := range []string{"m_rita", "m_alice", "m_bob", "m_carol"} {
			if rapid.Bool().Draw(t, "designate "+id) {
				next.designated = append(next.designated, id)
			}
		}
		if next.designated == nil {
			next.designated = []string{"m_bob"}
		}
	}
	cur, err := m.w.store.GetApprovalSettings(m.w.ctx, "shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	in := *cur
	in.MinApprovals, in.AllowSelfApproval, in.RejectionBlocksApply = next.min, next.self, next.blocks
	in.AutoApproveAfter, in.ExpireAfter, in.AllowUnapprovedScheduleDeletion = next.auto, next.expire, next.unapprovedDeletion
	in.Apply = domain.ApplyManual
	if next.onApproval {
		in.Apply = domain.ApplyOnApproval
	}
	in.LockWhilePending = next.lock
	in.Reviewers, in.DesignatedReviewers = domain.ReviewersPeer, []string{}
	if next.designated != nil {
		in.Reviewers, in.DesignatedReviewers = domain.ReviewersDesignated, slices.Clone(next.designated)
	}
	want := wantManager(p, "changing approval settings")
	if len(domain.WeakenedFields(cur, &in)) > 0 && want == nil {
		// settings that weaken open a governance request (governance_test.go);
		// the model arranges them as its manager would once another admin
		// approved
		_, err = m.w.store.UpdateApprovalSettings(m.w.ctx, "shop", "production", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
			v := a.Version
			*a = in
			a.Version = v
			return nil
		})
	} else {
		_, err = m.w.svc.UpdateApprovalSettings(m.w.ctx, p, "shop", "production", nil, &in)
	}
	m.answer(t, "settings", fmt.Sprintf("%s sets production to %s", actorName(p), next), want, err)
	if err == nil {
		m.settings = next
	}
}

func (m *model) switchApprovals(t *rapid.T) {
	m.begin()
	p := m.drawManager(t)
	on := rapid.Bool().Draw(t, "approvals")
	want := wantManager(p, "changing settings")
	var err error
	if m.approvals && !on && want == nil {
		// turning approvals off opens a governance request
		// (governance_test.go); the model arranges it as if a second admin
		// approved
		_, err = m.w.store.UpdateOrgSettings(m.w.ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = false; return nil })
	} else {
		_, err = m.w.svc.UpdateOrgSettings(m.w.ctx, p, nil, app.OrgSettingsInput{Approvals: on})
	}
	m.answer(t, "switch", fmt.Sprintf("%s turns approvals %s", actorName(p), map[bool]string{true: "on", false: "off"}[on]), want, err)
	if err == nil {
		m.approvals = on
	}
}

func (m *model) advance(t *rapid.T) {
	m.begin()
	m.stats.add("advance")
	h := rapid.IntRange(1, 30).Draw(t, "hours")
	m.w.clock.Advance(time.Duration(h) * time.Hour)
	m.now = m.now.Add(time.Duration(h) * time.Hour)
	t.Logf("step %d: the clock moves %dh to %s", m.steps, h, m.clockText(m.now))
}

func (m *model) sweepStep(t *rapid.T) {
	m.begin()
	m.swept = true
	rep, err := m.w.svc.Sweep(m.w.ctx)
	if err != nil || len(rep.Failed) > 0 {
		t.Fatalf("sweep at %s: %v %v", m.clockText(m.now), err, rep.Failed)
	}
	live := m.live
	did := m.sweep()
	cands := did.tries
	m.stats.add("sweep")
	m.stats.addN("sweep auto-approved", len(did.autoApproved))
	m.stats.addN("sweep expired", len(did.expired))
	// Of the requests the sweep tries to apply, the first it reaches whose
	// base is the live version applies; every other is refused, and drops
	// its schedule.
	var winner *sweepCandidate
	for i, c := range cands {
		cr, err := m.w.store.GetChangeRequest(m.w.ctx, c.r.id)
		if err != nil {
			t.Fatal(err)
		}
		if cr.Status != domain.StatusApplied {
			continue
		}
		if winner != nil {
			t.Fatalf("one sweep applied both %s and %s onto live version %d", winner.r, c.r, live)
		}
		if c.r.base != live {
			t.Fatalf("the sweep applied %s made against version %d onto live version %d", c.r, c.r.base, live)
		}
		winner = &cands[i]
	}
	var applied, conflicts []string
	for _, c := range cands {
		if c.r.base == live && winner == nil {
			t.Fatalf("the sweep applied none of its due requests, though %s was made against the live version %d", c.r, live)
		}
		if winner != nil && c.r == winner.r {
			m.apply(c.r, c.actor)
			applied = append(applied, c.r.id)
			m.stats.add("sweep applied by " + c.actor)
		} else {
			c.r.scheduleFailed()
			conflicts = append(conflicts, c.r.id)
			m.stats.add("sweep apply refused, schedule dropped")
		}
	}
	// the report says the same
	same := func(a, b []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}
	if !same(rep.Expired, did.expired) || !same(rep.AutoApproved, did.autoApproved) || !same(rep.Applied, applied) || !same(rep.Conflicts, conflicts) {
		t.Fatalf("the sweep's report %+v; the model: expired %v, auto-approved %v, applied %v, conflicts %v", rep, did.expired, did.autoApproved, applied, conflicts)
	}
	t.Logf("step %d: sweep at %s: auto-approved %d, expired %d, applied %d, conflicts %d, no-ops %d",
		m.steps, m.clockText(m.now), len(rep.AutoApproved), len(rep.Expired), len(rep.Applied), len(rep.Conflicts), len(rep.NoOps))
}

// clockText is a time as hours since the world's start (logs read better).
func (m *model) clockText(at time.Time) string {
	return fmt.Sprintf("t0+%dh", int(at.Sub(t0).Hours()))
}
