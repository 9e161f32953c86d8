package clustertest

// A node cut from its peers, not from etcd: its advertise proxy resets
// the connections the other nodes forward through and leaves new ones
// unanswered, while the node's clients (which reach its port directly)
// and its etcd connections stay up. The node keeps its lease and its
// partitions, so its basins are unavailable through the other nodes (503
// or no answer), never served by anyone else; it still serves them to
// clients that reach it; everything else goes on; and once the cut heals
// every node reaches every basin again within seconds.

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// tokenCacheTTL is how long a node that does not own the root trusts
	// an access token's answer from the root's owner (gateway): past it,
	// every request through such a node needs the root's owner again.
	tokenCacheTTL = 5 * time.Second
	// peerCutProbe bounds the probes of the victim's basins sent to it
	// during a cut (2 s per attempt). otherProbe bounds the probes of the
	// other basins through the other nodes, and otherAttempt each of
	// their appends: longer than a node's wait for the root's owner to
	// authenticate a token (5 s), so that its answer shows.
	peerCutProbe = 10 * time.Second
	otherProbe   = 4 * time.Second
	otherAttempt = 8 * time.Second
	// healLimit is how soon after a cut heals every node must have an
	// append to every basin acknowledged: "within a few seconds".
	healLimit = 5 * time.Second
)

// cutFromPeers is the phase: victim cut from its peers for a while, then
// healed; ids are the members. With serves, the victim must serve a basin
// of the ledger, so that serving it directly through the cut is checked.
func cutFromPeers(t *testing.T, c *cluster, w *workload, l *ledger, victim string, ids []string, serves bool) {
	t.Helper()
	others := without(ids, victim)
	_, before := c.waitSettled(ids, settleLimit)
	byNode, _ := basinsByNode(t, w, l)
	mine := byNode[victim]
	var theirs []*streamLedger
	for _, n := range others {
		theirs = append(theirs, byNode[n]...)
	}
	var held []string
	for _, u := range units() {
		if before[u].Node == victim {
			held = append(held, u)
		}
	}
	c.logf("cutting %s from its peers; it serves units %s (basins: %s)", victim, strings.Join(held, " "), basinNames(mine))
	switch {
	case len(mine) == 0 && serves:
		t.Errorf("%s, to be cut from its peers, serves no basin of the ledger: serving its basins through the cut is not checked", victim)
	case len(mine) == 0:
		c.logf("NOTE: %s serves no basin of the ledger: serving its basins through the cut is not checked", victim)
	}
	c.node(victim).peer.setMode(proxyCut)
	cut := time.Now()

	// The victim still serves its own basins to clients that reach it.
	for i, r := range probeAll(w, mine, []*node{c.node(victim)}, peerCutProbe, 2*time.Second) {
		sl := mine[i]
		switch {
		case r.err != nil:
			t.Errorf("%s cut from its peers: an append to %s/%s sent to it directly: %v", victim, sl.basin, sl.name, r.err)
		case r.op.servedBy != victim:
			t.Errorf("%s cut from its peers: an append to %s/%s sent to it directly was served by %s: %s", victim, sl.basin, sl.name, r.op.servedBy, r.op)
		default:
			c.logf("during the cut, %s/%s took an append sent to %s directly %v after the cut (%d attempts)", sl.basin, sl.name, victim,
				r.op.done.Sub(cut).Round(time.Millisecond), r.attempts)
		}
	}

	// Every other basin goes on through every other node, also once the
	// token answers cached before the cut have expired.
	if d := time.Until(cut.Add(tokenCacheTTL + time.Second)); d > 0 {
		time.Sleep(d)
	}
	results := probeAll(w, theirs, nodesOf(c, others), otherProbe, otherAttempt)
	hint := ""
	if slices.Contains(held, "-1") {
		hint = " (it owns the root, whose owner every other node asks to authenticate an access token)"
	}
	worst, failures := time.Duration(0), 0
	failedBasins := map[string]bool{}
	for i, r := range results {
		sl, via := theirs[i/len(others)], others[i%len(others)]
		if r.err != nil {
			failures++
			failedBasins[sl.basin] = true
			t.Errorf("%s cut from its peers (it owns units %s): %s/%s, served by %s, took no append through %s %v after the cut%s: %v",
				victim, strings.Join(held, " "), sl.basin, sl.name, r.owner, via, time.Since(cut).Round(time.Millisecond), hint, r.err)
			continue
		}
		worst = max(worst, r.op.done.Sub(r.op.sent))
	}
	c.logf("during the cut, of %d basins not served by %s, %d took an append through each of %v (slowest probe %v), %d probes failed",
		len(theirs), victim, len(theirs)-len(failedBasins), others, worst.Round(time.Millisecond), failures)

	// Nothing moved: the victim kept its lease and its units.
	_, owners, err := c.settle(ids, 10*time.Second)
	switch {
	case err != nil:
		t.Errorf("%s cut from its peers: the cluster changed: %v", victim, err)
	case !maps.Equal(owners, before):
		t.Errorf("%s cut from its peers: owners changed during the cut although every node kept its lease\nbefore: %s\nafter:  %s",
			victim, ownersString(before), ownersString(owners))
	}

	heal := time.Now()
	c.node(victim).peer.setMode(proxyUp)
	c.logf("healed the cut of %s after %v", victim, heal.Sub(cut).Round(time.Millisecond))

	// Through the cut, the victim's basins were never served by another
	// node, nor by the victim through another node.
	var failed, viaVictim []*appendOp
	statuses := map[string]int{}
	for _, sl := range l.streams {
		if !slices.ContainsFunc(mine, func(m *streamLedger) bool { return m.basin == sl.basin }) {
			continue
		}
		sl.mu.Lock()
		for _, op := range sl.ops {
			if op.sent.Before(cut) || !op.sent.Before(heal) || op.outcome == pending {
				continue
			}
			switch {
			case op.via == victim && op.outcome == acked:
				viaVictim = append(viaVictim, op)
			case op.via == victim:
			case op.outcome == acked:
				t.Errorf("%s cut from its peers: an append to a basin it serves, sent through %s during the cut, was acknowledged: %s", victim, op.via, op)
			default:
				failed = append(failed, op)
				k := "no answer"
				if op.status != 0 {
					k = fmt.Sprint(op.status)
				}
				statuses[k]++
			}
		}
		sl.mu.Unlock()
	}
	c.logf("during the cut, appends to the basins %s serves: %d acknowledged sent to it directly; through the others %d failed (%s)",
		victim, len(viaVictim), len(failed), countsString(statuses))

	// Every node reaches every basin again.
	var all []*streamLedger
	for _, sl := range l.streams {
		if sl.name == "s0" {
			all = append(all, sl)
		}
	}
	worst = 0
	results = probeAll(w, all, nodesOf(c, ids), 30*time.Second, 2*time.Second)
	for i, r := range results {
		sl, via := all[i/len(ids)], ids[i%len(ids)]
		if r.err != nil {
			t.Errorf("after the cut of %s healed: %s/%s through %s: %v", victim, sl.basin, sl.name, via, r.err)
			continue
		}
		d := r.op.done.Sub(heal)
		worst = max(worst, d)
		if d > healLimit {
			t.Errorf("after the cut of %s healed: %s/%s took an append through %s only %v later, over the %v limit (%d attempts)",
				victim, sl.basin, sl.name, via, d.Round(time.Millisecond), healLimit, r.attempts)
		}
	}
	c.logf("after the heal, every basin took an append through every node within %v", worst.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
}

type probeResult struct {
	op       *appendOp
	attempts int
	owner    string // the node that served the stream's last acknowledged append, for messages
	err      error
}

// probeAll probes every stream through every node of via at once (each
// attempt bounded by attempt), and returns the results stream by stream,
// node by node.
func probeAll(w *workload, streams []*streamLedger, via []*node, limit, attempt time.Duration) []probeResult {
	out := make([]probeResult, len(streams)*len(via))
	var wg sync.WaitGroup
	for i, sl := range streams {
		for j, n := range via {
			wg.Go(func() {
				op, attempts, err := w.probeEach(sl, func() []*node { return []*node{n} }, limit, attempt)
				out[i*len(via)+j] = probeResult{op: op, attempts: attempts, owner: lastServer(sl), err: err}
			})
		}
	}
	wg.Wait()
	return out
}

// lastServer is the node that served sl's last acknowledged append.
func lastServer(sl *streamLedger) string {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	var last *appendOp
	for _, op := range sl.ops {
		if op.outcome == acked && (last == nil || op.done.After(last.done)) {
			last = op
		}
	}
	if last == nil {
		return "?"
	}
	return last.servedBy
}

// peerCutVictims picks the node to cut from its peers: the one serving
// prefer's basin unless it owns the root (which another phase cuts),
// else another node serving basins that does not own the root; and the
// root's owner.
func peerCutVictims(t *testing.T, c *cluster, w *workload, l *ledger, ids []string, prefer string) (victim, rootOwner string) {
	t.Helper()
	_, owners := c.waitSettled(ids, settleLimit)
	rootOwner = owners["-1"].Node
	byNode, order := basinsByNode(t, w, l)
	if o := w.ownerOf(prefer); o != "" && o != rootOwner {
		return o, rootOwner
	}
	for _, n := range order {
		if n != rootOwner {
			return n, rootOwner
		}
	}
	cands := without(ids, rootOwner)
	sort.Slice(cands, func(i, j int) bool { return len(byNode[cands[i]]) > len(byNode[cands[j]]) })
	return cands[0], rootOwner
}
