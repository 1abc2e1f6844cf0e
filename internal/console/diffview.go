package console

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/domain"
)

// The diff as a person reads it: the change in parts (the switch, the off
// variant, each rule, the default rule, the variants), each with its
// lines before and after. Lines that differ are marked, so a rollout or a
// weight that moved stands out.

// diffPart is one changed part.
type diffPart struct {
	Title  string
	Kind   string // "added", "removed" or "changed"
	Before []diffLine
	After  []diffLine
}

// diffLine is one line of a part; Changed marks a line the other side
// does not have.
type diffLine struct {
	Text    string
	Changed bool
}

// part compares the lines of one part; nil when nothing differs.
func part(title string, before, after []string) *diffPart {
	if slices.Equal(before, after) {
		return nil
	}
	p := &diffPart{Title: title, Kind: "changed"}
	switch {
	case before == nil:
		p.Kind = "added"
	case after == nil:
		p.Kind = "removed"
	}
	p.Before = markLines(before, after)
	p.After = markLines(after, before)
	return p
}

func markLines(lines, other []string) []diffLine {
	out := make([]diffLine, len(lines))
	for i, l := range lines {
		out[i] = diffLine{Text: l, Changed: !slices.Contains(other, l)}
	}
	return out
}

func appendPart(parts []diffPart, p *diffPart) []diffPart {
	if p != nil {
		parts = append(parts, *p)
	}
	return parts
}

// configParts compares targeting (before is nil for a flag never
// configured, or gone).
func configParts(before, after *domain.FlagConfig) []diffPart {
	if after == nil {
		return nil
	}
	if before == nil {
		before = &domain.FlagConfig{Rules: []domain.Rule{}}
	}
	var parts []diffPart
	parts = appendPart(parts, part("Targeting", []string{"Targeting is " + onOff(before.Enabled)}, []string{"Targeting is " + onOff(after.Enabled)}))
	parts = appendPart(parts, part("Off variant", []string{"Serves " + quoted(before.OffVariant) + " when off"}, []string{"Serves " + quoted(after.OffVariant) + " when off"}))
	// rules are matched by name when they have one, else by position
	matched := map[int]bool{}
	for i, r := range after.Rules {
		j := findRule(before.Rules, r, i)
		var old []string
		if j >= 0 {
			matched[j] = true
			old = ruleLines(before.Rules[j])
		}
		parts = appendPart(parts, part(ruleTitle(r, i), old, ruleLines(r)))
	}
	for j, r := range before.Rules {
		if !matched[j] {
			parts = appendPart(parts, part(ruleTitle(r, j), ruleLines(r), nil))
		}
	}
	parts = appendPart(parts, part("Default rule (everyone else)", allocationLines(before.DefaultRule), allocationLines(after.DefaultRule)))
	parts = appendPart(parts, part("Sticky bucketing", []string{onOff(before.StickyBucketing)}, []string{onOff(after.StickyBucketing)}))
	parts = appendPart(parts, part("Exposure event", []string{orNone(before.ExposureEvent)}, []string{orNone(after.ExposureEvent)}))
	return parts
}

func findRule(rules []domain.Rule, r domain.Rule, i int) int {
	if r.Name != "" {
		for j, o := range rules {
			if o.Name == r.Name {
				return j
			}
		}
		return -1
	}
	if i < len(rules) && rules[i].Name == "" {
		return i
	}
	return -1
}

func ruleTitle(r domain.Rule, i int) string {
	if r.Name != "" {
		return fmt.Sprintf("Rule %d, %q", i+1, r.Name)
	}
	return fmt.Sprintf("Rule %d", i+1)
}

// ruleLines says a rule in lines: its conditions, then who it serves.
func ruleLines(r domain.Rule) []string {
	var out []string
	for _, c := range r.Conditions {
		out = append(out, conditionText(c))
	}
	if len(r.Conditions) == 0 {
		out = append(out, "Everyone")
	}
	return append(out, allocationLines(r.Allocation)...)
}

// conditionText is a condition as a sentence: "country is one of DE, FR".
func conditionText(c domain.Condition) string {
	return fmt.Sprintf("If %s %s %s", c.Attribute, strings.ReplaceAll(string(c.Operator), "_", " "), strings.Join(c.Values, ", "))
}

// allocationLines: the rollout, and the weights with their shares.
func allocationLines(a domain.Allocation) []string {
	out := []string{"Rollout " + pct(a.Rollout)}
	total := 0
	for _, w := range a.Weights {
		total += w.Weight
	}
	for _, w := range a.Weights {
		share := ""
		if total > 0 {
			share = " (" + pct(float64(w.Weight)*100/float64(total)) + ")"
		}
		out = append(out, fmt.Sprintf("Serves %s, weight %d%s", quoted(w.Variant), w.Weight, share))
	}
	return out
}

// flagParts compares flag-level fields: variants by key, and the fields
// that change who gets what.
func flagParts(before, after *domain.Flag) []diffPart {
	if after == nil {
		return nil
	}
	if before == nil {
		before = &domain.Flag{}
	}
	var parts []diffPart
	seen := map[string]bool{}
	for _, v := range after.Variants {
		seen[v.Key] = true
		var old []string
		for _, o := range before.Variants {
			if o.Key == v.Key {
				old = variantLines(o)
			}
		}
		parts = appendPart(parts, part("Variant "+quoted(v.Key), old, variantLines(v)))
	}
	for _, o := range before.Variants {
		if !seen[o.Key] {
			parts = appendPart(parts, part("Variant "+quoted(o.Key), variantLines(o), nil))
		}
	}
	parts = appendPart(parts, part("Archived", []string{archivedText(before.Archived)}, []string{archivedText(after.Archived)}))
	parts = appendPart(parts, part("Name", []string{before.Name}, []string{after.Name}))
	parts = appendPart(parts, part("Description", []string{orNone(before.Description)}, []string{orNone(after.Description)}))
	parts = appendPart(parts, part("Tags", []string{orNone(strings.Join(before.Tags, ", "))}, []string{orNone(strings.Join(after.Tags, ", "))}))
	parts = appendPart(parts, part("Bucketing", []string{"By " + before.BucketingUnit, "Salt " + before.BucketingSalt}, []string{"By " + after.BucketingUnit, "Salt " + after.BucketingSalt}))
	parts = appendPart(parts, part("Evaluation", []string{string(before.EvaluationMode)}, []string{string(after.EvaluationMode)}))
	return parts
}

func variantLines(v domain.Variant) []string {
	out := []string{"Value " + string(v.Value)}
	if v.Name != "" {
		out = append(out, "Name "+v.Name)
	}
	if v.Description != "" {
		out = append(out, "Description "+v.Description)
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func quoted(s string) string { return strconv.Quote(s) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func archivedText(a bool) string {
	if a {
		return "Archived: not served (SDKs fall back to their defaults)"
	}
	return "Not archived: served as its targeting says"
}
