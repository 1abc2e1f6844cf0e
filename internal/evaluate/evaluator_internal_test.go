package evaluate

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
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
