package evalcompare

import (
	"math"
	"testing"

	evaluation "github.com/launchdarkly/go-server-sdk-evaluation/v3"

	"github.com/countersign/countersign/internal/eval"
)

var (
	csSink eval.Result
	ldSink evaluation.Result
)

func BenchmarkCountersign(b *testing.B) {
	us := countersignUsers()
	for _, name := range cases {
		f := countersignFlag(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r, err := f.Evaluate(us[i&(users-1)])
				if err != nil {
					b.Fatal(err)
				}
				csSink = r
				i++
			}
		})
	}
}

func BenchmarkLaunchDarkly(b *testing.B) {
	us := launchDarklyUsers()
	ev := evaluation.NewEvaluator(newLDData())
	for _, name := range cases {
		f := launchDarklyFlag(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := ev.Evaluate(f, us[i&(users-1)], nil)
				if r.Detail.IsDefaultValue() {
					b.Fatal(r.Detail.Reason)
				}
				ldSink = r
				i++
			}
		})
	}
}

// The flags are equivalent: every user gets the same variant from both, and
// the same kind of reason (half the users are in segment_10k_keys's
// segment), except in the rollout, where the two hash
// differently (murmur3 of salt and key against SHA-1 of flag key, salt and
// key) but split alike: over 100 000 users both give C, A, B about 70 %, 6 %,
// 24 %.
func TestEquivalent(t *testing.T) {
	cs, ld := countersignUsers(), launchDarklyUsers()
	ev := evaluation.NewEvaluator(newLDData())
	variant := map[string]int{"a": 0, "b": 1, "c": 2}
	for _, name := range cases {
		if name == "rollout_weights" {
			continue
		}
		cf, lf := countersignFlag(name), launchDarklyFlag(name)
		matched := 0
		for i := range users {
			c, err := cf.Evaluate(cs[i])
			if err != nil {
				t.Fatal(err)
			}
			if c.Rule == 0 {
				matched++
			}
			l := ev.Evaluate(lf, ld[i], nil).Detail
			if variant[c.Variant] != l.VariationIndex.IntValue() || string(c.Value) != l.Value.JSONString() {
				t.Fatalf("%s, user %d: Countersign %s %s, LaunchDarkly %d %s", name, i, c.Variant, c.Value, l.VariationIndex.IntValue(), l.Value.JSONString())
			}
			if (c.Rule >= 0) != (l.Reason.GetRuleIndex() >= 0) || c.Rule != l.Reason.GetRuleIndex() && c.Rule >= 0 {
				t.Fatalf("%s, user %d: Countersign rule %d (%s), LaunchDarkly %s", name, i, c.Rule, c.Reason, l.Reason)
			}
		}
		if name == "segment_10k_keys" && matched != users/2 {
			t.Fatalf("segment_10k_keys: %d of %d users in the segment, want half", matched, users)
		}
	}
	cf, lf := countersignFlag("rollout_weights"), launchDarklyFlag("rollout_weights")
	const n = 100000
	var csCount, ldCount [3]int
	for i := range n {
		key := userKey(i)
		c, err := cf.Evaluate(&eval.Context{TargetingKey: key})
		if err != nil {
			t.Fatal(err)
		}
		csCount[variant[c.Variant]]++
		l := ev.Evaluate(lf, ldUser(key), nil).Detail
		ldCount[l.VariationIndex.IntValue()]++
	}
	want := [3]float64{0.06 * n, 0.24 * n, 0.70 * n}
	for v := range 3 {
		// within 5 standard deviations of the binomial
		tol := 5 * math.Sqrt(want[v]*(1-want[v]/n))
		if math.Abs(float64(csCount[v])-want[v]) > tol || math.Abs(float64(ldCount[v])-want[v]) > tol {
			t.Fatalf("rollout split: Countersign %v, LaunchDarkly %v, want about %v", csCount, ldCount, want)
		}
	}
	t.Logf("rollout over %d users (A, B, C): Countersign %v, LaunchDarkly %v", n, csCount, ldCount)
}
