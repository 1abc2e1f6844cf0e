package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/twmb/murmur3"

	"github.com/countersign/countersign/internal/domain"
)

// Known (salt, key) → hash and bucket, recorded from the first
// implementation (twmb/murmur3 over "<salt>/<key>"). Bucketing must never
// change for an unchanged salt: users would move in or out of rollouts on an
// upgrade.
var pinned = []struct {
	salt, key string
	hash      uint32
	bucket    int
}{
	{"salt1234", "user-0", 2133917279, 7279},
	{"salt1234", "user-1", 1682135309, 5309},
	{"salt1234", "u7", 1542017080, 7080},
	{"another1", "user-42", 1841627495, 7495},
	{"", "", 1248550479, 479},
	{"s", "a-much-longer-key-that-spans-several-blocks-0123456789", 4292981725, 1725},
	{"salt1234", "ü-ñ", 327866719, 6719},
	{"abc", "", 1877637521, 7521},
}

func TestPinnedBuckets(t *testing.T) {
	for _, p := range pinned {
		if got := bucketHash(p.salt, p.key); got != p.hash {
			t.Errorf("hash(%q, %q) = %d, want %d", p.salt, p.key, got, p.hash)
		}
		if got := Bucket(p.salt, p.key); got != p.bucket {
			t.Errorf("Bucket(%q, %q) = %d, want %d", p.salt, p.key, got, p.bucket)
		}
	}
}

// The hash is murmur3 x86_32 (seed 0) of the joined string, for every length
// of salt and key (each tail length, block boundaries falling inside the
// salt, the separator or the key), checked against twmb/murmur3.
func TestHashMatchesMurmur3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	for sl := 0; sl <= 20; sl++ {
		for kl := 0; kl <= 40; kl++ {
			for range 3 {
				salt, key := str(sl), str(kl)
				if got, want := bucketHash(salt, key), murmur3.Sum32([]byte(salt+"/"+key)); got != want {
					t.Fatalf("bucket hash of %q/%q = %d, murmur3 says %d", salt, key, got, want)
				}
				variant := str(sl % 7)
				if got, want := variantHash(salt, variant, key), murmur3.Sum32([]byte(salt+"/variant/"+variant+"/"+key)); got != want {
					t.Fatalf("variant hash of %q/%q/%q = %d, murmur3 says %d", salt, variant, key, got, want)
				}
			}
		}
	}
	for i := range 1000 {
		salt, key := "salt1234", fmt.Sprintf("user-%d", i)
		if got, want := bucketHash(salt, key), murmur3.Sum32([]byte(salt+"/"+key)); got != want {
			t.Fatalf("bucket hash of %q/%q = %d, murmur3 says %d", salt, key, got, want)
		}
	}
}

// Among weighted variants the lowest -ln(u)/weight wins, u from
// variantHash: the rule is spelled out here apart from place's loop, so
// that both must agree.
func TestWeightedRendezvous(t *testing.T) {
	f := &domain.Flag{Key: "f", BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "a", Value: []byte(`1`)}, {Key: "b", Value: []byte(`2`)}, {Key: "c", Value: []byte(`3`)}}}
	weights := map[string]float64{"a": 1, "b": 2, "c": 5}
	c, err := Compile(f, &domain.FlagConfig{Enabled: true, OffVariant: "off", DefaultRule: domain.Allocation{Rollout: 100,
		Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 2}, {Variant: "c", Weight: 5}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		key := fmt.Sprintf("user-%d", i)
		want, best := "", math.Inf(1)
		for _, v := range []string{"a", "b", "c"} {
			u := (float64(variantHash("salt1234", v, key)) + 0.5) / (1 << 32)
			if s := -math.Log(u) / weights[v]; s < best {
				want, best = v, s
			}
		}
		r, err := c.Evaluate(&Context{TargetingKey: key})
		if err != nil || r.Variant != want {
			t.Fatalf("%s: got %+v (%v), want %s", key, r, err, want)
		}
	}
}
