package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/objstore"
)

// `bench server`: the s2lite server end to end against a real MinIO, with
// a counting proxy in between and a raw PUT/GET baseline measured in the
// same run. See bench/README.md for the workloads and their durations.

// ServerReport is the JSON written by `bench server`.
type ServerReport struct {
	runInfo
	ProxyOverhead ProxyOverhead  `json:"proxy_overhead"`
	Latency       []LatencyPoint `json:"append_ack_latency"`
	Tail          []TailPoint    `json:"tail_latency"`
	Throughput    []TputPoint    `json:"max_throughput"`
	CatchUp       *CatchUpResult `json:"catch_up_reads,omitempty"`
	Cipher        *CipherResult  `json:"cipher_comparison,omitempty"`
	StoreStalls   *StoreStalls   `json:"store_stalls,omitempty"`
	WALPuts       []WALPutCheck  `json:"wal_puts_per_object"`
	Cost          *CostResult    `json:"cost_after_compaction,omitempty"`
	Targets       []Verdict      `json:"targets"`
}

// ProxyOverhead compares 1 KiB PUTs straight to MinIO and through the
// counting proxy (all baselines go through an identical proxy).
type ProxyOverhead struct {
	Direct  Latency `json:"direct_put_1kib"`
	Proxied Latency `json:"proxied_put_1kib"`
}

// LatencyPoint is one open-loop run: appends at a fixed rate.
type LatencyPoint struct {
	Path         string  `json:"path"`
	RecordBytes  int     `json:"record_bytes"`
	BatchRecords int     `json:"batch_records"`
	Rate         float64 `json:"rate_batches_per_sec"`
	AchievedRate float64 `json:"acked_batches_per_sec"`
	MiBPerSec    float64 `json:"user_mib_per_sec"`
	Ack          Latency `json:"ack"`
	SendLag      Latency `json:"client_send_lag"`
	Saturated    bool    `json:"saturated,omitempty"`
	Unfinished   int     `json:"unfinished,omitempty"`
	Errors       int     `json:"errors,omitempty"`
	FirstErr     string  `json:"first_error,omitempty"`

	WALObjects         int64              `json:"wal_objects"`
	WALObjectsPerBatch float64            `json:"wal_objects_per_batch"`
	AvgWALObjectBytes  int                `json:"avg_wal_object_bytes"`
	WALPut             Latency            `json:"wal_put_at_proxy"`
	WALInFlight        float64            `json:"avg_wal_puts_in_flight"`
	RawPut             Latency            `json:"raw_put_same_size"`
	P50Ratio           float64            `json:"ack_p50_over_raw_put_p50"`
	P99Ratio           float64            `json:"ack_p99_over_raw_put_p99"`
	Requests           map[string]opCount `json:"requests_by_op"`
	CPU                map[string]float64 `json:"cpu_cores"`
}

// TailPoint is ack-to-reader latency for one reader kind and rate.
type TailPoint struct {
	Reader      string  `json:"reader"`
	Rate        float64 `json:"rate_records_per_sec"`
	RecordBytes int     `json:"record_bytes"`
	BeyondAck   Latency `json:"read_minus_ack"`
	EndToEnd    Latency `json:"read_minus_scheduled_send"`
	Ack         Latency `json:"ack"`
	Missing     int     `json:"records_not_received"`
}

// TputPoint is one closed-loop maximum-throughput run.
type TputPoint struct {
	Name         string  `json:"name"`
	Path         string  `json:"path"`
	Streams      int     `json:"streams"`
	RecordBytes  int     `json:"record_bytes"`
	BatchRecords int     `json:"batch_records"`
	InFlight     int     `json:"batches_in_flight"`
	Seconds      float64 `json:"seconds"`
	MiBPerSec    float64 `json:"user_mib_per_sec"`
	RecordsSec   float64 `json:"records_per_sec"`
	BatchesSec   float64 `json:"batches_per_sec"`
	Ack          Latency `json:"ack"`

	WALObjects        int64   `json:"wal_objects"`
	WALObjectsSec     float64 `json:"wal_objects_per_sec"`
	AvgWALObjectBytes int     `json:"avg_wal_object_bytes"`
	WALPut            Latency `json:"wal_put_at_proxy"`
	WALInFlight       float64 `json:"avg_wal_puts_in_flight"`
	// CPU is cores used by each process in the window (bench = client and
	// proxies).
	CPU map[string]float64 `json:"cpu_cores"`

	RawPut1MiBSec float64 `json:"raw_put_mib_per_sec_1_client_same_size"`
	RawPut4MiBSec float64 `json:"raw_put_mib_per_sec_4_clients_same_size"`
	RatioTo1      float64 `json:"ratio_to_raw_put_1_client"`
	RatioTo4      float64 `json:"ratio_to_raw_put_4_clients"`

	Requests       map[string]opCount `json:"requests_by_op"`
	RequestsPerMiB map[string]float64 `json:"requests_per_mib_appended"`
	PutBytesPerMiB float64            `json:"put_bytes_per_user_byte"`
	FlushMiB       float64            `json:"flushed_mib"`
	CompactedMiB   float64            `json:"compaction_written_mib"`
	Stalls         float64            `json:"write_stalls"`
	SetupSeconds   float64            `json:"setup_seconds,omitempty"`
	SettledSeconds float64            `json:"waited_for_previous_compactions_seconds"`
	Error          string             `json:"error,omitempty"`
}

// CatchUpResult is reading a stream from the start: cold (right after a
// restart, empty cache) and warm (again, cache filled).
type CatchUpResult struct {
	StreamMiB       float64   `json:"stream_mib"`
	Records         int64     `json:"records"`
	RecordBytes     int       `json:"record_bytes"`
	FillerMiB       float64   `json:"filler_mib"`
	Tables          int       `json:"tables"`
	TableMiB        float64   `json:"table_mib"`
	RestartSeconds  []float64 `json:"restart_seconds"`
	Cold            []ReadRun `json:"cold"`
	Warm            []ReadRun `json:"warm"`
	RawGetMiBSec    float64   `json:"raw_get_mib_per_sec_whole_tables_1_client"`
	RawRangedMiBSec float64   `json:"raw_get_mib_per_sec_1mib_ranges_1_client"`
	// RawGetCPU is the cores each process used during the whole-table raw
	// GETs: next to a read's CPU it tells whether the machine, not the
	// server, bounds the cold read.
	RawGetCPU  map[string]float64 `json:"raw_get_cores,omitempty"`
	ColdRatio  float64            `json:"cold_over_raw_get"`
	WarmMiBSec float64            `json:"warm_mib_per_sec"`
}

// ReadRun is one full read of the catch-up stream.
type ReadRun struct {
	Path      string  `json:"path"`
	Seconds   float64 `json:"seconds"`
	MiBPerSec float64 `json:"mib_per_sec"`
	Records   int64   `json:"records"`
	GETs      int64   `json:"store_gets"`
	GETMiB    float64 `json:"store_get_mib"`
	// GETSeconds is the summed duration of those GETs at the proxy.
	GETSeconds float64            `json:"store_get_seconds_summed"`
	CPU        map[string]float64 `json:"cpu_cores"`
}

// CostResult is the request and byte cost of everything the throughput
// server did, after compaction settled.
type CostResult struct {
	UserMiB       float64            `json:"user_mib_appended"`
	Requests      map[string]opCount `json:"requests_by_op_and_object"`
	WALMiB        float64            `json:"wal_mib_put"`
	SSTMiB        float64            `json:"sst_mib_put"`
	ManifestMiB   float64            `json:"manifest_mib_put"`
	WriteAmp      float64            `json:"write_amplification"`
	WriteAmpSST   float64            `json:"write_amplification_tables_only"`
	Flushes       float64            `json:"flushes"`
	Compactions   float64            `json:"compactions"`
	Moves         float64            `json:"compaction_moves"`
	UnflushedMiB  float64            `json:"memtable_mib_not_flushed"`
	SettleSeconds float64            `json:"settle_seconds"`
	PutsPerMiB    float64            `json:"puts_per_mib"`
	GetsPerMiB    float64            `json:"gets_per_mib"`
	ListsPerMiB   float64            `json:"lists_per_mib"`
	DeletesPerMiB float64            `json:"deletes_per_mib"`
}

// WALPutCheck compares, over a server's whole life, the WAL PUTs the
// proxy saw with the WAL objects the server says it wrote.
type WALPutCheck struct {
	Phase               string  `json:"phase"`
	WALObjects          int64   `json:"wal_objects_server_counter"`
	WALPuts             int64   `json:"wal_puts_at_proxy"`
	WALPutErrors        int64   `json:"wal_puts_failed"`
	AllPuts             int64   `json:"all_puts_at_proxy"`
	AllPutsPerWALObject float64 `json:"all_puts_per_wal_object"`
}

// Verdict is one target with the figures it was judged on.
type Verdict struct {
	Target  string `json:"target"`
	Met     bool   `json:"met"`
	Figures string `json:"figures"`
}

// serverBench holds what every phase shares.
type serverBench struct {
	ctx       context.Context
	bin       string
	bucket    string
	endpoint  string // MinIO, as the environment gives it
	closers   []func()
	runID     string
	tmp       string
	proxy     *countingProxy // between s2lite and MinIO
	baseProxy *countingProxy // between the baseline client and MinIO
	base      *baseline
	baseStore *objstore.S3
	quick     bool
	minioPid  int
	meter     *cpuMeter // of the current server, MinIO and this process
	rep       *ServerReport
	batches   map[[2]int]*batchSet
	// points, when set, limits the latency phase to these points, named
	// "RECORDxBATCH@RATE" (e.g. 1024x1@1000); for development.
	points map[string]bool
}

func (sb *serverBench) batch(recordBytes, records int) *batchSet {
	k := [2]int{recordBytes, records}
	if bs := sb.batches[k]; bs != nil {
		return bs
	}
	n := max(4, min(16, (16<<20)/(recordBytes*records)))
	bs := makeBatches(recordBytes, records, n, uint64(len(sb.batches)+1))
	sb.batches[k] = bs
	return bs
}

func (sb *serverBench) scale(d time.Duration) time.Duration {
	if sb.quick {
		return max(300*time.Millisecond, d*3/10)
	}
	return d
}

func (sb *serverBench) logf(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

func runServerBench(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	out, bucket := commonFlags(fs)
	quick := fs.Bool("quick", false, "scale durations and sizes down (development; figures are rough)")
	only := fs.String("only", "", "comma-separated phases to run: latency, tail, throughput, catchup, cipher (default all)")
	serverBin := fs.String("server-bin", "", "use this s2lite binary instead of building ./cmd/s2lite")
	render := fs.String("render", "", "only re-judge the targets and re-render the report and plots from this server.json into -out")
	points := fs.String("points", "", "comma-separated latency points to run, as RECORDxBATCH@RATE, e.g. 1024x1@1000 (development; default all)")
	fs.Parse(args)
	ctx := context.Background()
	if *render != "" {
		data, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var rep ServerReport
		if err := json.Unmarshal(data, &rep); err != nil {
			return err
		}
		// The verdicts are judged again from the figures, so that a fix to
		// a verdict applies to recorded runs; the JSON is written back.
		rep.Targets = judge(&rep)
		if err := writeJSON(*out, "server.json", &rep); err != nil {
			return err
		}
		if err := writeServerMarkdown(filepath.Join(*out, "server.md"), &rep); err != nil {
			return err
		}
		return writeServerPlots(*out, &rep)
	}
	started := time.Now()
	sb, err := newServerBench(ctx, *bucket, *serverBin, "server", *quick)
	if err != nil {
		return err
	}
	defer sb.close()
	endpoint := sb.endpoint
	sb.rep = &ServerReport{runInfo: newRunInfo("make bench-server", *quick)}
	sb.rep.Durations = sb.durations()
	if *points != "" {
		sb.points = map[string]bool{}
		for p := range strings.SplitSeq(*points, ",") {
			sb.points[strings.TrimSpace(p)] = true
		}
	}
	phases := map[string]bool{"latency": true, "tail": true, "throughput": true, "catchup": true, "cipher": true}
	if *only != "" {
		phases = map[string]bool{}
		for p := range strings.SplitSeq(*only, ",") {
			phases[strings.TrimSpace(p)] = true
		}
	}
	if err := sb.proxyOverhead(endpoint); err != nil {
		return fmt.Errorf("proxy overhead: %w", err)
	}
	if phases["latency"] || phases["tail"] {
		if err := sb.latencyPhase(phases["latency"], phases["tail"]); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if phases["throughput"] {
		if err := sb.throughputPhase(); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if phases["catchup"] {
		if err := sb.catchUpPhase(); err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
	}
	if phases["cipher"] {
		if err := sb.cipherPhase(); err != nil {
			return fmt.Errorf("cipher: %w", err)
		}
	}
	sb.rep.Targets = judge(sb.rep)
	sb.rep.Seconds = math.Round(time.Since(started).Seconds())
	for _, v := range sb.rep.Targets {
		mark := "NOT MET"
		if v.Met {
			mark = "met"
		}
		fmt.Printf("target %-7s %s: %s\n", mark, v.Target, v.Figures)
	}
	if err := writeJSON(*out, "server.json", sb.rep); err != nil {
		return err
	}
	if err := writeServerMarkdown(filepath.Join(*out, "server.md"), sb.rep); err != nil {
		return err
	}
	if err := writeServerPlots(*out, sb.rep); err != nil {
		return err
	}
	fmt.Printf("server benchmark done in %.0f s; results in %s\n", sb.rep.Seconds, *out)
	return nil
}

// newServerBench prepares what the end-to-end benchmarks (server,
// cluster) share: the bucket, a temporary directory, the s2lite binary
// (built unless serverBin names one), the counting proxy in front of
// MinIO, the baseline client behind an identical proxy, and the CPU meter.
// kind names the run's prefix in the bucket. close undoes it.
func newServerBench(ctx context.Context, bucket, serverBin, kind string, quick bool) (_ *serverBench, err error) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		return nil, fmt.Errorf("AWS_ENDPOINT_URL_S3 is not set: run under internal/tools/withminio (make bench-%s)", kind)
	}
	if err := objstore.CreateBucket(ctx, objstore.S3OptionsFromEnv(bucket, "")); err != nil {
		return nil, err
	}
	sb := &serverBench{ctx: ctx, bucket: bucket, endpoint: endpoint, quick: quick, batches: map[[2]int]*batchSet{},
		runID: fmt.Sprintf("%s-%d", kind, time.Now().UnixNano())}
	defer func() {
		if err != nil {
			sb.close()
		}
	}()
	if sb.tmp, err = os.MkdirTemp("", "s2lite-bench-"); err != nil {
		return nil, err
	}
	sb.closers = append(sb.closers, func() { os.RemoveAll(sb.tmp) })
	sb.bin = serverBin
	if sb.bin == "" {
		fmt.Println("building ./cmd/s2lite")
		dir := sb.tmp
		if perfDir() != "" {
			dir = perfDir() // profiles need the binary afterwards
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		if sb.bin, err = buildServer(dir); err != nil {
			return nil, err
		}
	}
	if sb.proxy, err = startProxy(endpoint); err != nil {
		return nil, err
	}
	sb.closers = append(sb.closers, sb.proxy.close)
	if sb.baseProxy, err = startProxy(endpoint); err != nil {
		return nil, err
	}
	sb.closers = append(sb.closers, sb.baseProxy.close)
	bopts := objstore.S3OptionsFromEnv(bucket, baselinePrefix+"/"+sb.runID)
	bopts.Endpoint = sb.baseProxy.url
	if sb.baseStore, err = objstore.NewS3(ctx, bopts); err != nil {
		return nil, err
	}
	sb.closers = append(sb.closers, func() { sb.baseStore.Close() })
	sb.base = &baseline{store: sb.baseStore}
	sb.minioPid = findMinioPid(endpoint)
	sb.meter = &cpuMeter{pids: map[string]int{"minio": sb.minioPid, "bench": os.Getpid()}, machine: true}
	return sb, nil
}

// close stops the proxies and removes the temporary directory, in the
// reverse order of their start.
func (sb *serverBench) close() {
	for i := len(sb.closers) - 1; i >= 0; i-- {
		sb.closers[i]()
	}
	sb.closers = nil
}

// runInfo heads the report of an end-to-end benchmark: when, where, how
// and from which source it ran, and for how long.
type runInfo struct {
	When      string            `json:"when"`
	Machine   string            `json:"machine"`
	Command   string            `json:"command"`
	Revision  string            `json:"revision,omitempty"`
	Quick     bool              `json:"quick"`
	Durations map[string]string `json:"durations"`
	Seconds   float64           `json:"total_seconds"`
}

// newRunInfo starts the report of a run made with command (a make
// target).
func newRunInfo(command string, quick bool) runInfo {
	if quick {
		command += " BENCHFLAGS=-quick"
	}
	return runInfo{When: time.Now().UTC().Format(time.RFC3339), Machine: machine(),
		Command: command, Quick: quick, Revision: gitRevision()}
}

// writeHead writes the report's title and what the run was.
func (ri *runInfo) writeHead(b *strings.Builder, title string) {
	fmt.Fprintf(b, "# %s\n\n%s, %s. Command: `%s` (%.0f s in all).", title, ri.When, ri.Machine, ri.Command, ri.Seconds)
	if ri.Revision != "" {
		fmt.Fprintf(b, " Source: `%s`.", ri.Revision)
	}
	b.WriteString("\n\n")
	if ri.Quick {
		b.WriteString("**Quick run: durations and sizes scaled down, figures are rough.**\n\n")
	}
}

// writeDurations lists the measured periods of the run.
func (ri *runInfo) writeDurations(b *strings.Builder) {
	b.WriteString("Durations:\n\n")
	keys := make([]string, 0, len(ri.Durations))
	for k := range ri.Durations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "- %s: %s\n", k, ri.Durations[k])
	}
}

// gitRevision names the source the server was built from, best effort.
func gitRevision() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// durations documents the measured periods of this run.
func (sb *serverBench) durations() map[string]string {
	return map[string]string{
		"store stall probe": fmt.Sprintf("after the latency points, %v of raw 1157 B PUTs at 200/s, every one slower than 30 ms recorded", sb.scale(65*time.Second)),
		"latency point":     fmt.Sprintf("a wait for earlier flushes and compactions to finish (0.5 s of quiet, at most 20 s), %v warm-up + %v measured (open loop), then raw PUTs of the same size, paced like the run's WAL PUTs (at most 50 ms apart), as many as the run's WAL PUTs (at least 100) or for as long as the run was measured", sb.scale(time.Second), sb.scale(4*time.Second)),
		"tail point":        fmt.Sprintf("%v warm-up + %v measured", sb.scale(time.Second), sb.scale(5*time.Second)),
		"throughput point":  fmt.Sprintf("%v warm-up + %v measured (closed loop), then %v of raw PUTs with 1 and with 4 clients", sb.scale(2*time.Second), sb.scale(5*time.Second), sb.scale(1500*time.Millisecond)),
		"catch-up":          fmt.Sprintf("%d MiB stream + %d MiB filler; twice: restart, 1 cold S2S read, 3 warm S2S reads, 1 warm SSE read", sb.catchUpMiB(), sb.fillerMiB()),
		"cipher":            fmt.Sprintf("plain, aegis-256 and aes-256-gcm streams on one server: 1 KiB x 1 @ 200/s open loop over session and unary, %v warm-up + %v measured each; %d MiB per stream filled at once + %d MiB filler, then %d rounds of warm S2S reads of each", sb.scale(time.Second), sb.scale(4*time.Second), sb.cipherStreamMiB(), sb.fillerMiB(), sb.cipherReadRounds()),
		"settle":            "up to 90 s for flushes and compactions to finish before the cost totals",
	}
}

func (sb *serverBench) proxyOverhead(endpoint string) error {
	dopts := objstore.S3OptionsFromEnv(sb.bucket, baselinePrefix+"/"+sb.runID+"-direct")
	dopts.Endpoint = endpoint
	direct, err := objstore.NewS3(sb.ctx, dopts)
	if err != nil {
		return err
	}
	defer direct.Close()
	db := &baseline{store: direct}
	var d, p []time.Duration
	for round := 0; round < 4; round++ {
		ld, err := db.putLatency(sb.ctx, 1024, 50, time.Second, 0)
		if err != nil {
			return err
		}
		lp, err := sb.base.putLatency(sb.ctx, 1024, 50, time.Second, 0)
		if err != nil {
			return err
		}
		d = append(d, time.Duration(ld.P50*1e6))
		p = append(p, time.Duration(lp.P50*1e6))
	}
	// Summaries of the per-round medians keep the figure steady.
	sb.rep.ProxyOverhead = ProxyOverhead{Direct: summarize(d), Proxied: summarize(p)}
	sb.logf("proxy overhead: PUT 1 KiB p50 direct %.2f ms, through the proxy %.2f ms",
		sb.rep.ProxyOverhead.Direct.P50, sb.rep.ProxyOverhead.Proxied.P50)
	return nil
}

// startServer starts s2lite on a fresh path of the run.
func (sb *serverBench) startServer(name string, extraEnv ...string) (*serverProc, string, error) {
	path := sb.runID + "/" + name
	p, err := startServerAt(sb, path, name, extraEnv...)
	return p, path, err
}

// checkWALPuts compares the WAL PUTs seen by the proxy since from (taken
// before the server started) with the server's count of WAL objects
// written, once the server is idle.
func (sb *serverBench) checkWALPuts(phase string, c *benchClient, from proxyMark) {
	time.Sleep(500 * time.Millisecond)
	m := metricsSnap(sb.ctx, c)
	reqs, _ := sb.proxy.since(from, sb.proxy.mark())
	chk := WALPutCheck{
		Phase:        phase,
		WALObjects:   int64(m["s2lite_engine_wal_objects_written_total"]),
		WALPuts:      reqs.get("PUT wal").Requests,
		WALPutErrors: reqs.get("PUT wal").Errors,
		AllPuts:      reqs.byOp()["PUT"].Requests,
	}
	if chk.WALObjects > 0 {
		chk.AllPutsPerWALObject = round3(float64(chk.AllPuts) / float64(chk.WALObjects))
	}
	sb.logf("%s server: %d WAL PUTs at the proxy (%d failed) for %d WAL objects; %d PUTs in all", phase, chk.WALPuts, chk.WALPutErrors, chk.WALObjects, chk.AllPuts)
	sb.rep.WALPuts = append(sb.rep.WALPuts, chk)
}

// settle waits until the server has no frozen memtable and made no table
// request (flush or compaction) for quiet, or maxWait passed; it returns
// how long it waited. GETs of the manifest do not count: an idle server
// makes one every second (the engine's fence check, a small ranged GET),
// which would keep a quiet of a second from ever being seen, so every
// settle would wait its maxWait.
func (sb *serverBench) settle(c *benchClient, maxWait, quiet time.Duration) time.Duration {
	start := time.Now()
	tableReqs := func() int64 {
		m := sb.proxy.mark()
		var n int64
		for k, v := range m.counts {
			if k == "GET manifest" {
				continue
			}
			if strings.HasSuffix(k, " sst") || strings.HasSuffix(k, " manifest") {
				n += v.Requests
			}
		}
		return n
	}
	last, quietSince := tableReqs(), time.Now()
	for time.Since(start) < maxWait {
		time.Sleep(250 * time.Millisecond)
		n := tableReqs()
		if n != last {
			last, quietSince = n, time.Now()
			continue
		}
		if time.Since(quietSince) >= quiet && metricsSnap(sb.ctx, c)["s2lite_engine_immutable_memtables"] == 0 {
			break
		}
	}
	return time.Since(start)
}

// metricsSnap scrapes the server's /metrics.
func metricsSnap(ctx context.Context, c *benchClient) map[string]float64 {
	m, err := c.metrics(ctx)
	if err != nil {
		return map[string]float64{}
	}
	return m
}

func delta(a, b map[string]float64, name string) float64 { return b[name] - a[name] }

// marks captures proxy and server state at the start and end of a window.
type marks struct {
	p0, p1 proxyMark
	m0, m1 map[string]float64
	c0, c1 cpuSample
}

// markWindow takes marks at w.from and w.to in the background; wait
// returns them.
func (sb *serverBench) markWindow(c *benchClient, w window, profileAs string) func() marks {
	var mk marks
	done := make(chan struct{})
	go func() {
		defer close(done)
		sleepUntil(w.from)
		stop := func() {}
		if profileAs != "" {
			stop = sb.profile(profileAs)
		}
		mk.p0, mk.m0, mk.c0 = sb.proxy.mark(), metricsSnap(sb.ctx, c), sb.meter.sample()
		sleepUntil(w.to)
		mk.p1, mk.m1, mk.c1 = sb.proxy.mark(), metricsSnap(sb.ctx, c), sb.meter.sample()
		stop()
	}()
	return func() marks { <-done; return mk }
}

// walInFlight is the average number of WAL PUTs in flight over secs
// (Little's law: summed PUT time over elapsed time).
func walInFlight(puts []walPut, secs float64) float64 {
	var sum time.Duration
	for _, p := range puts {
		sum += p.Dur
	}
	return round2(sum.Seconds() / secs)
}

// walStats sums up WAL PUTs seen by the proxy.
func walStats(puts []walPut) (n int64, avg int, lat Latency) {
	var total int64
	var durs []time.Duration
	for _, p := range puts {
		total += p.Size
		durs = append(durs, p.Dur)
	}
	n = int64(len(puts))
	if n > 0 {
		avg = int(total / n)
	}
	return n, avg, summarize(durs)
}

func byOpCounts(rc requestCounts) map[string]opCount { return rc.byOp() }

// ---------------------------------------------------------------------
// Append ack latency (open loop) and tail latency.

type latencyShape struct {
	recordBytes, batch int
	rates              []float64
}

// latencyShapes are the record size x batch size combinations and their
// rates (batches/s). Batches are capped by the 1 MiB metered limit
// (64 KiB records: 15 per batch). Rates keep the data rate within what
// this machine sustains.
func latencyShapes() []latencyShape {
	return []latencyShape{
		{1024, 1, []float64{50, 200, 1000}},
		{100, 1, []float64{50, 200, 1000}},
		{65536, 1, []float64{20, 200}},
		{100, 100, []float64{50, 500}},
		{1024, 100, []float64{20, 100}},
		{65536, maxBatchRecords(65536, 100), []float64{5, 20}},
		{100, 1000, []float64{20, 100}},
		{1024, 1000, []float64{5, 20}},
		{65536, maxBatchRecords(65536, 1000), []float64{5, 20}},
	}
}

func (sb *serverBench) latencyPhase(doLatency, doTail bool) error {
	first := sb.proxy.mark()
	srv, _, err := sb.startServer("latency")
	if err != nil {
		return err
	}
	defer srv.stop()
	c, err := newBenchClient(srv.base, "bench-latency")
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.createBasin(sb.ctx); err != nil {
		return err
	}
	if doLatency {
		shapes := latencyShapes()
		seen := map[[2]int]bool{}
		for _, sh := range shapes {
			sh.batch = maxBatchRecords(sh.recordBytes, sh.batch)
			if seen[[2]int{sh.recordBytes, sh.batch}] {
				continue // 64 KiB x 100 and x 1000 are both capped to 15
			}
			seen[[2]int{sh.recordBytes, sh.batch}] = true
			paths := []string{"unary", "session"}
			if sh.batch >= 15 {
				// Diagnostic: unary protobuf separates the cost of JSON
				// from that of HTTP/1.1 for large batches.
				paths = append(paths, "unary-proto")
			}
			for _, path := range paths {
				rates := sh.rates
				if path == "unary-proto" {
					rates = rates[:1]
				}
				for _, rate := range rates {
					if sb.points != nil && !sb.points[fmt.Sprintf("%dx%d@%g", sh.recordBytes, sh.batch, rate)] {
						continue
					}
					pt, err := sb.latencyPoint(c, path, sh.recordBytes, sh.batch, rate)
					if err != nil {
						return err
					}
					sb.rep.Latency = append(sb.rep.Latency, pt)
				}
			}
		}
	}
	if doLatency {
		// The store alone, for longer than any point: its own stalls.
		sb.settle(c, 20*time.Second, 500*time.Millisecond)
		st, err := sb.base.stallProbe(sb.ctx, 1157, 200, sb.scale(65*time.Second), 30*time.Millisecond)
		if err != nil {
			return fmt.Errorf("store stall probe: %w", err)
		}
		sb.rep.StoreStalls = &st
		sb.logf("store stalls: %d raw 1157 B PUTs at 200/s over %.0f s: p50 %.2f p99 %.2f max %.2f ms; slower than %.0f ms at %v s: %v ms",
			st.Put.N, st.Seconds, st.Put.P50, st.Put.P99, st.Put.Max, st.Threshold, st.StallsAtS, st.StallsMS)
	}
	if doTail {
		for _, rate := range []float64{50, 500} {
			pts, err := sb.tailPoint(c, rate)
			if err != nil {
				return err
			}
			sb.rep.Tail = append(sb.rep.Tail, pts...)
		}
	}
	sb.checkWALPuts("latency", c, first)
	return nil
}

func (sb *serverBench) latencyPoint(c *benchClient, path string, recordBytes, batch int, rate float64) (LatencyPoint, error) {
	pt := LatencyPoint{Path: path, RecordBytes: recordBytes, BatchRecords: batch, Rate: rate}
	name := fmt.Sprintf("lat-%s-%d-%d-%g", path, recordBytes, batch, rate)
	if err := c.createStream(sb.ctx, name); err != nil {
		return pt, err
	}
	bs := sb.batch(recordBytes, batch)
	// No flush or compaction of earlier points still running.
	sb.settle(c, 20*time.Second, 500*time.Millisecond)
	warm, meas := sb.scale(time.Second), sb.scale(4*time.Second)
	// openLoop starts 20 ms from now; the window follows its warm-up.
	start := time.Now().Add(20 * time.Millisecond)
	w := window{start.Add(warm), start.Add(warm + meas)}
	wait := sb.markWindow(c, w, "")
	res, err := openLoop(sb.ctx, c, openLoopOpts{Path: path, Stream: name, Batches: bs, Rate: rate, Warmup: warm, Measure: meas})
	mk := wait()
	if err != nil {
		// Keep going: the point reports what it measured and the error.
		res.Errors++
		if res.FirstErr == "" {
			res.FirstErr = err.Error()
		}
		sb.logf("latency %s %d B x %d @ %g/s: %v", path, recordBytes, batch, rate, err)
	}
	pt.Ack, pt.SendLag = summarize(res.Latency), summarize(res.SendLag)
	pt.Saturated, pt.Unfinished, pt.Errors, pt.FirstErr = res.Saturated, res.Unfinished, res.Errors, res.FirstErr
	pt.AchievedRate = math.Round(float64(res.Acked)/meas.Seconds()*10) / 10
	pt.MiBPerSec = round2(pt.AchievedRate * float64(bs.bodyBytes()) / (1 << 20))
	reqs, puts := sb.proxy.since(mk.p0, mk.p1)
	pt.Requests = byOpCounts(reqs)
	pt.CPU = cores(mk.c0, mk.c1)
	pt.WALObjects, pt.AvgWALObjectBytes, pt.WALPut = walStats(puts)
	pt.WALInFlight = walInFlight(puts, meas.Seconds())
	if res.Acked > 0 {
		pt.WALObjectsPerBatch = round2(float64(pt.WALObjects) / float64(res.Acked))
	}
	if pt.AvgWALObjectBytes > 0 {
		// Paced like the run's WAL PUTs (at most 50 ms apart).
		interval := 50 * time.Millisecond
		if pt.WALObjects > 0 {
			interval = min(interval, time.Duration(meas.Seconds()/float64(pt.WALObjects)*float64(time.Second)))
		}
		// As many PUTs as the run made, over as long as it was measured
		// (at least 100): a p99 of 100 samples is its second-worst one, and
		// misses the store's rarer stalls that the run's PUTs met.
		raw, err := sb.base.putLatency(sb.ctx, pt.AvgWALObjectBytes, int(max(100, pt.WALObjects)), meas, interval)
		if err != nil {
			return pt, err
		}
		pt.RawPut = raw
		pt.P50Ratio = ratio(pt.Ack.P50, raw.P50)
		pt.P99Ratio = ratio(pt.Ack.P99, raw.P99)
	}
	sat := ""
	if pt.Saturated {
		sat = " SATURATED"
	}
	sb.logf("latency %-7s %6d B x %4d @ %5g/s: ack p50 %7.2f p99 %7.2f ms (n=%d, lag p50 %.2f) | WAL %5.2f obj/batch of %7d B, PUT p50 %.2f | raw PUT p50 %.2f p99 %.2f | ratio %.2f / %.2f%s",
		path, recordBytes, batch, rate, pt.Ack.P50, pt.Ack.P99, pt.Ack.N, pt.SendLag.P50, pt.WALObjectsPerBatch, pt.AvgWALObjectBytes,
		pt.WALPut.P50, pt.RawPut.P50, pt.RawPut.P99, pt.P50Ratio, pt.P99Ratio, sat)
	return pt, nil
}

// tailPoint appends 1 KiB records one per batch at rate through an append
// session while an S2S read session and an SSE session follow the stream,
// and measures when each reader receives each record relative to its ack.
func (sb *serverBench) tailPoint(c *benchClient, rate float64) ([]TailPoint, error) {
	const recordBytes = 1024
	name := fmt.Sprintf("tail-%g", rate)
	if err := c.createStream(sb.ctx, name); err != nil {
		return nil, err
	}
	sb.settle(c, 20*time.Second, 500*time.Millisecond)
	warm, meas := sb.scale(time.Second), sb.scale(5*time.Second)
	n := int((warm+meas).Seconds()*rate) + 16
	ackAt := make([]atomic.Int64, n)
	schedAt := make([]atomic.Int64, n)
	readers := []string{"s2s", "sse"}
	readAt := map[string][]atomic.Int64{"s2s": make([]atomic.Int64, n), "sse": make([]atomic.Int64, n)}
	rctx, cancel := context.WithCancel(sb.ctx)
	defer cancel()
	var wg sync.WaitGroup
	ready := make(chan error, len(readers))
	var received [2]atomic.Int64
	for i, kind := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Follow the stream from its start with the client. Its
			// decoding of one 1 KiB record per batch takes microseconds,
			// against the fractions of a millisecond measured.
			o := client.ReadOptions{Start: client.FromSeqNum(0)}
			var sess *client.ReadSession
			var err error
			if kind == "s2s" {
				sess, err = c.stream(name).ReadSession(rctx, o)
			} else {
				sess, err = c.stream(name).ReadSessionSSE(rctx, o)
			}
			ready <- err
			if err != nil {
				return
			}
			defer sess.Close()
			arr := readAt[kind]
			for {
				b, err := sess.Next()
				if err != nil {
					return // cancelled once the appends are read
				}
				now := time.Now().UnixNano()
				for _, r := range b.Records {
					if r.SeqNum < uint64(len(arr)) {
						arr[r.SeqNum].Store(now)
						received[i].Add(1)
					}
				}
			}
		}()
	}
	for range readers {
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	start := time.Now().Add(20 * time.Millisecond)
	w := window{start.Add(warm), start.Add(warm + meas)}
	res, err := openLoop(sb.ctx, c, openLoopOpts{
		Path: "session", Stream: name, Batches: sb.batch(recordBytes, 1), Rate: rate, Warmup: warm, Measure: meas,
		OnAck: func(e ackEvent) {
			if s := e.Ack.Start.SeqNum; s < uint64(n) {
				ackAt[s].Store(e.Acked.UnixNano())
				schedAt[s].Store(e.Scheduled.UnixNano())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	// Let the readers receive the last records.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		acked := 0
		for i := range ackAt {
			if ackAt[i].Load() != 0 {
				acked++
			}
		}
		if received[0].Load() >= int64(acked) && received[1].Load() >= int64(acked) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	var out []TailPoint
	for _, kind := range readers {
		arr := readAt[kind]
		var beyond, e2e []time.Duration
		missing := 0
		for s := range ackAt {
			a, sch := ackAt[s].Load(), schedAt[s].Load()
			if a == 0 || !w.in(time.Unix(0, sch)) {
				continue
			}
			r := arr[s].Load()
			if r == 0 {
				missing++
				continue
			}
			beyond = append(beyond, time.Duration(r-a))
			e2e = append(e2e, time.Duration(r-sch))
		}
		tp := TailPoint{Reader: kind, Rate: rate, RecordBytes: recordBytes, BeyondAck: summarize(beyond), EndToEnd: summarize(e2e), Ack: summarize(res.Latency), Missing: missing}
		sb.logf("tail %-3s @ %4g/s: read - ack p50 %.3f p99 %.3f ms; read - scheduled p50 %.2f p99 %.2f ms; ack p50 %.2f; missing %d",
			kind, rate, tp.BeyondAck.P50, tp.BeyondAck.P99, tp.EndToEnd.P50, tp.EndToEnd.P99, tp.Ack.P50, missing)
		out = append(out, tp)
	}
	return out, nil
}

// ---------------------------------------------------------------------
// Maximum throughput (closed loop) and cost.

func (sb *serverBench) throughputPhase() error {
	first := sb.proxy.mark()
	srv, _, err := sb.startServer("throughput")
	if err != nil {
		return err
	}
	defer srv.stop()
	c, err := newBenchClient(srv.base, "bench-throughput")
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.createBasin(sb.ctx); err != nil {
		return err
	}
	m0 := metricsSnap(sb.ctx, c)
	var user int64

	type spec struct {
		name, path                  string
		streams, recordBytes, batch int
	}
	specs := []spec{
		{"1 stream, session, 1 KiB x 1000", "session", 1, 1024, 1000},
		{"1 stream, session, 100 B x 1000", "session", 1, 100, 1000},
		{"1 stream, session, 64 KiB x 15", "session", 1, 65536, 15},
		{"1 stream, session, 1 KiB x 100", "session", 1, 1024, 100},
		{"1 stream, session, 1 KiB x 1", "session", 1, 1024, 1},
		{"100 streams, sessions, 1 KiB x 100", "session", 100, 1024, 100},
		{"1 stream, unary h2c, 1 KiB x 100", "unary-h2", 1, 1024, 100},
		{"100 streams, unary h2c, 1 KiB x 100", "unary-h2", 100, 1024, 100},
		{"10000 streams, unary h2c, 1 KiB x 100", "unary-h2", 10000, 1024, 100},
	}
	for i, sp := range specs {
		bs := sb.batch(sp.recordBytes, maxBatchRecords(sp.recordBytes, sp.batch))
		names := make([]string, sp.streams)
		for j := range names {
			names[j] = fmt.Sprintf("tput%d-%05d", i, j)
		}
		// Each point starts with no flush or compaction of the previous
		// ones still running.
		settled := sb.settle(c, 60*time.Second, time.Second)
		setup := time.Now()
		if err := createStreams(sb.ctx, c, names); err != nil {
			return err
		}
		pt := TputPoint{Name: sp.name, Path: sp.path, Streams: sp.streams, RecordBytes: sp.recordBytes, BatchRecords: bs.Records, SettledSeconds: round2(settled.Seconds())}
		if sp.streams > 100 {
			pt.SetupSeconds = round2(time.Since(setup).Seconds())
			sb.logf("created %d streams in %.1f s", sp.streams, pt.SetupSeconds)
		}
		warm, meas := sb.scale(2*time.Second), sb.scale(5*time.Second)
		start := time.Now()
		w := window{start.Add(warm), start.Add(warm + meas)}
		wait := sb.markWindow(c, w, fmt.Sprintf("throughput-%d", i+1))
		var res closedLoopResult
		switch sp.path {
		case "session":
			// Keep about 32 MiB in flight in total (between 4 and 256
			// batches per session; 2 per session with 100 sessions).
			depth := max(4, min(256, (32<<20)/bs.meteredBytes()))
			if sp.streams > 1 {
				depth = 2
			}
			pt.InFlight = depth * sp.streams
			var mu sync.Mutex
			var firstErr error
			var wg sync.WaitGroup
			for j, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := closedLoopSession(sb.ctx, c, name, bs, depth, w, w.to, j)
					mu.Lock()
					defer mu.Unlock()
					res.add(&r)
					if err != nil && firstErr == nil {
						firstErr = err
					}
				}()
			}
			wg.Wait()
			err = firstErr
		case "unary-h2":
			pt.InFlight = 64
			res, err = closedLoopUnary(sb.ctx, c, names, bs, 64, w, w.to)
		}
		if err != nil {
			// Keep going: the point reports what it measured and the error.
			pt.Error = err.Error()
			sb.logf("throughput %s: %v", sp.name, err)
		}
		mk := wait()
		secs := meas.Seconds()
		pt.Seconds = secs
		pt.MiBPerSec = round2(float64(res.BodyBytes) / secs / (1 << 20))
		pt.RecordsSec = math.Round(float64(res.Records) / secs)
		pt.BatchesSec = math.Round(float64(res.Batches) / secs)
		pt.Ack = summarize(res.Latency)
		user += res.AllBodyBytes
		reqs, puts := sb.proxy.since(mk.p0, mk.p1)
		pt.Requests = byOpCounts(reqs)
		pt.CPU = cores(mk.c0, mk.c1)
		pt.WALObjects, pt.AvgWALObjectBytes, pt.WALPut = walStats(puts)
		pt.WALInFlight = walInFlight(puts, secs)
		pt.WALObjectsSec = round2(float64(pt.WALObjects) / secs)
		userMiB := float64(res.BodyBytes) / (1 << 20)
		pt.RequestsPerMiB = map[string]float64{}
		var putBytes int64
		for op, oc := range pt.Requests {
			if userMiB > 0 {
				pt.RequestsPerMiB[op] = round2(float64(oc.Requests) / userMiB)
			}
			if op == "PUT" {
				putBytes = oc.Bytes
			}
		}
		pt.PutBytesPerMiB = ratio(float64(putBytes), float64(res.BodyBytes))
		pt.FlushMiB = round2(delta(mk.m0, mk.m1, "s2lite_engine_flush_bytes_total") / (1 << 20))
		pt.CompactedMiB = round2(delta(mk.m0, mk.m1, "s2lite_engine_compaction_written_bytes_total") / (1 << 20))
		pt.Stalls = delta(mk.m0, mk.m1, "s2lite_engine_write_stalls_total")
		if pt.AvgWALObjectBytes > 0 {
			bw := sb.scale(1500 * time.Millisecond)
			if pt.RawPut1MiBSec, err = sb.base.putBandwidth(sb.ctx, pt.AvgWALObjectBytes, 1, bw); err != nil {
				return err
			}
			if pt.RawPut4MiBSec, err = sb.base.putBandwidth(sb.ctx, pt.AvgWALObjectBytes, 4, bw); err != nil {
				return err
			}
			pt.RawPut1MiBSec, pt.RawPut4MiBSec = round2(pt.RawPut1MiBSec), round2(pt.RawPut4MiBSec)
			pt.RatioTo1 = ratio(pt.MiBPerSec, pt.RawPut1MiBSec)
			pt.RatioTo4 = ratio(pt.MiBPerSec, pt.RawPut4MiBSec)
		}
		sb.logf("throughput %-40s %7.2f MiB/s %8.0f rec/s, ack p50 %.1f p99 %.1f ms | WAL %.0f obj/s of %d B, PUT p50 %.2f ms, %.2f in flight | raw PUT same size 1 client %.1f, 4 clients %.1f MiB/s | ratio %.2f / %.2f | %s | cores: %s",
			sp.name, pt.MiBPerSec, pt.RecordsSec, pt.Ack.P50, pt.Ack.P99, pt.WALObjectsSec, pt.AvgWALObjectBytes, pt.WALPut.P50, pt.WALInFlight,
			pt.RawPut1MiBSec, pt.RawPut4MiBSec, pt.RatioTo1, pt.RatioTo4, fmtPerMiB(pt.RequestsPerMiB), fmtCores(pt.CPU))
		sb.rep.Throughput = append(sb.rep.Throughput, pt)
	}

	// Let flushes and compactions finish, then total everything.
	settle := time.Now()
	sb.settle(c, 90*time.Second, time.Second)
	m1 := metricsSnap(sb.ctx, c)
	reqs, _ := sb.proxy.since(first, sb.proxy.mark())
	cr := &CostResult{UserMiB: round2(float64(user) / (1 << 20)), Requests: map[string]opCount(reqs), SettleSeconds: round2(time.Since(settle).Seconds())}
	cr.WALMiB = round2(float64(reqs.get("PUT wal").Bytes) / (1 << 20))
	cr.SSTMiB = round2(float64(reqs.get("PUT sst").Bytes) / (1 << 20))
	cr.ManifestMiB = round2(float64(reqs.get("PUT manifest").Bytes) / (1 << 20))
	cr.Flushes = delta(m0, m1, "s2lite_engine_flushes_total")
	cr.Compactions = delta(m0, m1, "s2lite_engine_compactions_total")
	cr.Moves = delta(m0, m1, "s2lite_engine_compaction_moves_total")
	cr.UnflushedMiB = round2((m1["s2lite_engine_unflushed_bytes"]) / (1 << 20))
	costTotals(cr, reqs, user)
	sb.rep.Cost = cr
	sb.checkWALPuts("throughput", c, first)
	sb.logf("cost after settling %.0f s: %.0f MiB appended; WAL %.0f MiB, tables %.0f MiB, manifests %.1f MiB PUT; write amplification %.2f (tables only %.2f); per MiB: %.2f PUT, %.3f GET, %.4f LIST, %.4f DELETE",
		cr.SettleSeconds, cr.UserMiB, cr.WALMiB, cr.SSTMiB, cr.ManifestMiB, cr.WriteAmp, cr.WriteAmpSST, cr.PutsPerMiB, cr.GetsPerMiB, cr.ListsPerMiB, cr.DeletesPerMiB)
	return nil
}

// costTotals fills the per-MiB figures. The user bytes are every body byte
// the throughput server acknowledged, warm-ups included (the proxy counted
// their PUTs too).
func costTotals(cr *CostResult, reqs requestCounts, total int64) {
	if total == 0 {
		return
	}
	mib := float64(total) / (1 << 20)
	cr.UserMiB = round2(mib)
	ops := reqs.byOp()
	cr.PutsPerMiB = round2(float64(ops["PUT"].Requests) / mib)
	cr.GetsPerMiB = round3(float64(ops["GET"].Requests) / mib)
	cr.ListsPerMiB = round4(float64(ops["LIST"].Requests) / mib)
	cr.DeletesPerMiB = round4(float64(ops["DELETE"].Requests) / mib)
	cr.WriteAmp = ratio(float64(ops["PUT"].Bytes), float64(total))
	cr.WriteAmpSST = ratio(float64(reqs.get("PUT sst").Bytes), float64(total))
}

// createStreams creates the streams with 32 requests in flight (the
// client sends them over HTTP/1.1, a connection each).
func createStreams(ctx context.Context, c *benchClient, names []string) error {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := 0; k < min(32, len(names)); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				if err := c.createStream(ctx, names[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func fmtPerMiB(m map[string]float64) string {
	var parts []string
	for _, op := range []string{"PUT", "GET", "LIST", "DELETE"} {
		if v, ok := m[op]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", op, v))
		}
	}
	return "requests/MiB: " + strings.Join(parts, ", ")
}

// ---------------------------------------------------------------------
// Catch-up reads.

func (sb *serverBench) catchUpMiB() int {
	if sb.quick {
		return 16
	}
	return 48
}

// fillerMiB must exceed the memtable (32 MiB) so that the catch-up
// stream is entirely in tables when the server restarts.
func (sb *serverBench) fillerMiB() int { return 40 }

func (sb *serverBench) catchUpPhase() error {
	srv, path, err := sb.startServer("catchup")
	if err != nil {
		return err
	}
	defer func() { srv.stop() }()
	c, err := newBenchClient(srv.base, "bench-catchup")
	if err != nil {
		return err
	}
	defer func() { c.close() }()
	if err := c.createBasin(sb.ctx); err != nil {
		return err
	}
	const recordBytes = 1024
	bs := sb.batch(recordBytes, 1000)
	cu := &CatchUpResult{RecordBytes: recordBytes}
	for _, s := range []struct {
		name string
		mib  int
	}{{"catchup", sb.catchUpMiB()}, {"filler", sb.fillerMiB()}} {
		if err := c.createStream(sb.ctx, s.name); err != nil {
			return err
		}
		batches := s.mib << 20 / bs.bodyBytes()
		if err := appendN(sb.ctx, c, s.name, bs, batches, 16); err != nil {
			return err
		}
		if s.name == "catchup" {
			cu.Records = int64(batches * bs.Records)
			cu.StreamMiB = round2(float64(batches*bs.bodyBytes()) / (1 << 20))
		} else {
			cu.FillerMiB = round2(float64(batches*bs.bodyBytes()) / (1 << 20))
		}
	}
	// Wait for the flushes of full memtables (and any compaction).
	sb.settle(c, 60*time.Second, time.Second)
	read := func(kind, label string) (ReadRun, error) {
		stop := sb.profile(fmt.Sprintf("catchup-%s-%d", label, len(cu.Cold)+len(cu.Warm)+1))
		p0, c0 := sb.proxy.mark(), sb.meter.sample()
		rr, err := readAllOnce(sb.ctx, c, "catchup", kind, cu.Records)
		stop()
		if err != nil {
			return rr, err
		}
		rr.CPU = cores(c0, sb.meter.sample())
		reqs, _ := sb.proxy.since(p0, sb.proxy.mark())
		ops := reqs.byOp()
		rr.GETs, rr.GETMiB = ops["GET"].Requests, round2(float64(ops["GET"].Bytes)/(1<<20))
		rr.GETSeconds = round3(float64(ops["GET"].Nanos) / 1e9)
		return rr, nil
	}
	for round := 0; round < 2; round++ {
		c.close()
		srv.stop()
		t0 := time.Now()
		if srv, err = startServerAt(sb, path, "catchup"); err != nil {
			return err
		}
		cu.RestartSeconds = append(cu.RestartSeconds, round2(time.Since(t0).Seconds()))
		if c, err = newBenchClient(srv.base, "bench-catchup"); err != nil {
			return err
		}
		cold, err := read("s2s", "cold")
		if err != nil {
			return err
		}
		cu.Cold = append(cu.Cold, cold)
		for _, kind := range []string{"s2s", "s2s", "s2s", "sse"} {
			warm, err := read(kind, "warm-"+kind)
			if err != nil {
				return err
			}
			cu.Warm = append(cu.Warm, warm)
		}
		sb.logf("catch-up round %d: restart %.2f s; cold s2s %.1f MiB/s in %.3f s (%d GETs, %.1f MiB fetched, %.3f s in GETs; cores %s); warm s2s %.1f MiB/s (cores %s), warm sse %.1f MiB/s",
			round+1, cu.RestartSeconds[round], cold.MiBPerSec, cold.Seconds, cold.GETs, cold.GETMiB, cold.GETSeconds, fmtCores(cold.CPU), cu.Warm[len(cu.Warm)-2].MiBPerSec, fmtCores(cu.Warm[len(cu.Warm)-2].CPU), cu.Warm[len(cu.Warm)-1].MiBPerSec)
	}
	// Raw GETs of the very tables the server read, through an identical
	// proxy, one request at a time.
	topts := objstore.S3OptionsFromEnv(sb.bucket, path)
	topts.Endpoint = sb.baseProxy.url
	tables, err := objstore.NewS3(sb.ctx, topts)
	if err != nil {
		return err
	}
	defer tables.Close()
	objs, err := tables.List(sb.ctx, "sst/", "", 0)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("no tables written")
	}
	cu.Tables = len(objs)
	var tb int64
	for _, o := range objs {
		tb += o.Size
	}
	cu.TableMiB = round2(float64(tb) / (1 << 20))
	c0 := sb.meter.sample()
	if cu.RawGetMiBSec, _, err = getBandwidth(sb.ctx, tables, objs, sb.scale(2*time.Second)); err != nil {
		return err
	}
	cu.RawGetCPU = cores(c0, sb.meter.sample())
	if cu.RawRangedMiBSec, err = rangedGetBandwidth(sb.ctx, tables, objs, 1<<20, sb.scale(2*time.Second)); err != nil {
		return err
	}
	cu.RawGetMiBSec, cu.RawRangedMiBSec = round2(cu.RawGetMiBSec), round2(cu.RawRangedMiBSec)
	var cold, warm []float64
	for _, r := range cu.Cold {
		cold = append(cold, r.MiBPerSec)
	}
	for _, r := range cu.Warm {
		if r.Path == "s2s" {
			warm = append(warm, r.MiBPerSec)
		}
	}
	cu.ColdRatio = ratio(mean(cold), cu.RawGetMiBSec)
	cu.WarmMiBSec = round2(mean(warm))
	sb.logf("catch-up: %d tables, %.0f MiB; raw GET whole tables %.1f MiB/s, 1 MiB ranges %.1f MiB/s; cold/raw %.2f, warm %.1f MiB/s",
		cu.Tables, cu.TableMiB, cu.RawGetMiBSec, cu.RawRangedMiBSec, cu.ColdRatio, cu.WarmMiBSec)
	sb.rep.CatchUp = cu
	return nil
}

func startServerAt(sb *serverBench, path, name string, extraEnv ...string) (*serverProc, error) {
	p, err := startServer(sb.ctx, sb.bin, sb.proxy.url, sb.bucket, path, filepath.Join(sb.tmp, name+".log"), extraEnv...)
	if err == nil {
		sb.meter.pids["server"] = p.cmd.Process.Pid
	}
	return p, err
}

// appendN appends n batches through one pipelined session of the client,
// depth batches in flight. It only fills streams for a later measurement,
// so the client's encoding of each batch costs nothing that is measured.
func appendN(ctx context.Context, c *benchClient, stream string, bs *batchSet, n, depth int) error {
	sess, err := c.stream(stream).AppendSession(ctx, client.AppendSessionOptions{MaxInflightBytes: int64(depth * bs.meteredBytes())})
	if err != nil {
		return fmt.Errorf("append session on %s: %w", stream, err)
	}
	for i := 0; i < n; i++ {
		// Submit waits while depth batches are in flight; a failed batch
		// fails the session, which Close reports.
		if _, err := sess.Submit(ctx, bs.inputs[i%len(bs.inputs)]); err != nil {
			sess.Abort()
			return fmt.Errorf("appending to %s: %w", stream, err)
		}
	}
	if err := sess.Close(); err != nil {
		return fmt.Errorf("appending to %s: %w", stream, err)
	}
	return nil
}

// readAllOnce reads the first n records of the stream with one raw read
// session (S2S or SSE) and times it. Raw rather than the client's read
// sessions: see openRawReadSession.
func readAllOnce(ctx context.Context, c *benchClient, stream, kind string, n int64) (ReadRun, error) {
	rr := ReadRun{Path: kind}
	var next func() (records, bodyBytes int64, err error)
	start := time.Now()
	switch kind {
	case "s2s":
		sess, err := c.openRawReadSession(ctx, stream, n)
		if err != nil {
			return rr, err
		}
		defer sess.close()
		next = sess.recvBatch
	case "sse":
		sess, err := c.openRawSSE(ctx, stream, n)
		if err != nil {
			return rr, err
		}
		defer sess.close()
		next = sess.next
	default:
		return rr, fmt.Errorf("unknown read session kind %q", kind)
	}
	var bytes int64
	for rr.Records < n {
		records, bodyBytes, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rr, fmt.Errorf("%s read of %s: %w", kind, stream, err)
		}
		rr.Records += records
		bytes += bodyBytes
	}
	secs := time.Since(start).Seconds()
	if rr.Records != n {
		return rr, fmt.Errorf("read %d records of %d", rr.Records, n)
	}
	rr.Seconds = round3(secs)
	rr.MiBPerSec = round2(float64(bytes) / secs / (1 << 20))
	return rr, nil
}

// ---------------------------------------------------------------------
// Targets.

func judge(r *ServerReport) []Verdict {
	var out []Verdict
	// Ack latency against raw PUTs of the same WAL object size.
	for _, path := range []string{"unary", "session"} {
		var ok50, ok99, n int
		var worst50, worst99 float64
		var worst50At, worst99At string
		var lowPass []string
		for _, p := range r.Latency {
			if p.Path != path || p.Ack.N == 0 {
				continue
			}
			n++
			at := fmt.Sprintf("%d B x %d @ %g/s", p.RecordBytes, p.BatchRecords, p.Rate)
			if p.P50Ratio <= 1.5 && !p.Saturated && p.Errors == 0 {
				ok50++
			}
			if p.P99Ratio <= 2 && !p.Saturated && p.Errors == 0 {
				ok99++
			}
			if p.P50Ratio > worst50 {
				worst50, worst50At = p.P50Ratio, at
			}
			if p.P99Ratio > worst99 {
				worst99, worst99At = p.P99Ratio, at
			}
			if p.RecordBytes == 1024 && p.BatchRecords == 1 {
				lowPass = append(lowPass, fmt.Sprintf("%g/s %.2f/%.2f", p.Rate, p.P50Ratio, p.P99Ratio))
			}
		}
		if n == 0 {
			continue
		}
		out = append(out, Verdict{
			Target: fmt.Sprintf("%s append ack p50 <= 1.5x raw PUT p50 (same WAL object size)", path),
			Met:    ok50 == n,
			Figures: fmt.Sprintf("%d of %d points within; worst %.2fx at %s; 1 KiB x 1 p50/p99 ratios: %s",
				ok50, n, worst50, worst50At, strings.Join(lowPass, ", ")),
		})
		out = append(out, Verdict{
			Target:  fmt.Sprintf("%s append ack p99 <= 2x raw PUT p99 (same WAL object size)", path),
			Met:     ok99 == n,
			Figures: fmt.Sprintf("%d of %d points within; worst %.2fx at %s", ok99, n, worst99, worst99At),
		})
	}
	for _, p := range r.Throughput {
		if p.Path == "session" && p.Streams == 1 && p.RecordBytes == 1024 && p.BatchRecords == 1000 {
			out = append(out, Verdict{
				Target: "one stream, 1 KiB records, pipelined session >= 60% of raw single-client PUT bandwidth",
				Met:    p.RatioTo1 >= 0.6,
				Figures: fmt.Sprintf("%.1f MiB/s vs raw PUT %.1f MiB/s (1 client, %d B objects) = %.0f%%; vs 4 clients %.1f MiB/s = %.0f%%",
					p.MiBPerSec, p.RawPut1MiBSec, p.AvgWALObjectBytes, 100*p.RatioTo1, p.RawPut4MiBSec, 100*p.RatioTo4),
			})
		}
	}
	for _, t := range r.Tail {
		out = append(out, Verdict{
			Target:  fmt.Sprintf("tail latency p50 < 2 ms beyond the ack (%s reader, %g records/s)", t.Reader, t.Rate),
			Met:     t.BeyondAck.N > 0 && t.BeyondAck.P50 < 2 && t.Missing == 0,
			Figures: fmt.Sprintf("read - ack p50 %.3f ms, p99 %.3f ms, max %.2f ms (n=%d, missing %d)", t.BeyondAck.P50, t.BeyondAck.P99, t.BeyondAck.Max, t.BeyondAck.N, t.Missing),
		})
	}
	if cu := r.CatchUp; cu != nil {
		var cold []string
		for _, c := range cu.Cold {
			cold = append(cold, fmt.Sprintf("%.1f", c.MiBPerSec))
		}
		out = append(out, Verdict{
			Target: "cold catch-up read >= 60% of raw GET bandwidth",
			Met:    cu.ColdRatio >= 0.6,
			Figures: fmt.Sprintf("cold S2S reads %s MiB/s vs raw GET of the same tables %.1f MiB/s (1 MiB ranges %.1f MiB/s) = %.0f%%",
				strings.Join(cold, ", "), cu.RawGetMiBSec, cu.RawRangedMiBSec, 100*cu.ColdRatio),
		})
		out = append(out, Verdict{
			Target:  "warm catch-up read >= 500 MiB/s",
			Met:     cu.WarmMiBSec >= 500,
			Figures: fmt.Sprintf("warm S2S reads average %.1f MiB/s", cu.WarmMiBSec),
		})
	}
	// One PUT per WAL object, WAL objects sized by load.
	if len(r.WALPuts) > 0 {
		met := true
		var parts []string
		for _, c := range r.WALPuts {
			if c.WALPuts > c.WALObjects || c.WALObjects == 0 {
				met = false
			}
			parts = append(parts, fmt.Sprintf("%s server: %d WAL PUTs for %d WAL objects (%d failed), %.3f PUTs of any kind per WAL object",
				c.Phase, c.WALPuts, c.WALObjects, c.WALPutErrors, c.AllPutsPerWALObject))
		}
		out = append(out, Verdict{
			Target:  "request cost: at most one PUT per WAL object",
			Met:     met,
			Figures: strings.Join(parts, "; "),
		})
	}
	for _, path := range []string{"session", "unary"} {
		var sweep []LatencyPoint
		for _, p := range r.Latency {
			if p.Path == path && p.RecordBytes == 1024 && p.BatchRecords == 1 && p.Ack.N > 0 {
				sweep = append(sweep, p)
			}
		}
		if len(sweep) < 2 {
			continue
		}
		slices.SortFunc(sweep, func(a, b LatencyPoint) int { return int(a.Rate - b.Rate) })
		var parts []string
		grows := true
		for i, p := range sweep {
			parts = append(parts, fmt.Sprintf("%g/s: %.2f objects/append, %d B", p.Rate, p.WALObjectsPerBatch, p.AvgWALObjectBytes))
			// Non-decreasing, give or take 2%: at rates where every append
			// is an object of its own, sizes differ by a few bytes of
			// encoding (1163 B at 50/s, 1160 B at 200/s in one run).
			if i > 0 && float64(p.AvgWALObjectBytes) < 0.98*float64(sweep[i-1].AvgWALObjectBytes) {
				grows = false
			}
		}
		low := sweep[0]
		out = append(out, Verdict{
			Target:  fmt.Sprintf("WAL objects sized by load, not by a timer (%s, 1 KiB x 1)", path),
			Met:     low.WALObjectsPerBatch >= 0.9 && grows,
			Figures: strings.Join(parts, "; "),
		})
	}
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }
