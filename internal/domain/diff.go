package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wI2L/jsondiff"
)

// Diff is a computed difference between the live state and a proposal:
// RFC 6902 operations that turn one into the other, and readable lines.
type Diff struct {
	Operations json.RawMessage `json:"operations"`
	Summary    []string        `json:"summary"`
}

// Empty reports whether nothing differs.
func (d *Diff) Empty() bool { return d == nil || len(d.Summary) == 0 }

// ignoredInDiff are bookkeeping fields, not part of what users see.
var ignoredInDiff = []string{"/version", "/updated_at", "/created_at"}

func operations(from, to any) (json.RawMessage, error) {
	patch, err := jsondiff.Compare(from, to, jsondiff.Ignores(ignoredInDiff...))
	if err != nil {
		return nil, fmt.Errorf("compute diff: %w", err)
	}
	if len(patch) == 0 {
		return json.RawMessage("[]"), nil
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return nil, fmt.Errorf("encode diff: %w", err)
	}
	return raw, nil
}

// ConfigDiff compares live targeting with a proposal.
func ConfigDiff(live, proposed *FlagConfig) (*Diff, error) {
	ops, err := operations(live, proposed)
	if err != nil {
		return nil, err
	}
	return &Diff{Operations: ops, Summary: summarizeConfig(live, proposed)}, nil
}

// FlagDiff compares a live flag with a proposal.
func FlagDiff(live, proposed *Flag) (*Diff, error) {
	ops, err := operations(live, proposed)
	if err != nil {
		return nil, err
	}
	return &Diff{Operations: ops, Summary: summarizeFlag(live, proposed)}, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func pct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + " %" }

func weights(ws []Weight) string {
	if len(ws) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s:%d", w.Variant, w.Weight))
	}
	return strings.Join(parts, " ")
}

func conditions(cs []Condition) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.Operator == OpExists {
			parts = append(parts, c.Attribute+" exists")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s [%s]", c.Attribute, c.Operator, strings.Join(c.Values, ", ")))
	}
	if len(parts) == 0 {
		return "everyone"
	}
	return strings.Join(parts, " and ")
}

func ruleName(r Rule, i int) string {
	if r.Name != "" {
		return fmt.Sprintf("rule %q", r.Name)
	}
	return fmt.Sprintf("rule %d", i+1)
}

func summarizeAllocation(out []string, what string, a, b Allocation) []string {
	if a.Rollout != b.Rollout {
		out = append(out, fmt.Sprintf("rollout of %s %s → %s", what, pct(a.Rollout), pct(b.Rollout)))
	}
	if !slices.Equal(a.Weights, b.Weights) {
		out = append(out, fmt.Sprintf("weights of %s %s → %s", what, weights(a.Weights), weights(b.Weights)))
	}
	return out
}

func summarizeConfig(a, b *FlagConfig) []string {
	out := []string{}
	if a.Enabled != b.Enabled {
		out = append(out, fmt.Sprintf("targeting %s → %s", onOff(a.Enabled), onOff(b.Enabled)))
	}
	// Rules are matched by name where they have one, else by position.
	byName := func(rs []Rule) map[string]int {
		m := map[string]int{}
		for i, r := range rs {
			if r.Name != "" {
				m[r.Name] = i
			}
		}
		return m
	}
	oldNames, newNames := byName(a.Rules), byName(b.Rules)
	matched := map[int]bool{}
	for i, nr := range b.Rules {
		j, ok := oldNames[nr.Name]
		if nr.Name == "" || !ok {
			if nr.Name == "" && i < len(a.Rules) && a.Rules[i].Name == "" {
				j, ok = i, true
			}
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s added: %s, rollout %s, weights %s", ruleName(nr, i), conditions(nr.Conditions), pct(nr.Rollout), weights(nr.Weights)))
			continue
		}
		matched[j] = true
		or := a.Rules[j]
		name := ruleName(nr, i)
		if j != i {
			out = append(out, fmt.Sprintf("%s moved from position %d to %d", name, j+1, i+1))
		}
		if !slices.EqualFunc(or.Conditions, nr.Conditions, conditionEqual) {
			out = append(out, fmt.Sprintf("conditions of %s: %s → %s", name, conditions(or.Conditions), conditions(nr.Conditions)))
		}
		out = summarizeAllocation(out, name, or.Allocation, nr.Allocation)
	}
	for j, or := range a.Rules {
		if !matched[j] {
			if _, renamed := newNames[or.Name]; !renamed || or.Name == "" {
				out = append(out, fmt.Sprintf("%s removed", ruleName(or, j)))
			}
		}
	}
	out = summarizeAllocation(out, "all other users", a.DefaultRule, b.DefaultRule)
	if a.OffVariant != b.OffVariant {
		out = append(out, fmt.Sprintf("off variant %s → %s", a.OffVariant, b.OffVariant))
	}
	if a.StickyBucketing != b.StickyBucketing {
		out = append(out, fmt.Sprintf("sticky bucketing %s → %s", onOff(a.StickyBucketing), onOff(b.StickyBucketing)))
	}
	if a.ExposureEvent != b.ExposureEvent {
		out = append(out, fmt.Sprintf("exposure event %q → %q", a.ExposureEvent, b.ExposureEvent))
	}
	return out
}

func conditionEqual(x, y Condition) bool {
	return x.Attribute == y.Attribute && x.Operator == y.Operator && slices.Equal(x.Values, y.Values)
}

func summarizeFlag(a, b *Flag) []string {
	out := []string{}
	if a.Name != b.Name {
		out = append(out, fmt.Sprintf("name %q → %q", a.Name, b.Name))
	}
	if a.Description != b.Description {
		out = append(out, "description changed")
	}
	if !slices.Equal(a.Tags, b.Tags) {
		out = append(out, fmt.Sprintf("tags [%s] → [%s]", strings.Join(a.Tags, ", "), strings.Join(b.Tags, ", ")))
	}
	if a.Maintainer != b.Maintainer {
		out = append(out, fmt.Sprintf("maintainer %s → %s", a.Maintainer, b.Maintainer))
	}
	if a.MaintainerTeam != b.MaintainerTeam {
		out = append(out, fmt.Sprintf("maintainer team %s → %s", orNone(a.MaintainerTeam), orNone(b.MaintainerTeam)))
	}
	if a.BucketingUnit != b.BucketingUnit {
		out = append(out, fmt.Sprintf("bucketing unit %s → %s", a.BucketingUnit, b.BucketingUnit))
	}
	if a.BucketingSalt != b.BucketingSalt {
		out = append(out, "bucketing salt changed (users will be reshuffled)")
	}
	if a.EvaluationMode != b.EvaluationMode {
		out = append(out, fmt.Sprintf("evaluation mode %s → %s", a.EvaluationMode, b.EvaluationMode))
	}
	if a.Archived != b.Archived {
		out = append(out, fmt.Sprintf("archived %t → %t", a.Archived, b.Archived))
	}
	if a.ClientExposed != b.ClientExposed {
		out = append(out, fmt.Sprintf("exposed to client keys (browsers, mobile apps) %t → %t", a.ClientExposed, b.ClientExposed))
	}
	old := map[string]Variant{}
	for _, v := range a.Variants {
		old[v.Key] = v
	}
	seen := map[string]bool{}
	for _, v := range b.Variants {
		seen[v.Key] = true
		ov, ok := old[v.Key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("variant %s added (value %s)", v.Key, v.Value))
		case !JSONEqual(ov.Value, v.Value):
			out = append(out, fmt.Sprintf("value of variant %s %s → %s", v.Key, ov.Value, v.Value))
		case ov.Name != v.Name || ov.Description != v.Description:
			out = append(out, fmt.Sprintf("variant %s renamed or described", v.Key))
		}
	}
	for _, v := range a.Variants {
		if !seen[v.Key] {
			out = append(out, fmt.Sprintf("variant %s removed", v.Key))
		}
	}
	return out
}

// JSONEqual reports whether two JSON documents have the same value
// (whitespace and key order aside).
func JSONEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// AnyDiff compares two values of any kind: operations, and a summary line
// per changed field.
func AnyDiff(from, to any) (*Diff, error) {
	ops, err := operations(from, to)
	if err != nil {
		return nil, err
	}
	var list []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	_ = json.Unmarshal(ops, &list)
	summary := make([]string, 0, len(list))
	for _, o := range list {
		summary = append(summary, o.Op+" "+o.Path)
	}
	return &Diff{Operations: ops, Summary: summary}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
