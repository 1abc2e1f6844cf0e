package eval_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// The five cases of issue 6's in-process benchmark, and two of segments
// (issue 15). The same flags, built for LaunchDarkly's evaluator as well,
// are in scripts/bench/evalcompare (segment_10k_keys included): keep the
// two in step.

func benchFlag() *domain.Flag {
	return &domain.Flag{Project: "p", Key: "bench", Name: "Bench", BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: json.RawMessage(`"A"`)}, {Key: "b", Value: json.RawMessage(`"B"`)}, {Key: "c", Value: json.RawMessage(`"C"`)}}}
}

func alloc100(v string) domain.Allocation {
	return domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: v, Weight: 1}}}
}

// benchConfigs are the five flags, by case name.
func benchConfigs() map[string]*domain.FlagConfig {
	fiveClauses := []domain.Condition{
		{Attribute: "country", Operator: domain.OpIn, Values: []string{"DE", "AT", "CH"}},
		{Attribute: "plan", Operator: domain.OpIs, Values: []string{"pro"}},
		{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}},
		{Attribute: "age", Operator: domain.OpGTE, Values: []string{"18"}},
		{Attribute: "app_version", Operator: domain.OpSemverGT, Values: []string{"1.2.0"}},
	}
	hundred := make([]domain.Rule, 100)
	for i := range hundred {
		hundred[i] = domain.Rule{
			Conditions: []domain.Condition{{Attribute: "plan", Operator: domain.OpIs, Values: []string{fmt.Sprintf("plan-%d", i)}}},
			Allocation: alloc100("a"),
		}
	}
	return map[string]*domain.FlagConfig{
		"static": {Enabled: true, OffVariant: "c", DefaultRule: alloc100("a")},
		"rule_1_clause": {Enabled: true, OffVariant: "c", Rules: []domain.Rule{{
			Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}},
			Allocation: alloc100("a"),
		}}, DefaultRule: alloc100("b")},
		"rule_5_clauses": {Enabled: true, OffVariant: "c", Rules: []domain.Rule{{Conditions: fiveClauses, Allocation: alloc100("a")}}, DefaultRule: alloc100("b")},
		"rollout_weights": {Enabled: true, OffVariant: "c", DefaultRule: domain.Allocation{Rollout: 30,
			Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 4}}}},
		"100_rules_fallthrough": {Enabled: true, OffVariant: "c", Rules: hundred, DefaultRule: alloc100("b")},
		// the targeting key in a segment of 10 000 included keys: half the
		// users are listed, the others fall through
		"segment_10k_keys": {Enabled: true, OffVariant: "c", Rules: []domain.Rule{{
			Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta-10k"}}},
			Allocation: alloc100("a"),
		}}, DefaultRule: alloc100("b")},
		// the users are in none of the segment's lists; its first rule
		// takes them
		"segment_rules": {Enabled: true, OffVariant: "c", Rules: []domain.Rule{{
			Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"rules"}}},
			Allocation: alloc100("a"),
		}}, DefaultRule: alloc100("b")},
	}
}

var benchCases = []string{"static", "rule_1_clause", "rule_5_clauses", "rollout_weights", "100_rules_fallthrough", "segment_10k_keys", "segment_rules"}

// benchSegments are the segments the flags can name, compiled once:
//
//   - beta-10k includes 10 000 keys, user-0, user-2, ... user-19998;
//   - rules includes 123456789012 and true, excludes blocked, and takes
//     Germans on the pro plan, or app versions above 2.0.0.
var benchSegments = sync.OnceValue(func() *eval.Segments {
	keys := make([]string, 0, domain.MaxSegmentKeys)
	for i := 0; i < 2*domain.MaxSegmentKeys; i += 2 {
		keys = append(keys, fmt.Sprintf("user-%d", i))
	}
	segs := eval.CompileSegments([]domain.Segment{
		{Project: "p", Key: "beta-10k", Name: "Beta", Included: keys},
		{Project: "p", Key: "rules", Name: "Rules", Included: []string{"123456789012", "true"}, Excluded: []string{"blocked"}, Rules: []domain.SegmentRule{
			{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}, {Attribute: "plan", Operator: domain.OpIs, Values: []string{"pro"}}}},
			{Conditions: []domain.Condition{{Attribute: "app_version", Operator: domain.OpSemverGT, Values: []string{"2.0.0"}}}},
		}},
	})
	if len(segs.Broken()) != 0 {
		panic(fmt.Sprint(segs.Broken()))
	}
	return segs
})

// benchUsers are the users every case is evaluated for, in turn: different
// keys (so rollouts hash different input), the same attributes.
func benchUsers() []*eval.Context {
	users := make([]*eval.Context, 256)
	for i := range users {
		users[i] = &eval.Context{TargetingKey: fmt.Sprintf("user-%d", i), Attributes: map[string]any{
			"country": "DE", "plan": "pro", "email": fmt.Sprintf("user-%d@example.com", i), "age": 30.0, "app_version": "1.4.2",
		}}
	}
	return users
}

func compileBench(tb testing.TB, name string) *eval.Flag {
	f, err := eval.Compile(benchFlag(), benchConfigs()[name], benchSegments())
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

var sink eval.Result

func BenchmarkEvaluate(b *testing.B) {
	users := benchUsers()
	for _, name := range benchCases {
		f := compileBench(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r, err := f.Evaluate(users[i&255])
				if err != nil {
					b.Fatal(err)
				}
				sink = r
				i++
			}
		})
	}
}

// What the benchmark cases serve: the rule cases match, the 100 rules fall
// through to the default, the rollout splits 70 : 6 : 24.
func TestBenchCases(t *testing.T) {
	users := benchUsers()
	want := map[string]struct {
		variant string
		rule    int
		reason  eval.Reason
	}{
		"static":                {"a", -1, eval.ReasonStatic},
		"rule_1_clause":         {"a", 0, eval.ReasonTargetingMatch},
		"rule_5_clauses":        {"a", 0, eval.ReasonTargetingMatch},
		"100_rules_fallthrough": {"b", -1, eval.ReasonDefault},
		"segment_10k_keys":      {"a", 0, eval.ReasonTargetingMatch}, // user-0 is listed
		"segment_rules":         {"a", 0, eval.ReasonTargetingMatch},
	}
	for name, w := range want {
		r, err := compileBench(t, name).Evaluate(users[0])
		if err != nil || r.Variant != w.variant || r.Rule != w.rule || r.Reason != w.reason {
			t.Errorf("%s: %+v %v, want %+v", name, r, err, w)
		}
	}
	f := compileBench(t, "rollout_weights")
	counts := map[string]int{}
	for _, u := range users {
		r, err := f.Evaluate(u)
		if err != nil {
			t.Fatal(err)
		}
		counts[r.Variant]++
	}
	if counts["a"] == 0 || counts["b"] == 0 || counts["c"] == 0 {
		t.Fatalf("the rollout case should serve every variant to some of the 256 users: %v", counts)
	}
	f = compileBench(t, "segment_10k_keys")
	clear(counts)
	for _, u := range users {
		r, err := f.Evaluate(u)
		if err != nil {
			t.Fatal(err)
		}
		counts[r.Variant]++
	}
	if counts["a"] != 128 || counts["b"] != 128 {
		t.Fatalf("the 10 000-key segment lists half of the 256 users: %v", counts)
	}
}

// Static, rule-match and rollout evaluations allocate nothing.
func TestEvaluateAllocatesNothing(t *testing.T) {
	users := benchUsers()
	for _, name := range benchCases {
		f := compileBench(t, name)
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			r, err := f.Evaluate(users[i&255])
			if err != nil {
				t.Fatal(err)
			}
			sink = r
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per evaluation, want 0", name, allocs)
		}
	}
	// a rule whose match leads into a rollout with weights, bucketing by an
	// attribute rather than the targeting key
	c := benchConfigs()["rule_1_clause"]
	c.Rules[0].Allocation = domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 1}}}
	f, err := eval.Compile(benchFlag(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &eval.Context{TargetingKey: "k", Attributes: map[string]any{"country": "DE", "user_id": "u-1"}}
	if allocs := testing.AllocsPerRun(1000, func() { sink, _ = f.Evaluate(ctx) }); allocs != 0 {
		t.Errorf("rule match into a rollout: %v allocations per evaluation, want 0", allocs)
	}
}

// Numbers and booleans compared as text or used for bucketing are formatted
// on the stack; semver and the targeting key as an attribute allocate
// nothing either.
func TestEvaluateOtherTypesAllocateNothing(t *testing.T) {
	f := &domain.Flag{Project: "p", Key: "k", Name: "K", BucketingUnit: "account", BucketingSalt: "s4lt", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`2`)}}}
	split := domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 1}}}
	for _, cd := range []domain.Condition{
		{Attribute: "tier", Operator: domain.OpIs, Values: []string{"3"}},
		{Attribute: "beta", Operator: domain.OpContains, Values: []string{"ru"}},
		{Attribute: "n", Operator: domain.OpStartsWith, Values: []string{"12"}},
		{Attribute: "n", Operator: domain.OpIn, Values: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "12345"}},
		{Attribute: "app_version", Operator: domain.OpSemverLT, Values: []string{"2.0.0"}},
		{Attribute: "targetingKey", Operator: domain.OpEndsWith, Values: []string{"-7"}},
		{Attribute: "since", Operator: domain.OpAfter, Values: []string{"2020-01-01T00:00:00Z"}},   // calendar-free: condition data, compared with the context, not a clock
		{Attribute: "signup", Operator: domain.OpBefore, Values: []string{"2030-01-01T00:00:00Z"}}, // calendar-free: condition data
	} {
		ef, err := eval.Compile(f, &domain.FlagConfig{Enabled: true, OffVariant: "off",
			Rules: []domain.Rule{{Conditions: []domain.Condition{cd}, Allocation: split}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &eval.Context{TargetingKey: "user-7", Attributes: map[string]any{
			"tier": 3, "beta": true, "n": json.Number("12345"), "app_version": "1.9.9-rc.1", "account": 987654.0,
			"since": int64(1700000000), "signup": "2025-06-01T12:00:00Z", // calendar-free: context data
		}}
		r, err := ef.Evaluate(ctx)
		if err != nil || r.Rule != 0 {
			t.Fatalf("%+v should match: %+v %v", cd, r, err)
		}
		if allocs := testing.AllocsPerRun(1000, func() { sink, _ = ef.Evaluate(ctx) }); allocs != 0 {
			t.Errorf("%+v: %v allocations per evaluation, want 0", cd, allocs)
		}
	}
}
