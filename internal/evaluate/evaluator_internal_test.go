package evaluate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// countingStore is fakeStore counting SDK key lookups.
type countingStore struct {
	fakeStore
	lookups atomic.Int64
}

func (s *countingStore) GetSDKKeyByHash(ctx context.Context, hash string) (*domain.SDKKey, error) {
	s.lookups.Add(1)
	return s.fakeStore.GetSDKKeyByHash(ctx, hash)
}

// Secrets that are not keys never push a key in use out of the cache.
func TestMissesDoNotEvictKeys(t *testing.T) {
	store := &countingStore{fakeStore: fakeStore{flags: []string{"a"}}}
	e := New(store, clock.NewFixed(time.Unix(0, 0)), time.Hour)
	ctx := context.Background()
	const good = "cs_sdk_route_test_key_0123456789"
	if _, err := e.Authenticate(ctx, good); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxCachedKeys {
		if _, err := e.Authenticate(ctx, fmt.Sprintf("cs_sdk_guess_%020d", i)); err == nil {
			t.Fatal("a guess authenticated")
		}
	}
	before := store.lookups.Load()
	if _, err := e.Authenticate(ctx, good); err != nil {
		t.Fatal(err)
	}
	if store.lookups.Load() != before {
		t.Fatal("the key in use was evicted by misses and read again")
	}
	if n := len(e.misses); n > maxCachedKeys {
		t.Fatalf("the miss cache holds %d entries, more than %d", n, maxCachedKeys)
	}
}

// A refresh that finishes late never replaces a newer ruleset.
func TestKeepNeverGoesBack(t *testing.T) {
	e := New(fakeStore{}, clock.NewFixed(time.Unix(0, 0)), time.Hour)
	v2, v1 := &Compiled{Version: 2}, &Compiled{Version: 1}
	if got := e.keep("p/e", v2); got != v2 {
		t.Fatal("keep must cache the first ruleset")
	}
	if got := e.keep("p/e", v1); got != v2 || e.rulesets["p/e"] != v2 {
		t.Fatalf("an older ruleset replaced a newer one: %+v", got)
	}
	v3 := &Compiled{Version: 3}
	if got := e.keep("p/e", v3); got != v3 {
		t.Fatal("a newer ruleset must replace an older one")
	}
}

// memAssignments keeps assignments in a map (the stores' own behaviour is
// the conformance suite's; this is for the evaluator's caches).
type memAssignments struct {
	fakeStore
	mu     sync.Mutex
	stored map[domain.AssignmentKey]string
	reads  int
}

func (s *memAssignments) Assignment(_ context.Context, k domain.AssignmentKey) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.stored[k], nil
}

func (s *memAssignments) Assign(_ context.Context, k domain.AssignmentKey, variant, replacing string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.stored[k]; cur != "" && cur != replacing {
		return cur, nil
	}
	s.stored[k] = variant
	return variant, nil
}

func stickyFlag(t *testing.T, rollout float64) (*Compiled, *eval.Flag) {
	t.Helper()
	f := &domain.Flag{Project: "p", Key: "f", BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: []byte(`"A"`)}}}
	c := compile(&domain.Ruleset{Version: 7, Flags: []domain.Flag{*f}, Configs: []domain.FlagConfig{{Project: "p", Flag: "f", Environment: "production",
		Enabled: true, StickyBucketing: true, OffVariant: domain.OffVariantKey,
		DefaultRule: domain.Allocation{Rollout: rollout, Weights: []domain.Weight{{Variant: "a", Weight: 1}}}}}}, "p", "production")
	return c, c.Flags["f"]
}

// A cached unit does not keep its request body in memory.
func TestStickyCacheDoesNotKeepBodies(t *testing.T) {
	store := &memAssignments{stored: map[domain.AssignmentKey]string{}}
	e := New(store, clock.NewFixed(time.Unix(0, 0)), time.Hour)
	rs, f := stickyFlag(t, 100)
	body := `{"context":{"user_id":"u-1","pad":"` + strings.Repeat("x", 1<<16) + `"}}`
	attrs, ok := parseContextFast(body)
	if !ok {
		t.Fatal("the body should take the fast path")
	}
	c := &eval.Context{Attributes: attrs}
	res, _ := f.Evaluate(c)
	if _, stuck, err := e.stick(context.Background(), rs, "f", f, c, res); err != nil || !stuck {
		t.Fatalf("stick: %v %v", stuck, err)
	}
	lo, hi := uintptr(unsafe.Pointer(unsafe.StringData(body))), uintptr(unsafe.Pointer(unsafe.StringData(body)))+uintptr(len(body))
	for k := range e.assigned {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(k.Unit))); p >= lo && p < hi {
			t.Fatal("the cached unit points into the request body")
		}
	}
}

// Units outside a small rollout are cached apart: however many, they never
// push a stored assignment out, and never replace one.
func TestStickyOutsideEntriesKeepAssignments(t *testing.T) {
	store := &memAssignments{stored: map[domain.AssignmentKey]string{}}
	e := New(store, clock.NewFixed(time.Unix(0, 0)), time.Hour)
	kept := domain.AssignmentKey{Project: "p", Environment: "production", Flag: "f", Unit: "kept"}
	e.remember(kept, assignment{variant: "a"})
	for i := range maxCachedAssignments + 10 {
		e.remember(domain.AssignmentKey{Project: "p", Environment: "production", Flag: "f", Unit: fmt.Sprint(i)}, assignment{version: 1, until: time.Unix(60, 0)})
	}
	e.remember(kept, assignment{version: 1, until: time.Unix(60, 0)}) // a late "outside" for a unit just assigned
	if a := e.assigned[kept]; a.variant != "a" {
		t.Fatalf("the assignment was lost: %+v", a)
	}
	if len(e.outside) > maxCachedAssignments {
		t.Fatalf("outside cache unbounded: %d", len(e.outside))
	}
	// and outside units cost one read per version and interval
	rs, f := stickyFlag(t, 0)
	c := &eval.Context{TargetingKey: "nobody"}
	for range 5 {
		res, _ := f.Evaluate(c)
		if got, stuck, err := e.stick(context.Background(), rs, "f", f, c, res); err != nil || stuck || !got.Off {
			t.Fatalf("outside the rollout: %+v %v %v", got, stuck, err)
		}
	}
	if store.reads != 1 {
		t.Fatalf("five evaluations of a unit outside the rollout read %d times, want 1", store.reads)
	}
}
