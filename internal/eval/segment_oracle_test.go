package eval_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// TestSegmentOracle holds in_segment and not_in_segment to a reference
// written from the semantics (LaunchDarkly's): for random segments (keys
// included and excluded, rules of conditions), conditions naming some of
// them (and segments that do not exist) by a random attribute, and random
// contexts, the compiled flag's answer is the reference's. The reference
// derives the key as text itself, looks it up in plain slices, and decides
// each segment rule condition with a flag compiled from that condition
// alone (the targeting conditions' own semantics, tested elsewhere).
func TestSegmentOracle(t *testing.T) {
	keyPool := []string{"ada", "bob", "42", "true", "1.5", "x-1", "Ada"}
	attrPool := []string{"targetingKey", "user_id", "account"}
	condPool := []domain.Condition{
		{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}},
		{Attribute: "country", Operator: domain.OpNotIn, Values: []string{"DE", "FR"}},
		{Attribute: "plan", Operator: domain.OpIn, Values: []string{"pro", "team"}},
		{Attribute: "age", Operator: domain.OpGTE, Values: []string{"18"}},
		{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}},
		{Attribute: "app_version", Operator: domain.OpSemverLT, Values: []string{"2.0.0"}},
		{Attribute: "beta", Operator: domain.OpExists},
		{Attribute: "targetingKey", Operator: domain.OpStartsWith, Values: []string{"a"}},
		{Attribute: "user_id", Operator: domain.OpContains, Values: []string{"o"}},
	}
	valuePool := map[string][]any{
		"country":      {"DE", "FR", "IT", 1.0},
		"plan":         {"pro", "free", "team"},
		"age":          {17.0, 18, json.Number("30"), "21", true},
		"email":        {"a@example.com", "b@else.org"},
		"app_version":  {"1.9.0", "2.0.0", "v3.1.4", "x"},
		"beta":         {true, false, nil},
		"user_id":      {"ada", "bob", "Ada", 42.0, nil, map[string]any{"k": "ada"}},
		"account":      {42, 1.5, json.Number("42"), true, "x-1", nil},
		"targetingKey": {"ada", "bob", "zed"},
	}
	alone := map[int]*eval.Flag{}
	condFlag := func(t *rapid.T, i int) *eval.Flag {
		if f := alone[i]; f != nil {
			return f
		}
		f, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{{
			Conditions: []domain.Condition{condPool[i]}, Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = f
		return f
	}
	rapid.Check(t, func(t *rapid.T) {
		type refSegment struct {
			included, excluded []string
			rules              [][]int // indexes into condPool
		}
		n := rapid.IntRange(0, 4).Draw(t, "segments")
		ref := map[string]refSegment{}
		var segs []domain.Segment
		for i := range n {
			key := fmt.Sprintf("s%d", i)
			// each key of the pool at most once: included, excluded or neither
			var s refSegment
			for _, k := range keyPool {
				switch rapid.IntRange(0, 2).Draw(t, "list of "+k) {
				case 0:
					s.included = append(s.included, k)
				case 1:
					s.excluded = append(s.excluded, k)
				}
			}
			var rules []domain.SegmentRule
			for range rapid.IntRange(0, 3).Draw(t, "rules") {
				idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(condPool)-1), 1, 2, rapid.ID[int]).Draw(t, "conditions")
				var conds []domain.Condition
				for _, c := range idx {
					conds = append(conds, condPool[c])
				}
				rules = append(rules, domain.SegmentRule{Conditions: conds})
				s.rules = append(s.rules, idx)
			}
			ref[key] = s
			segs = append(segs, domain.Segment{Project: "p", Key: key, Name: key, Included: s.included, Excluded: s.excluded, Rules: rules})
		}
		compiled := eval.CompileSegments(segs)
		if len(compiled.Broken()) != 0 {
			t.Fatalf("broken: %v", compiled.Broken())
		}
		names := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"s0", "s1", "s2", "s3", "gone"}), 1, 3, rapid.ID[string]).Draw(t, "named")
		attr := rapid.SampledFrom(attrPool).Draw(t, "attribute")
		op := rapid.SampledFrom([]domain.Operator{domain.OpInSegment, domain.OpNotInSegment}).Draw(t, "operator")
		f, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{{
			Conditions: []domain.Condition{{Attribute: attr, Operator: op, Values: names}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}}}}}, compiled)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &eval.Context{TargetingKey: rapid.SampledFrom([]string{"", "ada", "bob", "zed"}).Draw(t, "targeting key"), Attributes: map[string]any{}}
		for _, name := range slices.Sorted(maps.Keys(valuePool)) { // in one order: rapid replays draws
			values := valuePool[name]
			if i := rapid.IntRange(-1, len(values)-1).Draw(t, name); i >= 0 {
				ctx.Attributes[name] = values[i]
			}
		}

		// the reference
		key, hasKey := "", false
		if v, ok := ctx.Attributes[attr]; !ok {
			key, hasKey = ctx.TargetingKey, attr == "targetingKey" && ctx.TargetingKey != ""
		} else {
			switch x := v.(type) {
			case string:
				key, hasKey = x, true
			case float64:
				key, hasKey = strconv.FormatFloat(x, 'f', -1, 64), true
			case int:
				key, hasKey = strconv.Itoa(x), true
			case json.Number:
				key, hasKey = string(x), true
			case bool:
				key, hasKey = strconv.FormatBool(x), true
			}
		}
		listed := func(list []string) bool {
			for _, k := range list {
				if hasKey && k == key {
					return true
				}
			}
			return false
		}
		in := false
		for _, name := range names {
			s, ok := ref[name]
			switch {
			case !ok:
			case listed(s.included):
				in = true
			case listed(s.excluded):
			default:
				for _, r := range s.rules {
					all := true
					for _, c := range r {
						res, err := condFlag(t, c).Evaluate(ctx)
						if err != nil {
							t.Fatal(err)
						}
						all = all && res.Rule == 0
					}
					in = in || all
				}
			}
		}
		want := in == (op == domain.OpInSegment)

		r, err := f.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Rule == 0; got != want {
			t.Fatalf("%s %s %v with %q %v: eval says %v, the reference %v", attr, op, names, ctx.TargetingKey, ctx.Attributes, got, want)
		}
	})
}
