package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// holdWrites is a store that, while armed, holds every flag and config
// write at the store: after the service decided (on its reads of the
// settings) that the change applies directly, before the write. So a test
// can switch approval on while writes are in flight, between their
// decisions and their writes, every time.
type holdWrites struct {
	domain.Store
	mu      sync.Mutex
	release chan struct{} // nil while disarmed
	arrived chan struct{}
}

func (h *holdWrites) arm(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release, h.arrived = make(chan struct{}), make(chan struct{}, n)
}

// waitFor waits until n held writes arrived.
func (h *holdWrites) waitFor(t *testing.T, n int) {
	t.Helper()
	h.mu.Lock()
	arrived := h.arrived
	h.mu.Unlock()
	for i := range n {
		select {
		case <-arrived:
		case <-time.After(2 * time.Minute):
			t.Fatalf("%d of %d writes reached the store", i, n)
		}
	}
}

// letGo disarms and lets the held writes through.
func (h *holdWrites) letGo() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release != nil {
		close(h.release)
		h.release = nil
	}
}

func (h *holdWrites) hold() {
	h.mu.Lock()
	release, arrived := h.release, h.arrived
	h.mu.Unlock()
	if release != nil {
		arrived <- struct{}{}
		<-release
	}
}

func (h *holdWrites) UpdateFlagConfig(ctx context.Context, project, flag, env string, fn func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error) (*domain.FlagConfig, error) {
	h.hold()
	return h.Store.UpdateFlagConfig(ctx, project, flag, env, fn)
}

func (h *holdWrites) UpdateFlag(ctx context.Context, project, key string, fn func(*domain.Flag, []domain.FlagConfig, *domain.Audit) error) (*domain.Flag, error) {
	h.hold()
	return h.Store.UpdateFlag(ctx, project, key, fn)
}

func (h *holdWrites) WriteFlag(ctx context.Context, project, key string, fn func(*domain.Flag, []domain.FlagConfig, *domain.FlagWrite) error) (*domain.Flag, error) {
	h.hold()
	return h.Store.WriteFlag(ctx, project, key, fn)
}

// Writes in flight must not slip past approval being switched on (issue 14,
// item 7). Direct production writes are decided while production requires
// no approval, and held at the store until approval is switched on: by the
// organisation switch, by production's approval settings, or by protecting
// production while its settings were never written. Each writer decided
// before the switch and writes after it, so none may apply: each write is
// refused by the store (its settings guard names settings that changed) and
// decided again, and becomes a change request. Targeting writes
// (ChangeFlagConfig) and flag-level writes (ChangeFlag, a new bucketing
// salt) alike, on every store.
func TestWritesInFlightDoNotSlipPastApprovalSwitchedOn(t *testing.T) {
	const writers = 8
	switches := []struct {
		name string
		// before leaves production requiring no approval; on makes it
		// require approval.
		before, on func(w *world)
	}{
		{
			"organisation switch",
			func(w *world) {
				w.approvalsOff()
			},
			func(w *world) {
				w.must(w.svc.UpdateOrgSettings(w.ctx, w.admin, nil, app.OrgSettingsInput{Approvals: true}))
			},
		},
		{
			"environment settings",
			func(w *world) { w.settings(func(a *domain.ApprovalSettings) { a.Required = domain.RequiredOff }) },
			func(w *world) { w.settings(func(a *domain.ApprovalSettings) { a.Required = domain.RequiredAll }) },
		},
		{
			"environment protection",
			func(w *world) { w.protect(false) },
			func(w *world) { w.protect(true) },
		},
	}
	writes := []struct {
		name  string
		write func(w *world, p *app.Principal, i int) (applied bool, request *app.RequestView, err error)
		// unchanged says whether production is as before the writes
		unchanged func(w *world) error
	}{
		{
			"targeting",
			func(w *world, p *app.Principal, i int) (bool, *app.RequestView, error) {
				out, err := w.svc.ChangeFlagConfig(w.ctx, p, "shop", "checkout", "production", nil, app.ChangeOptions{}, rollout(float64(20+i)))
				return out.Applied != nil, out.Request, err
			},
			func(w *world) error {
				if c := w.live(); c.DefaultRule.Rollout != 10 || c.Version != 1 {
					return fmt.Errorf("production targeting is at %v %% (version %d), want 10 %% (version 1)", c.DefaultRule.Rollout, c.Version)
				}
				return nil
			},
		},
		{
			"flag",
			func(w *world, p *app.Principal, i int) (bool, *app.RequestView, error) {
				out, err := w.svc.ChangeFlag(w.ctx, p, "shop", "checkout", nil, app.ChangeOptions{}, func(f *domain.Flag) error {
					f.BucketingSalt = fmt.Sprintf("salt%02d", i)
					return nil
				})
				return out.Applied != nil, out.Request, err
			},
			func(w *world) error {
				f, err := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout")
				if err != nil {
					return err
				}
				if f.Version != 1 {
					return fmt.Errorf("the flag is at version %d (salt %q), want 1", f.Version, f.BucketingSalt)
				}
				return nil
			},
		},
	}
	for name, factory := range storeFactories {
		for _, sw := range switches {
			for _, wr := range writes {
				t.Run(name+"/"+wr.name+"/"+sw.name, func(t *testing.T) {
					t.Parallel()
					h := &holdWrites{Store: factory(t)}
					w := newWorld(t, h)
					sw.before(w)
					editors := []*app.Principal{w.requester, w.alice, w.bob}

					h.arm(writers)
					type result struct {
						applied bool
						request *app.RequestView
						err     error
					}
					results := make([]result, writers)
					var wg sync.WaitGroup
					for i := range writers {
						wg.Go(func() {
							applied, request, err := wr.write(w, editors[i%len(editors)], i)
							results[i] = result{applied, request, err}
						})
					}
					h.waitFor(t, writers) // every writer decided: apply directly
					sw.on(w)              // approval is on from here
					h.letGo()
					wg.Wait()

					slipped := 0
					for i, r := range results {
						switch {
						case r.err != nil:
							t.Errorf("writer %d: %v", i, r.err)
						case r.applied:
							slipped++
						case r.request == nil || r.request.Status != domain.StatusPending:
							t.Errorf("writer %d: neither applied nor a pending request: %+v", i, r.request)
						}
					}
					if slipped > 0 {
						t.Fatalf("%d of %d direct writes decided before approval was switched on committed after the switch", slipped, writers)
					}
					if err := wr.unchanged(w); err != nil {
						t.Fatal(err)
					}
					// No direct write is in the audit log: every entry of a
					// writer is its request's.
					entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop", Flag: "checkout"}, domain.Page{Limit: domain.MaxPageLimit})
					if err != nil {
						t.Fatal(err)
					}
					requests := 0
					for _, e := range entries {
						switch e.Action {
						case "targeting.updated", "flag.updated":
							if e.Actor != w.admin.Actor() {
								t.Errorf("a direct write after approval was switched on: %+v", e)
							}
						case "change_request.created":
							requests++
						}
					}
					if requests != writers {
						t.Errorf("%d change requests in the audit log, want %d", requests, writers)
					}
				})
			}
		}
	}
}

// protect sets production's protection (its approval settings were never
// written, so their defaults follow it).
//
// Protecting goes through the service (it strengthens the rules);
// unprotecting is arranged through the store (the service opens a
// governance request for it while approvals are on).
func (w *world) protect(on bool) {
	w.t.Helper()
	if !on {
		w.must(w.store.UpdateEnvironment(w.ctx, "shop", "production", func(e *domain.Environment, _ *domain.Audit) error {
			e.Protected = false
			return nil
		}))
		return
	}
	out, err := w.svc.UpdateEnvironment(w.ctx, w.carol, "shop", "production", nil, func(e *domain.Environment) error {
		e.Protected = on
		return nil
	})
	if err != nil || out.Applied == nil {
		w.t.Fatalf("protecting production: %+v %v", out, err)
	}
}
