package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

const (
	// basins and streams of the ledger workload: six basins spread over
	// the eight partitions, two streams each.
	numBasins       = 6
	streamsPerBasin = 2

	// failoverTarget is the design's bound on how soon a dead owner's
	// basins take appends again (DESIGN.md, "Takeover bound"), and
	// failoverLimit the bound the test enforces (the target plus slack
	// for a loaded machine).
	failoverTarget = 10 * time.Second
	failoverLimit  = 15 * time.Second
	// killRounds is how many times a node is killed: all but one early in
	// the run, the last at its end.
	killRounds = 3

	// freeze is how long a node is stopped (SIGSTOP): well past the lease.
	freeze = 2*leaseTTL + time.Second
	// settleLimit bounds every wait for the cluster to settle.
	settleLimit = 60 * time.Second
	// gracefulLeaveLimit bounds how long after SIGTERM a node may still be
	// a member: it closes its units at once (handing them over) and
	// revokes its lease once they are closed.
	gracefulLeaveLimit = 5 * time.Second
)

// TestCluster is make cluster-test. It starts etcd and three nodes, runs
// the workload through all of them, and goes through the faults one phase
// at a time, checking every stream against the ledger after each; at the
// end it reads everything back through every node, checks the lincheck
// history, prints the FAILOVER line and stops the nodes gracefully.
// Failures of cluster mode are test errors, reported with the nodes' logs;
// the run goes on where it can, so that one run shows every failure.
func TestCluster(t *testing.T) {
	if os.Getenv("S2LITE_CLUSTER_TEST") != "1" {
		t.Skip("S2LITE_CLUSTER_TEST not set: run make cluster-test")
	}
	begin := time.Now()
	dir := t.TempDir()
	logDir := t.TempDir()
	if d := os.Getenv("S2LITE_CLUSTER_LOGS"); d != "" {
		// Keep the node logs after the run.
		logDir = d
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildBinary(t, dir)
	t.Logf("built s2lite in %v; node logs in %s", time.Since(begin).Round(time.Millisecond), logDir)

	storeArgs := storage(t)
	etcdStart := time.Now()
	etcd := startEtcd(t, 3, dir)
	t.Logf("etcd: 3 members ready in %v", time.Since(etcdStart).Round(time.Millisecond))

	c := &cluster{t: t, bin: bin, storeArgs: storeArgs, etcd: etcd, logDir: logDir,
		api: newAPI(rootToken), begin: time.Now(), nodes: map[string]*node{}}
	t.Cleanup(func() {
		c.stopAll()
		c.mu.Lock()
		for _, n := range c.nodes {
			n.peer.close()
			for _, p := range n.proxies {
				p.close()
			}
		}
		c.mu.Unlock()
		c.api.close()
		if t.Failed() {
			c.dumpLogs(80)
		}
	})
	three := []string{"n1", "n2", "n3"}
	startTogether(t, c, three)

	// Basins and streams, created through different nodes.
	l := newLedger(c.begin)
	var basins []string
	for b := range numBasins {
		basin := fmt.Sprintf("ct-basin-%d", b)
		basins = append(basins, basin)
		for s := range streamsPerBasin {
			l.addStream(basin, fmt.Sprintf("s%d", s))
		}
	}
	linStreams := []string{"lin-0", "lin-1"}
	setup(t, c, basins, l, linStreams)

	w := newWorkload(t, c, l)
	linSeed := seed(t)
	lw := newLinWorkload(c, linStreams, linSeed)
	c.logf("lincheck seed %d (S2LITE_LINCHECK_SEED replays its clients' choices)", linSeed)
	// Sessions on the streams of one basin, through nodes that do not own
	// it: an SSE follower of s0, an S2S follower and an S2S appender on s1.
	ss := startSessions(w, []*streamLedger{l.streams[0], l.streams[1]}, l.streams[1])
	sessionBasin := l.streams[0].basin
	c.logf("sessions on %s: SSE follower of %s, S2S follower of and S2S appender to %s", sessionBasin, l.streams[0].name, l.streams[1].name)
	w.start(4)
	lw.start(2)
	t.Cleanup(func() {
		// Before the nodes are killed (cleanups run last first).
		w.halt()
		lw.halt()
		lw.close()
		ss.halt()
	})

	phase := func(name string, fn func()) {
		t.Helper()
		start := time.Now()
		c.logf("=== %s", name)
		fn()
		c.unexpectedExits(name)
		end := time.Now()
		outage, where := l.longestOutage(start, end)
		c.logf("%s took %v; %s; longest time a stream took no append: %v (%s)", name, end.Sub(start).Round(time.Millisecond),
			l.phaseStats(start, end), outage.Round(time.Millisecond), where)
		w.check(name, c.live())
		ss.report(c)
	}
	phase("warm-up", func() { time.Sleep(5 * time.Second) })

	// (a) kill -9 of a node that serves basins, a few times: every basin
	// it served must take appends again through the survivors. The
	// takeover replays the WAL written since the partition's last flush,
	// which grows over the run; one more round at the end measures it
	// with more to replay.
	var failovers []time.Duration
	lastVictim := ""
	killRound := func(name string) {
		phase(name, func() {
			victim, served := pickVictim(t, w, l, lastVictim)
			lastVictim = victim
			survivors := without(three, victim)
			c.logf("killing %s, which serves %s", victim, basinNames(served))
			killed := time.Now()
			c.kill(victim)
			for _, d := range takeover(t, c, w, served, victim, survivors, killed, "kill -9") {
				failovers = append(failovers, d)
				if d > failoverLimit {
					t.Errorf("after kill -9 of %s a basin took %v to take appends again, over the limit of %v (target %v)",
						victim, d.Round(time.Millisecond), failoverLimit, failoverTarget)
				}
			}
			c.waitSettled(survivors, settleLimit)
			c.logf("the survivors settled %v after the kill", time.Since(killed).Round(time.Millisecond))
			c.start(victim)
			took, owners := c.waitSettled(three, settleLimit)
			c.logf("%s back, cluster settled in %v: %s", victim, took.Round(time.Millisecond), ownersString(owners))
			time.Sleep(2 * time.Second)
		})
	}
	for round := range killRounds - 1 {
		killRound(fmt.Sprintf("kill -9 round %d", round+1))
	}

	// (b) SIGSTOP past the lease, then SIGCONT: the node must have lost its
	// lease, acknowledge nothing more, and exit.
	phase("SIGSTOP past the lease", func() {
		victim, served := pickVictim(t, w, l, lastVictim)
		lastVictim = victim
		survivors := without(three, victim)
		c.logf("stopping %s (serving %s) for %v; lease TTL %v", victim, basinNames(served), freeze, leaseTTL)
		frozen := time.Now()
		c.signal(victim, syscall.SIGSTOP, false)
		gone := waitMemberGone(t, c, survivors, victim, leaseTTL+10*time.Second)
		c.logf("survivors dropped %s from the members %v after the freeze", victim, gone.Sub(frozen).Round(time.Millisecond))
		takeover(t, c, w, served, victim, survivors, frozen, "SIGSTOP")
		c.waitSettled(survivors, settleLimit)
		if d := time.Until(frozen.Add(freeze)); d > 0 {
			time.Sleep(d)
		}
		c.expectEnd(victim)
		c.signal(victim, syscall.SIGCONT, false)
		resumed := time.Now()
		c.logf("resumed %s after %v", victim, resumed.Sub(frozen).Round(time.Millisecond))
		if !c.waitExit(victim, 30*time.Second) {
			t.Errorf("%s still running 30s after SIGCONT, although its lease expired while it was stopped", victim)
			c.kill(victim)
		} else {
			p := c.proc(victim)
			c.logf("%s exited %v after SIGCONT: %s", victim, p.exitedAt.Sub(resumed).Round(time.Millisecond), p.status())
			if p.exitCode() == 0 {
				t.Errorf("%s exited with status 0 after losing its lease; want non-zero", victim)
			}
		}
		lateAcks(t, victim, gone, l.acksServedBy(victim, gone))
		c.start(victim)
		took, owners := c.waitSettled(three, settleLimit)
		c.logf("%s back, cluster settled in %v: %s", victim, took.Round(time.Millisecond), ownersString(owners))
	})

	// (c) the etcd leader dies: the cluster keeps working, maybe after a
	// pause, and no node loses its lease.
	phase("etcd leader killed", func() {
		lead, err := etcd.waitLeader(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.logf("crashing etcd member %s, the leader", etcd.members[lead].name)
		killed := time.Now()
		etcdMemberDown(c, lead, true)
		newLead, err := etcd.waitLeader(20 * time.Second)
		if err != nil {
			t.Errorf("after the etcd leader died: %v", err)
		} else {
			c.logf("etcd: new leader %s after %v", etcd.members[newLead].name, time.Since(killed).Round(time.Millisecond))
		}
		// Every basin takes appends through every node.
		worst := time.Duration(0)
		for _, sl := range l.streams {
			if sl.name != "s0" {
				continue
			}
			for _, n := range c.live() {
				op, _, err := w.probe(sl, func() []*node { return []*node{n} }, 30*time.Second)
				if err != nil {
					t.Errorf("after the etcd leader died, via %s: %v", n.id, err)
					continue
				}
				worst = max(worst, op.done.Sub(killed))
			}
		}
		c.logf("every basin took an append through every node within %v of the etcd leader's death", worst.Round(time.Millisecond))
		time.Sleep(leaseTTL + time.Second)
		c.unexpectedExits("etcd leader killed")
		c.waitSettled(three, settleLimit)
		if err := etcd.start(etcd.members[lead]); err != nil {
			t.Fatalf("restarting etcd member %s: %v", etcd.members[lead].name, err)
		}
		etcdMemberDown(c, lead, false)
		c.logf("etcd member %s back after %v", etcd.members[lead].name, time.Since(killed).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
	})

	// (d) rolling restart: SIGTERM each node in turn, wait for its exit,
	// start it again, wait for the cluster to settle.
	phase("rolling restart", func() {
		start := time.Now()
		defer func() {
			// A graceful restart must not take a basin away for longer than
			// a crash may. Each restart moves the node's partitions twice
			// (to the others when its lease is revoked, back when it
			// rejoins), each move a WAL replay, and here the two overlap.
			outage, where := l.longestOutage(start, time.Now())
			switch {
			case outage > failoverLimit:
				t.Errorf("rolling restart: a stream took no append for %v (%s), more than the %v limit of a kill -9",
					outage.Round(time.Millisecond), where, failoverLimit)
			case outage > failoverTarget:
				c.logf("NOTE: rolling restart: a stream took no append for %v (%s), more than the %v target of a kill -9 (DESIGN.md, Takeover bound)",
					outage.Round(time.Millisecond), where, failoverTarget)
			}
		}()
		for _, id := range three {
			code, took, left := c.terminateLeaving(id, without(three, id), 60*time.Second)
			c.logf("%s: SIGTERM -> the others dropped it after %v, exit status %d in %v", id, left.Round(time.Millisecond), code, took.Round(time.Millisecond))
			if code != 0 {
				t.Errorf("%s exited with status %d after SIGTERM; want 0\n%s", id, code, c.tail(id, 30))
			}
			// It closes its units at once; until its lease is revoked
			// their owner keys still send every request for them to it.
			if left < 0 || left > gracefulLeaveLimit {
				after := left.Round(time.Millisecond).String()
				if left < 0 {
					after = "more than " + (took + leaseTTL + 5*time.Second).Round(time.Millisecond).String()
				}
				t.Errorf("%s: the other nodes still listed it as a member %s after SIGTERM (limit %v; it exited after %v): while it stops it holds its lease and the owner keys of units it no longer serves, so they are unavailable through every node (and with the root, so are token checks)",
					id, after, gracefulLeaveLimit, took.Round(time.Millisecond))
			}
			c.start(id)
			settled, owners := c.waitSettled(three, settleLimit)
			c.logf("%s back, settled in %v: %s", id, settled.Round(time.Millisecond), ownersString(owners))
		}
	})

	// (e) a fourth node joins, takes partitions, serves, and leaves.
	phase("node added and removed", func() {
		c.addNode("n4")
		c.start("n4")
		four := []string{"n1", "n2", "n3", "n4"}
		took, owners := c.waitSettled(four, settleLimit)
		mine := 0
		for _, u := range units() {
			if owners[u].Node == "n4" {
				mine++
			}
		}
		c.logf("n4 joined, settled in %v, owns %d units: %s", took.Round(time.Millisecond), mine, ownersString(owners))
		time.Sleep(5 * time.Second)
		w.check("with n4", nodesOf(c, four))
		code, d := c.terminate("n4", 60*time.Second)
		c.logf("n4: SIGTERM -> exit status %d in %v", code, d.Round(time.Millisecond))
		if code != 0 {
			t.Errorf("n4 exited with status %d after SIGTERM; want 0\n%s", code, c.tail("n4", 30))
		}
		took, owners = c.waitSettled(three, settleLimit)
		c.logf("n4 gone, settled in %v: %s", took.Round(time.Millisecond), ownersString(owners))
	})

	// (f) a node cut from its peers (its advertise proxy): it keeps its
	// lease and its partitions, serves them to clients that reach it, and
	// they are unavailable through the others until the cut heals; first
	// a node that does not own the root (the one serving the sessions'
	// basin when it can), then the root's owner.
	victim, rootOwner := peerCutVictims(t, c, w, l, three, sessionBasin)
	phase("node cut from its peers", func() { cutFromPeers(t, c, w, l, victim, three, true) })
	phase("root owner cut from its peers", func() { cutFromPeers(t, c, w, l, rootOwner, three, false) })

	// (g) a node cut from etcd (its proxies blackholed) while it still
	// serves clients: it must lose its lease, stop acknowledging, exit.
	// The node serving the sessions' basin, so that they live through it.
	phase("node cut from etcd", func() {
		victim := w.ownerOf(sessionBasin)
		if victim == "" {
			victim = "n3"
		}
		survivors := without(three, victim)
		byNode, _ := basinsByNode(t, w, l)
		c.logf("cutting %s (serving %s) from etcd", victim, basinNames(byNode[victim]))
		cut := time.Now()
		for _, p := range c.node(victim).proxies {
			p.setMode(proxyBlackhole)
		}
		c.expectEnd(victim)
		gone := waitMemberGone(t, c, survivors, victim, leaseTTL+10*time.Second)
		c.logf("survivors dropped %s from the members %v after the cut", victim, gone.Sub(cut).Round(time.Millisecond))
		takeover(t, c, w, byNode[victim], victim, survivors, cut, "the cut")
		exited := c.waitExit(victim, 30*time.Second)
		for _, p := range c.node(victim).proxies {
			p.setMode(proxyUp)
		}
		if !exited {
			t.Errorf("%s still running 30s after it was cut from etcd (lease TTL %v)", victim, leaseTTL)
			c.kill(victim)
		} else {
			p := c.proc(victim)
			c.logf("%s exited %v after the cut: %s", victim, p.exitedAt.Sub(cut).Round(time.Millisecond), p.status())
			if p.exitCode() == 0 {
				t.Errorf("%s exited with status 0 after losing its lease; want non-zero", victim)
			}
		}
		// The node stops serving its partitions once its last keep-alive
		// answer is two thirds of the TTL old (cluster.Member.Fresh), before
		// etcd drops the lease: nothing sent after the others saw it gone
		// may be acknowledged by it.
		lateAcks(t, victim, gone, l.acksServedBy(victim, gone))
		c.waitSettled(survivors, settleLimit)
		c.start(victim)
		took, owners := c.waitSettled(three, settleLimit)
		c.logf("%s back, cluster settled in %v: %s", victim, took.Round(time.Millisecond), ownersString(owners))
	})

	killRound(fmt.Sprintf("kill -9 round %d (late: more WAL to replay)", killRounds))

	// Final: stop the workload, let the followers catch up, read
	// everything back through every node.
	w.halt()
	lw.halt()
	ss.haltAppender()
	c.unexpectedExits("final")
	ss.finish(t, c, w)
	w.check("final", c.live())
	lw.check(t, c.node("n1"), logDir)
	c.logf("workload: %d appends, %d reads", w.writes.Load(), w.reads.Load())

	if len(failovers) > 0 {
		s := slices.Clone(failovers)
		slices.Sort(s)
		var parts []string
		for _, d := range failovers {
			parts = append(parts, d.Round(time.Millisecond).String())
		}
		line := fmt.Sprintf("FAILOVER p50=%v max=%v n=%d (kill -9 of a node to the first acknowledged append to each basin it served, through a survivor; %d kills; lease TTL %v; each: %s)",
			s[(len(s)-1)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s), killRounds, leaseTTL, strings.Join(parts, " "))
		t.Log(line)
		fmt.Println(line)
	}

	// Graceful stop of everything.
	for _, id := range c.liveIDs() {
		code, d := c.terminate(id, 60*time.Second)
		c.logf("%s: SIGTERM -> exit status %d in %v", id, code, d.Round(time.Millisecond))
		if code != 0 {
			t.Errorf("%s exited with status %d after SIGTERM at the end; want 0\n%s", id, code, c.tail(id, 30))
		}
	}
}

// startTogether starts the nodes at once, as a deployment would, and
// waits for them to settle. If they do not, that is a failure of cluster
// mode; the nodes are then stopped and started one at a time so that the
// rest of the run can still find what it can.
func startTogether(t *testing.T, c *cluster, ids []string) {
	t.Helper()
	for _, id := range ids {
		c.addNode(id)
		c.start(id)
	}
	took, owners, err := c.settle(ids, 30*time.Second)
	if err == nil {
		c.logf("cluster of %d started together, settled in %v: %s", len(ids), took.Round(time.Millisecond), ownersString(owners))
		return
	}
	st, _ := c.api.clusterStatus(context.Background(), c.node(ids[0]).url)
	t.Errorf("nodes started together: %v\n%s sees owners %s", err, ids[0], ownersString(st.Owners))
	for _, id := range ids {
		t.Log(c.tail(id, 60))
	}
	c.logf("restarting the nodes one at a time")
	for _, id := range ids {
		code, d := c.terminate(id, 60*time.Second)
		c.logf("%s: SIGTERM -> exit status %d in %v", id, code, d.Round(time.Millisecond))
	}
	for i, id := range ids {
		c.start(id)
		took, owners := c.waitSettled(ids[:i+1], settleLimit)
		c.logf("%v settled in %v: %s", ids[:i+1], took.Round(time.Millisecond), ownersString(owners))
	}
}

// seed is S2LITE_LINCHECK_SEED, or random.
func seed(t *testing.T) uint64 {
	if v := os.Getenv("S2LITE_LINCHECK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("S2LITE_LINCHECK_SEED: %v", err)
		}
		return n
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// storage is the storage flags of the nodes: a fresh path in the bucket of
// the MinIO that make cluster-test starts, or, without it, a local
// directory they share.
func storage(t *testing.T) []string {
	t.Helper()
	if !s3test.Enabled() {
		dir := t.TempDir()
		t.Logf("S2LITE_TEST_S3 not set: nodes share the local directory %s", dir)
		return []string{"--local-root", dir}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "clustertest-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// s2lite does not create buckets.
	if err := objstore.CreateBucket(ctx, objstore.S3OptionsFromEnv(s3test.Bucket, prefix)); err != nil {
		t.Fatal(err)
	}
	t.Logf("storage: MinIO at %s, bucket %s, path %s", os.Getenv("AWS_ENDPOINT_URL_S3"), s3test.Bucket, prefix)
	return []string{"--bucket", s3test.Bucket, "--path", prefix}
}

// setup creates the basins and streams through different nodes, retrying
// while partitions settle.
func setup(t *testing.T, c *cluster, basins []string, l *ledger, linStreams []string) {
	t.Helper()
	nodes := c.live()
	try := func(what string, f func(ctx context.Context, n *node) answer) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; ; i++ {
			n := nodes[i%len(nodes)]
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ans := f(ctx, n)
			cancel()
			if ans.status == 200 || ans.status == 201 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s via %s: %s", what, n.id, ans)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Spread the creations over the nodes: the i-th through node i.
	spread := func(i int, n *node) *node { return nodes[(i+indexNode(nodes, n))%len(nodes)] }
	for i, b := range append(slices.Clone(basins), linBasin) {
		try("create basin "+b, func(ctx context.Context, n *node) answer { return c.api.ensureBasin(ctx, spread(i, n).url, b) })
	}
	for i, sl := range l.streams {
		try("create stream "+sl.basin+"/"+sl.name, func(ctx context.Context, n *node) answer {
			return c.api.ensureStream(ctx, spread(i, n).url, sl.basin, sl.name)
		})
	}
	for i, s := range linStreams {
		try("create stream "+linBasin+"/"+s, func(ctx context.Context, n *node) answer {
			return c.api.ensureStream(ctx, spread(i, n).url, linBasin, s)
		})
	}
	// Where each basin landed.
	w := &workload{c: c, api: c.api, l: l}
	where := map[string]string{}
	for _, sl := range l.streams {
		if sl.name != "s0" {
			continue
		}
		owner, err := w.servedBy(sl, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		where[sl.basin] = owner
	}
	var parts []string
	for b, o := range where {
		parts = append(parts, b+"@"+o)
	}
	sort.Strings(parts)
	c.logf("basins served by: %s", strings.Join(parts, " "))
}

func indexNode(nodes []*node, n *node) int {
	for i, x := range nodes {
		if x == n {
			return i
		}
	}
	return 0
}

// pickVictim picks a node other than avoid (so that successive faults hit
// different nodes) that serves at least one basin, and returns it with the
// first stream of each basin it serves.
func pickVictim(t *testing.T, w *workload, l *ledger, avoid string) (string, []*streamLedger) {
	t.Helper()
	byNode, order := basinsByNode(t, w, l)
	for _, n := range order {
		if n != avoid {
			return n, byNode[n]
		}
	}
	return order[0], byNode[order[0]]
}

// basinsByNode maps each node to the first stream of each basin it
// serves now; order lists the nodes in the order of the basins.
func basinsByNode(t *testing.T, w *workload, l *ledger) (map[string][]*streamLedger, []string) {
	t.Helper()
	byNode := map[string][]*streamLedger{}
	var order []string
	for _, sl := range l.streams {
		if sl.name != "s0" {
			continue
		}
		owner, err := w.servedBy(sl, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if byNode[owner] == nil {
			order = append(order, owner)
		}
		byNode[owner] = append(byNode[owner], sl)
	}
	return byNode, order
}

func basinNames(streams []*streamLedger) string {
	var out []string
	for _, sl := range streams {
		out = append(out, sl.basin)
	}
	return strings.Join(out, " ")
}

// takeover probes every stream of served through the survivors at once
// until each takes an append, and returns how long after since each did.
// A probe that fails, or an append served by the victim, is an error.
func takeover(t *testing.T, c *cluster, w *workload, served []*streamLedger, victim string, survivors []string, since time.Time, what string) []time.Duration {
	t.Helper()
	type result struct {
		op       *appendOp
		attempts int
		err      error
	}
	results := make([]result, len(served))
	var wg sync.WaitGroup
	for i, sl := range served {
		wg.Go(func() {
			op, attempts, err := w.probe(sl, func() []*node { return nodesOf(c, survivors) }, 60*time.Second)
			results[i] = result{op, attempts, err}
		})
	}
	wg.Wait()
	var out []time.Duration
	for i, r := range results {
		sl := served[i]
		if r.err != nil {
			t.Errorf("after %s of %s: %v", what, victim, r.err)
			continue
		}
		d := r.op.done.Sub(since)
		out = append(out, d)
		c.logf("takeover after %s: %s/%s took an append %v after it (served by %s via %s, %d attempts)", what, sl.basin, sl.name,
			d.Round(time.Millisecond), r.op.servedBy, r.op.via, r.attempts)
		if r.op.servedBy == victim {
			t.Errorf("after %s of %s, an append through a survivor was served by %s: %s", what, victim, victim, r.op)
		}
	}
	return out
}

func without(ids []string, drop string) []string {
	var out []string
	for _, id := range ids {
		if id != drop {
			out = append(out, id)
		}
	}
	return out
}

func nodesOf(c *cluster, ids []string) []*node {
	var out []*node
	for _, id := range ids {
		out = append(out, c.node(id))
	}
	return out
}

// waitMemberGone waits until every survivor's /cluster/status no longer
// lists victim, and returns when that was first seen.
func waitMemberGone(t *testing.T, c *cluster, survivors []string, victim string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		gone := true
		for _, id := range survivors {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			members, err := c.membersSeenBy(ctx, id)
			cancel()
			if err != nil || slices.Contains(members, victim) {
				gone = false
				break
			}
		}
		if gone {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("survivors %v still list %s as a member after %v", survivors, victim, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// etcdMemberDown crashes etcd member i (down) or reconnects it (up) in
// every node's proxies. The member itself is stopped or started by the
// caller.
func etcdMemberDown(c *cluster, i int, down bool) {
	c.mu.Lock()
	var ps []*tcpProxy
	for _, n := range c.nodes {
		ps = append(ps, n.proxies[i])
	}
	c.mu.Unlock()
	if down {
		// At once: the member's raft stops and every connection to it is
		// reset, as when its process dies.
		c.etcd.members[i].crash()
		for _, p := range ps {
			p.setMode(proxyDown)
		}
		return
	}
	for _, p := range ps {
		p.setMode(proxyUp)
	}
}

// lateAcks reports the appends victim acknowledged although they were
// sent after the others dropped it (gone): the first few, and how many
// and over how long in all.
func lateAcks(t *testing.T, victim string, gone time.Time, ops []*appendOp) {
	t.Helper()
	if len(ops) == 0 {
		return
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].sent.Before(ops[j].sent) })
	for _, op := range ops[:min(len(ops), 5)] {
		t.Errorf("%s acknowledged an append sent after its lease was gone: %s%s", victim, op, sessionHint(op))
	}
	last := ops[len(ops)-1]
	t.Errorf("%s acknowledged %d appends sent after the others dropped it, the last sent %v after that: %s", victim, len(ops),
		last.sent.Sub(gone).Round(time.Millisecond), last)
}

// sessionHint explains an acknowledgement that should not have come when
// it came on an append session: the session was open before.
func sessionHint(op *appendOp) string {
	if op.session == "" {
		return ""
	}
	return " (a batch of a session opened earlier: the node checks its lease when a request arrives, not for each batch of an open session)"
}
