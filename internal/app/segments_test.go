package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

func segmentInput(key string, included ...string) app.SegmentInput {
	return app.SegmentInput{Key: key, Name: "Segment " + key, Included: included,
		Rules: []domain.SegmentRule{{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIn, Values: []string{"NL"}}}}}}
}

// wantField requires an invalid error naming pointer.
func wantField(t *testing.T, err error, pointer string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
		t.Fatalf("want a validation error at %s, got %v", pointer, err)
	}
	for _, f := range de.Fields {
		if f.Pointer == pointer {
			return
		}
	}
	t.Fatalf("want a validation error at %s, got %+v", pointer, de.Fields)
}

func wantCodeOf(t *testing.T, err error, code domain.Code) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("want %s, got %s (%v)", code, got, err)
	}
}

func TestSegmentLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		seg, err := w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Name: "Beta Testers", Included: []string{"user-1"}})
		if err != nil {
			t.Fatal(err)
		}
		if seg.Key != "beta-testers" || seg.Version != 1 || seg.Excluded == nil || seg.Rules == nil || !seg.CreatedAt.Equal(t0) {
			t.Fatalf("created %+v", seg)
		}
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Key: "beta-testers", Name: "again"})
		wantCodeOf(t, err, domain.CodeConflict)
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "nope", segmentInput("x"))
		wantCodeOf(t, err, domain.CodeNotFound)

		got, err := w.svc.GetSegment(w.ctx, w.viewer, "shop", "beta-testers")
		if err != nil || got.Name != "Beta Testers" {
			t.Fatalf("read back %+v %v", got, err)
		}
		list, next, err := w.svc.ListSegments(w.ctx, w.viewer, "shop", domain.Page{})
		if err != nil || len(list) != 1 || next != "" {
			t.Fatalf("list %+v %q %v", list, next, err)
		}

		stale := int64(7)
		_, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta-testers", &stale, app.ChangeOptions{}, func(s *domain.Segment) error { return nil })
		wantCodeOf(t, err, domain.CodeConflict)
		one := int64(1)
		out, err := w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta-testers", &one, app.ChangeOptions{}, func(s *domain.Segment) error {
			s.Included = append(s.Included, "user-2", "user-3")
			s.Excluded = []string{"user-9"}
			s.Description = "who tries things"
			return nil
		})
		upd := out.Applied
		if err != nil || upd == nil || upd.Version != 2 || len(upd.Included) != 3 {
			t.Fatalf("update %+v %v", out, err)
		}
		_, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop", "beta-testers", nil, app.ChangeOptions{}, func(s *domain.Segment) error { s.Key = "other"; return nil })
		wantField(t, err, "/key")

		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{Project: "shop", Actor: "member:m_rita"}, domain.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range entries {
			if e.Diff != nil {
				lines = append(lines, string(e.Action)+": "+strings.Join(e.Diff.Summary, "; "))
			}
		}
		all := strings.Join(lines, "\n")
		for _, want := range []string{
			`segment.created: segment "beta-testers" created: 1 included keys, 0 excluded keys, 0 rules`,
			`segment "beta-testers": 2 keys added to included ("user-2", "user-3")`,
			`segment "beta-testers": 1 keys added to excluded ("user-9")`,
			`segment "beta-testers": replace /description`,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("the audit log lacks %q:\n%s", want, all)
			}
		}

		if err := w.svc.DeleteSegment(w.ctx, w.requester, "shop", "beta-testers"); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.GetSegment(w.ctx, w.viewer, "shop", "beta-testers")
		wantCodeOf(t, err, domain.CodeNotFound)
		wantCodeOf(t, w.svc.DeleteSegment(w.ctx, w.requester, "shop", "beta-testers"), domain.CodeNotFound)
	})
}

func TestSegmentValidation(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		_, err := w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Key: "Bad Key!", Name: "x"})
		wantField(t, err, "/key")
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Name: "!!!"})
		wantField(t, err, "/key")
		many := make([]string, domain.MaxSegmentKeys+1)
		for i := range many {
			many[i] = fmt.Sprintf("u%d", i)
		}
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Key: "big", Name: "Big", Included: many})
		wantField(t, err, "/included")
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Key: "dup", Name: "Dup", Included: []string{"a"}, Excluded: []string{"a"}})
		wantField(t, err, "/excluded/0")
		_, err = w.svc.CreateSegment(w.ctx, w.requester, "shop", app.SegmentInput{Key: "nested", Name: "Nested",
			Rules: []domain.SegmentRule{{Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"other"}}}}}})
		wantField(t, err, "/rules/0/conditions/0/operator")
		// an update is held to the same rules, and writes nothing
		if _, err := w.svc.CreateSegment(w.ctx, w.requester, "shop", segmentInput("ok")); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop", "ok", nil, app.ChangeOptions{}, func(s *domain.Segment) error { s.Included = []string{""}; return nil })
		wantField(t, err, "/included/0")
		if s, _ := w.svc.GetSegment(w.ctx, w.viewer, "shop", "ok"); s.Version != 1 {
			t.Fatalf("a refused update wrote: %+v", s)
		}
	})
}

// Who may write flags (editors and up) may write segments; viewers read.
func TestSegmentRoles(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		_, err := w.svc.CreateSegment(w.ctx, w.viewer, "shop", segmentInput("beta"))
		wantCodeOf(t, err, domain.CodeForbidden)
		if _, err := w.svc.CreateSegment(w.ctx, w.service, "shop", segmentInput("beta")); err != nil {
			t.Fatalf("an editor service token creates segments: %v", err)
		}
		_, err = w.svc.UpdateSegment(w.ctx, w.viewer, "shop", "beta", nil, app.ChangeOptions{}, func(*domain.Segment) error { return nil })
		wantCodeOf(t, err, domain.CodeForbidden)
		wantCodeOf(t, w.svc.DeleteSegment(w.ctx, w.viewer, "shop", "beta"), domain.CodeForbidden)
		if _, err := w.svc.GetSegment(w.ctx, w.viewer, "shop", "beta"); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.GetSegment(w.ctx, nil, "shop", "beta")
		wantCodeOf(t, err, domain.CodeForbidden)
		if _, err := w.svc.UpdateSegment(w.ctx, w.alice, "shop", "beta", nil, app.ChangeOptions{}, func(s *domain.Segment) error { s.Name = "B"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := w.svc.DeleteSegment(w.ctx, w.alice, "shop", "beta"); err != nil {
			t.Fatal(err)
		}
	})
}

// A segment that any targeting names cannot be deleted: 409 naming a flag
// and an environment. Once no targeting names it, it can.
func TestSegmentInUseIsNotDeleted(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		if _, err := w.svc.CreateSegment(w.ctx, w.requester, "shop", segmentInput("beta")); err != nil {
			t.Fatal(err)
		}
		useIn := func(env string, segments ...string) {
			t.Helper()
			_, err := w.store.UpdateFlagConfig(w.ctx, "shop", "checkout", env, func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
				c.Rules = []domain.Rule{}
				if len(segments) > 0 {
					c.Rules = []domain.Rule{{Name: "beta", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpNotInSegment, Values: segments}},
						Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		useIn("staging", "other", "beta")
		err := w.svc.DeleteSegment(w.ctx, w.requester, "shop", "beta")
		wantCodeOf(t, err, domain.CodeConflict)
		if !strings.Contains(err.Error(), `flag "checkout" in staging`) {
			t.Fatalf("the conflict names no flag and environment: %v", err)
		}
		useIn("production", "beta")
		err = w.svc.DeleteSegment(w.ctx, w.requester, "shop", "beta")
		if !strings.Contains(err.Error(), `flag "checkout" in production (and 1 more)`) {
			t.Fatalf("the conflict: %v", err)
		}
		useIn("production")
		useIn("staging")
		if err := w.svc.DeleteSegment(w.ctx, w.requester, "shop", "beta"); err != nil {
			t.Fatal(err)
		}
	})
}

// A project's segments are its own: another project's path reaches none.
func TestSegmentProjectIsolation(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "shop2", Name: "Shop 2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.CreateSegment(w.ctx, w.requester, "shop", segmentInput("beta")); err != nil {
			t.Fatal(err)
		}
		_, err := w.svc.GetSegment(w.ctx, w.viewer, "shop2", "beta")
		wantCodeOf(t, err, domain.CodeNotFound)
		_, err = w.svc.UpdateSegment(w.ctx, w.requester, "shop2", "beta", nil, app.ChangeOptions{}, func(*domain.Segment) error { return nil })
		wantCodeOf(t, err, domain.CodeNotFound)
		wantCodeOf(t, w.svc.DeleteSegment(w.ctx, w.requester, "shop2", "beta"), domain.CodeNotFound)
		if l, _, err := w.svc.ListSegments(w.ctx, w.viewer, "shop2", domain.Page{}); err != nil || len(l) != 0 {
			t.Fatalf("shop2's segments: %+v %v", l, err)
		}
		// the same key in shop2 is another segment
		if _, err := w.svc.CreateSegment(w.ctx, w.requester, "shop2", segmentInput("beta", "only-shop2")); err != nil {
			t.Fatal(err)
		}
		if s, _ := w.svc.GetSegment(w.ctx, w.viewer, "shop", "beta"); len(s.Included) != 0 {
			t.Fatalf("shop's segment changed: %+v", s)
		}
	})
}
