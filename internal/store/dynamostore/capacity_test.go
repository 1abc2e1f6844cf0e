package dynamostore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

// lifecycleCapacityBound is a sane ceiling for one change request's whole
// lifecycle (create, two reviews, apply, each with its audit entry).
// DynamoDB Local reports 111 units for it: it charges a transactional write
// 4 units per KB of item, and as much again for each index the item is in
// (the request is in GSI1, an audit entry in GSI2), where AWS documents 2
// units per KB. The bound leaves about a third of headroom: writing the
// request item once more in every step would cross it.
const lifecycleCapacityBound = 150

// One change request's lifecycle through the store, as the application runs
// it, and the DynamoDB capacity units each step consumed.
func TestLifecycleCapacity(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	at := clocktest.At(0, 12, 0, 0)
	must(t, s.CreateProject(ctx, &domain.Project{Key: "shop", Name: "Shop", CreatedAt: at, UpdatedAt: at}, domain.DefaultEnvironments()))
	f := &domain.Flag{
		Project: "shop", Key: "checkout", Name: "New checkout", Description: "The one-page checkout", Tags: []string{"checkout", "payments"},
		BucketingUnit: "user_id", BucketingSalt: "k3v9x2qa", EvaluationMode: domain.EvaluationRemote, CreatedAt: at, UpdatedAt: at,
		Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "off", Value: json.RawMessage(`false`)}},
	}
	must(t, s.CreateFlag(ctx, f, nil))
	live, err := s.UpdateFlagConfig(ctx, "shop", "checkout", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.DefaultRule = domain.Allocation{Rollout: 10, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
		return nil
	})
	must(t, err)

	proposed := *live
	proposed.Rules = []domain.Rule{{
		Name:       "employees",
		Conditions: []domain.Condition{{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}}},
		Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}},
	}}
	proposed.DefaultRule = domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
	diff, err := domain.ConfigDiff(live, &proposed)
	must(t, err)
	requester := domain.Actor{MemberID: "m_ada", Role: domain.RoleEditor}
	cr := &domain.ChangeRequest{
		ID: "cr_0123456789", Project: "shop", Flag: "checkout", Environment: "production", Kind: domain.KindTargeting,
		Title: "Roll the new checkout out to half of production", Description: "Employees first, then 50%.",
		Changes: []domain.Change{{Kind: domain.KindTargeting, Flag: "checkout", Environment: "production", ProposedConfig: &proposed, BaseVersion: live.Version}}, Requester: requester.String(), RequesterMember: requester.MemberID,
		NotifyReviewers: []string{"m_bob", "m_cy"}, Status: domain.StatusPending, Revision: 1,
		Policy: domain.Policy{MinApprovals: 2, RejectionBlocksApply: true, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual,
			AutoApproveAfter: domain.AutoApproveNever, DesignatedReviewers: []string{}, Environments: []string{"production"}},
		Reviews: []domain.Review{}, Timeline: []domain.TimelineEvent{}, CreatedAt: at, UpdatedAt: at,
	}
	must(t, cr.AddEvent(domain.TimelineEvent{Type: "created", Actor: requester.String(), Channel: "api", At: at}))
	entry := func(n int, actor string, action domain.AuditAction) domain.AuditEntry {
		return domain.AuditEntry{ID: fmt.Sprintf("a_%010d", n), At: at.Add(time.Duration(n) * time.Minute), Actor: actor, Action: action,
			Channel: "api", Project: "shop", Flag: "checkout", Environment: "production", ChangeRequest: cr.ID}
	}

	var steps []string
	var sum float64
	step := func(name string, run func() error) {
		t.Helper()
		s.ResetConsumedCapacity()
		must(t, run())
		units := s.ConsumedCapacity()
		sum += units
		steps = append(steps, fmt.Sprintf("%s %.1f", name, units))
		t.Logf("%-9s %5.1f capacity units", name, units)
		if units <= 0 {
			t.Errorf("%s: DynamoDB reported no consumed capacity", name)
		}
	}

	step("create", func() error {
		e := entry(0, requester.String(), "change_request.created")
		e.Requester, e.Diff = cr.Requester, diff
		return s.CreateChangeRequest(ctx, cr, true, []domain.AuditEntry{e})
	})
	for i, reviewer := range []string{"m_bob", "m_cy"} {
		step(fmt.Sprintf("review %d", i+1), func() error {
			_, err := s.UpdateChangeRequest(ctx, cr.ID, func(cr *domain.ChangeRequest, a *domain.RequestWrite) error {
				actor := domain.Actor{MemberID: reviewer, Role: domain.RoleEditor}
				if _, err := cr.Review(actor, domain.DecisionApprove, "Looks good to me.", "api", at.Add(time.Duration(i+1)*time.Minute)); err != nil {
					return err
				}
				e := entry(i+1, actor.String(), "change_request.approved")
				e.Reason = "Looks good to me."
				a.Record(e)
				return nil
			})
			return err
		})
	}
	applier := domain.Actor{MemberID: "m_bob", Role: domain.RoleEditor}
	step("apply", func() error {
		_, err := s.ApplyChangeRequest(ctx, cr.ID, func(cr *domain.ChangeRequest, l *domain.Live, a *domain.ApplyWrite) error {
			if cr.Status == domain.StatusApplied {
				return nil
			}
			c := l.Configs[cr.Changes[0].Target()]
			if err := cr.CheckApply(applier, at.Add(3*time.Minute)); err != nil {
				return err
			}
			next := *cr.Changes[0].ProposedConfig
			next.Version = c.Version
			d, err := domain.ConfigDiff(c, &next)
			if err != nil {
				return err
			}
			e := entry(3, applier.String(), "change_request.applied")
			e.Requester, e.Diff, e.Version = cr.Requester, d, c.Version+1
			e.Approvers = []string{"member:m_bob", "member:m_cy"}
			a.Record(e)
			*c = next
			a.Applied, a.ReleaseLocks, a.Configs = true, cr.LockTargets(), []*domain.FlagConfig{c}
			return only(cr.MarkApplied(applier, c.Version+1, "api", at.Add(3*time.Minute)))
		})
		return err
	})
	t.Logf("lifecycle: %.1f capacity units in all (%v)", sum, steps)

	// The lifecycle really ran: applied, live, audited, unlocked.
	got, err := s.GetChangeRequest(ctx, cr.ID)
	must(t, err)
	_, c, err := s.GetFlagConfig(ctx, "shop", "checkout", "production")
	must(t, err)
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "shop"}, domain.Page{})
	must(t, err)
	holder, err := s.PendingLock(ctx, "shop", "checkout", "production")
	must(t, err)
	if got.Status != domain.StatusApplied || got.Version != 4 || c.Version != 2 || len(c.Rules) != 1 || len(entries) != 4 || holder != "" {
		t.Fatalf("after the lifecycle: request %s v%d, config v%d with %d rules, %d audit entries, lock %q",
			got.Status, got.Version, c.Version, len(c.Rules), len(entries), holder)
	}
	if sum <= 0 || sum >= lifecycleCapacityBound {
		t.Fatalf("the lifecycle consumed %.1f capacity units; want more than 0 and less than %d", sum, lifecycleCapacityBound)
	}
}
