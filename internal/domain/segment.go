package domain

import (
	"fmt"
	"time"
)

// The segment operators: a condition {attribute, in_segment, [keys...]}
// holds when the context is in any of the named segments, with the
// attribute's value as the context's key for the segments' included and
// excluded lists; not_in_segment holds when it is in none of them.
const (
	OpInSegment    Operator = "in_segment"
	OpNotInSegment Operator = "not_in_segment"
)

// Segment is a reusable audience of one project: targeting rules name it
// with in_segment / not_in_segment. A context is in the segment when its
// key is included, else when it is not excluded and any of the segment's
// rules holds (all of a rule's conditions), as in LaunchDarkly.
type Segment struct {
	Project     string
	Key         string
	Name        string
	Description string
	Included    []string
	Excluded    []string
	Rules       []SegmentRule
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SegmentRule is one way into a segment: all its conditions must hold. A
// segment's rules do not name other segments.
type SegmentRule struct {
	Conditions []Condition
}

// Limits of a segment. Its keys live in its one item (DynamoDB's 400 KB),
// and a change request carries the whole proposed segment, next to its
// comments (MaxCommentBytes): the keys are bounded in count and in bytes.
const (
	MaxSegmentKeys      = 10_000    // included and excluded keys together
	MaxSegmentKeyBytes  = 128 << 10 // bytes of all included and excluded keys
	MaxSegmentKeyLength = 256       // bytes of one key
	MaxSegmentRules     = 50
)

// Validate checks a segment on its own (the segments its rules could name
// are refused: a segment's rules test attributes only).
func (s *Segment) Validate() error {
	var v Validation
	if !ValidKey(s.Key) {
		v.Add("/key", "must be lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters")
	}
	checkName(&v, "/name", s.Name, true)
	checkDescription(&v, "/description", s.Description)
	if n := len(s.Included) + len(s.Excluded); n > MaxSegmentKeys {
		v.Add("/included", "a segment holds at most %d included and excluded keys together (it has %d)", MaxSegmentKeys, n)
	}
	bytes := 0
	seen := make(map[string]string, len(s.Included)+len(s.Excluded))
	for _, list := range []struct {
		ptr  string
		keys []string
	}{{"/included", s.Included}, {"/excluded", s.Excluded}} {
		for i, k := range list.keys {
			ptr := fmt.Sprintf("%s/%d", list.ptr, i)
			bytes += len(k)
			switch {
			case k == "":
				v.Add(ptr, "a key must not be empty")
			case len(k) > MaxSegmentKeyLength:
				v.Add(ptr, "a key is at most %d bytes", MaxSegmentKeyLength)
			case seen[k] != "":
				v.Add(ptr, "key %q is already listed (%s)", k, seen[k])
			}
			seen[k] = ptr
		}
	}
	if bytes > MaxSegmentKeyBytes {
		v.Add("/included", "the included and excluded keys add up to %d bytes; a segment holds at most %d KB of keys", bytes, MaxSegmentKeyBytes>>10)
	}
	if len(s.Rules) > MaxSegmentRules {
		v.Add("/rules", "at most %d rules", MaxSegmentRules)
	}
	for i, r := range s.Rules {
		ptr := fmt.Sprintf("/rules/%d", i)
		if len(r.Conditions) == 0 {
			v.Add(ptr+"/conditions", "a rule needs at least one condition")
		}
		if len(r.Conditions) > MaxConditionsPerRule {
			v.Add(ptr+"/conditions", "at most %d conditions", MaxConditionsPerRule)
		}
		for j, c := range r.Conditions {
			cp := fmt.Sprintf("%s/conditions/%d", ptr, j)
			if c.Operator.NamesSegments() {
				v.Add(cp+"/operator", "a segment's rules cannot name segments")
				continue
			}
			c.validate(&v, cp)
		}
	}
	return v.Err()
}

// NamesSegments reports whether the operator's values are segment keys.
func (o Operator) NamesSegments() bool { return o == OpInSegment || o == OpNotInSegment }

// SegmentsUsed lists the segment keys c's rules name, each once, in the
// order they first appear.
func (c *FlagConfig) SegmentsUsed() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range c.Rules {
		for _, cond := range r.Conditions {
			if !cond.Operator.NamesSegments() {
				continue
			}
			for _, k := range cond.Values {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
		}
	}
	return out
}
