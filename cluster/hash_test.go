package cluster

import (
	"fmt"
	"math/rand"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i)
	}
	return out
}

func owners(members []string, p int) []string {
	out := make([]string, p)
	for i := range out {
		out[i] = Owner(i, members)
	}
	return out
}

func TestOwnerEmptyAndSingle(t *testing.T) {
	if o := Owner(3, nil); o != "" {
		t.Fatalf("Owner with no members = %q", o)
	}
	if o := Owner(3, []string{"a"}); o != "a" {
		t.Fatalf("Owner with one member = %q", o)
	}
	if got := Partitions(nil, 8); len(got) != 0 {
		t.Fatalf("Partitions(nil) = %v", got)
	}
}

// The weights are part of the on-disk contract (all nodes must agree, across
// releases): pin a few.
func TestOwnerStable(t *testing.T) {
	m := names(5)
	got := owners(m, 8)
	again := owners([]string{m[4], m[2], m[0], m[3], m[1], m[2]}, 8) // order and duplicates do not matter
	for i := range got {
		if got[i] != again[i] {
			t.Fatalf("partition %d: %s vs %s with members reordered", i, got[i], again[i])
		}
	}
	want := []string{"node-3", "node-0", "node-2", "node-2", "node-0", "node-4", "node-2", "node-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("owners of 0..7 among node-0..4 = %v, pinned %v: the hash changed", got, want)
		}
	}
}

func TestPartitionsExactlyOneOwner(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 10, 100} {
		for _, p := range []int{1, 64, 1024} {
			m := names(n)
			parts := Partitions(m, p)
			if len(parts) != n {
				t.Fatalf("n=%d p=%d: %d members in map", n, p, len(parts))
			}
			seen := make([]int, p)
			for node, ps := range parts {
				for _, i := range ps {
					seen[i]++
					if Owner(i, m) != node {
						t.Fatalf("n=%d p=%d: partition %d listed under %s, Owner says %s", n, p, i, node, Owner(i, m))
					}
				}
			}
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d p=%d: partition %d has %d owners", n, p, i, c)
				}
			}
		}
	}
}

// within reports whether got is within frac of want.
func within(got int, want float64, frac float64) bool {
	return float64(got) >= want*(1-frac) && float64(got) <= want*(1+frac)
}

func TestRemoveMovesOnlyThatMembersPartitions(t *testing.T) {
	const p = 1024
	for _, n := range []int{3, 10, 32} {
		m := names(n)
		before := owners(m, p)
		for r := 0; r < n; r++ {
			rest := append(append([]string{}, m[:r]...), m[r+1:]...)
			after := owners(rest, p)
			moved := 0
			for i := range before {
				if before[i] != after[i] {
					if before[i] != m[r] {
						t.Fatalf("n=%d remove %s: partition %d moved from %s to %s", n, m[r], i, before[i], after[i])
					}
					moved++
				} else if before[i] == m[r] {
					t.Fatalf("n=%d remove %s: partition %d still owned by it", n, m[r], i)
				}
			}
			if !within(moved, float64(p)/float64(n), 0.5) {
				t.Fatalf("n=%d remove %s: %d moved, want about %d", n, m[r], moved, p/n)
			}
		}
	}
}

func TestAddMovesAboutPOverNPlusOne(t *testing.T) {
	const p = 1024
	for _, n := range []int{2, 9, 31} {
		m := names(n + 1)
		before := owners(m[:n], p)
		after := owners(m, p)
		moved := 0
		for i := range before {
			if before[i] != after[i] {
				if after[i] != m[n] {
					t.Fatalf("n=%d add %s: partition %d moved from %s to %s", n, m[n], i, before[i], after[i])
				}
				moved++
			}
		}
		want := float64(p) / float64(n+1)
		if !within(moved, want, 0.5) {
			t.Fatalf("n=%d add: %d moved, want about %.0f", n, moved, want)
		}
		t.Logf("n=%d→%d, P=%d: %d moved (P/(N+1) = %.1f)", n, n+1, p, moved, want)
	}
}

func TestBalanceRandomNames(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const p, n = 4096, 16
	m := make([]string, n)
	for i := range m {
		m[i] = fmt.Sprintf("10.0.%d.%d:8080", rng.Intn(256), rng.Intn(256))
	}
	for node, ps := range Partitions(m, p) {
		if !within(len(ps), float64(p)/n, 0.3) {
			t.Fatalf("%s owns %d of %d partitions, want about %d", node, len(ps), p, p/n)
		}
	}
}
