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
	// OriginAllowed: some environment allows origin for its client keys
	// (browsers' preflights carry no key).
	OriginAllowed(ctx context.Context, origin string) (bool, error)
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
	rulesets map[string]*Compiled                // project/env → ruleset
	keys     map[[sha256.Size]byte]cachedSDKKey  // hash → key
	misses   map[[sha256.Size]byte]cachedSDKKey  // hash → no such key
	origins  map[string]cachedOrigin             // origin → whether some environment allows it
	assigned map[domain.AssignmentKey]assignment // units → stored variant
	outside  map[domain.AssignmentKey]assignment // units outside the rollout, nothing stored
}

// putBounded stores v under k, emptying m first when it holds max entries:
// the evaluator's caches are bounded this way.
func putBounded[K comparable, V any](m map[K]V, k K, v V, max int) {
	if _, ok := m[k]; !ok && len(m) >= max {
		clear(m)
	}
	m[k] = v
}

// maxCachedKeys bounds each of the SDK key caches (keys, misses).
const maxCachedKeys = 10000

type cachedSDKKey struct {
	key     *domain.SDKKey // nil: not a key
	checked time.Time
}

// maxCachedOrigins bounds the origins whose preflight answer is cached.
const maxCachedOrigins = 1000

type cachedOrigin struct {
	allowed bool
	checked time.Time
}

// Compiled is one environment's ruleset, compiled.
type Compiled struct {
	Project     string
	Environment string
	Version     int64
	ETag        string
	Flags       map[string]*eval.Flag
	Keys        []string // sorted: every flag served, Broken ones included
	// Broken are flags whose stored targeting does not compile (validation
	// prevents it; data written by another version might not): they answer
	// GENERAL, the others are served.
	Broken map[string]error
	// ClientKeys are the flags served to client keys (exposed to clients,
	// Broken ones included), sorted; clientExposed holds them. A client key
	// is answered for these only: any other key is "not found", exactly as
	// a missing flag.
	ClientKeys    []string
	clientExposed map[string]bool
	// Origins are the environment's allowed origins: browser pages of
	// these (domain.OriginAllowedBy) may call with its client keys.
	Origins []string
	// Served are the flags served, each with the config it serves (stored,
	// or the environment's default), in key order, and ServedSegments the
	// ruleset's segments, in key order: the ruleset route's answer.
	Served         []ServedFlag
	ServedSegments []ServedSegment
	// Segments are the ruleset's segments, compiled once for every flag
	// that names them. One that does not compile (Segments.Broken) makes
	// the flags naming it Broken; the others are served.
	Segments *eval.Segments
	checked  time.Time
	epochs   map[string]string // sticky flag → its assignments' epoch
}

// ServedFlag is a flag as the ruleset route gives it to local evaluators:
// what evaluation needs, not the flag's management fields (description,
// maintainer, tags).
type ServedFlag struct {
	Key            string                `json:"key"`
	Version        int64                 `json:"version"`
	BucketingUnit  string                `json:"bucketing_unit"`
	BucketingSalt  string                `json:"bucketing_salt"`
	EvaluationMode domain.EvaluationMode `json:"evaluation_mode"`
	Variants       []domain.Variant      `json:"variants"`
	Config         *domain.FlagConfig    `json:"config"`
}

// ServedSegment is a segment as the ruleset route gives it to local
// evaluators: its keys and rules, not its management fields (name,
// description). A context is in it when the value of the in_segment
// condition's attribute is included; else not when it is excluded; else
// when all the conditions of any rule hold.
type ServedSegment struct {
	Key      string              `json:"key"`
	Version  int64               `json:"version"`
	Included []string            `json:"included"`
	Excluded []string            `json:"excluded"`
	Rules    []ServedSegmentRule `json:"rules"`
}

// ServedSegmentRule is one way into a segment: all its conditions hold.
type ServedSegmentRule struct {
	Conditions []ServedCondition `json:"conditions"`
}

// ServedCondition is a condition of a segment rule, as targeting rules'
// conditions are written.
type ServedCondition struct {
	Attribute string   `json:"attribute"`
	Operator  string   `json:"operator"`
	Values    []string `json:"values"`
}

func serveSegment(s *domain.Segment) ServedSegment {
	out := ServedSegment{Key: s.Key, Version: s.Version, Included: nonNil(s.Included), Excluded: nonNil(s.Excluded), Rules: []ServedSegmentRule{}}
	for _, r := range s.Rules {
		sr := ServedSegmentRule{Conditions: []ServedCondition{}}
		for _, c := range r.Conditions {
			sr.Conditions = append(sr.Conditions, ServedCondition{Attribute: c.Attribute, Operator: string(c.Operator), Values: nonNil(c.Values)})
		}
		out.Rules = append(out.Rules, sr)
	}
	return out
}

// nonNil is s, or an empty list for nil: the route writes [], never null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// New returns an evaluator; refresh 0 means DefaultRefresh.
func New(store Store, clk clock.Clock, refresh time.Duration) *Evaluator {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	return &Evaluator{store: store, clock: clk, refresh: refresh, rulesets: map[string]*Compiled{}, keys: map[[sha256.Size]byte]cachedSDKKey{}, misses: map[[sha256.Size]byte]cachedSDKKey{},
		origins: map[string]cachedOrigin{}, assigned: map[domain.AssignmentKey]assignment{}, outside: map[domain.AssignmentKey]assignment{}}
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
	// the caches are keyed by the hash's bytes, hex-encoded (as stored)
	// only when the store is asked
	h := sha256.Sum256([]byte(secret))
	now := e.clock.Now()
	e.mu.Lock()
	c, ok := e.keys[h]
	if !ok {
		c, ok = e.misses[h]
	}
	e.mu.Unlock()
	if !ok || now.Sub(c.checked) >= e.refresh {
		k, err := e.store.GetSDKKeyByHash(ctx, hex.EncodeToString(h[:]))
		switch {
		case domain.ErrorCode(err) == domain.CodeNotFound:
			k = nil
		case err != nil:
			return nil, err
		}
		c = cachedSDKKey{key: k, checked: now}
		// Keys and misses are cached apart, each bounded: secrets that are
		// not keys (a client's typo, or a flood of guesses) never push the
		// keys in use out of the cache.
		e.mu.Lock()
		if k == nil {
			delete(e.keys, h)
			putBounded(e.misses, h, c, maxCachedKeys)
		} else {
			delete(e.misses, h)
			putBounded(e.keys, h, c, maxCachedKeys)
		}
		e.mu.Unlock()
	}
	if c.key == nil || !c.key.Live(now) {
		return nil, domain.Errorf(domain.CodeUnauthenticated, "the SDK key is not valid")
	}
	return c.key, nil
}

// OriginAllowed says whether some environment allows origin for its client
// keys: a browser's preflight, which carries no key, is answered on it. The
// answer (either way) is cached for the refresh interval, so preflights
// cost the store one small read per origin and interval. "null" and
// values no browser sends as an origin are refused without a read.
func (e *Evaluator) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if origin == "" || origin == "null" || len(origin) > 300 {
		return false, nil
	}
	now := e.clock.Now()
	e.mu.Lock()
	c, ok := e.origins[origin]
	e.mu.Unlock()
	if ok && now.Sub(c.checked) < e.refresh {
		return c.allowed, nil
	}
	allowed, err := e.store.OriginAllowed(ctx, origin)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	putBounded(e.origins, origin, cachedOrigin{allowed: allowed, checked: now}, maxCachedOrigins)
	e.mu.Unlock()
	return allowed, nil
}

// Ruleset returns the compiled ruleset of an environment. It reads the
// store only when the cached one was checked longer than the refresh
// interval ago, and then reads one small item (the version) unless the
// ruleset changed. A refresh never puts back an older ruleset than one
// another request stored meanwhile.
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
			return e.keep(id, &fresh), nil
		}
	}
	rs, err := e.store.Ruleset(ctx, project, env)
	if err != nil {
		return nil, err
	}
	c := compile(rs, project, env)
	c.checked = now
	return e.keep(id, c), nil
}

// keep caches c unless a newer ruleset of the environment is cached, and
// returns the one cached.
func (e *Evaluator) keep(id string, c *Compiled) *Compiled {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.rulesets[id]; old != nil && old.Version > c.Version {
		return old
	}
	e.rulesets[id] = c
	return c
}

func compile(rs *domain.Ruleset, project, env string) *Compiled {
	configs := map[string]*domain.FlagConfig{}
	for i := range rs.Configs {
		configs[rs.Configs[i].Flag] = &rs.Configs[i]
	}
	c := &Compiled{Project: project, Environment: env, Version: rs.Version, Flags: map[string]*eval.Flag{},
		Broken: map[string]error{}, epochs: map[string]string{}, Segments: eval.CompileSegments(rs.Segments),
		ServedSegments: []ServedSegment{}, clientExposed: map[string]bool{}, Origins: rs.Environment.AllowedOrigins}
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
		if ef, err := eval.Compile(f, cfg, c.Segments); err != nil {
			c.Broken[f.Key] = fmt.Errorf("compile flag %s in %s: %w", f.Key, env, err)
		} else {
			c.Flags[f.Key] = ef
			if ef.Sticky() {
				c.epochs[f.Key] = epoch(f)
			}
		}
		c.Keys = append(c.Keys, f.Key)
		if f.ClientExposed {
			c.ClientKeys = append(c.ClientKeys, f.Key)
			c.clientExposed[f.Key] = true
		}
		c.Served = append(c.Served, ServedFlag{Key: f.Key, Version: f.Version, BucketingUnit: f.BucketingUnit, BucketingSalt: f.BucketingSalt,
			EvaluationMode: f.EvaluationMode, Variants: f.Variants, Config: cfg})
		fmt.Fprintf(h, "%s:%d:%d;", f.Key, f.Version, cfg.Version)
	}
	for i := range rs.Segments {
		c.ServedSegments = append(c.ServedSegments, serveSegment(&rs.Segments[i]))
	}
	sort.Strings(c.Keys)
	sort.Strings(c.ClientKeys)
	sort.Slice(c.Served, func(i, j int) bool { return c.Served[i].Key < c.Served[j].Key })
	sort.SliceStable(c.ServedSegments, func(i, j int) bool { return c.ServedSegments[i].Key < c.ServedSegments[j].Key })
	for _, s := range c.ServedSegments {
		fmt.Fprintf(h, "segment %s:%d;", s.Key, s.Version) // a space: no flag key has one
	}
	c.ETag = fmt.Sprintf(`"%d-%x"`, rs.Version, h.Sum(nil)[:8])
	return c
}
