// Package evaluate serves flag evaluation: SDK key authentication, compiled
// rulesets cached in memory and refreshed by a cheap version check, and the
// OpenFeature Remote Evaluation Protocol (OFREP) over HTTP.
package evaluate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// Store is what evaluation reads, and the sticky bucketing assignments it
// keeps.
type Store interface {
	GetSDKKeyByHash(ctx context.Context, hash string) (*domain.SDKKey, error)
	RulesetVersion(ctx context.Context, project string) (int64, error)
	Ruleset(ctx context.Context, project, env string) (*domain.Ruleset, error)
	AssignmentStore
}

// DefaultRefresh bounds how stale an evaluator's ruleset may be: an applied
// change is visible to evaluations within this interval.
const DefaultRefresh = 5 * time.Second

// Evaluator evaluates flags of the environments its SDK keys open.
type Evaluator struct {
	store   Store
	clock   clock.Clock
	refresh time.Duration

	mu       sync.Mutex
	rulesets map[string]*Compiled    // project/env → ruleset
	keys     map[string]cachedSDKKey // hash → key
	assigned map[domain.AssignmentKey]assignment
}

type cachedSDKKey struct {
	key     *domain.SDKKey // nil: not a key
	checked time.Time
}

// Compiled is one environment's ruleset, compiled.
type Compiled struct {
	Project     string
	Environment string
	Version     int64
	ETag        string
	Flags       map[string]*eval.Flag
	Keys        []string // sorted
	Raw         *domain.Ruleset
	checked     time.Time
	epochs      map[string]string // sticky flag → its assignments' epoch
}

// New returns an evaluator; refresh 0 means DefaultRefresh.
func New(store Store, clk clock.Clock, refresh time.Duration) *Evaluator {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	return &Evaluator{store: store, clock: clk, refresh: refresh, rulesets: map[string]*Compiled{}, keys: map[string]cachedSDKKey{},
		assigned: map[domain.AssignmentKey]assignment{}}
}

// HashSDKKey is how SDK key secrets are stored.
func HashSDKKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Authenticate resolves an SDK key secret, from the cache when it was
// checked within the refresh interval (a revoked key stops working within
// it too).
func (e *Evaluator) Authenticate(ctx context.Context, secret string) (*domain.SDKKey, error) {
	if len(secret) < 16 || len(secret) > 256 {
		return nil, domain.Errorf(domain.CodeUnauthenticated, "an SDK key is required")
	}
	h := HashSDKKey(secret)
	now := e.clock.Now()
	e.mu.Lock()
	c, ok := e.keys[h]
	e.mu.Unlock()
	if !ok || now.Sub(c.checked) >= e.refresh {
		k, err := e.store.GetSDKKeyByHash(ctx, h)
		switch {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			k = nil
		case err != nil:
			return nil, err
		}
		c = cachedSDKKey{key: k, checked: now}
		e.mu.Lock()
		if len(e.keys) > 10000 {
			clear(e.keys)
		}
		e.keys[h] = c
		e.mu.Unlock()
	}
	if c.key == nil || !c.key.Live(now) {
		return nil, domain.Errorf(domain.CodeUnauthenticated, "the SDK key is not valid")
	}
	return c.key, nil
}

// Ruleset returns the compiled ruleset of an environment. It reads the
// store only when the cached one was checked longer than the refresh
// interval ago, and then reads one small item (the version) unless the
// ruleset changed.
func (e *Evaluator) Ruleset(ctx context.Context, project, env string) (*Compiled, error) {
	id := project + "/" + env
	now := e.clock.Now()
	e.mu.Lock()
	cur := e.rulesets[id]
	e.mu.Unlock()
	if cur != nil && now.Sub(cur.checked) < e.refresh {
		return cur, nil
	}
	if cur != nil {
		v, err := e.store.RulesetVersion(ctx, project)
		if err != nil {
			return nil, err
		}
		if v == cur.Version {
			fresh := *cur
			fresh.checked = now
			e.mu.Lock()
			e.rulesets[id] = &fresh
			e.mu.Unlock()
			return &fresh, nil
		}
	}
	rs, err := e.store.Ruleset(ctx, project, env)
	if err != nil {
		return nil, err
	}
	c, err := compile(rs, project, env)
	if err != nil {
		return nil, err
	}
	c.checked = now
	e.mu.Lock()
	e.rulesets[id] = c
	e.mu.Unlock()
	return c, nil
}

func compile(rs *domain.Ruleset, project, env string) (*Compiled, error) {
	configs := map[string]*domain.FlagConfig{}
	for i := range rs.Configs {
		configs[rs.Configs[i].Flag] = &rs.Configs[i]
	}
	c := &Compiled{Project: project, Environment: env, Version: rs.Version, Flags: map[string]*eval.Flag{}, Raw: rs, epochs: map[string]string{}}
	h := sha256.New()
	for i := range rs.Flags {
		f := &rs.Flags[i]
		if f.Archived {
			continue // archived flags are not served: FLAG_NOT_FOUND
		}
		cfg := configs[f.Key]
		if cfg == nil {
			cfg = domain.DefaultFlagConfig(f, env)
		}
		ef, err := eval.Compile(f, cfg)
		if err != nil {
			return nil, fmt.Errorf("compile flag %s in %s: %w", f.Key, env, err)
		}
		c.Flags[f.Key] = ef
		if ef.Sticky() {
			c.epochs[f.Key] = epoch(f)
		}
		c.Keys = append(c.Keys, f.Key)
		fmt.Fprintf(h, "%s:%d:%d;", f.Key, f.Version, cfg.Version)
	}
	sort.Strings(c.Keys)
	c.ETag = fmt.Sprintf(`"%d-%x"`, rs.Version, h.Sum(nil)[:8])
	return c, nil
}
