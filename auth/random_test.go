package auth

import (
	"errors"
	"flag"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed of TestValidateNeverBroader (0: from the clock)")

// Small universes over the alphabet {a, b}: every string of length 0..3.
// Resource sets are drawn so that brute force over the universe decides
// set inclusion exactly: exact values come from the universe and prefix
// values are at most 2 long, so a prefix set always holds several names of
// the universe and no two distinct prefixes hold the same ones.
func words(maxLen int) []string {
	out := []string{""}
	layer := []string{""}
	for n := 1; n <= maxLen; n++ {
		var next []string
		for _, w := range layer {
			next = append(next, w+"a", w+"b")
		}
		out = append(out, next...)
		layer = next
	}
	return out
}

// A name space: the universe of names and the sets drawn over it. Basin
// names get a fixed valid stem so that they pass the basin name rules.
type nameSpace struct {
	universe []string
	exacts   []string // values of exact sets (never "": that is none)
	prefixes []string // values of prefix sets
}

func newNameSpace(stem string) nameSpace {
	var ns nameSpace
	for _, w := range words(3) {
		ns.universe = append(ns.universe, stem+w)
		if stem+w != "" {
			ns.exacts = append(ns.exacts, stem+w)
		}
	}
	ns.prefixes = []string{""}
	for _, w := range words(2) {
		// With a stem, the stem alone as a prefix would hold exactly what
		// "" holds in the universe; leave it out to keep brute force exact.
		if w != "" || stem == "" {
			if stem+w != "" {
				ns.prefixes = append(ns.prefixes, stem+w)
			}
		}
	}
	return ns
}

var (
	basinNames  = newNameSpace("basinxyz")
	streamNames = newNameSpace("")
	tokenIDs    = newNameSpace("")
)

func (ns nameSpace) random(r *rand.Rand) *ResourceSet {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return Exact(ns.exacts[r.IntN(len(ns.exacts))])
	default:
		return Prefix(ns.prefixes[r.IntN(len(ns.prefixes))])
	}
}

// randomSubset draws a set that is a subset of parent by construction.
func (ns nameSpace) randomSubset(r *rand.Rand, parent *ResourceSet) *ResourceSet {
	var cands []*ResourceSet
	cands = append(cands, nil, Exact(""))
	for _, e := range ns.exacts {
		if parent.Matches(e) {
			cands = append(cands, Exact(e))
		}
	}
	if parent.IsPrefix() {
		for _, p := range ns.prefixes {
			if len(p) >= len(parent.Value) && p[:len(parent.Value)] == parent.Value {
				cands = append(cands, Prefix(p))
			}
		}
	}
	return cands[r.IntN(len(cands))]
}

func bruteSubset(universe []string, a, b *ResourceSet) bool {
	for _, n := range universe {
		if a.Matches(n) && !b.Matches(n) {
			return false
		}
	}
	return true
}

func TestSubsetOfBruteForce(t *testing.T) {
	for _, ns := range []nameSpace{basinNames, streamNames} {
		sets := []*ResourceSet{nil, Exact("")}
		for _, e := range ns.exacts {
			sets = append(sets, Exact(e))
		}
		for _, p := range ns.prefixes {
			sets = append(sets, Prefix(p))
		}
		for _, a := range sets {
			for _, b := range sets {
				if got, want := a.SubsetOf(b), bruteSubset(ns.universe, a, b); got != want {
					t.Errorf("%v ⊆ %v: SubsetOf says %v, brute force %v", a, b, got, want)
				}
			}
		}
	}
}

func randomOps(r *rand.Rand, within OpSet, p float64) []Operation {
	var ops []Operation
	for _, op := range within.Slice() {
		if r.Float64() < p {
			ops = append(ops, op)
		}
	}
	return ops
}

func randomGroups(r *rand.Rand, p float64) PermittedOperationGroups {
	rw := func() ReadWritePermissions {
		return ReadWritePermissions{Read: r.Float64() < p, Write: r.Float64() < p}
	}
	return PermittedOperationGroups{Account: rw(), Basin: rw(), Stream: rw()}
}

// groupsWithin returns the halves of g whose operations all lie in ops.
func groupsWithin(g PermittedOperationGroups, ops OpSet) PermittedOperationGroups {
	keep := func(rw ReadWritePermissions, grp Group) ReadWritePermissions {
		return ReadWritePermissions{
			Read:  rw.Read && ops.Contains(GroupOps(grp, Read)),
			Write: rw.Write && ops.Contains(GroupOps(grp, Write)),
		}
	}
	return PermittedOperationGroups{
		Account: keep(g.Account, GroupAccount),
		Basin:   keep(g.Basin, GroupBasin),
		Stream:  keep(g.Stream, GroupStream),
	}
}

func randomParent(r *rand.Rand, now time.Time) *TokenInfo {
	p := &TokenInfo{ID: "parent"}
	p.Scope.Basins = basinNames.random(r)
	p.Scope.Streams = streamNames.random(r)
	p.Scope.AccessTokens = tokenIDs.random(r)
	p.Scope.OpGroups = randomGroups(r, 0.3)
	p.Scope.Operations = randomOps(r, AllOps, 0.4)
	if r.IntN(5) > 0 {
		p.Scope.Operations = append(p.Scope.Operations, OpIssueAccessToken)
	}
	if r.IntN(2) == 0 {
		e := now.Add(time.Duration(1+r.IntN(48)) * time.Hour)
		p.ExpiresAt = &e
	}
	p.AutoPrefixStreams = p.Scope.Streams.IsPrefix() && r.IntN(3) == 0
	return p
}

func randomChild(r *rand.Rand, parent *TokenInfo, now time.Time) *TokenInfo {
	c := &TokenInfo{ID: tokenIDs.exacts[r.IntN(len(tokenIDs.exacts))]}
	if r.IntN(4) > 0 {
		// Mostly an id the parent may issue, so that the other checks run.
		var ids []string
		for _, id := range tokenIDs.exacts {
			if parent.Scope.AccessTokens.Matches(id) {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			c.ID = ids[r.IntN(len(ids))]
		}
	}
	if r.IntN(2) == 0 {
		// A subset of the parent by construction.
		pops := parent.Scope.Ops()
		c.Scope.Operations = randomOps(r, pops, 0.3)
		c.Scope.OpGroups = groupsWithin(randomGroups(r, 0.5), pops)
		c.Scope.Basins = basinNames.randomSubset(r, parent.Scope.Basins)
		c.Scope.Streams = streamNames.randomSubset(r, parent.Scope.Streams)
		c.Scope.AccessTokens = tokenIDs.randomSubset(r, parent.Scope.AccessTokens)
	} else {
		c.Scope.Operations = randomOps(r, AllOps, 0.1)
		c.Scope.OpGroups = randomGroups(r, 0.15)
		c.Scope.Basins = basinNames.random(r)
		c.Scope.Streams = streamNames.random(r)
		c.Scope.AccessTokens = tokenIDs.random(r)
	}
	c.AutoPrefixStreams = r.IntN(4) == 0
	var e time.Time
	switch r.IntN(5) {
	case 0:
	case 1:
		e = now.Add(-time.Duration(r.IntN(3)) * time.Hour)
	case 2:
		e = now.Add(time.Duration(1+r.IntN(100)) * time.Hour)
	default:
		if parent.ExpiresAt != nil {
			e = now.Add(time.Duration(r.Int64N(int64(parent.ExpiresAt.Sub(now))) + 1))
		} else {
			e = now.Add(time.Hour)
		}
	}
	if !e.IsZero() {
		c.ExpiresAt = &e
	}
	return c
}

// modelStatus is the brute-force model of Validate's decision: 0 to
// accept, else the status of the first failing check in Validate's order.
// It needs a parent without auto-prefixing, whose child sets are not moved.
func modelStatus(parent, child *TokenInfo, now time.Time) int {
	ps, cs := &parent.Scope, &child.Scope
	if !ps.Ops().Has(OpIssueAccessToken) || !ps.AccessTokens.Matches(child.ID) {
		return http.StatusForbidden
	}
	cops := cs.Ops()
	if cops == 0 {
		return http.StatusUnprocessableEntity
	}
	if child.AutoPrefixStreams && !cs.Streams.IsPrefix() {
		return http.StatusUnprocessableEntity
	}
	exp := child.ExpiresAt
	if exp == nil {
		exp = parent.ExpiresAt
	}
	if exp != nil && !exp.After(now) {
		return http.StatusUnprocessableEntity
	}
	for _, op := range cops.Slice() {
		if !ps.Ops().Has(op) {
			return http.StatusForbidden
		}
	}
	if !bruteSubset(basinNames.universe, cs.Basins, ps.Basins) ||
		!bruteSubset(streamNames.universe, cs.Streams, ps.Streams) ||
		!bruteSubset(tokenIDs.universe, cs.AccessTokens, ps.AccessTokens) {
		return http.StatusForbidden
	}
	if parent.ExpiresAt != nil && exp.After(*parent.ExpiresAt) {
		return http.StatusForbidden
	}
	return 0
}

// TestValidateNeverBroader checks, over random scopes, that a token
// Validate accepts allows nothing its issuer does not, for every operation
// on every name of the universes, and that Validate decides as the brute
// force model does.
func TestValidateNeverBroader(t *testing.T) {
	now := time.Date(2026, 7, 22, 12, 0, 0, 0, time.UTC)
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	r := rand.New(rand.NewPCG(seed, 42))
	iterations := 10000
	if testing.Short() {
		iterations = 2000
	}
	// Streams a child moved under an auto-prefixing parent's prefix (at
	// most 2 long) may name.
	var longStreams []string
	for _, a := range words(2) {
		for _, b := range words(3) {
			longStreams = append(longStreams, a+b)
		}
	}
	accepted := 0
	for i := 0; i < iterations; i++ {
		parent := randomParent(r, now)
		child := randomChild(r, parent, now)
		out, err := Validate(parent, child, now)

		if !parent.AutoPrefixStreams {
			want := modelStatus(parent, child, now)
			got := 0
			if err != nil {
				var ae *Error
				if !errors.As(err, &ae) {
					t.Fatalf("seed %d: Validate returned %T: %v", seed, err, err)
				}
				got = ae.Status
			}
			if got != want {
				t.Fatalf("seed %d: parent %s child %s: Validate %v (status %d), model status %d",
					seed, mustJSON(t, parent), mustJSON(t, child), err, got, want)
			}
		}
		if err != nil {
			continue
		}
		accepted++
		streams := streamNames.universe
		if parent.AutoPrefixStreams {
			streams = longStreams
		}
		for _, op := range AllOperations() {
			bs, ss := basinNames.universe, streams
			switch op.Resource() {
			case ResourceAccount, ResourceAccessToken:
				bs, ss = bs[:1], ss[:1]
			case ResourceBasin:
				ss = ss[:1]
			}
			for _, b := range bs {
				for _, s := range ss {
					if out.Scope.Allows(op, b, s) && !parent.Scope.Allows(op, b, s) {
						t.Fatalf("seed %d: child %s allows %s %q %q, parent %s does not",
							seed, mustJSON(t, out), op, b, s, mustJSON(t, parent))
					}
				}
			}
			for _, id := range tokenIDs.universe {
				if out.Scope.Allows(op, id, "") && !parent.Scope.Allows(op, id, "") {
					t.Fatalf("seed %d: child %s allows %s on token %q, parent %s does not",
						seed, mustJSON(t, out), op, id, mustJSON(t, parent))
				}
			}
		}
		for _, s := range streams {
			if out.Scope.StreamVisible(s) && !parent.Scope.StreamVisible(s) {
				t.Fatalf("seed %d: child sees stream %q, parent does not", seed, s)
			}
		}
		if parent.ExpiresAt != nil && (out.ExpiresAt == nil || out.ExpiresAt.After(*parent.ExpiresAt)) {
			t.Fatalf("seed %d: child expires %v after parent %v", seed, out.ExpiresAt, parent.ExpiresAt)
		}
		if out.ExpiresAt != nil && !out.ExpiresAt.After(now) {
			t.Fatalf("seed %d: child already expired at %v", seed, out.ExpiresAt)
		}
	}
	// The generators must exercise acceptance, not only refusals.
	if accepted < iterations/20 {
		t.Fatalf("seed %d: only %d of %d requests accepted", seed, accepted, iterations)
	}
	t.Logf("seed %d: %d of %d accepted", seed, accepted, iterations)
}
