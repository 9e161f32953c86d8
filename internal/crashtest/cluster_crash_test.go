package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/cluster"
	"github.com/s2lite/s2lite/internal/etcdtest"
	"github.com/s2lite/s2lite/partition"
)

const clusterPkg = "github.com/s2lite/s2lite/cluster/"

// clusterCases are the failpoints of an ownership move. The matrix's basin
// lives in the root unit (created by a single node); a second node joins a
// one-node cluster and, by its name, takes the root over. onJoiner: the
// failpoint is armed in the joining node (it dies taking the unit over);
// otherwise in the first node (it dies handing the unit over).
var clusterCases = []struct {
	failpoint string
	onJoiner  bool
	what      string
}{
	{clusterPkg + "claimBefore", true, "the new owner opened the unit (fencing the old one) and died before publishing its owner key"},
	{clusterPkg + "claimAfter", true, "the new owner published its owner key and died before serving"},
	{enginePkg + "recoverAfterEpochBump", true, "the new owner's engine took the epoch and died before replaying the log"},
	{clusterPkg + "releaseBefore", false, "the old owner drained and closed the unit and died before deleting its owner key"},
}

const (
	clusterCycles   = 2
	clusterLeaseTTL = "2s"
	// clusterFailover bounds how long after the crash appends must be
	// acknowledged again (the lease TTL, the handoff wait, an open).
	clusterFailover = 20 * time.Second
)

// TestClusterOwnershipCrash is the crash matrix of ownership moves: while
// clients append through both nodes, the node taking a unit over, or the
// one handing it over, dies at each failpoint of the move; the survivor
// must acknowledge appends again within clusterFailover, and a single
// node restarted on the store afterwards (twice) must show every
// acknowledged append, exactly once, where it was acknowledged.
func TestClusterOwnershipCrash(t *testing.T) {
	requireFailpoints(t)
	bins := buildServers(t)
	etcd := etcdtest.Start(t)
	be := backends[0].make(t)
	seed := testSeed(t)
	m := &serverMatrix{bins: bins, st: serverStoreFor(t, be), ledger: newServerLedger(crashBasin),
		rng: rand.New(rand.NewPCG(seed, 3)), seed: seed}
	m.setup(t) // the basin and its streams, in the root, by a single node
	for i, c := range clusterCases {
		name := c.failpoint[strings.LastIndexByte(c.failpoint, '/')+1:]
		t.Run(name, func(t *testing.T) {
			t.Logf("verifies: %s", c.what)
			for cycle := range clusterCycles {
				// A cluster name per cycle: a fresh set of etcd keys.
				cl := fmt.Sprintf("crash-%d-%d", i, cycle)
				r := m.runClusterMove(t, etcd, cl, c.failpoint, c.onJoiner)
				t.Logf("cycle %d: %s; recovered: %s", cycle, r, m.verify(t))
			}
		})
	}
}

// joinerName is a node name that takes the root over from n1 in a
// two-node cluster and leaves partition 0 to it, so the move is the
// basin's unit and only it.
func joinerName(t *testing.T) string {
	for i := range 1000 {
		j := fmt.Sprintf("j%d", i)
		ms := []string{"n1", j}
		if cluster.Owner(partition.Root, ms) == j && cluster.Owner(0, ms) == "n1" {
			return j
		}
	}
	t.Fatal("no joiner name found")
	return ""
}

type moveResult struct {
	crashedAfter   time.Duration
	ackedBefore    int64
	failover       time.Duration
	acked, unknown int
}

func (r moveResult) String() string {
	return fmt.Sprintf("crashed %v after the join, %d appends acknowledged before it, acknowledged again %v after it; %d acknowledged, %d in doubt in all",
		r.crashedAfter.Round(time.Millisecond), r.ackedBefore, r.failover.Round(time.Millisecond), r.acked, r.unknown)
}

// runClusterMove runs one move with the failpoint armed in the joiner or
// in n1, then stops the survivor.
func (m *serverMatrix) runClusterMove(t *testing.T, etcd, name, failpoint string, onJoiner bool) moveResult {
	t.Helper()
	m.run++
	joiner := joinerName(t)
	fp := failpoint + `=return("crash")`
	n1fp, jfp := fp, ""
	if onJoiner {
		n1fp, jfp = "", fp
	}
	n1 := m.startNode(t, etcd, name, "n1", n1fp)
	base1 := n1.mustReady(t)
	waitClusterReady(t, base1, n1)

	var acks atomic.Int64
	stop := make(chan struct{})
	var mu sync.Mutex
	var res moveResult
	var wg sync.WaitGroup
	clients := func(p *serverProc, base string, first int) {
		api := newAPIClient(t, base)
		done := make(chan struct{})
		go func() {
			select {
			case <-stop:
			case <-p.exited:
			}
			close(done)
		}()
		var cwg sync.WaitGroup
		for c := first; c < first+serverClients/2; c++ {
			rng := rand.New(rand.NewPCG(m.seed, uint64(m.run)<<8|uint64(c)))
			cwg.Go(func() {
				cs := m.client(api, rng, c, done, &acks)
				mu.Lock()
				defer mu.Unlock()
				res.acked += cs.acked
				res.unknown += cs.unknown
				if cs.err != nil {
					t.Errorf("client %d: %v", c, cs.err)
				}
			})
		}
		wg.Go(func() {
			cwg.Wait()
			api.close()
		})
	}
	clients(n1, base1, 0)
	time.Sleep(300*time.Millisecond + m.upTo(500*time.Millisecond))

	joined := time.Now()
	j := m.startNode(t, etcd, name, joiner, jfp)
	if base := j.ready(t); base != "" {
		clients(j, base, serverClients/2)
	}
	victim, survivor := n1, j
	if onJoiner {
		victim, survivor = j, n1
	}
	select {
	case <-victim.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the failpoint never fired in 60 s\n%s", tail(victim.stderr.String(), 30))
	}
	crashed := time.Now()
	res.crashedAfter = crashed.Sub(joined)
	res.ackedBefore = acks.Load()
	if !victim.crashed() {
		t.Fatalf("the node with the failpoint ended with %s, want the crash status 137\n%s", victim.status(), tail(victim.stderr.String(), 30))
	}
	// The survivor takes the unit (back) and acknowledges again.
	deadline := time.Now().Add(clusterFailover)
	for acks.Load() == res.ackedBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if acks.Load() == res.ackedBefore {
		t.Fatalf("no append acknowledged within %v after the crash\nsurvivor:\n%s", clusterFailover, tail(survivor.stderr.String(), 40))
	}
	res.failover = time.Since(crashed)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	survivor.stop(t, syscall.SIGTERM)
	if c := survivor.exitCode(); c != 0 {
		t.Fatalf("the survivor ended with %s after SIGTERM\n%s", survivor.status(), tail(survivor.stderr.String(), 30))
	}
	m.ledger.settle(time.Now().UnixMilli())
	return res
}

// startNode starts a cluster-mode node on the matrix's store.
func (m *serverMatrix) startNode(t *testing.T, etcd, clusterName, node, failpoints string) *serverProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	st := serverStore{args: append(slices.Clone(m.st.args), "--port", fmt.Sprint(port),
		"--cluster-etcd", etcd, "--cluster-name", clusterName, "--node-id", node,
		"--advertise-url", fmt.Sprintf("http://127.0.0.1:%d", port),
		"--cluster-partitions", "1", "--cluster-lease-ttl", clusterLeaseTTL)}
	return startServer(t, m.bins.plain, st, failpoints)
}

// waitClusterReady waits for /ready: every unit has an owner.
func waitClusterReady(t *testing.T, base string, p *serverProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready\n%s", base, tail(p.stderr.String(), 30))
}
