package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// segmentStores are the stores the internal segment tests run on: bbolt,
// and DynamoDB Local when it is there (as the package's other tests).
func segmentStores(t *testing.T, fn func(t *testing.T, s *Service, store domain.Store)) {
	factories := map[string]func(*testing.T) domain.Store{
		"bolt": func(t *testing.T) domain.Store {
			st, err := boltstore.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	if dynamotest.Endpoint() != "" || dynamotest.Required() {
		factories["dynamodb"] = func(t *testing.T) domain.Store { return dynamotest.NewStore(t) }
	}
	for name, factory := range factories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := factory(t)
			ctx := context.Background()
			s := New(store, clock.NewFixed(clocktest.At(1, 9, 0, 0)), slog.New(slog.NewTextHandler(io.Discard, nil)))
			admin := &Principal{TokenID: "t_admin", Role: domain.RoleAdmin}
			if _, err := s.CreateProject(ctx, admin, ProjectInput{Key: "shop", Name: "Shop"}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"checkout", "search"} {
				if _, err := s.CreateFlag(ctx, admin, "shop", FlagInput{Key: f, Name: f, Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{"beta", "staff"} {
				if _, err := s.CreateSegment(ctx, admin, "shop", SegmentInput{Key: k, Name: k}); err != nil {
					t.Fatal(err)
				}
			}
			fn(t, s, store)
		})
	}
}

// useSegments stores targeting of flag in env whose rules name the
// segments (straight into the store: the config write path's own checks
// are not what this tests).
func useSegments(t *testing.T, store domain.Store, flag, env string, segments ...string) {
	t.Helper()
	_, err := store.UpdateFlagConfig(context.Background(), "shop", flag, env, func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Rules = []domain.Rule{}
		if len(segments) > 0 {
			c.Rules = []domain.Rule{{Name: "r", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: segments}},
				Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSegmentUsage(t *testing.T) {
	segmentStores(t, func(t *testing.T, s *Service, store domain.Store) {
		ctx := context.Background()
		uses, err := s.segmentUsage(ctx, "shop", "beta")
		if err != nil || len(uses) != 0 {
			t.Fatalf("no targeting yet: %+v %v", uses, err)
		}
		useSegments(t, store, "search", "production", "staff", "beta")
		useSegments(t, store, "checkout", "staging", "beta")
		useSegments(t, store, "checkout", "production", "staff")
		uses, err = s.segmentUsage(ctx, "shop", "beta")
		if err != nil {
			t.Fatal(err)
		}
		want := []SegmentUse{{Flag: "checkout", Environment: "staging"}, {Flag: "search", Environment: "production"}}
		if !slices.Equal(uses, want) {
			t.Fatalf("uses of beta: %+v, want %+v", uses, want)
		}
		if uses, _ := s.segmentUsage(ctx, "shop", "nobody"); len(uses) != 0 {
			t.Fatalf("uses of a segment nothing names: %+v", uses)
		}
		if _, err := s.segmentUsage(ctx, "nope", "beta"); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("another project: %v", err)
		}
	})
}

func TestSegmentsExistCheck(t *testing.T) {
	segmentStores(t, func(t *testing.T, s *Service, store domain.Store) {
		ctx := context.Background()
		c := &domain.FlagConfig{Rules: []domain.Rule{
			{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"missing"}}}},
			{Conditions: []domain.Condition{
				{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta", "missing"}},
				{Attribute: "user_id", Operator: domain.OpNotInSegment, Values: []string{"staff", "gone", "missing"}},
			}},
		}}
		err := s.checkSegmentsExist(ctx, "shop", c, "/proposed_config")
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
			t.Fatalf("want a validation error, got %v", err)
		}
		var ptrs []string
		for _, f := range de.Fields {
			ptrs = append(ptrs, f.Pointer)
		}
		want := []string{"/proposed_config/rules/1/conditions/0/values/1", "/proposed_config/rules/1/conditions/1/values/1", "/proposed_config/rules/1/conditions/1/values/2"}
		if !slices.Equal(ptrs, want) {
			t.Fatalf("pointers %v, want %v", ptrs, want)
		}
		c.Rules = c.Rules[:1]
		if err := s.checkSegmentsExist(ctx, "shop", c, ""); err != nil {
			t.Fatalf("targeting naming no segment: %v", err)
		}
		c.Rules = []domain.Rule{{Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta"}}}}}
		if err := s.checkSegmentsExist(ctx, "shop", c, ""); err != nil {
			t.Fatalf("targeting naming segments that exist: %v", err)
		}
		if err := s.checkSegmentsExist(ctx, "shop2", c, ""); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Fatalf("another project has no segment beta: %v", err)
		}
	})
}

// raceStore starts using the segment in a config write just before the
// first DeleteSegment reaches the store: after the service read the ruleset
// version and the configs.
type raceStore struct {
	domain.Store
	t     *testing.T
	raced bool
}

func (r *raceStore) DeleteSegment(ctx context.Context, project, key string, v int64, check func(*domain.Segment, *domain.Audit) error) error {
	if !r.raced {
		r.raced = true
		useSegments(r.t, r.Store, "checkout", "production", key)
	}
	return r.Store.DeleteSegment(ctx, project, key, v, check)
}

// A config write that starts using a segment while its delete checks the
// configs makes the store refuse the delete (the ruleset version moved);
// the service looks again, finds the use, and answers 409. Nothing is
// deleted.
func TestSegmentDeleteRacesConfigWrite(t *testing.T) {
	segmentStores(t, func(t *testing.T, s *Service, store domain.Store) {
		ctx := context.Background()
		rs := &raceStore{Store: store, t: t}
		s.store = rs
		editor := &Principal{MemberID: "m_ed", TokenID: "t_ed", Role: domain.RoleEditor}
		err := s.DeleteSegment(ctx, editor, "shop", "beta")
		if !rs.raced || domain.ErrorCode(err) != domain.CodeConflict || errors.Is(err, domain.ErrRulesetMoved) {
			t.Fatalf("want the use found on the second look (409), got %v", err)
		}
		if _, err := store.GetSegment(ctx, "shop", "beta"); err != nil {
			t.Fatalf("the segment is gone: %v", err)
		}
		// without a race the unused segment goes
		if err := s.DeleteSegment(ctx, editor, "shop", "staff"); err != nil {
			t.Fatal(err)
		}
	})
}
