package eval

import (
	"encoding/json"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// A segment is compiled once per ruleset: every flag, and every condition,
// naming it points at the same compiled segment.
func TestSegmentsAreShared(t *testing.T) {
	segs := CompileSegments([]domain.Segment{{Project: "p", Key: "beta", Name: "Beta", Included: []string{"ada"}}})
	flag := &domain.Flag{Project: "p", Key: "f", Name: "F", BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: json.RawMessage(`1`)}}}
	var seen []*segment
	for range 2 {
		f, err := Compile(flag, &domain.FlagConfig{Enabled: true, OffVariant: "off", Rules: []domain.Rule{{
			Conditions: []domain.Condition{
				{Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta", "gone"}},
				{Attribute: "user_id", Operator: domain.OpNotInSegment, Values: []string{"beta"}},
			},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "a", Weight: 1}}}}}}, segs)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.rules[0].conds {
			if len(c.segs) != 1 {
				t.Fatalf("a condition resolved %d segments, want beta only (gone is missing)", len(c.segs))
			}
			seen = append(seen, c.segs[0])
		}
	}
	for _, s := range seen {
		if s != segs.byKey["beta"] {
			t.Fatal("a condition holds its own copy of the segment")
		}
	}
}
