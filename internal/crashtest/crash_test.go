package crashtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
)

// crashCase is one row of the crash matrix: the worker dies at a failpoint.
type crashCase struct {
	failpoint string // full failpoint name
	value     string // what it does there (package fault's grammar)
	// The failpoint lets skip evaluations pass, skip drawn from [lo, hi),
	// before it acts, so every cycle crashes at a different moment.
	lo, hi int
	// atOpen: it fires while the worker opens the store, so the cycle first
	// runs a worker that is killed at random, to leave a log to recover.
	atOpen bool
	// what the case verifies beyond the common checks, for the test log.
	what string
}

// crashCases are the failpoints at which a crash changes what recovery has
// to do. Documented in README.md.
var crashCases = []crashCase{
	{failpoint: enginePkg + "walBeforePut", value: "crash", lo: 20, hi: 300,
		what: "groups in flight never reached storage: none acknowledged, none visible in part"},
	{failpoint: enginePkg + "walAfterPut", value: "crash", lo: 20, hi: 300,
		what: "a group is durable but unacknowledged (later in-flight groups may be orphans)"},
	{failpoint: enginePkg + "walBeforeAck", value: "crash", lo: 20, hi: 300,
		what: "a group is durable and applied, its writers not told: visible after recovery, whole"},
	{failpoint: objstorePkg + "storePutIfAbsent", value: "crash-after@wal/", lo: 20, hi: 300,
		what: "the WAL PUT took effect, the process died before the reply"},
	{failpoint: enginePkg + "flushAfterUpload", value: "crash", lo: 0, hi: 3,
		what: "an uploaded table no manifest references: replay from the WAL still holds its data"},
	{failpoint: enginePkg + "flushAfterManifest", value: "crash", lo: 0, hi: 3,
		what: "the manifest moved the replay start past the table: data comes from the table"},
	{failpoint: objstorePkg + "storePutIfAbsent", value: "crash-after@manifest/", lo: 0, hi: 6,
		what: "a manifest version (epoch bump, flush or compaction) landed unseen by its writer"},
	{failpoint: objstorePkg + "storePut", value: "crash@manifest/LATEST", lo: 0, hi: 6,
		what: "the manifest hint lags the newest version: discovery probes past it"},
	{failpoint: enginePkg + "compactAfterUpload", value: "crash", lo: 0, hi: 2,
		what: "compaction outputs uploaded, not installed: the inputs stay authoritative"},
	{failpoint: enginePkg + "compactAfterInstall", value: "crash", lo: 0, hi: 2,
		what: "compaction installed, inputs not yet collected"},
	{failpoint: enginePkg + "gcBeforeDelete", value: "crash", lo: 0, hi: 15,
		what: "garbage collection stopped between deletes (tables, WAL objects, manifests)"},
	{failpoint: objstorePkg + "storeDelete", value: "crash-after", lo: 0, hi: 15,
		what: "a delete took effect, the collector died before the reply"},
	{failpoint: enginePkg + "recoverAfterEpochBump", value: "crash", lo: 0, hi: 1, atOpen: true,
		what: "open bumped the epoch and died before replaying: the next open replays it all"},
	{failpoint: enginePkg + "replayObject", value: "crash", lo: 0, hi: 6, atOpen: true,
		what: "open died halfway through replaying the log"},
	{failpoint: enginePkg + "replayBeforeFence", value: "crash", lo: 0, hi: 1, atOpen: true,
		what: "open replayed the log and died before fencing its end"},
}

const (
	cyclesPerCase = 2
	killCycles    = 8
	// workerRunLimit ends a worker whose failpoint never fired; the case
	// then fails, since it verified nothing.
	workerRunLimit = 12 * time.Second
)

// TestCrashMatrix runs every crash case, then random SIGKILL cycles, all on
// one store per backend, checking after every death. The store carries its
// whole history along: each recovery starts from what every earlier crash
// left behind.
func TestCrashMatrix(t *testing.T) {
	requireFailpoints(t)
	bin := buildWorker(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			be := bk.make(t)
			seed := testSeed(t)
			m := &matrix{bin: bin, be: be, ledger: newLedger(), rng: rand.New(rand.NewPCG(seed, 1))}
			for _, c := range crashCases {
				name := c.failpoint[strings.LastIndexByte(c.failpoint, '/')+1:] + "=" + c.value
				t.Run(name, func(t *testing.T) { m.crashCase(t, c) })
			}
			t.Run("sigkill", func(t *testing.T) { m.killCycles(t, killCycles) })
		})
	}
}

type matrix struct {
	bin    string
	be     backend
	ledger *ledger
	rng    *rand.Rand
	run    int // worker runs so far: each gets its own batch names
}

func (m *matrix) crashCase(t *testing.T, c crashCase) {
	ctx := context.Background()
	t.Logf("verifies: %s", c.what)
	for cycle := range cyclesPerCase {
		if c.atOpen {
			r := m.runWorker(t, ctx, "", 300*time.Millisecond+m.upTo(500*time.Millisecond))
			t.Logf("cycle %d: filler run killed after %d acks", cycle, len(r.acks))
		}
		skip := c.lo + m.rng.IntN(c.hi-c.lo)
		terms := fmt.Sprintf("return(%q)", c.value)
		if skip > 0 {
			terms = fmt.Sprintf("%d*off->%s", skip, terms)
		}
		r := m.runWorker(t, ctx, c.failpoint+"="+terms, 0)
		if r.exit != fault.CrashExitCode {
			t.Fatalf("cycle %d: worker exited with %s, want the crash status %d (the failpoint never fired?)\n%s",
				cycle, r.status, fault.CrashExitCode, r.stderr)
		}
		res := m.ledger.verify(t, ctx, openStore(t, ctx, m.be))
		t.Logf("cycle %d: skip %d, crashed after %v with %d acks; recovered: %v", cycle, skip, r.took.Round(time.Millisecond), len(r.acks), res)
	}
}

// killCycles kills a worker with SIGKILL at a random moment, from inside
// Open to deep into writing, n times, checking after each.
func (m *matrix) killCycles(t *testing.T, n int) {
	ctx := context.Background()
	for cycle := range n {
		after := 20*time.Millisecond + m.upTo(1500*time.Millisecond)
		r := m.runWorker(t, ctx, "", after)
		if !r.killed {
			t.Fatalf("cycle %d: worker ended with %s before the kill\n%s", cycle, r.status, r.stderr)
		}
		res := m.ledger.verify(t, ctx, openStore(t, ctx, m.be))
		t.Logf("cycle %d: killed after %v with %d acks; recovered: %v", cycle, after.Round(time.Millisecond), len(r.acks), res)
	}
}

// upTo is a random duration in [0, d).
func (m *matrix) upTo(d time.Duration) time.Duration { return time.Duration(m.rng.Int64N(int64(d))) }

type workerResult struct {
	acks   []string
	exit   int  // exit status, -1 if killed by a signal
	killed bool // ended by our SIGKILL
	status string
	stderr string
	took   time.Duration
}

// runWorker runs one worker to its end, recording every acknowledgement in
// the ledger the moment it is read. failpoints is its GO_FAILPOINTS;
// killAfter > 0 sends SIGKILL after that long.
func (m *matrix) runWorker(t *testing.T, ctx context.Context, failpoints string, killAfter time.Duration) workerResult {
	t.Helper()
	m.run++
	cmd := exec.CommandContext(ctx, m.bin, "-store", m.be.spec, "-run", strconv.Itoa(m.run),
		"-duration", workerRunLimit.String())
	cmd.Env = workerEnv(failpoints)
	stderr := &tailBuffer{max: 32 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	killAt := killAfter
	if killAt <= 0 {
		killAt = workerRunLimit + 10*time.Second // a hung worker
	}
	timer := time.AfterFunc(killAt, func() {
		fired.Store(true)
		cmd.Process.Kill()
	})
	var acks []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), AckPrefix); ok {
			m.ledger.ack(id)
			acks = append(acks, id)
		}
	}
	werr := cmd.Wait()
	timer.Stop()
	r := workerResult{acks: acks, took: time.Since(start), stderr: tail(stderr.String(), 30)}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		r.status = "status 0"
	case errors.As(werr, &ee):
		r.exit = ee.ExitCode()
		r.status = ee.String()
		ws, ok := ee.Sys().(syscall.WaitStatus)
		r.killed = killAfter > 0 && fired.Load() && ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	default:
		t.Fatalf("worker: %v", werr)
	}
	return r
}

// workerEnv is the test's environment with GO_FAILPOINTS replaced.
func workerEnv(failpoints string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GO_FAILPOINTS=") {
			env = append(env, kv)
		}
	}
	if failpoints != "" {
		env = append(env, "GO_FAILPOINTS="+failpoints)
	}
	return env
}

// buildWorker compiles the worker from the (rewritten) tree once per test.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "./worker").CombinedOutput()
	if err != nil {
		t.Fatalf("building the worker: %v\n%s", err, out)
	}
	return bin
}

// tailBuffer keeps about the last max bytes written to it, so a worker
// logging a storm of retries cannot eat the test's memory, and its last
// words are kept.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// testSeed is S2LITE_CRASH_SEED if set, else a fresh seed; it is logged so a
// failing schedule can be replayed.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("S2LITE_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("S2LITE_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (set S2LITE_CRASH_SEED to repeat)", seed)
	return seed
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
