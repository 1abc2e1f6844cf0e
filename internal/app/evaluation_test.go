package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
	"github.com/countersign/countersign/internal/evaluate"
)

// Evaluation reads only applied configuration (issue 6): while a request to
// take production from 10 % to 100 % is pending, approved or even edited,
// users get 10 %; once it is applied, the next refresh serves 100 %.
func TestPendingRequestsNeverReachEvaluation(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		ev := evaluate.New(w.store, w.clock, time.Second)
		flag, err := w.store.GetFlag(w.ctx, "shop", "checkout")
		if err != nil {
			t.Fatal(err)
		}
		// served checks every user against the rollout: in when the
		// user's bucket is under rollout × 100
		served := func(stage string, rollout float64) {
			t.Helper()
			w.clock.Advance(2 * time.Second) // past the refresh interval
			rs, err := ev.Ruleset(w.ctx, "shop", "production")
			if err != nil {
				t.Fatal(err)
			}
			in := 0
			for i := range 500 {
				user := fmt.Sprintf("user-%d", i)
				r, err := rs.Flags["checkout"].Evaluate(&eval.Context{TargetingKey: user})
				if err != nil {
					t.Fatal(err)
				}
				if want := eval.Bucket(flag.BucketingSalt, user) < int(rollout*100); r.Off == want {
					t.Fatalf("%s: %s (bucket %d) got %+v; want the %v %% rollout", stage, user, eval.Bucket(flag.BucketingSalt, user), r, rollout)
				}
				if !r.Off {
					in++
				}
			}
			t.Logf("%s: %d of 500 users in", stage, in)
		}
		served("before", 10)
		cr := w.propose(w.requester, 100)
		served("pending", 10)
		cfg := *w.live()
		cfg.DefaultRule.Rollout = 90
		if _, err := w.svc.EditRequest(w.ctx, w.requester, cr.ID, nil, app.EditInput{ProposedConfig: &cfg}); err != nil {
			t.Fatal(err)
		}
		served("edited", 10)
		w.must(w.svc.Review(w.ctx, w.alice, cr.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		if got := w.status(cr.ID); got != domain.StatusApproved {
			t.Fatalf("want approved, got %s", got)
		}
		served("approved, not applied", 10)
		w.must(w.svc.Apply(w.ctx, w.bob, cr.ID))
		served("applied", 90)
	})
}
