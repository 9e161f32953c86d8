package cluster

import (
	"encoding/binary"
	"hash/fnv"
	"sort"
)

// weight is the rendezvous weight of member for partition: FNV-1a 64 of the
// partition (8 bytes, big endian) followed by the member's name, passed
// through the splitmix64 finalizer so that names differing only in their last
// bytes still spread over the whole 64-bit range. It is stable across
// processes, platforms and releases; changing it would move partitions.
func weight(partition int, member string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(partition))
	h.Write(b[:])
	h.Write([]byte(member))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Owner returns the owner of partition among members by rendezvous hashing:
// the member with the highest weight(partition, member), ties (practically
// impossible) going to the smaller name. It returns "" when members is empty.
// The order of members does not matter; duplicates are harmless.
func Owner(partition int, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		w := weight(partition, m)
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

// Partitions maps each member to the partitions 0..p-1 it owns, in ascending
// order. Every member appears, with an empty slice if it owns none.
func Partitions(members []string, p int) map[string][]int {
	out := make(map[string][]int, len(members))
	for _, m := range members {
		out[m] = []int{}
	}
	if len(members) == 0 {
		return out
	}
	for i := 0; i < p; i++ {
		o := Owner(i, members)
		out[o] = append(out[o], i)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
