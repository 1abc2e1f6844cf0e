package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Helpers of multichange_test.go: a world with several flags, and readers
// of what a request with several changes did.

// mcFlags creates flags (variants on and control, as checkout has) in shop.
func (w *world) mcFlags(keys ...string) {
	w.t.Helper()
	for _, k := range keys {
		w.must(w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: k, Name: k,
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`false`)}}}))
	}
}

// mcSettings writes env's approval settings.
func (w *world) mcSettings(env string, change func(*domain.ApprovalSettings)) {
	w.t.Helper()
	w.settingsOf(env, change)
}

// mcGate makes env require approval for every flag.
func (w *world) mcGate(env string) {
	w.t.Helper()
	w.mcSettings(env, func(a *domain.ApprovalSettings) { a.Required = domain.RequiredAll })
}

// mcConfig reads flag's live config in env.
func (w *world) mcConfig(flag, env string) *domain.FlagConfig {
	w.t.Helper()
	c, err := w.svc.GetFlagConfig(w.ctx, w.admin, "shop", flag, env)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// mcFlag reads flag.
func (w *world) mcFlag(flag string) *domain.Flag {
	w.t.Helper()
	f, err := w.svc.GetFlag(w.ctx, w.admin, "shop", flag)
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// mcTargeting is the change of flag's targeting in env to a rollout of pct
// (of "on"), made on its live config.
func (w *world) mcTargeting(flag, env string, pct float64) app.ChangeInput {
	w.t.Helper()
	next := *w.mcConfig(flag, env)
	if err := rollout(pct)(&next); err != nil {
		w.t.Fatal(err)
	}
	return app.ChangeInput{Flag: flag, Environment: env, ProposedConfig: &next}
}

// mcSalt is the flag-level change of flag's bucketing salt to salt.
func (w *world) mcSalt(flag, salt string) app.ChangeInput {
	w.t.Helper()
	next := *w.mcFlag(flag)
	next.BucketingSalt = salt
	return app.ChangeInput{Flag: flag, ProposedFlag: &next}
}

// mcOpen opens a request of changes as the requester.
func (w *world) mcOpen(changes ...app.ChangeInput) *app.RequestView {
	w.t.Helper()
	v, err := w.svc.CreateRequest(w.ctx, w.requester, app.RequestInput{Project: "shop", Title: "release", Changes: changes})
	if err != nil {
		w.t.Fatalf("opening a request of %d changes: %v", len(changes), err)
	}
	return v
}

// mcGet reads request id as the admin.
func (w *world) mcGet(id string) *app.RequestView {
	w.t.Helper()
	v, err := w.svc.GetRequest(w.ctx, w.admin, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// mcRuleset is the project's ruleset version.
func (w *world) mcRuleset() int64 {
	w.t.Helper()
	v, err := w.store.RulesetVersion(w.ctx, "shop")
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// mcLock is the request holding the pending lock of flag in env ("" none).
func (w *world) mcLock(flag, env string) string {
	w.t.Helper()
	id, err := w.store.PendingLock(w.ctx, "shop", flag, env)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// mcAudit is the project's audit log naming request id, oldest first.
func (w *world) mcAudit(id string) []domain.AuditEntry {
	w.t.Helper()
	var out []domain.AuditEntry
	page := domain.Page{Limit: 100}
	for {
		entries, next, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop"}, page)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range entries {
			if e.ChangeRequest == id {
				out = append(out, e)
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	slices.Reverse(out)
	return out
}

// mcState is what a refused apply must leave as it was: every config and
// flag a request names, at its version and value.
type mcState map[string]string

func (w *world) mcSnapshot(targets []domain.Target) mcState {
	w.t.Helper()
	out := mcState{}
	for _, t := range targets {
		if t.Kind == domain.KindSegment {
			sg, err := w.svc.GetSegment(w.ctx, w.admin, "shop", t.Segment)
			if err != nil {
				w.t.Fatal(err)
			}
			out[t.String()] = fmt.Sprintf("v%d included=%v", sg.Version, sg.Included)
			continue
		}
		if t.Kind == domain.KindFlag {
			f := w.mcFlag(t.Flag)
			out[t.String()] = fmt.Sprintf("v%d salt=%q", f.Version, f.BucketingSalt)
			continue
		}
		c := w.mcConfig(t.Flag, t.Environment)
		raw, _ := json.Marshal(c)
		out[t.String()] = string(raw)
	}
	return out
}

func targetsOf(v *app.RequestView) []domain.Target {
	var out []domain.Target
	for _, c := range v.Changes {
		out = append(out, c.Target())
	}
	return out
}

// mcErr is err as a domain error with code, or the test fails.
func mcErr(t *testing.T, err error, code domain.Code) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("want a %s error, got %v", code, err)
	}
	return de
}

// mcPointer requires err to be invalid at pointer.
func mcPointer(t *testing.T, err error, pointer string) {
	t.Helper()
	de := mcErr(t, err, domain.CodeInvalid)
	for _, f := range de.Fields {
		if f.Pointer == pointer {
			return
		}
	}
	t.Fatalf("want a validation error at %s, got %q %+v", pointer, de.Message, de.Fields)
}

// mcContains requires err's text to contain each of want.
func mcContains(t *testing.T, err error, want ...string) {
	t.Helper()
	for _, s := range want {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Fatalf("want an error saying %q, got %v", s, err)
		}
	}
}
