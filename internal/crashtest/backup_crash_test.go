package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
)

const backupPkg = "github.com/s2lite/s2lite/backup/"

// backupCase is a point where `s2lite backup` dies while a server keeps
// writing to the database it copies.
type backupCase struct {
	failpoint, value string
	// complete: the destination holds a whole copy after the crash (the
	// manifest was written); otherwise it holds an earlier copy, or no
	// database at all, which verify must say.
	complete bool
	// restore runs `s2lite restore --to-time` (from the server's restore
	// points) instead of backup; after its crash it runs again into a
	// fresh destination, since a restore only writes into an empty one.
	restore bool
	what    string
}

var backupCases = []backupCase{
	{backupPkg + "backupAfterPin", "crash", false, false, "the version is pinned, nothing copied: the pin expires by itself"},
	{backupPkg + "backupAfterTables", "crash", false, false, "tables copied, no WAL, no manifest"},
	{backupPkg + "backupBeforeManifest", "crash", false, false, "tables and WAL copied, no manifest: not a database yet"},
	{objstorePkg + "storePut", "crash-after@manifest/0", true, false, "the manifest landed, the hint was never written"},
	{backupPkg + "backupAfterManifest", "crash", true, false, "manifest and hint written, older versions not removed"},
	{backupPkg + "backupAfterTables", "crash", false, true, "a restore to a time died with the tables copied"},
	{backupPkg + "backupBeforeManifest", "crash", false, true, "a restore to a time died before its manifest"},
}

// TestBackupCrash is the crash matrix of online backup: while a server
// (the tuned build: flushes, compactions and collections every second)
// takes appends, `s2lite backup` dies at each step of its copy; then the
// copy runs again to its end. The source must never notice (no fencing,
// appends keep being acknowledged, and the ledger checks every one of them
// afterwards); the destination must either verify as whole or be refused
// by verify, and after the second run it must hold, stream by stream,
// exactly the source's records from its trim point up to at least the
// tail the source had when that run began.
func TestBackupCrash(t *testing.T) {
	requireFailpoints(t)
	bins := buildServers(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			be := bk.make(t)
			seed := testSeed(t)
			m := &serverMatrix{bins: bins, st: serverStoreFor(t, be), ledger: newServerLedger(crashBasin),
				rng: rand.New(rand.NewPCG(seed, 3)), seed: seed}
			m.setup(t)
			for _, c := range backupCases {
				name := c.failpoint[strings.LastIndexByte(c.failpoint, '/')+1:] + "=" + c.value
				if c.restore {
					name = "restore/" + name
				}
				t.Run(name, func(t *testing.T) {
					m.backupCase(t, c, serverStoreFor(t, bk.make(t)), serverStoreFor(t, bk.make(t)))
				})
			}
		})
	}
}

// backupTarget is the --to argument for a store's flags.
func backupTarget(st serverStore) string {
	if st.args[0] == "--local-root" {
		return st.args[1]
	}
	return "s3://" + st.args[1] + "/" + st.args[3]
}

func (m *serverMatrix) runTool(t *testing.T, bin, failpoints string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = workerEnv(failpoints)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return 0, string(out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%s %q: %v", bin, args, err)
	return 0, ""
}

func (m *serverMatrix) backupCase(t *testing.T, c backupCase, dst, fresh serverStore) {
	t.Logf("verifies: %s", c.what)
	ctx := context.Background()
	m.run++
	srcStore := m.st
	if c.restore {
		// Restore points every second, for the restore to a time.
		srcStore = serverStore{args: append(append([]string{}, m.st.args...), "--checkpoint-interval", "1s")}
	}
	src := startServer(t, m.bins.tuned, srcStore, "")
	api := newAPIClient(t, src.mustReady(t))
	defer api.close()

	// Appenders run for the whole case.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acks atomic.Int64
	var mu sync.Mutex
	var cs clientStats
	for k := range serverClients {
		rng := rand.New(rand.NewPCG(m.seed, uint64(m.run)<<8|uint64(k)))
		wg.Go(func() {
			r := m.client(api, rng, k, stop, &acks)
			mu.Lock()
			cs.acked += r.acked
			if cs.err == nil {
				cs.err = r.err
			}
			mu.Unlock()
		})
	}
	time.Sleep(700 * time.Millisecond)

	if c.restore {
		time.Sleep(1500 * time.Millisecond) // a restore point exists
	}
	toolArgs := func(dst serverStore) []string {
		cmd := "backup"
		if c.restore {
			cmd = "restore"
		}
		args := append([]string{cmd}, m.st.args...)
		args = append(args, "--to", backupTarget(dst), "--gc-min-age", "1s")
		if c.restore {
			args = append(args, "--to-time", time.Now().UTC().Format(time.RFC3339Nano))
		}
		return args
	}
	// Each of these points is passed once per copy.
	terms := fmt.Sprintf("return(%q)", c.value)
	// The tuned build wraps its store in FaultStore, which the object
	// store failpoints need.
	code, out := m.runTool(t, m.bins.tuned, c.failpoint+"="+terms, toolArgs(dst)...)
	if code != 137 {
		t.Fatalf("backup exited %d, want the crash status 137\n%s", code, out)
	}
	vcode, vout := m.runTool(t, m.bins.plain, "", append([]string{"verify"}, dst.args...)...)
	if c.complete != (vcode == 0) {
		t.Fatalf("verify of the destination after the crash: exit %d, want success %v\n%s", vcode, c.complete, vout)
	}

	// The copy again, to its end, from tails taken as it begins. A
	// restore goes into a fresh destination.
	if c.restore {
		dst = fresh
	}
	acksBefore := acks.Load()
	before := map[string]client.Position{}
	for _, s := range m.ledger.streams {
		tail, err := api.basin.Stream(s.name).CheckTail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before[s.name] = tail
	}
	time.Sleep(5 * time.Millisecond) // a restore to a time begins after the tails
	code, out = m.runTool(t, m.bins.plain, "", toolArgs(dst)...)
	if code != 0 {
		t.Fatalf("second copy: exit %d\n%s", code, out)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if cs.err != nil {
		t.Fatal(cs.err)
	}
	if acks.Load() <= acksBefore {
		t.Fatalf("the source acknowledged nothing after the backups began (%d appends in all): was it disturbed?", acks.Load())
	}
	api.close()
	src.stop(t, syscall.SIGTERM)
	if code := src.exitCode(); code != 0 {
		t.Fatalf("the source server (never fenced) ended with %s\n%s", src.status(), tail(src.stderr.String(), 30))
	}
	m.ledger.settle(time.Now().UnixMilli())
	t.Logf("source: %s", m.verify(t))

	// The copy, stream by stream, against the source as verified.
	sapi, stopSrc := m.serveAndRead(t, m.st)
	dapi, stopDst := m.serveAndRead(t, dst)
	defer stopSrc()
	defer stopDst()
	var sum []string
	for _, s := range m.ledger.streams {
		a, err := m.readStream(ctx, sapi, s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.readStream(ctx, dapi, s)
		if err != nil {
			t.Fatalf("the copy's stream %q: %v", s.name, err)
		}
		if b.tail.SeqNum < before[s.name].SeqNum {
			t.Fatalf("stream %q: the copy ends at %d, the source's tail was %d when the backup began", s.name, b.tail.SeqNum, before[s.name].SeqNum)
		}
		if b.tail.SeqNum > a.tail.SeqNum {
			t.Fatalf("stream %q: the copy's tail %d is past the source's %d", s.name, b.tail.SeqNum, a.tail.SeqNum)
		}
		// Records both hold must be the same records.
		from := max(a.first, b.first)
		for seq := from; seq < b.tail.SeqNum; seq++ {
			ra, rb := a.recs[seq-a.first], b.recs[seq-b.first]
			if ra.seq != rb.seq || ra.ts != rb.ts || string(ra.body) != string(rb.body) || !headersEqual(ra.headers, rb.headers) {
				t.Fatalf("stream %q: record %d of the copy differs from the source's", s.name, seq)
			}
		}
		if b.first > a.first && b.first > before[s.name].SeqNum {
			t.Fatalf("stream %q: the copy starts at %d, after everything the source held", s.name, b.first)
		}
		sum = append(sum, fmt.Sprintf("%s %d..%d (source %d..%d, at start %d)", s.name, b.first, b.tail.SeqNum, a.first, a.tail.SeqNum, before[s.name].SeqNum))
	}
	t.Logf("copy: %s", strings.Join(sum, ", "))
}

// serveAndRead starts a plain server on a store for reading.
func (m *serverMatrix) serveAndRead(t *testing.T, st serverStore) (*apiClient, func()) {
	t.Helper()
	p := startServer(t, m.bins.plain, st, "")
	api := newAPIClient(t, p.mustReady(t))
	return api, func() {
		api.close()
		p.stop(t, syscall.SIGTERM)
	}
}
