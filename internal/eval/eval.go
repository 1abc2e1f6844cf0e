// Package eval evaluates flags: a flag and its targeting in one environment
// are compiled once (condition values parsed, weights summed), then
// evaluated per user without touching storage.
//
// Semantics (amplitude-flags-rollouts.txt): a disabled flag serves its off
// variant. Otherwise rules are tried in order; the first whose conditions
// all hold takes the user, its rollout decides whether the user is in at
// all, and its weights which variant they get. Users in no rule fall to the
// default rule ("all other users"). A user outside a rollout gets the off
// variant.
//
// Bucketing is deterministic: murmur3 x86_32 of "<salt>/<unit value>" gives
// a bucket in [0, 10000), so rollouts have 0.01 % steps and raising one keeps
// everyone who was in (bucket < rollout×100). A second hash, of
// "<salt>/variant/<unit value>", places the user on the weight line, so a
// weight change moves only the users whose place changes range.
package eval

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/murmur3"
	"golang.org/x/mod/semver"

	"github.com/countersign/countersign/internal/domain"
)

// Reason says why a value was served (the OFREP reasons).
type Reason string

const (
	ReasonStatic         Reason = "STATIC"
	ReasonTargetingMatch Reason = "TARGETING_MATCH"
	ReasonSplit          Reason = "SPLIT"
	ReasonDefault        Reason = "DEFAULT"
	ReasonDisabled       Reason = "DISABLED"
)

// Buckets is the resolution of rollouts: 10 000 buckets, 0.01 % each.
const Buckets = 10000

// ErrTargetingKeyMissing says the flag needed to bucket the user but the
// context has neither the bucketing unit nor a targeting key.
var ErrTargetingKeyMissing = errors.New("the context has no targeting key (nor the flag's bucketing unit attribute)")

// Context is the user being evaluated.
type Context struct {
	TargetingKey string
	Attributes   map[string]any
}

// Result is what a user gets.
type Result struct {
	Variant string          // "off" when the fallback (no variant) is served
	Value   json.RawMessage // nil for the fallback
	Reason  Reason
	Rule    int // index of the rule that took the user, -1 for the default rule or none
}

type cond struct {
	attr    string
	op      domain.Operator
	strs    []string
	nums    []float64
	semvers []string
	times   []time.Time
}

type alloc struct {
	rollout int // buckets in, 0..Buckets
	cum     []int
	vars    []int // variant indexes, parallel to cum
	total   int
}

type rule struct {
	conds []cond
	alloc alloc
}

type variant struct {
	key   string
	value json.RawMessage
}

// Flag is a compiled flag in one environment.
type Flag struct {
	Key      string
	salt     string
	unit     string
	enabled  bool
	variants []variant
	off      int // variant index, -1 for the fallback
	rules    []rule
	def      alloc
}

// Compile prepares f's targeting c for evaluation.
func Compile(f *domain.Flag, c *domain.FlagConfig) (*Flag, error) {
	if err := c.Validate(f); err != nil {
		return nil, err
	}
	out := &Flag{Key: f.Key, salt: f.BucketingSalt, unit: f.BucketingUnit, enabled: c.Enabled, off: -1}
	index := map[string]int{}
	for i, v := range f.Variants {
		out.variants = append(out.variants, variant{key: v.Key, value: v.Value})
		index[v.Key] = i
	}
	if i, ok := index[c.OffVariant]; ok {
		out.off = i
	}
	compileAlloc := func(a domain.Allocation) alloc {
		r := alloc{rollout: int(math.Round(a.Rollout * 100))}
		for _, w := range a.Weights {
			if w.Weight <= 0 {
				continue
			}
			r.total += w.Weight
			r.cum = append(r.cum, r.total)
			r.vars = append(r.vars, index[w.Variant])
		}
		if r.total == 0 {
			r.rollout = 0
		}
		return r
	}
	for _, rl := range c.Rules {
		cr := rule{alloc: compileAlloc(rl.Allocation)}
		for _, cd := range rl.Conditions {
			cc := cond{attr: cd.Attribute, op: cd.Operator, strs: cd.Values}
			for _, v := range cd.Values {
				switch cd.Operator {
				case domain.OpGT, domain.OpGTE, domain.OpLT, domain.OpLTE:
					n, _ := strconv.ParseFloat(v, 64)
					cc.nums = append(cc.nums, n)
				case domain.OpSemverEq, domain.OpSemverGT, domain.OpSemverLT:
					cc.semvers = append(cc.semvers, canonicalSemver(v))
				case domain.OpBefore, domain.OpAfter:
					t, _ := time.Parse(time.RFC3339, v)
					cc.times = append(cc.times, t)
				}
			}
			cr.conds = append(cr.conds, cc)
		}
		out.rules = append(out.rules, cr)
	}
	out.def = compileAlloc(c.DefaultRule)
	return out, nil
}

func canonicalSemver(v string) string {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}

// Evaluate decides what ctx gets.
func (f *Flag) Evaluate(ctx *Context) (Result, error) {
	if !f.enabled {
		return f.offResult(ReasonDisabled, -1), nil
	}
	for i := range f.rules {
		r := &f.rules[i]
		if f.matches(r, ctx) {
			return f.allocate(&r.alloc, ctx, i, ReasonTargetingMatch)
		}
	}
	reason := ReasonDefault
	if len(f.rules) == 0 && f.def.rollout == Buckets && len(f.def.vars) == 1 {
		reason = ReasonStatic
	}
	return f.allocate(&f.def, ctx, -1, reason)
}

func (f *Flag) offResult(reason Reason, ruleIndex int) Result {
	if f.off < 0 {
		return Result{Variant: domain.OffVariantKey, Reason: reason, Rule: ruleIndex}
	}
	v := f.variants[f.off]
	return Result{Variant: v.key, Value: v.value, Reason: reason, Rule: ruleIndex}
}

func (f *Flag) allocate(a *alloc, ctx *Context, ruleIndex int, reason Reason) (Result, error) {
	if a.rollout <= 0 {
		return f.offResult(ReasonDefault, ruleIndex), nil
	}
	// Only hash when something depends on it.
	if a.rollout >= Buckets && len(a.vars) == 1 {
		v := f.variants[a.vars[0]]
		return Result{Variant: v.key, Value: v.value, Reason: reason, Rule: ruleIndex}, nil
	}
	key, ok := f.unitValue(ctx)
	if !ok {
		return Result{}, ErrTargetingKeyMissing
	}
	if a.rollout < Buckets && Bucket(f.salt, key) >= a.rollout {
		return f.offResult(ReasonDefault, ruleIndex), nil
	}
	i := a.vars[0]
	if len(a.vars) > 1 {
		reason = ReasonSplit
		point := variantPoint(f.salt, key) * a.total / Buckets
		for j, c := range a.cum {
			if point < c {
				i = a.vars[j]
				break
			}
		}
	}
	v := f.variants[i]
	return Result{Variant: v.key, Value: v.value, Reason: reason, Rule: ruleIndex}, nil
}

func (f *Flag) unitValue(ctx *Context) (string, bool) {
	if v, ok := ctx.Attributes[f.unit]; ok {
		if s, ok := toString(v); ok && s != "" {
			return s, true
		}
	}
	return ctx.TargetingKey, ctx.TargetingKey != ""
}

func hash(parts ...string) uint32 {
	h := murmur3.New32()
	for i, p := range parts {
		if i > 0 {
			_, _ = h.Write([]byte{'/'})
		}
		_, _ = h.Write([]byte(p))
	}
	return h.Sum32()
}

// Bucket is the user's rollout bucket in [0, Buckets).
func Bucket(salt, key string) int { return int(hash(salt, key) % Buckets) }

// variantPoint is the user's place on the weight line, in [0, Buckets).
func variantPoint(salt, key string) int { return int(hash(salt, "variant", key) % Buckets) }

func (f *Flag) matches(r *rule, ctx *Context) bool {
	for i := range r.conds {
		if !r.conds[i].holds(ctx) {
			return false
		}
	}
	return true
}

func toString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		n, err := x.Float64()
		return n, err == nil
	case string:
		n, err := strconv.ParseFloat(x, 64)
		return n, err == nil
	}
	return 0, false
}

func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t, err == nil
	default:
		if n, ok := toNumber(v); ok && !isString(v) {
			return time.Unix(int64(n), 0), true // unix seconds
		}
	}
	return time.Time{}, false
}

func isString(v any) bool { _, ok := v.(string); return ok }

// holds says whether the condition holds for ctx. A missing attribute, or
// one of the wrong type, makes every operator false except that exists says
// false too: negative operators (is_not, not_in, not_contains) need the
// attribute to be there, so a user is not targeted by what they lack.
func (c *cond) holds(ctx *Context) bool {
	v, ok := ctx.Attributes[c.attr]
	if !ok && c.attr == "targetingKey" && ctx.TargetingKey != "" {
		v, ok = ctx.TargetingKey, true
	}
	if c.op == domain.OpExists {
		return ok && v != nil
	}
	if !ok || v == nil {
		return false
	}
	switch c.op {
	case domain.OpIs, domain.OpIn, domain.OpIsNot, domain.OpNotIn:
		s, ok := toString(v)
		if !ok {
			return false
		}
		found := false
		for _, want := range c.strs {
			if s == want {
				found = true
				break
			}
		}
		return found == (c.op == domain.OpIs || c.op == domain.OpIn)
	case domain.OpContains, domain.OpNotContains, domain.OpStartsWith, domain.OpEndsWith:
		s, ok := toString(v)
		if !ok {
			return false
		}
		found := false
		for _, want := range c.strs {
			switch c.op {
			case domain.OpContains, domain.OpNotContains:
				found = strings.Contains(s, want)
			case domain.OpStartsWith:
				found = strings.HasPrefix(s, want)
			case domain.OpEndsWith:
				found = strings.HasSuffix(s, want)
			}
			if found {
				break
			}
		}
		if c.op == domain.OpNotContains {
			return !found
		}
		return found
	case domain.OpGT, domain.OpGTE, domain.OpLT, domain.OpLTE:
		n, ok := toNumber(v)
		if !ok {
			return false
		}
		for _, want := range c.nums {
			if (c.op == domain.OpGT && n > want) || (c.op == domain.OpGTE && n >= want) ||
				(c.op == domain.OpLT && n < want) || (c.op == domain.OpLTE && n <= want) {
				return true
			}
		}
		return false
	case domain.OpSemverEq, domain.OpSemverGT, domain.OpSemverLT:
		s, ok := v.(string)
		if !ok {
			return false
		}
		sv := canonicalSemver(s)
		if !semver.IsValid(sv) {
			return false
		}
		for _, want := range c.semvers {
			cmp := semver.Compare(sv, want)
			if (c.op == domain.OpSemverEq && cmp == 0) || (c.op == domain.OpSemverGT && cmp > 0) || (c.op == domain.OpSemverLT && cmp < 0) {
				return true
			}
		}
		return false
	case domain.OpBefore, domain.OpAfter:
		t, ok := toTime(v)
		if !ok {
			return false
		}
		for _, want := range c.times {
			if (c.op == domain.OpBefore && t.Before(want)) || (c.op == domain.OpAfter && t.After(want)) {
				return true
			}
		}
		return false
	}
	return false
}
