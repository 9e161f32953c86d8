package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// SingleNodeCheck compares runs of the server benchmark's latency phase
// (single-node mode) with the committed results, point by point: the ack
// latencies, and their ratios to the raw PUT baseline of the same run,
// which is what drift on a shared machine leaves comparable.
type SingleNodeCheck struct {
	Command string           `json:"command"`
	Base    SingleNodeRun    `json:"base"`
	Runs    []SingleNodeRun  `json:"runs"`
	Points  []SingleNodePair `json:"points"`
}

// SingleNodeRun names one server.json and sums up its points against the
// base: medians over the points both have of run/base.
type SingleNodeRun struct {
	File     string `json:"file"`
	When     string `json:"when"`
	Revision string `json:"revision,omitempty"`
	Points   int    `json:"points_compared,omitempty"`
	// AckP50, AckP99: median over points of ack(run)/ack(base).
	AckP50 float64 `json:"median_ack_p50_over_base,omitempty"`
	AckP99 float64 `json:"median_ack_p99_over_base,omitempty"`
	// RatioP50, RatioP99: median over points of the run's ack/raw PUT
	// ratio over the base's.
	RatioP50 float64 `json:"median_raw_put_ratio_p50_over_base,omitempty"`
	RatioP99 float64 `json:"median_raw_put_ratio_p99_over_base,omitempty"`
	// Within is how many points' p50 ratio to raw PUT is within 15% of
	// the base's.
	Within int `json:"p50_raw_put_ratio_within_15pct,omitempty"`
	// Quiet is the same for the points during which other work on the
	// machine took less than quietCores (runs that recorded it).
	Quiet *SingleNodeRun `json:"quiet_points,omitempty"`
}

// SingleNodePair is one latency point in the base and in each run.
type SingleNodePair struct {
	Point string          `json:"point"`
	Base  SingleNodeFig   `json:"base"`
	Runs  []SingleNodeFig `json:"runs"`
}

// SingleNodeFig is a latency point's figures.
type SingleNodeFig struct {
	AckP50   float64 `json:"ack_p50_ms"`
	AckP99   float64 `json:"ack_p99_ms"`
	P50Ratio float64 `json:"ack_p50_over_raw_put_p50"`
	P99Ratio float64 `json:"ack_p99_over_raw_put_p99"`
	// Others is the cores other work on the machine took during the
	// point, where the run recorded it (-1 where not).
	Others  float64 `json:"others_cores"`
	Missing bool    `json:"missing,omitempty"`
}

// quiet reports whether the point ran on a machine that others left
// alone.
func (f SingleNodeFig) quiet() bool { return f.Others >= 0 && f.Others < quietCores }

func readServerReport(path string) (*ServerReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r ServerReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func pointName(p LatencyPoint) string {
	return fmt.Sprintf("%s %s x %d @ %g/s", p.Path, sizeName(p.RecordBytes), p.BatchRecords, p.Rate)
}

func compareSingleNode(basePath string, runPaths []string) (*SingleNodeCheck, error) {
	base, err := readServerReport(basePath)
	if err != nil {
		return nil, err
	}
	chk := &SingleNodeCheck{
		Command: `make bench-server BENCHFLAGS="-only latency" RESULTS=/tmp/benchcheckN (N = 1, 2, ...), then go run ./bench cluster -render bench/results/cluster.json -compare /tmp/benchcheck1/server.json,... -out bench/results`,
		Base:    SingleNodeRun{File: basePath, When: base.When, Revision: base.Revision},
	}
	var runs []*ServerReport
	for _, p := range runPaths {
		r, err := readServerReport(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	fig := func(p LatencyPoint) SingleNodeFig {
		f := SingleNodeFig{AckP50: p.Ack.P50, AckP99: p.Ack.P99, P50Ratio: p.P50Ratio, P99Ratio: p.P99Ratio, Others: -1}
		if o, ok := p.CPU["others"]; ok {
			f.Others = o
		}
		return f
	}
	for _, bp := range base.Latency {
		if bp.Ack.N == 0 {
			continue
		}
		pair := SingleNodePair{Point: pointName(bp), Base: fig(bp)}
		found := false
		for _, r := range runs {
			f := SingleNodeFig{Missing: true, Others: -1}
			for _, rp := range r.Latency {
				if pointName(rp) == pair.Point && rp.Ack.N > 0 {
					f, found = fig(rp), true
				}
			}
			pair.Runs = append(pair.Runs, f)
		}
		if found {
			chk.Points = append(chk.Points, pair)
		}
	}
	for i, r := range runs {
		all := sumSingleNode(chk.Points, i, func(SingleNodeFig) bool { return true })
		all.File, all.When, all.Revision = runPaths[i], r.When, r.Revision
		if q := sumSingleNode(chk.Points, i, SingleNodeFig.quiet); q.Points > 0 {
			all.Quiet = &q
		}
		chk.Runs = append(chk.Runs, all)
	}
	return chk, nil
}

// sumSingleNode sums up run i against the base over the points keep
// accepts.
func sumSingleNode(points []SingleNodePair, i int, keep func(SingleNodeFig) bool) SingleNodeRun {
	var out SingleNodeRun
	var ack50, ack99, r50, r99 []float64
	for _, pt := range points {
		b, f := pt.Base, pt.Runs[i]
		if f.Missing || !keep(f) || b.AckP50 == 0 || b.AckP99 == 0 {
			continue
		}
		out.Points++
		ack50, ack99 = append(ack50, f.AckP50/b.AckP50), append(ack99, f.AckP99/b.AckP99)
		if b.P50Ratio > 0 && b.P99Ratio > 0 {
			r50, r99 = append(r50, f.P50Ratio/b.P50Ratio), append(r99, f.P99Ratio/b.P99Ratio)
			if d := f.P50Ratio/b.P50Ratio - 1; d >= -0.15 && d <= 0.15 {
				out.Within++
			}
		}
	}
	out.AckP50, out.AckP99 = round2(median(ack50)), round2(median(ack99))
	out.RatioP50, out.RatioP99 = round2(median(r50)), round2(median(r99))
	return out
}

func writeClusterMarkdown(path string, r *ClusterReport) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s := r.Setup
	r.writeHead(&b, "s2lite cluster benchmark: the cost of forwarding")
	p("An embedded etcd (`internal/tools/withetcd`) and %d s2lite nodes in cluster mode (`--cluster-partitions %d`), each its own process on loopback, on one fresh bucket path in MinIO through the counting proxy. ",
		len(s.Nodes), s.Partitions)
	p("Basin `%s` lives in partition %d, owned by **%s** (epoch %d); the root is owned by %s. ", s.Basin, s.BasinPartition, s.Owner, s.OwnerEpoch, s.RootOwner)
	p("The basin is appended to and read through the owner (client → %s) and through the non-owner (client → %s → %s: the non-owner forwards every request over one h2c connection, `httputil.ReverseProxy`, no buffering), in %d rounds. ",
		s.Owner, s.NonOwner, s.Owner, r.Rounds)
	p("Latency: both sides at once, each on a stream of its own at the given rate, their sends interleaved half a period apart, so whatever else the machine does meets both alike. ")
	p("Throughput and reads cannot share the machine that way: their runs alternate, ABBA within a round and BAAB in the next, and each is paired with the other side's run next to it. ")
	p("Every append's `S2lite-Served-By` named %s through either node. The cluster was ready %.1f s after the first node started.\n\n", s.Owner, s.ReadySeconds)
	if others := r.others(); len(others) > 0 {
		p("The machine is shared: processes other than the benchmark's (`others` in the tables: the machine's busy time less that of the nodes, MinIO, etcd and the bench process) took %.2f cores on average over the measured windows (%.2f to %.2f by measurement). ",
			mean(others), minOf(others), maxOf(others))
		p("The spread of the per-round and per-pair figures shows how much that moved them.\n\n")
	}
	r.writeDurations(&b)

	p("\n## Summary\n\n")
	p("| measurement | through the owner (%s) | through the non-owner (%s) | non-owner / owner | extra |\n|---|---|---|---|---|\n", s.Owner, s.NonOwner)
	for _, h := range r.Latency {
		name := latencyName(h)
		p("| %s, ack p50 | %.2f ms | %.2f ms | %.2f | %+.2f ms (by round %s) |\n", name, h.Owner.Ack.P50, h.NonOwner.Ack.P50, h.P50Ratio, h.ExtraP50MS, fmtFloats(h.ExtraP50ByRound, "%+.2f"))
		p("| %s, ack p99 | %.2f ms | %.2f ms | %.2f (by round %s) | %+.2f ms |\n", name, h.Owner.Ack.P99, h.NonOwner.Ack.P99, h.P99Ratio, fmtFloats(h.P99RatioByRound, "%.2f"), h.ExtraP99MS)
	}
	for _, h := range hopThroughputs(r) {
		quiet := "none"
		if h.QuietPairs > 0 {
			quiet = fmt.Sprintf("%.2f", h.QuietRatio)
		}
		p("| %s | %.1f MiB/s (runs %s) | %.1f MiB/s (runs %s) | %.2f; pairs %s (median %.2f; %d quiet: %s) | CPU per MiB, all processes of the benchmark: %.1f → %.1f ms (×%.2f); the non-owner node's share %.1f ms |\n",
			h.Name, h.Owner.MedianMiBPerSec, fmtFloats(h.Owner.MiBPerSec, "%.0f"), h.NonOwner.MedianMiBPerSec, fmtFloats(h.NonOwner.MiBPerSec, "%.0f"),
			h.Ratio, fmtFloats(h.RatioByPair, "%.2f"), h.PairRatio, h.QuietPairs, quiet, h.Owner.CPUPerMiB["ours"], h.NonOwner.CPUPerMiB["ours"], h.CPURatio, h.NonOwner.CPUPerMiB["non-owner"])
	}
	if len(hopThroughputs(r)) > 0 {
		p("\nThroughput runs cannot overlap, so other work on the machine moves them apart: a pair is *quiet* when other processes took less than %.1f cores during both its runs (the `others` of each run are in `cluster.json`).\n", quietCores)
	}

	p("\n## Append ack latency, open loop\n\n")
	p("Batches on a fixed timetable, latency from each batch's *scheduled* send to its ack (as in the server benchmark). `unary` is a JSON append over HTTP/1.1, `session` one S2S append session over h2c; the rate is each side's. ")
	p("Pooled over the rounds. `WAL PUT` is the WAL PUTs the proxy saw in the windows (the owner writes them for both sides), so `ack − WAL PUT` is the time outside the object store; the cores are those of the windows, both sides running.\n\n")
	p("| point | via | node | p50 ms | p90 | p99 | max | n | p50 by round | p99 by round | WAL PUT p50 | ack − WAL PUT p50 | lag p50 | cores owner / non-owner / MinIO / etcd / bench / others | errors |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, h := range r.Latency {
		for _, sd := range hopSides(h.Owner, h.NonOwner) {
			var p50s, p99s []float64
			for _, l := range sd.s.ByRound {
				p50s, p99s = append(p50s, l.P50), append(p99s, l.P99)
			}
			var lag float64
			if sd.s.SendLag != nil {
				lag = sd.s.SendLag.P50
			}
			p("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %d | %s | %s | %.2f | %.2f | %.2f | %s | %s |\n",
				latencyName(h), sd.via, sd.s.Node, sd.s.Ack.P50, sd.s.Ack.P90, sd.s.Ack.P99, sd.s.Ack.Max, sd.s.Ack.N,
				fmtFloats(p50s, "%.2f"), fmtFloats(p99s, "%.2f"), h.WALPut.P50, sd.s.Ack.P50-h.WALPut.P50, lag, clusterCoresCell(h.CPU), sd.s.errors())
		}
	}

	p("\n## Throughput\n\n")
	p("Appends: one S2S append session, closed loop, ~32 MiB in flight (the server benchmark's one-stream point). Reads: the whole stream over one S2S read session, after an untimed read each round. ")
	p("A node gives each unit it could own 1/(P+1) of its memtable and block-cache budgets (`--memtable-size`, `--block-cache-size`), here 1/%d: memtables that much smaller than a single node's flush and compact more often (the PUT column), and the stream is larger than a partition's share of the block cache, so reads fetch tables from the store (the GET column). Both sides meet that alike; it is why absolute figures are below the server benchmark's. ", s.Partitions+1)
	p("`CPU ms/MiB` is each process's CPU time per MiB moved (median over the runs); `ours` sums the nodes, MinIO, etcd and the bench process. The non-owner node's, in the non-owner runs, is the hop's own CPU; on a machine whose cores are all busy, `ours` bounds throughput.\n\n")
	p("| measurement | via | node | MiB/s median | runs | others (cores) by run | ack p50 / p99 ms | cores owner / non-owner / MinIO / etcd / bench / others | CPU ms/MiB owner / non-owner / MinIO / bench / ours | store MiB per MiB, PUT / GET | errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, h := range hopThroughputs(r) {
		for _, sd := range hopSides(h.Owner, h.NonOwner) {
			ack := "–"
			if sd.s.Ack.N > 0 {
				ack = fmt.Sprintf("%.1f / %.1f", sd.s.Ack.P50, sd.s.Ack.P99)
			}
			c := sd.s.CPUPerMiB
			p("| %s | %s | %s | %.1f | %s | %s | %s | %s | %.1f / %.1f / %.1f / %.1f / %.1f | %.2f / %.2f | %s |\n", h.Name, sd.via, sd.s.Node, sd.s.MedianMiBPerSec, fmtFloats(sd.s.MiBPerSec, "%.1f"),
				fmtFloats(sd.s.OthersByRun, "%.2f"), ack, clusterCoresCell(sd.s.CPU), c["owner"], c["non-owner"], c["minio"], c["bench"], c["ours"],
				sd.s.StorePerMiB["PUT"], sd.s.StorePerMiB["GET"], sd.s.errors())
		}
	}

	if len(r.Repeats) > 0 {
		writeRepeats(&b, r)
	}
	if sn := r.SingleNode; sn != nil {
		writeSingleNodeCheck(&b, sn)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// others is the cores other work on the machine took, by measurement
// and side.
func (r *ClusterReport) others() []float64 {
	var others []float64
	for _, h := range r.Latency {
		others = append(others, h.CPU["others"])
	}
	for _, h := range hopThroughputs(r) {
		others = append(others, h.Owner.CPU["others"], h.NonOwner.CPU["others"])
	}
	return others
}

// summary is the run's headline figures, one cell per measurement.
func (r *ClusterReport) summary() ClusterRunSummary {
	s := ClusterRunSummary{When: r.When, Revision: r.Revision, Others: round2(mean(r.others())), Figures: map[string]string{}}
	for _, h := range r.Latency {
		s.Figures[latencyName(h)] = fmt.Sprintf("p50 %+.2f ms (×%.2f), p99 ×%.2f", h.ExtraP50MS, h.P50Ratio, h.P99Ratio)
	}
	for _, h := range hopThroughputs(r) {
		s.Figures[h.Path] = fmt.Sprintf("×%.2f (pairs %.2f), CPU/MiB ×%.2f, hop %.1f ms/MiB", h.Ratio, h.PairRatio, h.CPURatio, h.NonOwner.CPUPerMiB["non-owner"])
	}
	return s
}

func writeRepeats(b *strings.Builder, r *ClusterReport) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	runs := append([]ClusterRunSummary{r.summary()}, r.Repeats...)
	p("\n## From run to run\n\n")
	p("This run and %d more of the same benchmark: non-owner against owner. Latency: the extra p50 and the ratios of p50 and p99; throughput and reads: the ratio of the medians, the median of the pairs, the ratio of CPU per MiB and the non-owner node's CPU per MiB.\n\n| measurement |", len(r.Repeats))
	for i, s := range runs {
		name := "this run"
		if i > 0 {
			name = fmt.Sprintf("repeat %d", i)
		}
		p(" %s (%s, `%s`, others %.2f cores) |", name, s.When, s.Revision, s.Others)
	}
	p("\n|---|")
	for range runs {
		p("---|")
	}
	p("\n")
	var keys, names []string
	for _, h := range r.Latency {
		keys, names = append(keys, latencyName(h)), append(names, latencyName(h))
	}
	for _, h := range hopThroughputs(r) {
		keys, names = append(keys, h.Path), append(names, h.Name)
	}
	for i, k := range keys {
		p("| %s |", names[i])
		for _, s := range runs {
			if f, ok := s.Figures[k]; ok {
				p(" %s |", f)
			} else {
				p(" – |")
			}
		}
		p("\n")
	}
}

func writeSingleNodeCheck(b *strings.Builder, sn *SingleNodeCheck) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## Single-node mode unchanged\n\n")
	p("The server benchmark's latency phase (single-node mode, %d points) run again and compared with the committed `%s` (%s", len(sn.Points), sn.Base.File, sn.Base.When)
	if sn.Base.Revision != "" {
		p(", source `%s`", sn.Base.Revision)
	}
	p("). Command: `%s`. ", sn.Command)
	p("Absolute latencies drift with the machine; each point's ratio to the raw PUT baseline measured right after it in the same run is what should hold.\n\n")
	p("| run | source | points | median ack p50 / committed | median ack p99 / committed | median (ack/raw PUT p50) / committed | median (ack/raw PUT p99) / committed | points whose p50 ratio is within 15%% |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range sn.Runs {
		p("| %s (%s), all points | `%s` | %d | %.2f | %.2f | %.2f | %.2f | %d of %d |\n", r.File, r.When, r.Revision, r.Points, r.AckP50, r.AckP99, r.RatioP50, r.RatioP99, r.Within, r.Points)
		if q := r.Quiet; q != nil {
			p("| %s, quiet points (others < %.1f cores) | | %d | %.2f | %.2f | %.2f | %.2f | %d of %d |\n", r.File, quietCores, q.Points, q.AckP50, q.AckP99, q.RatioP50, q.RatioP99, q.Within, q.Points)
		}
	}
	p("\nPer point: ack p50 / p99 ms (ratio to raw PUT p50 / p99), and where the run recorded it, the cores other work on the machine took meanwhile.\n\n| point | committed |")
	for i := range sn.Runs {
		p(" run %d |", i+1)
	}
	p("\n|---|---|")
	for range sn.Runs {
		p("---|")
	}
	p("\n")
	cell := func(f SingleNodeFig) string {
		if f.Missing {
			return "–"
		}
		c := fmt.Sprintf("%.2f / %.2f (%.2f / %.2f)", f.AckP50, f.AckP99, f.P50Ratio, f.P99Ratio)
		if f.Others >= 0 {
			c += fmt.Sprintf(" others %.1f", f.Others)
		}
		return c
	}
	for _, pt := range sn.Points {
		p("| %s | %s |", pt.Point, cell(pt.Base))
		for _, f := range pt.Runs {
			p(" %s |", cell(f))
		}
		p("\n")
	}
}

func latencyName(h HopLatency) string {
	return fmt.Sprintf("%s %s x %d @ %g/s each", h.Path, sizeName(h.RecordBytes), h.BatchRecords, h.Rate)
}

func hopThroughputs(r *ClusterReport) []HopThroughput {
	return append(append([]HopThroughput{}, r.Throughput...), r.Reads...)
}

type viaSide struct {
	via string
	s   HopSide
}

func hopSides(owner, nonOwner HopSide) []viaSide {
	return []viaSide{{"owner", owner}, {"non-owner", nonOwner}}
}

// errors is the side's failures for a table cell.
func (s HopSide) errors() string {
	var out string
	if s.Errors > 0 {
		out = fmt.Sprintf("%d: %s", s.Errors, s.FirstErr)
	}
	if s.Saturated {
		out += " saturated"
	}
	return strings.TrimSpace(out)
}

func clusterCoresCell(c map[string]float64) string {
	if len(c) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f / %.2f / %.2f", c["owner"], c["non-owner"], c["minio"], c["etcd"], c["bench"], c["others"])
}

func fmtFloats(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}
