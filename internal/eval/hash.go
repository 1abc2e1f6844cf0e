package eval

import "math/bits"

// mm3 is murmur3 x86_32 (seed 0) part way through its input: h after the
// whole 4-byte blocks so far, the n (< 4) bytes of the block begun, and the
// length so far. Compile absorbs a flag's "<salt>/" and "<salt>/variant/"
// once; each evaluation continues from there with the unit value alone, on
// the stack: no string is built and no hasher allocated. The result is
// exactly murmur3.Sum32 of the whole input (hash_test.go checks it against
// github.com/twmb/murmur3, which the first implementation used).
type mm3 struct {
	h, tail, n, length uint32
}

const (
	mmC1 = 0xcc9e2d51
	mmC2 = 0x1b873593
)

func mmBlock(h, k uint32) uint32 {
	k *= mmC1
	k = bits.RotateLeft32(k, 15)
	k *= mmC2
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

// absorb continues m with p.
func absorb[S string | []byte](m mm3, p S) mm3 {
	m.length += uint32(len(p))
	i := 0
	if m.n > 0 {
		for m.n < 4 && i < len(p) {
			m.tail |= uint32(p[i]) << (8 * m.n)
			m.n++
			i++
		}
		if m.n < 4 {
			return m
		}
		m.h = mmBlock(m.h, m.tail)
		m.tail, m.n = 0, 0
	}
	for ; i+4 <= len(p); i += 4 {
		m.h = mmBlock(m.h, uint32(p[i])|uint32(p[i+1])<<8|uint32(p[i+2])<<16|uint32(p[i+3])<<24)
	}
	for ; i < len(p); i++ {
		m.tail |= uint32(p[i]) << (8 * m.n)
		m.n++
	}
	return m
}

// finish is the hash of everything absorbed.
func finish(m mm3) uint32 {
	h := m.h
	if m.n > 0 {
		k := m.tail * mmC1
		k = bits.RotateLeft32(k, 15)
		k *= mmC2
		h ^= k
	}
	h ^= m.length
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
