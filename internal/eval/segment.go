package eval

import (
	"fmt"
	"sort"

	"github.com/countersign/countersign/internal/domain"
)

// Segments are a ruleset's segments, compiled once (CompileSegments) and
// shared by every flag that names them: Compile resolves a condition's
// segment keys to the compiled segments, so evaluating in_segment looks
// nothing up by segment key and allocates nothing.
//
// A context is in a segment, as in LaunchDarkly, when the value of the
// condition's attribute (the targeting key for targetingKey, a number or
// boolean as text) is one of the segment's included keys; else not when it
// is one of its excluded keys; else when any of the segment's rules holds
// (all its conditions, with the operators and semantics of targeting
// conditions). A context without the attribute (or with null, an object, an
// array) is in neither list, and the rules still decide. in_segment holds
// when the context is in any of the named segments, not_in_segment when it
// is in none: unlike the negative operators of attributes, not_in_segment
// holds for a context that lacks the attribute (LaunchDarkly's negated
// segmentMatch does the same).
//
// A segment a condition names that the ruleset lacks (the app refuses such
// targeting and a segment in use cannot be deleted; data written otherwise
// could still name one) contains nobody: in_segment is false and
// not_in_segment true. A segment that does not compile (it does not
// validate: data written by another version) is different: Compile refuses
// a flag that names it, so that the flag is reported rather than served
// targeting that silently ignores the segment.
type Segments struct {
	byKey  map[string]*segment
	broken map[string]error
}

type segment struct {
	key      string
	included map[string]struct{} // nil when empty
	excluded map[string]struct{} // nil when empty
	rules    [][]cond            // each: all its conditions must hold
}

// CompileSegments compiles a ruleset's segments. It always returns
// segments: one that does not validate, or whose key is listed twice, is
// kept as broken (Broken reports it, Compile refuses a flag naming it), and
// the others are compiled. A nil *Segments is a ruleset without segments.
func CompileSegments(segs []domain.Segment) *Segments {
	out := &Segments{byKey: make(map[string]*segment, len(segs)), broken: map[string]error{}}
	seen := make(map[string]bool, len(segs))
	for i := range segs {
		s := &segs[i]
		if seen[s.Key] {
			delete(out.byKey, s.Key)
			out.broken[s.Key] = fmt.Errorf("segment %s: listed twice in the ruleset", s.Key)
			continue
		}
		seen[s.Key] = true
		if err := s.Validate(); err != nil {
			out.broken[s.Key] = fmt.Errorf("segment %s: %w", s.Key, err)
			continue
		}
		out.byKey[s.Key] = compileSegment(s)
	}
	return out
}

func compileSegment(s *domain.Segment) *segment {
	out := &segment{key: s.Key, included: keySet(s.Included), excluded: keySet(s.Excluded)}
	for _, r := range s.Rules {
		conds := make([]cond, 0, len(r.Conditions))
		for _, cd := range r.Conditions {
			conds = append(conds, compileCond(cd, nil)) // validated: no segment operators
		}
		out.rules = append(out.rules, conds)
	}
	return out
}

func keySet(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// Keys lists the keys of the segments compiled, sorted (broken ones not
// included).
func (s *Segments) Keys() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.byKey))
	for k := range s.byKey {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Broken are the segments that do not compile, by key, with why.
func (s *Segments) Broken() map[string]error {
	if s == nil {
		return nil
	}
	return s.broken
}

// resolve is what Compile makes of the segment keys of a condition: the
// compiled segments, missing ones left out; an error when one is broken.
func (s *Segments) resolve(keys []string) ([]*segment, error) {
	if s == nil {
		return nil, nil
	}
	var out []*segment
	for _, k := range keys {
		if err := s.broken[k]; err != nil {
			return nil, err
		}
		if seg := s.byKey[k]; seg != nil {
			out = append(out, seg)
		}
	}
	return out, nil
}

// holdsSegments is holds for in_segment and not_in_segment.
func (c *cond) holdsSegments(ctx *Context) bool {
	in := false
	v, ok := ctx.Attributes[c.attr]
	switch {
	case !ok:
		if c.tk && ctx.TargetingKey != "" {
			in = inAny(c.segs, ctx, ctx.TargetingKey, true)
		} else {
			in = inAny(c.segs, ctx, "", false)
		}
	case v == nil:
		in = inAny(c.segs, ctx, "", false)
	default:
		if s, isString := v.(string); isString {
			in = inAny(c.segs, ctx, s, true)
		} else {
			var buf [32]byte
			b, fine := appendString(buf[:0], v)
			in = inAny(c.segs, ctx, b, fine)
		}
	}
	return in == (c.op == opInSegment)
}

// inAny says whether ctx, whose key for the segments' lists is key (none
// when !hasKey), is in any of segs.
func inAny[K string | []byte](segs []*segment, ctx *Context, key K, hasKey bool) bool {
	for _, s := range segs {
		if contains(s, ctx, key, hasKey) {
			return true
		}
	}
	return false
}

// contains says whether ctx is in s: its key included, else not when
// excluded, else when any rule holds.
func contains[K string | []byte](s *segment, ctx *Context, key K, hasKey bool) bool {
	if hasKey {
		if _, ok := s.included[string(key)]; ok {
			return true
		}
		if _, ok := s.excluded[string(key)]; ok {
			return false
		}
	}
	for _, r := range s.rules {
		if allHold(r, ctx) {
			return true
		}
	}
	return false
}

func allHold(conds []cond, ctx *Context) bool {
	for i := range conds {
		if !conds[i].holds(ctx) {
			return false
		}
	}
	return true
}
