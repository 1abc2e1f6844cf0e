package app_test

import (
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/store/dynamostore"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// With DynamoDB Local (make test), every test of this package also runs on
// the DynamoDB store.
func init() {
	if dynamotest.Endpoint() != "" || dynamotest.Required() {
		storeFactories["dynamodb"] = func(t *testing.T) domain.Store { return dynamotest.NewStore(t) }
	}
}

// lifecycle runs one whole change request through the service: a gated
// write opens it, two reviews approve it (quorum 2), an editor applies it.
// It returns the DynamoDB capacity units each step consumed.
func lifecycle(t testing.TB, w *world, ds *dynamostore.Store, pct float64) map[string]float64 {
	steps := map[string]float64{}
	measure := func(name string, fn func() error) {
		ds.ResetConsumedCapacity()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		steps[name] = ds.ConsumedCapacity()
	}
	var id string
	measure("create (gated PUT → request)", func() error {
		out, err := w.svc.ChangeFlagConfig(w.ctx, w.requester, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(pct))
		if err == nil {
			id = out.Request.ID
		}
		return err
	})
	measure("review 1", func() error {
		_, err := w.svc.Review(w.ctx, w.alice, id, domain.DecisionApprove, "ok", app.ChannelAPI)
		return err
	})
	measure("review 2", func() error {
		_, err := w.svc.Review(w.ctx, w.bob, id, domain.DecisionApprove, "ok", app.ChannelAPI)
		return err
	})
	measure("apply", func() error {
		_, err := w.svc.Apply(w.ctx, w.carol, id)
		return err
	})
	return steps
}

// The capacity one lifecycle costs through the service (reads for gating,
// diffs and responses included), as DynamoDB Local reports it with
// ReturnConsumedCapacity. docs/change-requests.md quotes this test's output.
func TestLifecycleCapacityThroughService(t *testing.T) {
	ds := dynamotest.NewStore(t)
	w := newWorld(t, ds)
	w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
	steps := lifecycle(t, w, ds, 50)
	total := 0.0
	for _, name := range []string{"create (gated PUT → request)", "review 1", "review 2", "apply"} {
		t.Logf("capacity %-30s %6.1f units", name, steps[name])
		if steps[name] <= 0 {
			t.Errorf("%s consumed no capacity: the counter is not wired", name)
		}
		total += steps[name]
	}
	t.Logf("capacity %-30s %6.1f units", "whole lifecycle", total)
	if total > 400 {
		t.Fatalf("one lifecycle consumed %.1f units; something reads or writes far more than it should", total)
	}
}

// go test -run '^$' -bench LifecycleCapacity ./internal/app/ (with DynamoDB Local)
func BenchmarkLifecycleCapacity(b *testing.B) {
	ds := dynamotest.NewStore(b)
	w := newWorld(b, ds)
	w.settings(func(a *domain.ApprovalSettings) { a.MinApprovals = 2 })
	total := 0.0
	for i := 0; b.Loop(); i++ {
		for _, v := range lifecycle(b, w, ds, float64(11+i%80)) {
			total += v
		}
	}
	b.ReportMetric(total/float64(b.N), "capacity-units/lifecycle")
}
