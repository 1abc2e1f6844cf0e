package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Break-glass with review after (issue 16, docs/governance-design.md part
// 5). Every bypass (a member's or token's grant, with its reason; audit
// action bypass) opens a change request in review_after that holds the
// bypassed change, written in the same atomic write as the change
// (domain.ConfigWrite.Opens and the like): a bypass never commits without
// its review after. Another member who may review it under the policy of
// the environments it bypassed (never the one who bypassed, nor the member
// behind their token) acknowledges it (Acknowledge), within the shortest
// review_after_bypass of those environments; past that, a sweep marks it
// overdue once (audited, mailed, counted in metrics.BypassReviewOverdue)
// and it stays open for the acknowledgement.
//
// A write through api_token_bypass (a service token where the settings
// let tokens skip approval, without a grant or a reason) opens none: CI
// pipelines would flood the reviewers, and turning that setting on is
// itself a governed change (the design's open questions).

// actorReviewAfter is the timer that marks a review after overdue.
var actorReviewAfter = domain.Actor{System: "review-after"}

// reviewAfter is the review after p's bypass of change (its base the state
// before, its proposal the state written, at live version version) in the
// environments of gates, for reason, passing freeze if any: the request
// and the audit entry of its opening, to be written with the change. Its
// policy is the strictest of the gates' (self-approval never), its
// deadline the shortest review_after_bypass among them.
func (s *Service) reviewAfter(p *Principal, project string, change domain.Change, gates []gate, reason, freeze string, version int64, diff *domain.Diff) (*domain.ChangeRequest, domain.AuditEntry, error) {
	now := s.clock.Now()
	cr := &domain.ChangeRequest{Project: project, Changes: []domain.Change{change}}
	s.start(p, cr, ChangeOptions{}, now)
	cr.Title = "Review after bypass: " + defaultTitle(cr)
	cr.Description = "Applied by a bypass, for: " + reason
	var ps []domain.Policy
	for _, g := range gates {
		ps = append(ps, domain.PolicyOf(g.settings))
	}
	cr.Policy = domain.Strictest(ps)
	cr.Policy.AllowSelfApproval = false
	window := time.Duration(0)
	for _, g := range gates {
		if d := g.settings.ReviewAfterBypassDuration(); window == 0 || d < window {
			window = d
		}
	}
	if window == 0 {
		window = (&domain.ApprovalSettings{}).ReviewAfterBypassDuration()
	}
	t, err := cr.OpenReviewAfter(p.actorIn(project), reason, freeze, now.Add(window), version, p.channel(), now)
	if err != nil {
		return nil, domain.AuditEntry{}, err
	}
	e := s.entryOf(cr, t, p.channel())
	e.Requester, e.Reason, e.Freeze, e.Diff, e.Version = cr.Requester, reason, freeze, diff, version
	return cr, e, nil
}

// opensReview reports whether a direct write audited as e (its action
// final) opens a review after: a bypass by grant, not api_token_bypass.
func opensReview(e *domain.AuditEntry) bool { return e.Action == domain.ActionBypass }

// bypassGates are the gates a bypass passed: those it skipped approval in
// (how is a bypass), and those a freeze held (freeze set), each
// environment once.
func bypassGates(how domain.AuditAction, skipped []gate, freeze string, frozen []gate) []gate {
	var out []gate
	add := func(gs []gate) {
		for _, g := range gs {
			if !slices.ContainsFunc(out, func(o gate) bool { return o.env == g.env }) {
				out = append(out, g)
			}
		}
	}
	if how == domain.ActionBypass {
		add(skipped)
	}
	if freeze != "" {
		add(frozen)
	}
	return out
}

// bypassDiff is what a review after's change changed: its proposal (the
// state written) against its base (the state before). A segment change
// keeps no base (its keys can be many): its diff is the opening audit
// entry's.
func bypassDiff(ch *domain.Change) (*domain.Diff, error) {
	switch {
	case ch.Kind == domain.KindTargeting && ch.BaseConfig != nil:
		return domain.ConfigDiff(ch.BaseConfig, ch.ProposedConfig)
	case ch.Kind == domain.KindFlag && ch.BaseFlag != nil:
		return domain.FlagDiff(ch.BaseFlag, ch.ProposedFlag)
	}
	return &domain.Diff{Operations: []byte("[]"), Summary: []string{}}, nil
}

// Acknowledge records that p reviewed, after the fact, the bypass request
// id holds (review_after): p may review it under its policy and is not
// who bypassed; comment is required. The request is then applied.
func (s *Service) Acknowledge(ctx context.Context, p *Principal, id, comment, channel string) (*RequestView, error) {
	return s.acknowledge(ctx, p, id, comment, channel, nil)
}

// acknowledge is Acknowledge, with check (an e-mail link's, links.go)
// deciding first, in the same write, when set.
func (s *Service) acknowledge(ctx context.Context, p *Principal, id, comment, channel string, check func(*domain.ChangeRequest) error) (*RequestView, error) {
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if check != nil {
			if err := check(cr); err != nil {
				return err
			}
		}
		if !p.sees(cr) {
			return domain.NotFound("change request", id)
		}
		t, err := cr.Acknowledge(p.actorIn(cr.Project), comment, channel, s.clock.Now())
		if err != nil {
			return err
		}
		e := s.entryOf(cr, t, channel)
		e.Requester, e.Reason = cr.Requester, comment
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "bypass acknowledged", "id", id, "project", cr.Project, "actor", p.Actor())
	return s.view(ctx, cr)
}

// markOverdue marks review after id overdue at now, once, audited (the
// notifier mails the reviewers, the bypasser and the project's admins).
func (s *Service) markOverdue(ctx context.Context, id string, now time.Time) ([]string, error) {
	_, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		t, err := cr.MarkOverdue(now)
		if err != nil {
			return errNoop
		}
		e := s.entryOf(cr, t, ChannelSystem)
		e.Actor = actorReviewAfter.String()
		e.Requester, e.Freeze = cr.Requester, cr.Bypass.Freeze
		e.Reason = fmt.Sprintf("the bypass (%s) was not acknowledged by %s", cr.Bypass.Reason, cr.Bypass.ReviewDueAt.UTC().Format(time.RFC3339))
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{"overdue"}, nil
}
