// Package eval evaluates flags: a flag and its targeting in one environment
// are compiled once (condition values parsed, weights summed), then
// evaluated per user without touching storage.
//
// Semantics (amplitude-flags-rollouts.txt): a disabled flag serves its off
// variant. Otherwise rules are tried in order; the first whose conditions
// all hold takes the user, its rollout decides whether the user is in at
// all, and its weights which variant they get. Users in no rule fall to the
// default rule ("all other users"). A user outside a rollout gets the off
// variant. A condition may test whether the user is in the ruleset's
// segments, compiled once for every flag (CompileSegments, segment.go).
//
// Bucketing is deterministic: murmur3 x86_32 of "<salt>/<unit value>" gives
// a bucket in [0, 10000), so rollouts have 0.01 % steps and raising one keeps
// everyone who was in (bucket < rollout×100). Among the weighted variants the
// user gets the one with the lowest score -ln(u)/weight, where u in (0, 1) is
// murmur3 of "<salt>/variant/<variant key>/<unit value>" (weighted rendezvous
// hashing): each variant wins with probability weight/total exactly, and
// changing one weight moves users only into that variant (it grew) or out
// of it (it shrank), as few as possible. Adding a variant takes users only
// into it; the order variants are listed in does not matter.
//
// Evaluate allocates nothing and reads no storage; eval_bench_test.go
// measures it and scripts/bench/evalcompare compares it with LaunchDarkly's
// evaluator on equivalent flags.
package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

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
	Rule    int  // index of the rule that took the user, -1 for the default rule or none
	Off     bool // the off variant (or the fallback) was served: the flag is disabled or the user is outside the rollout
}

// op is a condition operator, resolved from its name once by Compile.
type op uint8

const (
	opUnknown      op = iota
	opExists          // exists
	opIs              // is, in
	opIsNot           // is_not, not_in
	opContains        // contains
	opNotContains     // not_contains
	opStartsWith      // starts_with
	opEndsWith        // ends_with
	opGT              // gt
	opGTE             // gte
	opLT              // lt
	opLTE             // lte
	opSemverEq        // semver_eq
	opSemverGT        // semver_gt
	opSemverLT        // semver_lt
	opBefore          // before
	opAfter           // after
	opInSegment       // in_segment
	opNotInSegment    // not_in_segment
)

var ops = map[domain.Operator]op{
	domain.OpExists: opExists, domain.OpIs: opIs, domain.OpIn: opIs, domain.OpIsNot: opIsNot, domain.OpNotIn: opIsNot,
	domain.OpContains: opContains, domain.OpNotContains: opNotContains, domain.OpStartsWith: opStartsWith, domain.OpEndsWith: opEndsWith,
	domain.OpGT: opGT, domain.OpGTE: opGTE, domain.OpLT: opLT, domain.OpLTE: opLTE,
	domain.OpSemverEq: opSemverEq, domain.OpSemverGT: opSemverGT, domain.OpSemverLT: opSemverLT,
	domain.OpBefore: opBefore, domain.OpAfter: opAfter,
	domain.OpInSegment: opInSegment, domain.OpNotInSegment: opNotInSegment,
}

// setAbove is the number of values from which is/in/is_not/not_in look the
// user's value up in a set instead of comparing it with each.
const setAbove = 8

type cond struct {
	attr    string
	tk      bool // attr is "targetingKey": the context's targeting key stands in when the attribute is missing
	op      op
	strs    []string
	set     map[string]struct{} // strs as a set, for long lists
	nums    []float64
	semvers []version
	times   []time.Time
	segs    []*segment // in_segment, not_in_segment: the named segments the ruleset has
}

type alloc struct {
	rollout int       // buckets in, 0..Buckets
	vars    []int     // variant indexes of the weights above 0
	weights []float64 // parallel to vars
	fixed   int       // the variant everyone taken gets without hashing (rollout 100 %, one variant), or -1
}

type rule struct {
	conds []cond
	alloc alloc
}

// Flag is a compiled flag in one environment.
type Flag struct {
	Key       string
	unit      string
	enabled   bool
	sticky    bool     // sticky bucketing is on (see Sticky)
	results   []Result // one per variant, Variant and Value filled in
	off       Result   // the off variant (or the fallback), Variant and Value filled in
	rules     []rule
	def       alloc
	defReason Reason // STATIC when nothing about the user matters, else DEFAULT
	// murmur3 states after "<salt>/" and, per variant, after
	// "<salt>/variant/<variant key>/": only the unit value is hashed per
	// evaluation.
	bucketSeed   mm3
	variantSeeds []mm3 // by variant index
}

// Compile prepares f's targeting c for evaluation, with the ruleset's
// segments, which in_segment and not_in_segment conditions name (nil: the
// ruleset has none). It refuses targeting that does not validate, and
// targeting that names a segment that does not compile (Segments.Broken);
// a segment the ruleset lacks contains nobody (see Segments).
func Compile(f *domain.Flag, c *domain.FlagConfig, segs *Segments) (*Flag, error) {
	if err := c.Validate(f); err != nil {
		return nil, err
	}
	out := &Flag{Key: f.Key, unit: f.BucketingUnit, enabled: c.Enabled, sticky: c.StickyBucketing, off: Result{Variant: domain.OffVariantKey}}
	out.bucketSeed = absorb(absorb(mm3{}, f.BucketingSalt), "/")
	index := map[string]int{}
	for i, v := range f.Variants {
		out.results = append(out.results, Result{Variant: v.Key, Value: v.Value})
		out.variantSeeds = append(out.variantSeeds, absorb(absorb(absorb(out.bucketSeed, "variant/"), v.Key), "/"))
		index[v.Key] = i
	}
	if i, ok := index[c.OffVariant]; ok {
		out.off = out.results[i]
	}
	compileAlloc := func(a domain.Allocation) alloc {
		r := alloc{rollout: int(math.Round(a.Rollout * 100)), fixed: -1}
		for _, w := range a.Weights {
			if w.Weight <= 0 {
				continue
			}
			r.vars = append(r.vars, index[w.Variant])
			r.weights = append(r.weights, float64(w.Weight))
		}
		if len(r.vars) == 0 {
			r.rollout = 0
		}
		if r.rollout >= Buckets && len(r.vars) == 1 {
			r.fixed = r.vars[0]
		}
		return r
	}
	for _, rl := range c.Rules {
		cr := rule{alloc: compileAlloc(rl.Allocation)}
		for _, cd := range rl.Conditions {
			var named []*segment
			if cd.Operator.NamesSegments() {
				var err error
				if named, err = segs.resolve(cd.Values); err != nil {
					return nil, fmt.Errorf("a rule names a segment that does not compile: %w", err)
				}
			}
			cr.conds = append(cr.conds, compileCond(cd, named))
		}
		out.rules = append(out.rules, cr)
	}
	out.def = compileAlloc(c.DefaultRule)
	out.defReason = ReasonDefault
	if len(out.rules) == 0 && out.def.fixed >= 0 {
		out.defReason = ReasonStatic
	}
	return out, nil
}

// compileCond resolves a validated condition; segs are the segments it
// names, for in_segment and not_in_segment.
func compileCond(cd domain.Condition, segs []*segment) cond {
	cc := cond{attr: cd.Attribute, tk: cd.Attribute == "targetingKey", op: ops[cd.Operator], strs: cd.Values, segs: segs}
	for _, v := range cd.Values {
		switch cc.op {
		case opGT, opGTE, opLT, opLTE:
			n, _ := strconv.ParseFloat(v, 64)
			cc.nums = append(cc.nums, n)
		case opSemverEq, opSemverGT, opSemverLT:
			sv, _ := parseVersion(v) // validated
			cc.semvers = append(cc.semvers, sv)
		case opBefore, opAfter:
			t, _ := time.Parse(time.RFC3339, v)
			cc.times = append(cc.times, t)
		}
	}
	if (cc.op == opIs || cc.op == opIsNot) && len(cc.strs) > setAbove {
		cc.set = make(map[string]struct{}, len(cc.strs))
		for _, s := range cc.strs {
			cc.set[s] = struct{}{}
		}
	}
	return cc
}

// Evaluate decides what ctx gets. It allocates nothing: conditions were
// resolved by Compile, bucketing hashes the unit value on the stack, and a
// number or boolean compared as text or bucketed by is formatted into a
// stack buffer (only one longer than 32 characters spills to the heap).
func (f *Flag) Evaluate(ctx *Context) (Result, error) {
	if !f.enabled {
		return f.offResult(ReasonDisabled, -1), nil
	}
	for i := range f.rules {
		r := &f.rules[i]
		if r.matches(ctx) {
			return f.allocate(&r.alloc, ctx, i, ReasonTargetingMatch)
		}
	}
	return f.allocate(&f.def, ctx, -1, f.defReason)
}

func (f *Flag) offResult(reason Reason, ruleIndex int) Result {
	r := f.off
	r.Reason, r.Rule, r.Off = reason, ruleIndex, true
	return r
}

// Sticky says whether the flag keeps each unit on the variant it was first
// served (sticky bucketing). Evaluate does not: it reads no storage. The
// caller keeps the assignments (package evaluate does) and serves a stored
// one with Variant.
func (f *Flag) Sticky() bool { return f.sticky }

// Variant is the result that serves variant key, if the flag has it.
func (f *Flag) Variant(key string) (Result, bool) {
	for _, r := range f.results {
		if r.Variant == key {
			r.Rule = -1
			return r, true
		}
	}
	return Result{}, false
}

// Unit is what ctx is bucketed by, as text: the flag's bucketing unit
// attribute when ctx has it (a number or boolean formatted as bucketing
// formats it), else the targeting key; false when neither is there.
func (f *Flag) Unit(ctx *Context) (string, bool) {
	if v, ok := ctx.Attributes[f.unit]; ok {
		if s, ok := v.(string); ok {
			if s != "" {
				return s, true
			}
		} else {
			var buf [32]byte
			if b, ok := appendString(buf[:0], v); ok && len(b) > 0 {
				return string(b), true
			}
		}
	}
	return ctx.TargetingKey, ctx.TargetingKey != ""
}

func (f *Flag) result(variant int, reason Reason, ruleIndex int) Result {
	r := f.results[variant]
	r.Reason, r.Rule = reason, ruleIndex
	return r
}

func (f *Flag) allocate(a *alloc, ctx *Context, ruleIndex int, reason Reason) (Result, error) {
	if a.rollout <= 0 {
		return f.offResult(ReasonDefault, ruleIndex), nil
	}
	// Only hash when something depends on it.
	if a.fixed >= 0 {
		return f.result(a.fixed, reason, ruleIndex), nil
	}
	// The bucketing unit attribute, as text, when it is there; else the
	// targeting key.
	i := -2
	if v, ok := ctx.Attributes[f.unit]; ok {
		if s, ok := v.(string); ok {
			if s != "" {
				i = place(f, a, s)
			}
		} else {
			var buf [32]byte
			if b, ok := appendString(buf[:0], v); ok && len(b) > 0 {
				i = place(f, a, b)
			}
		}
	}
	if i == -2 {
		if ctx.TargetingKey == "" {
			return Result{}, ErrTargetingKeyMissing
		}
		i = place(f, a, ctx.TargetingKey)
	}
	if i < 0 {
		return f.offResult(ReasonDefault, ruleIndex), nil
	}
	if len(a.vars) > 1 {
		reason = ReasonSplit
	}
	return f.result(i, reason, ruleIndex), nil
}

// place buckets the unit value key: the variant index it gets from a, or -1
// when it is outside the rollout.
func place[K string | []byte](f *Flag, a *alloc, key K) int {
	if a.rollout < Buckets && int(finish(absorb(f.bucketSeed, key))%Buckets) >= a.rollout {
		return -1
	}
	if len(a.vars) == 1 {
		return a.vars[0]
	}
	// weighted rendezvous: the lowest -ln(u)/weight wins, u uniform in (0, 1)
	best, bestScore := a.vars[0], math.Inf(1)
	for j, v := range a.vars {
		u := (float64(finish(absorb(f.variantSeeds[v], key))) + 0.5) / (1 << 32)
		if score := -math.Log(u) / a.weights[j]; score < bestScore {
			best, bestScore = v, score
		}
	}
	return best
}

// Bucket is the user's rollout bucket in [0, Buckets): murmur3 x86_32 of
// "<salt>/<key>".
func Bucket(salt, key string) int { return int(bucketHash(salt, key) % Buckets) }

func bucketHash(salt, key string) uint32 {
	return finish(absorb(absorb(absorb(mm3{}, salt), "/"), key))
}

// variantHash is murmur3 x86_32 of "<salt>/variant/<variant>/<key>", the
// user's draw for one variant.
func variantHash(salt, variant, key string) uint32 {
	return finish(absorb(absorb(absorb(absorb(absorb(mm3{}, salt), "/variant/"), variant), "/"), key))
}

func (r *rule) matches(ctx *Context) bool { return allHold(r.conds, ctx) }

// appendString appends v as text, the way string operators and bucketing
// see a non-string attribute.
func appendString(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return append(b, x...), true
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case json.Number:
		return append(b, x...), true
	case bool:
		return strconv.AppendBool(b, x), true
	}
	return b, false
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
		n, err := strconv.ParseFloat(string(x), 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseFloat(x, 64)
		return n, err == nil
	}
	return 0, false
}

// holds says whether the condition holds for ctx. A missing attribute, or
// one of the wrong type, makes every operator false except that exists says
// false too: negative operators (is_not, not_in, not_contains) need the
// attribute to be there, so a user is not targeted by what they lack. The
// segment operators are the exception (holdsSegments, Segments): the
// attribute only names the user in the segments' key lists, and their
// rules test other attributes.
func (c *cond) holds(ctx *Context) bool {
	if c.op >= opInSegment {
		return c.holdsSegments(ctx)
	}
	v, ok := ctx.Attributes[c.attr]
	if !ok {
		if c.tk && ctx.TargetingKey != "" {
			return c.op == opExists || c.holdsString(ctx.TargetingKey)
		}
		return false
	}
	if v == nil {
		return false
	}
	if c.op == opExists {
		return true
	}
	if s, ok := v.(string); ok {
		return c.holdsString(s)
	}
	switch c.op {
	case opIs, opIsNot, opContains, opNotContains, opStartsWith, opEndsWith:
		var buf [32]byte
		b, ok := appendString(buf[:0], v)
		return ok && matchText(c, b)
	case opGT, opGTE, opLT, opLTE:
		n, ok := toNumber(v)
		return ok && c.compareNumber(n)
	case opBefore, opAfter:
		n, ok := toNumber(v) // unix seconds
		return ok && c.compareTime(time.Unix(int64(n), 0))
	}
	return false // semver needs a string
}

// holdsString is holds for a string value.
func (c *cond) holdsString(s string) bool {
	switch c.op {
	case opIs, opIsNot, opContains, opNotContains, opStartsWith, opEndsWith:
		return matchText(c, s)
	case opGT, opGTE, opLT, opLTE:
		n, err := strconv.ParseFloat(s, 64)
		return err == nil && c.compareNumber(n)
	case opSemverEq, opSemverGT, opSemverLT:
		sv, ok := parseVersion(s)
		return ok && c.compareVersion(&sv)
	case opBefore, opAfter:
		t, err := time.Parse(time.RFC3339, s)
		return err == nil && c.compareTime(t)
	}
	return false
}

// matchText applies a string operator to s. It takes []byte too, so that a
// number or boolean formatted into a stack buffer is compared in place.
func matchText[S string | []byte](c *cond, s S) bool {
	switch c.op {
	case opIs, opIsNot:
		found := false
		if c.set != nil {
			_, found = c.set[string(s)]
		} else {
			for _, want := range c.strs {
				if string(s) == want {
					found = true
					break
				}
			}
		}
		return found == (c.op == opIs)
	case opContains, opNotContains:
		found := false
		for _, want := range c.strs {
			if strings.Contains(string(s), want) {
				found = true
				break
			}
		}
		return found == (c.op == opContains)
	case opStartsWith:
		for _, want := range c.strs {
			if len(s) >= len(want) && string(s[:len(want)]) == want {
				return true
			}
		}
	case opEndsWith:
		for _, want := range c.strs {
			if len(s) >= len(want) && string(s[len(s)-len(want):]) == want {
				return true
			}
		}
	}
	return false
}

func (c *cond) compareNumber(n float64) bool {
	for _, want := range c.nums {
		switch c.op {
		case opGT:
			if n > want {
				return true
			}
		case opGTE:
			if n >= want {
				return true
			}
		case opLT:
			if n < want {
				return true
			}
		case opLTE:
			if n <= want {
				return true
			}
		}
	}
	return false
}

func (c *cond) compareVersion(v *version) bool {
	for i := range c.semvers {
		cmp := v.compare(&c.semvers[i])
		if (c.op == opSemverEq && cmp == 0) || (c.op == opSemverGT && cmp > 0) || (c.op == opSemverLT && cmp < 0) {
			return true
		}
	}
	return false
}

func (c *cond) compareTime(t time.Time) bool {
	for _, want := range c.times {
		if (c.op == opBefore && t.Before(want)) || (c.op == opAfter && t.After(want)) {
			return true
		}
	}
	return false
}
