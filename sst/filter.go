package sst

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bits-and-blooms/bloom/v3"
)

// bloomHeaderLen is the size of the header MarshalBinary writes before the
// bit words: m, k and the bitset length, each a big-endian uint64.
const bloomHeaderLen = 24

// buildFilter returns the serialized bloom filter over keys, sized at
// bitsPerKey bits per key with the number of probes that minimises the
// false-positive rate for that size (bitsPerKey*ln 2).
func buildFilter(keys [][]byte, bitsPerKey int) ([]byte, error) {
	// A floor of one word keeps the filter well formed for tiny tables.
	m := max(uint(len(keys))*uint(bitsPerKey), 64)
	k := uint(math.Round(float64(bitsPerKey) * math.Ln2))
	k = min(max(k, 1), 30)
	f := bloom.New(m, k)
	for _, key := range keys {
		f.Add(key)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("sst: encoding filter: %w", err)
	}
	return b, nil
}

// decodeFilter parses a filter block; an empty block means the table has no
// filter. The header is validated before unmarshalling because the library
// trusts it: a zero m would divide by zero and a huge length would allocate
// without bound.
func decodeFilter(b []byte) (*bloom.BloomFilter, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < bloomHeaderLen {
		return nil, corruptf("filter: %d bytes cannot hold a header", len(b))
	}
	m := binary.BigEndian.Uint64(b[0:])
	k := binary.BigEndian.Uint64(b[8:])
	n := binary.BigEndian.Uint64(b[16:])
	words := uint64(len(b)-bloomHeaderLen) / 8
	if m == 0 || k == 0 || k > 64 || m > n || n > words*64 || (n+63)/64 != words ||
		uint64(len(b)-bloomHeaderLen)%8 != 0 {
		return nil, corruptf("filter: bad header m=%d k=%d bits=%d for %d bytes", m, k, n, len(b))
	}
	f := &bloom.BloomFilter{}
	if err := f.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: filter: %w", ErrCorrupt, err)
	}
	return f, nil
}
