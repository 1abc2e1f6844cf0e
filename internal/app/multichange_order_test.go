package app_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A request whose targeting change serves a variant that its own flag
// change removes is refused at apply, whichever order the changes come in,
// and writes nothing: every config is checked against the flag as the
// request leaves it.
func TestMultiChangeTargetingMustFitTheFlagItChanges(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.mcFlags("payments")
		serveControl := w.mcConfig("payments", "production")
		serveControl.Enabled = true
		serveControl.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "control", Weight: 1}}}
		f, err := w.svc.GetFlag(w.ctx, w.admin, "shop", "payments")
		if err != nil {
			t.Fatal(err)
		}
		dropControl := *f
		dropControl.Variants = f.Variants[:1] // "on" only
		v := w.mcOpen(
			app.ChangeInput{Flag: "payments", Environment: "production", ProposedConfig: serveControl},
			app.ChangeInput{Flag: "payments", ProposedFlag: &dropControl},
		)
		w.must(w.svc.Review(w.ctx, w.alice, v.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		before := w.mcConfig("payments", "production")
		_, err = w.svc.Apply(w.ctx, w.bob, v.ID)
		if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "does not fit the flag as this request changes it") {
			t.Fatalf("apply of a targeting change that serves a variant the request removes: %v", err)
		}
		if after := w.mcConfig("payments", "production"); after.Version != before.Version {
			t.Fatalf("the refused apply wrote production: v%d → v%d", before.Version, after.Version)
		}
		if g, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "payments"); len(g.Variants) != 2 {
			t.Fatalf("the refused apply wrote the flag: %+v", g.Variants)
		}
	})
}
