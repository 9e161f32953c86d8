package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s2lite/s2lite/cluster"
	"github.com/s2lite/s2lite/gateway"
	"github.com/s2lite/s2lite/partition"
)

// `bench cluster`: what forwarding costs. An embedded etcd (the withetcd
// tool) and two s2lite nodes in cluster mode on loopback, on one bucket
// path through the counting proxy. The same stream is appended to and read
// through the node that owns its basin's partition and through the other
// one, which forwards every request to the owner (one h2c hop), in rounds
// that alternate which side goes first, so that drift hits both alike. See
// bench/README.md.

// ClusterReport is the JSON written by `bench cluster`.
type ClusterReport struct {
	runInfo
	Setup      ClusterSetup    `json:"setup"`
	Rounds     int             `json:"rounds"`
	Latency    []HopLatency    `json:"append_ack_latency"`
	Throughput []HopThroughput `json:"append_throughput"`
	Reads      []HopThroughput `json:"catch_up_reads"`
	// SingleNode compares single-node runs of the server benchmark's
	// latency phase with the committed results (bench cluster -compare).
	SingleNode *SingleNodeCheck `json:"single_node_check,omitempty"`
	// Repeats sums up other runs of this benchmark (bench cluster
	// -repeats), for the spread from run to run.
	Repeats []ClusterRunSummary `json:"repeats,omitempty"`
}

// ClusterRunSummary is a run's headline figures.
type ClusterRunSummary struct {
	File     string  `json:"file,omitempty"`
	When     string  `json:"when"`
	Revision string  `json:"revision,omitempty"`
	Others   float64 `json:"others_cores_mean"`
	// Figures is measurement (latency point, or throughput path) -> its
	// figures in one cell.
	Figures map[string]string `json:"figures"`
}

// ClusterSetup says who owned what.
type ClusterSetup struct {
	Nodes          []string `json:"nodes"`
	Partitions     int      `json:"partitions"`
	Basin          string   `json:"basin"`
	BasinPartition int      `json:"basin_partition"`
	Owner          string   `json:"owner"`
	OwnerEpoch     uint64   `json:"owner_epoch"`
	NonOwner       string   `json:"non_owner"`
	RootOwner      string   `json:"root_owner"`
	// ReadySeconds is from starting the first node to both agreeing on
	// every unit's owner.
	ReadySeconds float64 `json:"ready_seconds"`
}

// HopSide is one side's figures of a measurement: through the owner or
// through the non-owner, pooled over the rounds.
type HopSide struct {
	Node string `json:"node"`
	// Ack is the pooled ack latency (open loop: from the scheduled send;
	// closed loop: from the send).
	Ack     Latency   `json:"ack"`
	ByRound []Latency `json:"ack_by_round,omitempty"`
	SendLag *Latency  `json:"client_send_lag,omitempty"`
	// MiBPerSec is each run's throughput (user bytes), in order.
	MiBPerSec       []float64 `json:"mib_per_sec,omitempty"`
	MedianMiBPerSec float64   `json:"median_mib_per_sec,omitempty"`
	// CPU is the cores each process used, averaged over the runs: owner
	// and non-owner are the two nodes by role, others the rest of the
	// machine.
	CPU map[string]float64 `json:"cpu_cores,omitempty"`
	// CPUPerMiB is milliseconds of CPU per MiB moved, by process (the
	// median over the runs); "ours" sums the benchmark's processes.
	CPUPerMiB map[string]float64 `json:"cpu_ms_per_mib,omitempty"`
	// OthersByRun is the cores other work on the machine took during
	// each run.
	OthersByRun []float64 `json:"others_cores_by_run,omitempty"`
	// StorePerMiB is the MiB the nodes PUT to and GOT from the object
	// store per MiB moved (median over the runs): flushes and compactions
	// behind appends, table reads behind catch-up reads.
	StorePerMiB map[string]float64 `json:"store_mib_per_mib,omitempty"`
	Errors      int                `json:"errors,omitempty"`
	FirstErr    string             `json:"first_error,omitempty"`
	Saturated   bool               `json:"saturated,omitempty"`
}

// HopLatency is open-loop append ack latency through each side. Both
// sides run at once, each at Rate on a stream of its own (in the same
// basin), their sends interleaved half a period apart, so that whatever
// else the machine does meets both alike.
type HopLatency struct {
	Path         string  `json:"path"`
	RecordBytes  int     `json:"record_bytes"`
	BatchRecords int     `json:"batch_records"`
	Rate         float64 `json:"rate_batches_per_sec_each_side"`
	Owner        HopSide `json:"owner"`
	NonOwner     HopSide `json:"non_owner"`
	// Ratios and differences are non-owner against owner, pooled.
	P50Ratio   float64 `json:"p50_ratio"`
	P90Ratio   float64 `json:"p90_ratio"`
	P99Ratio   float64 `json:"p99_ratio"`
	ExtraP50MS float64 `json:"extra_p50_ms"`
	ExtraP90MS float64 `json:"extra_p90_ms"`
	ExtraP99MS float64 `json:"extra_p99_ms"`
	// ExtraP50ByRound is each round's p50 difference: its spread is the
	// noise of the figure.
	ExtraP50ByRound []float64 `json:"extra_p50_ms_by_round"`
	P99RatioByRound []float64 `json:"p99_ratio_by_round"`
	// WALPut is the WAL PUTs seen at the proxy in the windows (the owner
	// writes them for both sides).
	WALPut Latency `json:"wal_put_at_proxy"`
	// CPU is the cores each process used in the windows (both sides).
	CPU map[string]float64 `json:"cpu_cores"`
}

// HopThroughput is append or read throughput through each side.
type HopThroughput struct {
	Name         string  `json:"name"`
	Path         string  `json:"path"`
	RecordBytes  int     `json:"record_bytes"`
	BatchRecords int     `json:"batch_records"`
	InFlight     int     `json:"batches_in_flight,omitempty"`
	StreamMiB    float64 `json:"stream_mib,omitempty"`
	Owner        HopSide `json:"owner"`
	NonOwner     HopSide `json:"non_owner"`
	// Ratio is the medians' ratio, non-owner over owner; RatioByPair
	// pairs each run with the other side's run next to it, PairRatio is
	// their median.
	Ratio       float64   `json:"ratio"`
	RatioByPair []float64 `json:"ratio_by_pair"`
	PairRatio   float64   `json:"median_pair_ratio"`
	// QuietPairs are the pairs during both runs of which other work took
	// less than quietCores; QuietRatio is their median ratio.
	QuietPairs int     `json:"quiet_pairs"`
	QuietRatio float64 `json:"quiet_pair_ratio,omitempty"`
	// CPURatio is the CPU all the benchmark's processes spent per MiB,
	// non-owner over owner: what the hop costs a machine bound by CPU.
	CPURatio float64 `json:"cpu_per_mib_ratio"`
}

// hopTarget is one way into the cluster: a node and a client of it.
type hopTarget struct {
	role string // "owner" or "non-owner"
	node string
	c    *benchClient
}

// hopAcc collects one side's runs of one measurement.
type hopAcc struct {
	lat, lag  []time.Duration
	rounds    []Latency
	cpu       []map[string]float64
	cpuPerMiB []map[string]float64
	store     []map[string]float64
	mibs      []float64
	errs      int
	firstErr  string
	saturated bool
}

func (a *hopAcc) fail(err error) {
	a.errs++
	if a.firstErr == "" {
		a.firstErr = err.Error()
	}
}

// moved records a throughput run: MiB/s, the cores used and the
// requests to the object store meanwhile, and the MiB moved.
func (a *hopAcc) moved(mibPerSec float64, cpu map[string]float64, reqs requestCounts, mib float64) {
	a.mibs = append(a.mibs, mibPerSec)
	a.cpu = append(a.cpu, cpu)
	store := map[string]float64{}
	for _, op := range []string{"PUT", "GET"} {
		if mib > 0 {
			store[op] = float64(reqs.byOp()[op].Bytes) / (1 << 20) / mib
		}
	}
	a.store = append(a.store, store)
	per := map[string]float64{}
	if mibPerSec > 0 {
		for p, c := range cpu {
			per[p] = c / mibPerSec * 1000
		}
		per["ours"] = (cpu["owner"] + cpu["non-owner"] + cpu["minio"] + cpu["etcd"] + cpu["bench"]) / mibPerSec * 1000
	}
	a.cpuPerMiB = append(a.cpuPerMiB, per)
}

// side sums up the runs.
func (a *hopAcc) side(node string) HopSide {
	s := HopSide{Node: node, Ack: summarize(a.lat), ByRound: a.rounds,
		Errors: a.errs, FirstErr: a.firstErr, Saturated: a.saturated}
	if len(a.lag) > 0 {
		lag := summarize(a.lag)
		s.SendLag = &lag
	}
	if len(a.mibs) > 0 {
		s.MiBPerSec = a.mibs
		s.MedianMiBPerSec = round2(median(a.mibs))
		s.CPU = avgCores(a.cpu)
		for _, c := range a.cpu {
			s.OthersByRun = append(s.OthersByRun, c["others"])
		}
		s.CPUPerMiB, s.StorePerMiB = medians(a.cpuPerMiB), medians(a.store)
	}
	return s
}

// medians is the median of each key over the runs.
func medians(runs []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k := range runs[0] {
		var v []float64
		for _, m := range runs {
			v = append(v, m[k])
		}
		out[k] = round2(median(v))
	}
	return out
}

// avgCores averages per-window core counts.
func avgCores(ms []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v / float64(len(ms))
		}
	}
	for k, v := range out {
		out[k] = round2(v)
	}
	return out
}

// clusterBench is the state of one `bench cluster` run.
type clusterBench struct {
	*serverBench
	rep    *ClusterReport
	rounds int
	sides  [2]*hopTarget // owner, non-owner
}

const (
	clusterBasin      = "bench-cluster"
	clusterNodes      = 2
	clusterCatchUpMiB = 48
	// clusterReads is the timed catch-up reads through each side per
	// round, clusterTputPairs the throughput runs.
	clusterReads     = 4
	clusterTputPairs = 3
)

// hopPoint is an open-loop latency point; rate is each side's.
type hopPoint struct {
	path               string
	recordBytes, batch int
	rate               float64
}

func clusterLatencyPoints() []hopPoint {
	return []hopPoint{
		{"unary", 1024, 1, 50},
		{"session", 1024, 1, 50},
		{"unary", 1024, 1000, 5},
	}
}

// latencyStream is the stream a side's open-loop runs of path append to.
func latencyStream(path, role string) string { return "lat-" + path + "-" + role }

func runClusterBench(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	out, bucket := commonFlags(fs)
	quick := fs.Bool("quick", false, "scale durations down and run 2 rounds (development; figures are rough)")
	rounds := fs.Int("rounds", 3, "rounds of owner and non-owner runs (the order alternates)")
	partitions := fs.Int("partitions", 4, "--cluster-partitions of the nodes")
	serverBin := fs.String("server-bin", "", "use this s2lite binary instead of building ./cmd/s2lite")
	compare := fs.String("compare", "", "comma-separated server.json files of single-node runs (make bench-server BENCHFLAGS=\"-only latency\" RESULTS=DIR) to compare with -compare-base in the report")
	compareBase := fs.String("compare-base", "bench/results/server.json", "the committed single-node results -compare is judged against")
	render := fs.String("render", "", "only re-render the report from this cluster.json into -out (with -compare: add the single-node comparison)")
	repeats := fs.String("repeats", "", "with -render: comma-separated cluster.json files of other runs to sum up next to this one")
	fs.Parse(args)
	ctx := context.Background()
	var check *SingleNodeCheck
	if *compare != "" {
		var err error
		if check, err = compareSingleNode(*compareBase, strings.Split(*compare, ",")); err != nil {
			return err
		}
	}
	if *render != "" {
		data, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var rep ClusterReport
		if err := json.Unmarshal(data, &rep); err != nil {
			return err
		}
		if check != nil {
			rep.SingleNode = check
		}
		if *repeats != "" {
			rep.Repeats = nil
			for _, f := range strings.Split(*repeats, ",") {
				data, err := os.ReadFile(strings.TrimSpace(f))
				if err != nil {
					return err
				}
				var r ClusterReport
				if err := json.Unmarshal(data, &r); err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				sum := r.summary()
				sum.File = f
				rep.Repeats = append(rep.Repeats, sum)
			}
		}
		return writeClusterReport(*out, &rep)
	}
	started := time.Now()
	sb, err := newServerBench(ctx, *bucket, *serverBin, "cluster", *quick)
	if err != nil {
		return err
	}
	defer sb.close()
	if *quick {
		*rounds = min(*rounds, 2)
	}
	cb := &clusterBench{serverBench: sb, rounds: *rounds,
		rep: &ClusterReport{runInfo: newRunInfo("make bench-cluster", *quick), Rounds: *rounds, SingleNode: check}}
	cb.rep.Durations = cb.durations()
	stop, err := cb.startCluster(*partitions)
	defer stop()
	if err != nil {
		return err
	}
	if err := cb.measure(); err != nil {
		return err
	}
	cb.rep.Seconds = math.Round(time.Since(started).Seconds())
	if err := writeClusterReport(*out, cb.rep); err != nil {
		return err
	}
	fmt.Printf("cluster benchmark done in %.0f s; results in %s\n", cb.rep.Seconds, *out)
	return nil
}

func writeClusterReport(dir string, rep *ClusterReport) error {
	if err := writeJSON(dir, "cluster.json", rep); err != nil {
		return err
	}
	return writeClusterMarkdown(filepath.Join(dir, "cluster.md"), rep)
}

func (cb *clusterBench) durations() map[string]string {
	return map[string]string{
		"rounds":      fmt.Sprintf("%d, each with every measurement below", cb.rounds),
		"latency run": fmt.Sprintf("a wait for earlier flushes and compactions to finish (0.5 s of quiet, at most 20 s), then both sides at once, sends interleaved: %v warm-up + %v measured (open loop)", cb.scale(time.Second), cb.scale(6*time.Second)),
		"throughput":  fmt.Sprintf("%d runs a round, owner and non-owner in the order ABBAAB... (BAABBA... in the next round); each a wait for earlier flushes and compactions (1 s of quiet, at most 20 s), %v warm-up + %v measured (closed loop)", 2*clusterTputPairs, cb.scale(time.Second), cb.scale(3*time.Second)),
		"catch-up":    fmt.Sprintf("a %d MiB stream filled at the start; each round one untimed read, then %d reads through each side, alternating as above", clusterCatchUpMiB, clusterReads),
		"set-up":      "build, etcd, two nodes, until both agree on every unit's owner",
	}
}

// clusterStatus is what the benchmark reads of GET /cluster/status.
type clusterStatus struct {
	Node    string                         `json:"node"`
	Members map[string]string              `json:"members"`
	Owners  map[string]cluster.OwnerRecord `json:"owners"`
	Serving []int                          `json:"serving"`
}

func getClusterStatus(ctx context.Context, base string) (clusterStatus, error) {
	var st clusterStatus
	data, err := rawDo(ctx, healthClient, http.MethodGet, base+"/cluster/status", nil)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// settled reports whether every node answers /ready and all agree that
// every unit is owned by the member rendezvous hashing gives it, and
// serves what it owns: a node that joined does not take its units at once.
func settled(ctx context.Context, bases []string, partitions int) (map[string]cluster.OwnerRecord, error) {
	var first map[string]cluster.OwnerRecord
	for _, base := range bases {
		if _, err := rawDo(ctx, healthClient, http.MethodGet, base+"/ready", nil); err != nil {
			return nil, err
		}
		st, err := getClusterStatus(ctx, base)
		if err != nil {
			return nil, err
		}
		if len(st.Members) != len(bases) {
			return nil, fmt.Errorf("%s sees %d members", st.Node, len(st.Members))
		}
		var members []string
		for m := range st.Members {
			members = append(members, m)
		}
		var mine []int
		for _, u := range (partition.Layout{Partitions: partitions}).Units() {
			rec, ok := st.Owners[strconv.Itoa(u)]
			if want := cluster.Owner(u, members); !ok || rec.Node != want {
				return nil, fmt.Errorf("%s: unit %d owned by %q, not yet by %s", st.Node, u, rec.Node, want)
			}
			if rec.Node == st.Node {
				mine = append(mine, u)
			}
		}
		slices.Sort(st.Serving)
		if !slices.Equal(mine, st.Serving) {
			return nil, fmt.Errorf("%s serves %v, owns %v", st.Node, st.Serving, mine)
		}
		if first == nil {
			first = st.Owners
		} else if !mapsEqual(first, st.Owners) {
			return nil, errors.New("the nodes disagree on the owners")
		}
	}
	return first, nil
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// startCluster starts etcd and the nodes, waits until they agree on the
// owners, creates the basin and finds its owner. stop ends everything
// started, also on error.
func (cb *clusterBench) startCluster(partitions int) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fmt.Println("building ./internal/tools/withetcd")
	etcdBin, err := buildCommand(cb.tmp, "./internal/tools/withetcd")
	if err != nil {
		return stop, err
	}
	etcd, err := startEtcd(etcdBin, cb.tmp, filepath.Join(cb.tmp, "etcd.log"))
	if err != nil {
		return stop, err
	}
	stops = append(stops, etcd.stop)
	cb.meter.pids["etcd"] = etcd.cmd.Process.Pid
	t0 := time.Now()
	path := cb.runID + "/cluster"
	var bases []string
	nodes := map[string]*serverProc{}
	for i := 1; i <= clusterNodes; i++ {
		id := fmt.Sprintf("n%d", i)
		port, err := freePort()
		if err != nil {
			return stop, err
		}
		args := append(serveArgs(cb.bucket, path, port),
			"--cluster-etcd", etcd.base,
			"--advertise-url", fmt.Sprintf("http://127.0.0.1:%d", port),
			"--node-id", id,
			"--cluster-name", "bench",
			"--cluster-partitions", strconv.Itoa(partitions))
		p, err := startServerArgs(cb.ctx, cb.bin, cb.proxy.url, filepath.Join(cb.tmp, id+".log"), args)
		if err != nil {
			return stop, fmt.Errorf("node %s: %w", id, err)
		}
		stops = append(stops, p.stop)
		nodes[id] = p
		bases = append(bases, p.base)
		cb.rep.Setup.Nodes = append(cb.rep.Setup.Nodes, id)
	}
	var owners map[string]cluster.OwnerRecord
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if owners, err = settled(cb.ctx, bases, partitions); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return stop, fmt.Errorf("the cluster did not settle within 2 minutes: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cb.rep.Setup.ReadySeconds = round2(time.Since(t0).Seconds())
	cb.rep.Setup.Partitions = partitions
	cb.rep.Setup.RootOwner = owners[strconv.Itoa(partition.Root)].Node

	// The basin, created through the first node, and its owner by the
	// served-by header of an append through each node.
	var clients []*benchClient
	for _, base := range bases {
		c, err := newBenchClient(base, clusterBasin)
		if err != nil {
			return stop, err
		}
		stops = append(stops, c.close)
		clients = append(clients, c)
	}
	if err := clients[0].createBasin(cb.ctx); err != nil {
		return stop, err
	}
	if err := createStreams(cb.ctx, clients[0], clusterStreams()); err != nil {
		return stop, err
	}
	u := partition.Home(clusterBasin, partitions)
	rec := owners[strconv.Itoa(u)]
	cb.rep.Setup.Basin, cb.rep.Setup.BasinPartition = clusterBasin, u
	cb.rep.Setup.Owner, cb.rep.Setup.OwnerEpoch = rec.Node, rec.Epoch
	for i, c := range clients {
		_, hdr, err := rawDoHeader(cb.ctx, c.h1, http.MethodPost, c.recordsURL("probe"), []byte(`{"records":[{"body":"which node"}]}`),
			"Content-Type", "application/json", "s2-basin", clusterBasin)
		if err != nil {
			return stop, err
		}
		by := hdr.Get(gateway.HeaderServedBy)
		if by != rec.Node {
			return stop, fmt.Errorf("an append through %s was served by %q, but %s owns partition %d", cb.rep.Setup.Nodes[i], by, rec.Node, u)
		}
		role := "non-owner"
		if cb.rep.Setup.Nodes[i] == rec.Node {
			role = "owner"
		} else {
			cb.rep.Setup.NonOwner = cb.rep.Setup.Nodes[i]
		}
		t := &hopTarget{role: role, node: cb.rep.Setup.Nodes[i], c: c}
		if role == "owner" {
			cb.sides[0] = t
		} else {
			cb.sides[1] = t
		}
		cb.meter.pids[role] = nodes[t.node].cmd.Process.Pid
	}
	if cb.sides[0] == nil || cb.sides[1] == nil {
		return stop, errors.New("no owner and non-owner pair among the nodes")
	}
	cb.logf("cluster ready in %.1f s: basin %s in partition %d, owned by %s (epoch %d); root owned by %s; non-owner %s",
		cb.rep.Setup.ReadySeconds, clusterBasin, u, rec.Node, rec.Epoch, cb.rep.Setup.RootOwner, cb.rep.Setup.NonOwner)
	return stop, nil
}

// clusterStreams are the streams of the basin.
func clusterStreams() []string {
	names := []string{"probe", "tput", "catchup"}
	for _, path := range []string{"unary", "session"} {
		for _, role := range []string{"owner", "non-owner"} {
			names = append(names, latencyStream(path, role))
		}
	}
	return names
}

// order is the two sides in the order of run k: owner first for even k.
func (cb *clusterBench) order(k int) []*hopTarget {
	if k%2 == 0 {
		return []*hopTarget{cb.sides[0], cb.sides[1]}
	}
	return []*hopTarget{cb.sides[1], cb.sides[0]}
}

// abba is the order of 2n runs through the sides in round: pairs in
// turn, ABBA..., starting with the other side in the next round, so that
// a drift over the round cancels out.
func (cb *clusterBench) abba(round, n int) []*hopTarget {
	var out []*hopTarget
	for k := range n {
		out = append(out, cb.order(round+k)...)
	}
	return out
}

func (cb *clusterBench) measure() error {
	owner := cb.sides[0].c
	// The catch-up stream, filled through the owner.
	bs := cb.batch(1024, 1000)
	batches := clusterCatchUpMiB << 20 / bs.bodyBytes()
	if err := appendN(cb.ctx, owner, "catchup", bs, batches, 16); err != nil {
		return err
	}
	catchUpRecords := int64(batches * bs.Records)

	points := clusterLatencyPoints()
	lat := make([][2]hopAcc, len(points))
	windows := make([][]marks, len(points))
	var tput, reads [2]hopAcc
	for round := 0; round < cb.rounds; round++ {
		cb.logf("round %d of %d", round+1, cb.rounds)
		for i, pt := range points {
			windows[i] = append(windows[i], cb.latencyPair(round, pt, &lat[i]))
		}
		for k, t := range cb.abba(round, clusterTputPairs) {
			cb.throughputRun(t, round*2*clusterTputPairs+k, &tput[cb.index(t)])
		}
		cb.settle(owner, 20*time.Second, time.Second)
		if _, err := readAllOnce(cb.ctx, owner, "catchup", "s2s", catchUpRecords); err != nil {
			return err // untimed: fills the block cache
		}
		for _, t := range cb.abba(round, clusterReads) {
			cb.readRun(t, catchUpRecords, &reads[cb.index(t)])
		}
	}
	ow, no := cb.sides[0].node, cb.sides[1].node
	for i, pt := range points {
		h := HopLatency{Path: pt.path, RecordBytes: pt.recordBytes, BatchRecords: cb.batch(pt.recordBytes, pt.batch).Records, Rate: pt.rate,
			Owner: lat[i][0].side(ow), NonOwner: lat[i][1].side(no)}
		o, n := h.Owner.Ack, h.NonOwner.Ack
		h.P50Ratio, h.P90Ratio, h.P99Ratio = ratio(n.P50, o.P50), ratio(n.P90, o.P90), ratio(n.P99, o.P99)
		h.ExtraP50MS, h.ExtraP90MS, h.ExtraP99MS = round3(n.P50-o.P50), round3(n.P90-o.P90), round3(n.P99-o.P99)
		for r := range min(len(h.Owner.ByRound), len(h.NonOwner.ByRound)) {
			h.ExtraP50ByRound = append(h.ExtraP50ByRound, round3(h.NonOwner.ByRound[r].P50-h.Owner.ByRound[r].P50))
			h.P99RatioByRound = append(h.P99RatioByRound, ratio(h.NonOwner.ByRound[r].P99, h.Owner.ByRound[r].P99))
		}
		var puts []walPut
		var cpu []map[string]float64
		for _, mk := range windows[i] {
			_, p := cb.proxy.since(mk.p0, mk.p1)
			puts = append(puts, p...)
			cpu = append(cpu, cores(mk.c0, mk.c1))
		}
		_, _, h.WALPut = walStats(puts)
		h.CPU = avgCores(cpu)
		cb.logf("latency %-7s %d B x %d @ %g/s each: p50 %.2f -> %.2f ms (%+.2f), p99 %.2f -> %.2f ms (x%.2f); by round p50 %v, p99 ratio %v",
			h.Path, h.RecordBytes, h.BatchRecords, h.Rate, o.P50, n.P50, h.ExtraP50MS, o.P99, n.P99, h.P99Ratio, h.ExtraP50ByRound, h.P99RatioByRound)
		cb.rep.Latency = append(cb.rep.Latency, h)
	}
	tp := HopThroughput{Name: "1 stream, S2S append session, 1 KiB x 1000", Path: "session", RecordBytes: 1024, BatchRecords: bs.Records,
		InFlight: cb.sessionDepth(bs), Owner: tput[0].side(ow), NonOwner: tput[1].side(no)}
	tp.pairRatios()
	cb.rep.Throughput = append(cb.rep.Throughput, tp)
	rd := HopThroughput{Name: fmt.Sprintf("catch-up read of a %d MiB stream, S2S", clusterCatchUpMiB), Path: "s2s read", RecordBytes: 1024, BatchRecords: bs.Records,
		StreamMiB: round2(float64(batches*bs.bodyBytes()) / (1 << 20)), Owner: reads[0].side(ow), NonOwner: reads[1].side(no)}
	rd.pairRatios()
	cb.rep.Reads = append(cb.rep.Reads, rd)
	for _, h := range []HopThroughput{tp, rd} {
		cb.logf("%s: %.1f -> %.1f MiB/s (x%.2f; by pair %v, median %.2f; %d quiet pairs %.2f); CPU per MiB x%.2f, the non-owner node's %.2f ms/MiB",
			h.Name, h.Owner.MedianMiBPerSec, h.NonOwner.MedianMiBPerSec, h.Ratio, h.RatioByPair, h.PairRatio, h.QuietPairs, h.QuietRatio, h.CPURatio, h.NonOwner.CPUPerMiB["non-owner"])
	}
	return nil
}

// quietCores is how many cores other work may take during both runs of a
// pair for the pair to count as quiet.
const quietCores = 0.5

// pairRatios fills the ratio of the medians and of each pair of runs.
func (h *HopThroughput) pairRatios() {
	h.Ratio = ratio(h.NonOwner.MedianMiBPerSec, h.Owner.MedianMiBPerSec)
	var quiet []float64
	for i := range min(len(h.Owner.MiBPerSec), len(h.NonOwner.MiBPerSec)) {
		r := ratio(h.NonOwner.MiBPerSec[i], h.Owner.MiBPerSec[i])
		h.RatioByPair = append(h.RatioByPair, r)
		if i < len(h.Owner.OthersByRun) && i < len(h.NonOwner.OthersByRun) &&
			h.Owner.OthersByRun[i] < quietCores && h.NonOwner.OthersByRun[i] < quietCores {
			quiet = append(quiet, r)
		}
	}
	h.PairRatio = median(h.RatioByPair)
	h.QuietPairs = len(quiet)
	h.QuietRatio = median(quiet)
	h.CPURatio = ratio(h.NonOwner.CPUPerMiB["ours"], h.Owner.CPUPerMiB["ours"])
}

func (cb *clusterBench) index(t *hopTarget) int {
	if t == cb.sides[0] {
		return 0
	}
	return 1
}

func (cb *clusterBench) sessionDepth(bs *batchSet) int {
	return max(4, min(256, (32<<20)/bs.meteredBytes()))
}

// latencyPair runs both sides' open loops at once, the sends of the
// second (by round) half a period after the first's.
func (cb *clusterBench) latencyPair(round int, pt hopPoint, accs *[2]hopAcc) marks {
	bs := cb.batch(pt.recordBytes, maxBatchRecords(pt.recordBytes, pt.batch))
	cb.settle(cb.sides[0].c, 20*time.Second, 500*time.Millisecond)
	warm, meas := cb.scale(time.Second), cb.scale(6*time.Second)
	start := time.Now().Add(50 * time.Millisecond)
	half := time.Duration(float64(time.Second) / pt.rate / 2)
	wait := cb.markWindow(cb.sides[0].c, window{start.Add(warm), start.Add(warm + meas)}, "")
	var res [2]openLoopResult
	var errs [2]error
	var wg sync.WaitGroup
	for k, t := range cb.order(round) {
		i := cb.index(t)
		wg.Go(func() {
			res[i], errs[i] = openLoop(cb.ctx, t.c, openLoopOpts{Path: pt.path, Stream: latencyStream(pt.path, t.role), Batches: bs,
				Rate: pt.rate, Warmup: warm, Measure: meas, Start: start.Add(time.Duration(k) * half)})
		})
	}
	wg.Wait()
	mk := wait()
	for i, t := range cb.sides {
		acc, r := &accs[i], res[i]
		if errs[i] != nil {
			acc.fail(errs[i])
		}
		if r.Errors > 0 {
			acc.errs += r.Errors - 1
			acc.fail(errors.New(r.FirstErr))
		}
		acc.saturated = acc.saturated || r.Saturated
		acc.lat = append(acc.lat, r.Latency...)
		acc.lag = append(acc.lag, r.SendLag...)
		l := summarize(r.Latency)
		acc.rounds = append(acc.rounds, l)
		cb.logf("  %-9s %-7s %5d B x %4d @ %4g/s: ack p50 %6.2f p90 %6.2f p99 %6.2f max %6.2f ms (n=%d, errors %d)",
			t.role, pt.path, pt.recordBytes, bs.Records, pt.rate, l.P50, l.P90, l.P99, l.Max, l.N, r.Errors)
	}
	cb.logf("  cores %s", fmtClusterCores(cores(mk.c0, mk.c1)))
	return mk
}

// throughputRun is one closed-loop run of 1 MiB batches through t on a
// pipelined session, as the server benchmark's one-stream point.
func (cb *clusterBench) throughputRun(t *hopTarget, seed int, acc *hopAcc) {
	bs := cb.batch(1024, 1000)
	cb.settle(t.c, 20*time.Second, time.Second)
	warm, meas := cb.scale(time.Second), cb.scale(3*time.Second)
	start := time.Now()
	w := window{start.Add(warm), start.Add(warm + meas)}
	wait := cb.markWindow(t.c, w, "")
	res, err := closedLoopSession(cb.ctx, t.c, "tput", bs, cb.sessionDepth(bs), w, w.to, seed)
	mk := wait()
	if err != nil {
		acc.fail(err)
	}
	mib := round2(float64(res.BodyBytes) / meas.Seconds() / (1 << 20))
	cpu := cores(mk.c0, mk.c1)
	reqs, _ := cb.proxy.since(mk.p0, mk.p1)
	acc.moved(mib, cpu, reqs, float64(res.BodyBytes)/(1<<20))
	acc.lat = append(acc.lat, res.Latency...)
	cb.logf("  %-9s append session 1 KiB x %d: %.1f MiB/s, ack p50 %.1f ms | cores %s", t.role, bs.Records, mib, summarize(res.Latency).P50, fmtClusterCores(cpu))
}

// readRun is one timed catch-up read through t.
func (cb *clusterBench) readRun(t *hopTarget, records int64, acc *hopAcc) {
	p0, c0 := cb.proxy.mark(), cb.meter.sample()
	rr, err := readAllOnce(cb.ctx, t.c, "catchup", "s2s", records)
	cpu := cores(c0, cb.meter.sample())
	if err != nil {
		acc.fail(err)
		return
	}
	reqs, _ := cb.proxy.since(p0, cb.proxy.mark())
	acc.moved(rr.MiBPerSec, cpu, reqs, rr.MiBPerSec*rr.Seconds)
	cb.logf("  %-9s catch-up read: %.1f MiB/s in %.3f s | cores %s", t.role, rr.MiBPerSec, rr.Seconds, fmtClusterCores(cpu))
}

func fmtClusterCores(c map[string]float64) string {
	return fmt.Sprintf("owner %.2f, non-owner %.2f, MinIO %.2f, etcd %.2f, bench %.2f, others %.2f",
		c["owner"], c["non-owner"], c["minio"], c["etcd"], c["bench"], c["others"])
}
