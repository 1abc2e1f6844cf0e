package eval_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// segmentFlag compiles flag() with one rule {attr, op, keys} → a, default b.
func segmentFlag(t *testing.T, segs *eval.Segments, attr string, op domain.Operator, keys ...string) *eval.Flag {
	t.Helper()
	f, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{{
		Conditions: []domain.Condition{{Attribute: attr, Operator: op, Values: keys}},
		Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}},
	}}, DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("b", 1)}}}, segs)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func compileSegments(t *testing.T, segs ...domain.Segment) *eval.Segments {
	t.Helper()
	s := eval.CompileSegments(segs)
	if len(s.Broken()) != 0 {
		t.Fatalf("segments do not compile: %v", s.Broken())
	}
	return s
}

// testSegments: beta includes ada and 42, excludes bob (who matches its
// rule), and takes Germans on the pro plan; staff includes eve.
func testSegments(t *testing.T) *eval.Segments {
	return compileSegments(t,
		domain.Segment{Project: "p", Key: "beta", Name: "Beta", Included: []string{"ada", "42", "true"}, Excluded: []string{"bob"},
			Rules: []domain.SegmentRule{{Conditions: []domain.Condition{
				{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}},
				{Attribute: "plan", Operator: domain.OpIn, Values: []string{"pro", "team"}},
			}}}},
		domain.Segment{Project: "p", Key: "staff", Name: "Staff", Included: []string{"eve"}},
	)
}

// Membership as LaunchDarkly has it: included, else not when excluded, else
// any rule; in_segment holds in any named segment, not_in_segment in none.
func TestSegmentMembership(t *testing.T) {
	segs := testSegments(t)
	german := map[string]any{"country": "DE", "plan": "pro"}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, c := range []struct {
		name  string
		attr  string
		keys  []string
		tk    string
		attrs map[string]any
		in    bool
	}{
		{"included by the targeting key", "targetingKey", []string{"beta"}, "ada", nil, true},
		{"not listed, no rule holds", "targetingKey", []string{"beta"}, "carl", nil, false},
		{"not listed, the rule holds", "targetingKey", []string{"beta"}, "carl", german, true},
		{"excluded though the rule holds", "targetingKey", []string{"beta"}, "bob", german, false},
		{"one of the rule's conditions fails", "targetingKey", []string{"beta"}, "carl", map[string]any{"country": "DE", "plan": "free"}, false},
		{"the attribute is the key", "user_id", []string{"beta"}, "bob", map[string]any{"user_id": "ada"}, true},
		{"the attribute, not the targeting key", "user_id", []string{"beta"}, "ada", map[string]any{"user_id": "carl"}, false},
		{"excluded by the attribute", "user_id", []string{"beta"}, "ada", with(german, "user_id", "bob"), false},
		{"missing attribute: in no list, rules decide (no)", "user_id", []string{"beta"}, "ada", nil, false},
		{"missing attribute: in no list, rules decide (yes)", "user_id", []string{"beta"}, "bob", german, true},
		{"null attribute: in no list, rules decide", "user_id", []string{"beta"}, "", with(german, "user_id", nil), true},
		{"object attribute: in no list", "user_id", []string{"beta"}, "", map[string]any{"user_id": map[string]any{"k": "ada"}}, false},
		{"a number as text", "account", []string{"beta"}, "", map[string]any{"account": 42.0}, true},
		{"an int as text", "account", []string{"beta"}, "", map[string]any{"account": 42}, true},
		{"a json.Number as text", "account", []string{"beta"}, "", map[string]any{"account": json.Number("42")}, true},
		{"a boolean as text", "account", []string{"beta"}, "", map[string]any{"account": true}, true},
		{"another number", "account", []string{"beta"}, "", map[string]any{"account": 42.5}, false},
		{"the targeting key attribute wins over the targeting key", "targetingKey", []string{"beta"}, "carl", map[string]any{"targetingKey": "ada"}, true},
		{"any of several segments", "targetingKey", []string{"beta", "staff"}, "eve", nil, true},
		{"none of several segments", "targetingKey", []string{"beta", "staff"}, "zed", nil, false},
		{"a missing segment contains nobody", "targetingKey", []string{"nope"}, "ada", german, false},
		{"a missing segment beside a present one", "targetingKey", []string{"nope", "staff"}, "eve", nil, true},
		{"case matters", "targetingKey", []string{"beta"}, "Ada", nil, false},
	} {
		for _, op := range []domain.Operator{domain.OpInSegment, domain.OpNotInSegment} {
			want := c.in == (op == domain.OpInSegment)
			f := segmentFlag(t, segs, c.attr, op, c.keys...)
			r := run(t, f, c.tk, c.attrs)
			if (r.Rule == 0) != want {
				t.Errorf("%s: %s %v on %q %v: got rule %d, want the rule to hold: %v", c.name, op, c.keys, c.tk, c.attrs, r.Rule, want)
			}
		}
	}
}

// Segment conditions sit beside attribute conditions in a rule, and a
// rule naming a segment is tried in order like any other.
func TestSegmentConditionsInRules(t *testing.T) {
	segs := testSegments(t)
	f, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{
		{Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpNotInSegment, Values: []string{"staff"}}, {Attribute: "country", Operator: domain.OpIs, Values: []string{"FR"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("c", 1)}}},
		{Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}}},
	}, DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("b", 1)}}}, segs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tk    string
		attrs map[string]any
		rule  int
		v     string
	}{
		{"ada", map[string]any{"country": "FR"}, 0, "c"},
		{"eve", map[string]any{"country": "FR"}, -1, "b"},
		{"ada", map[string]any{"country": "DE"}, 1, "a"},
		{"carl", map[string]any{"country": "DE", "plan": "team"}, 1, "a"},
		{"carl", map[string]any{"country": "IT"}, -1, "b"},
	} {
		if r := run(t, f, c.tk, c.attrs); r.Rule != c.rule || r.Variant != c.v {
			t.Errorf("%s %v: got rule %d %s, want rule %d %s", c.tk, c.attrs, r.Rule, r.Variant, c.rule, c.v)
		}
	}
}

// A segment that does not validate, or is listed twice, is broken: a flag
// naming it does not compile, one naming only others does.
func TestBrokenSegments(t *testing.T) {
	segs := eval.CompileSegments([]domain.Segment{
		{Project: "p", Key: "fine", Name: "Fine", Included: []string{"ada"}},
		{Project: "p", Key: "nested", Name: "Nested", Rules: []domain.SegmentRule{{Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"fine"}}}}}},
		{Project: "p", Key: "twice", Name: "Twice"},
		{Project: "p", Key: "twice", Name: "Twice again"},
		{Project: "p", Key: "both", Name: "Both", Included: []string{"x"}, Excluded: []string{"x"}},
	})
	if got := strings.Join(segs.Keys(), ","); got != "fine" {
		t.Fatalf("compiled %s, want fine", got)
	}
	for _, k := range []string{"nested", "twice", "both"} {
		if segs.Broken()[k] == nil {
			t.Errorf("segment %s should be broken: %v", k, segs.Broken())
		}
	}
	for _, k := range []string{"nested", "twice", "both"} {
		_, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{{
			Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpNotInSegment, Values: []string{"fine", k}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}}}}}, segs)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("a flag naming the broken segment %s compiled: %v", k, err)
		}
	}
	f := segmentFlag(t, segs, "targetingKey", domain.OpInSegment, "fine", "gone")
	if r := run(t, f, "ada", nil); r.Rule != 0 {
		t.Fatalf("ada is in fine: %+v", r)
	}
	var none *eval.Segments
	if none.Keys() != nil || none.Broken() != nil {
		t.Fatal("nil segments have no keys and nothing broken")
	}
	if r := run(t, segmentFlag(t, nil, "targetingKey", domain.OpNotInSegment, "fine"), "ada", nil); r.Rule != 0 {
		t.Fatalf("without segments, nobody is in fine: %+v", r)
	}
}

// Targeting validation: segment conditions name 1..MaxValuesPerCondition
// segment keys, with an attribute like any condition.
func TestSegmentConditionValidation(t *testing.T) {
	many := make([]string, domain.MaxValuesPerCondition+1)
	for i := range many {
		many[i] = fmt.Sprintf("s-%d", i)
	}
	for _, c := range []struct {
		cond domain.Condition
		want string // "" valid, else part of the error
	}{
		{domain.Condition{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta", "staff-2"}}, ""},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpNotInSegment, Values: many[:domain.MaxValuesPerCondition]}, ""},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpNotInSegment, Values: many}, "at most"},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpInSegment}, "at least one value"},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"Beta"}}, "not a segment key"},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{""}}, "not a segment key"},
		{domain.Condition{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"-beta"}}, "not a segment key"},
		{domain.Condition{Attribute: "9lives", Operator: domain.OpInSegment, Values: []string{"beta"}}, "attribute name"},
	} {
		_, err := eval.Compile(flag(), &domain.FlagConfig{Enabled: true, OffVariant: "off",
			Rules: []domain.Rule{{Conditions: []domain.Condition{c.cond}, Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{w("a", 1)}}}}}, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.cond.Values, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %v: want an error with %q, got %v", c.cond.Attribute, c.cond.Values, c.want, err)
		}
	}
}

// Evaluating segment conditions allocates nothing: a 10 000-key segment
// (a key included, excluded, or in neither and left to the rules), keys
// that are numbers (formatted on the stack), the targeting key standing
// in, several segments, not_in_segment, a missing attribute.
func TestSegmentsAllocateNothing(t *testing.T) {
	segs := benchSegments()
	for _, c := range []struct {
		name  string
		conds []domain.Condition
		tk    string
		attrs map[string]any
		match bool
	}{
		{"included of 10 000", []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta-10k"}}}, "user-4", nil, true},
		{"in neither list of 10 000", []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta-10k"}}}, "user-5", nil, false},
		{"not in 10 000", []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpNotInSegment, Values: []string{"beta-10k"}}}, "user-5", nil, true},
		{"a number key", []domain.Condition{{Attribute: "account", Operator: domain.OpInSegment, Values: []string{"rules"}}}, "", map[string]any{"account": json.Number("123456789012")}, true},
		{"a float key", []domain.Condition{{Attribute: "account", Operator: domain.OpInSegment, Values: []string{"rules"}}}, "", map[string]any{"account": 123456789012.0}, true},
		{"excluded, rule not tried", []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"rules"}}}, "", map[string]any{"user_id": "blocked", "country": "DE", "plan": "pro"}, false},
		{"by rule", []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"rules"}}}, "", map[string]any{"user_id": "u-1", "country": "DE", "plan": "pro", "app_version": "2.0.1"}, true},
		{"missing attribute, by rule", []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"rules"}}}, "tk", map[string]any{"country": "DE", "plan": "pro", "app_version": "2.0.1"}, true},
		{"several segments and a condition", []domain.Condition{
			{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"missing", "rules", "beta-10k"}},
			{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}}, "user-9998", map[string]any{"country": "DE"}, true},
	} {
		f, err := eval.Compile(benchFlag(), &domain.FlagConfig{Enabled: true, OffVariant: "c",
			Rules:       []domain.Rule{{Conditions: c.conds, Allocation: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 1}}}}},
			DefaultRule: alloc100("c")}, segs)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &eval.Context{TargetingKey: c.tk, Attributes: c.attrs}
		if c.tk == "" {
			ctx.TargetingKey = "someone"
		}
		r, err := f.Evaluate(ctx)
		if err != nil || (r.Rule == 0) != c.match {
			t.Fatalf("%s: %+v %v, want the rule to hold: %v", c.name, r, err, c.match)
		}
		if allocs := testing.AllocsPerRun(1000, func() { sink, _ = f.Evaluate(ctx) }); allocs != 0 {
			t.Errorf("%s: %v allocations per evaluation, want 0", c.name, allocs)
		}
	}
}
