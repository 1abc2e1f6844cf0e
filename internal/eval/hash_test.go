package eval

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/murmur3"
)

// Known (salt, key) → hash, bucket and weight-line point, recorded from the
// first implementation (twmb/murmur3 over "<salt>/<key>" and
// "<salt>/variant/<key>"). Bucketing must never change for an unchanged salt:
// users would move between variants on an upgrade.
var pinned = []struct {
	salt, key     string
	hash          uint32
	bucket, point int
}{
	{"salt1234", "user-0", 2133917279, 7279, 3434},
	{"salt1234", "user-1", 1682135309, 5309, 3541},
	{"salt1234", "u7", 1542017080, 7080, 3198},
	{"another1", "user-42", 1841627495, 7495, 9568},
	{"", "", 1248550479, 479, 2479},
	{"s", "a-much-longer-key-that-spans-several-blocks-0123456789", 4292981725, 1725, 4160},
	{"salt1234", "ü-ñ", 327866719, 6719, 9404},
	{"abc", "", 1877637521, 7521, 9569},
}

func TestPinnedBuckets(t *testing.T) {
	for _, p := range pinned {
		if got := bucketHash(p.salt, p.key); got != p.hash {
			t.Errorf("hash(%q, %q) = %d, want %d", p.salt, p.key, got, p.hash)
		}
		if got := Bucket(p.salt, p.key); got != p.bucket {
			t.Errorf("Bucket(%q, %q) = %d, want %d", p.salt, p.key, got, p.bucket)
		}
		if got := variantPoint(p.salt, p.key); got != p.point {
			t.Errorf("variantPoint(%q, %q) = %d, want %d", p.salt, p.key, got, p.point)
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
				if got, want := variantHash(salt, key), murmur3.Sum32([]byte(salt+"/variant/"+key)); got != want {
					t.Fatalf("variant hash of %q/%q = %d, murmur3 says %d", salt, key, got, want)
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
