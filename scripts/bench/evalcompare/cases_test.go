package evalcompare

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ld "github.com/launchdarkly/go-server-sdk-evaluation/v3/ldbuilders"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldmodel"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// The five cases of issue 6 and one of issue 15, as the same flag for both
// evaluators. Three
// variants A, B, C (LaunchDarkly variations 0, 1, 2), C being the off
// variant. The Countersign flags are those of internal/eval's own
// benchmarks (eval_bench_test.go).
//
//   - static: on, everyone gets A.
//   - rule_1_clause: country is DE → A, everyone else B; the user matches.
//   - rule_5_clauses: country in [DE AT CH], plan is pro, email ends with
//     @example.com, age ≥ 18, app_version semver > 1.2.0 → A, else B; the
//     user matches all five.
//   - rollout_weights: everyone; 30 % in, weights A:B = 1:4, the rest get C.
//     LaunchDarkly has no separate rollout percentage, so its equivalent is
//     one rollout of C 70 %, A 6 %, B 24 % (its weights are in 1/100 000).
//     Both bucket by the user's key (Countersign's unit attribute user_id is
//     absent, so the targeting key is used) and a salt.
//   - 100_rules_fallthrough: 100 rules "plan is plan-<i>" → A, none of which
//     the user (plan pro) matches, so they fall through to B.
//   - segment_10k_keys: one rule "in segment beta-10k" → A, else B. The
//     segment includes 10 000 keys, user-0, user-2, ... user-19998, so half
//     the users are in (listed) and half fall through (not listed; the
//     segment has no rules). Countersign: the condition {targetingKey,
//     in_segment, [beta-10k]} with the segments compiled once
//     (eval.CompileSegments). LaunchDarkly: the segmentMatch clause, the
//     segment found by key through the evaluator's data provider
//     (GetSegment, a map here: the SDK's in-memory store adds a lock).
var cases = []string{"static", "rule_1_clause", "rule_5_clauses", "rollout_weights", "100_rules_fallthrough", "segment_10k_keys"}

// segmentKey names the segment of segment_10k_keys.
const segmentKey = "beta-10k"

// segmentKeys are the 10 000 keys the segment includes.
func segmentKeys() []string {
	keys := make([]string, 0, 10000)
	for i := 0; i < 20000; i += 2 {
		keys = append(keys, userKey(i))
	}
	return keys
}

// countersignSegments are the segments the Countersign flags can name,
// compiled once, as package evaluate compiles a ruleset's.
var countersignSegments = sync.OnceValue(func() *eval.Segments {
	segs := eval.CompileSegments([]domain.Segment{{Project: "p", Key: segmentKey, Name: "Beta", Included: segmentKeys()}})
	if len(segs.Broken()) != 0 {
		panic(fmt.Sprint(segs.Broken()))
	}
	return segs
})

// ldData is the LaunchDarkly evaluator's data provider: the segment of
// segment_10k_keys, preprocessed (Build) as the SDK does on receipt.
type ldData struct{ segments map[string]*ldmodel.Segment }

func newLDData() ldData {
	s := ld.NewSegmentBuilder(segmentKey).Version(1).Included(segmentKeys()...).Build()
	return ldData{segments: map[string]*ldmodel.Segment{segmentKey: &s}}
}

func (ldData) GetFeatureFlag(string) *ldmodel.FeatureFlag { return nil }
func (d ldData) GetSegment(key string) *ldmodel.Segment   { return d.segments[key] }

const salt = "salt1234"

func countersignFlag(name string) *eval.Flag {
	f := &domain.Flag{Project: "p", Key: "bench", Name: "Bench", BucketingUnit: "user_id", BucketingSalt: salt, EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: json.RawMessage(`"A"`)}, {Key: "b", Value: json.RawMessage(`"B"`)}, {Key: "c", Value: json.RawMessage(`"C"`)}}}
	all := func(v string) domain.Allocation {
		return domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: v, Weight: 1}}}
	}
	c := &domain.FlagConfig{Enabled: true, OffVariant: "c", DefaultRule: all("b")}
	switch name {
	case "static":
		c.DefaultRule = all("a")
	case "rule_1_clause":
		c.Rules = []domain.Rule{{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}}, Allocation: all("a")}}
	case "rule_5_clauses":
		c.Rules = []domain.Rule{{Conditions: []domain.Condition{
			{Attribute: "country", Operator: domain.OpIn, Values: []string{"DE", "AT", "CH"}},
			{Attribute: "plan", Operator: domain.OpIs, Values: []string{"pro"}},
			{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}},
			{Attribute: "age", Operator: domain.OpGTE, Values: []string{"18"}},
			{Attribute: "app_version", Operator: domain.OpSemverGT, Values: []string{"1.2.0"}},
		}, Allocation: all("a")}}
	case "rollout_weights":
		c.DefaultRule = domain.Allocation{Rollout: 30, Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 4}}}
	case "100_rules_fallthrough":
		for i := range 100 {
			c.Rules = append(c.Rules, domain.Rule{Conditions: []domain.Condition{{Attribute: "plan", Operator: domain.OpIs, Values: []string{fmt.Sprintf("plan-%d", i)}}}, Allocation: all("a")})
		}
	case "segment_10k_keys":
		c.Rules = []domain.Rule{{Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{segmentKey}}}, Allocation: all("a")}}
	default:
		panic(name)
	}
	ef, err := eval.Compile(f, c, countersignSegments())
	if err != nil {
		panic(err)
	}
	return ef
}

func launchDarklyFlag(name string) *ldmodel.FeatureFlag {
	b := ld.NewFlagBuilder("bench").Version(1).On(true).Salt(salt).
		Variations(ldvalue.String("A"), ldvalue.String("B"), ldvalue.String("C")).
		OffVariation(2).FallthroughVariation(1)
	switch name {
	case "static":
		b.FallthroughVariation(0)
	case "rule_1_clause":
		b.AddRule(ld.NewRuleBuilder().ID("r0").Variation(0).Clauses(ld.Clause("country", ldmodel.OperatorIn, ldvalue.String("DE"))))
	case "rule_5_clauses":
		b.AddRule(ld.NewRuleBuilder().ID("r0").Variation(0).Clauses(
			ld.Clause("country", ldmodel.OperatorIn, ldvalue.String("DE"), ldvalue.String("AT"), ldvalue.String("CH")),
			ld.Clause("plan", ldmodel.OperatorIn, ldvalue.String("pro")),
			ld.Clause("email", ldmodel.OperatorEndsWith, ldvalue.String("@example.com")),
			ld.Clause("age", ldmodel.OperatorGreaterThanOrEqual, ldvalue.Int(18)),
			ld.Clause("app_version", ldmodel.OperatorSemVerGreaterThan, ldvalue.String("1.2.0")),
		))
	case "rollout_weights":
		b.Fallthrough(ld.Rollout(ld.Bucket(2, 70000), ld.Bucket(0, 6000), ld.Bucket(1, 24000)))
	case "100_rules_fallthrough":
		for i := range 100 {
			b.AddRule(ld.NewRuleBuilder().ID(fmt.Sprintf("r%d", i)).Variation(0).
				Clauses(ld.Clause("plan", ldmodel.OperatorIn, ldvalue.String(fmt.Sprintf("plan-%d", i)))))
		}
	case "segment_10k_keys":
		b.AddRule(ld.NewRuleBuilder().ID("r0").Variation(0).Clauses(ld.SegmentMatchClause(segmentKey)))
	default:
		panic(name)
	}
	f := b.Build() // Build preprocesses the flag, as the SDK does on receipt
	return &f
}

// users are the 256 users every case is evaluated for, in turn: different
// keys (so rollouts hash different input), the same attributes. Each is
// built once per evaluator, outside the timed loop.
const users = 256

func userKey(i int) string   { return fmt.Sprintf("user-%d", i) }
func userEmail(i int) string { return fmt.Sprintf("user-%d@example.com", i) }

func countersignUsers() []*eval.Context {
	out := make([]*eval.Context, users)
	for i := range out {
		out[i] = &eval.Context{TargetingKey: userKey(i), Attributes: map[string]any{
			"country": "DE", "plan": "pro", "email": userEmail(i), "age": 30.0, "app_version": "1.4.2",
		}}
	}
	return out
}

func launchDarklyUsers() []ldcontext.Context {
	out := make([]ldcontext.Context, users)
	for i := range out {
		out[i] = ldcontext.NewBuilder(userKey(i)).
			SetString("country", "DE").SetString("plan", "pro").SetString("email", userEmail(i)).
			SetFloat64("age", 30).SetString("app_version", "1.4.2").Build()
	}
	return out
}

func ldUser(key string) ldcontext.Context { return ldcontext.New(key) }
