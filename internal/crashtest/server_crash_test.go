package crashtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
)

// serverCase is one row of the server crash matrix: the s2lite process
// dies at a failpoint while clients append to it over HTTP.
type serverCase struct {
	failpoint string // full failpoint name
	value     string // what it does there (package fault's grammar)
	// The failpoint lets skip evaluations pass, skip drawn from [lo, hi).
	lo, hi int
	// atOpen: it fires while the server opens the store; the cycle first
	// runs a server that is killed at random, to leave a log to recover.
	atOpen bool
	// tuned: runs the tuned build (object store failpoints, frequent
	// flushes, compactions and garbage collection); else the plain one.
	tuned bool
	what  string
}

// serverCases are the failpoints of the engine matrix (crashCases), at
// which the real server dies. Documented in README.md.
var serverCases = []serverCase{
	{failpoint: enginePkg + "walBeforePut", value: "crash", lo: 10, hi: 150,
		what: "appends in flight never reached storage: none acknowledged, none visible in part"},
	{failpoint: enginePkg + "walAfterPut", value: "crash", lo: 10, hi: 150,
		what: "a group of appends is durable but unacknowledged: visible whole after the restart, or not at all"},
	{failpoint: enginePkg + "walBeforeAck", value: "crash", lo: 10, hi: 150,
		what: "appends durable and applied, their clients not answered: visible whole after the restart"},
	{failpoint: objstorePkg + "storePutIfAbsent", value: "crash-after@wal/", lo: 30, hi: 200, tuned: true,
		what: "the WAL PUT took effect, the server died before its reply"},
	{failpoint: enginePkg + "flushAfterUpload", value: "crash", lo: 0, hi: 3, tuned: true,
		what: "an uploaded table no manifest references: the WAL still holds the records"},
	{failpoint: enginePkg + "flushAfterManifest", value: "crash", lo: 0, hi: 3, tuned: true,
		what: "the manifest moved past the WAL: records, stream state and tokens come from the table"},
	{failpoint: objstorePkg + "storePutIfAbsent", value: "crash-after@manifest/", lo: 0, hi: 6, tuned: true,
		what: "a manifest version (epoch bump, flush, compaction) landed unseen by its writer"},
	{failpoint: objstorePkg + "storePut", value: "crash@manifest/LATEST", lo: 0, hi: 6, tuned: true,
		what: "the manifest hint lags the newest version"},
	{failpoint: enginePkg + "compactAfterUpload", value: "crash", lo: 0, hi: 2, tuned: true,
		what: "compaction outputs uploaded, not installed (trim range deletions included)"},
	{failpoint: enginePkg + "compactAfterInstall", value: "crash", lo: 0, hi: 2, tuned: true,
		what: "compaction installed, inputs not yet collected"},
	{failpoint: enginePkg + "gcBeforeDelete", value: "crash", lo: 0, hi: 15, tuned: true,
		what: "garbage collection stopped between deletes"},
	{failpoint: objstorePkg + "storeDelete", value: "crash-after", lo: 0, hi: 15, tuned: true,
		what: "a delete took effect, the collector died before its reply"},
	{failpoint: enginePkg + "recoverAfterEpochBump", value: "crash", lo: 0, hi: 1, atOpen: true,
		what: "start-up bumped the epoch and died before replaying"},
	{failpoint: enginePkg + "replayObject", value: "crash", lo: 0, hi: 6, atOpen: true,
		what: "start-up died halfway through replaying the log"},
	{failpoint: enginePkg + "replayBeforeFence", value: "crash", lo: 0, hi: 1, atOpen: true,
		what: "start-up replayed the log and died before fencing its end"},
}

const (
	serverCycles     = 2 // per case
	serverKillCycles = 6
	serverClients    = 6
	// serverRunLimit ends a server whose failpoint never fired; the case
	// then fails, since it verified nothing.
	serverRunLimit = 12 * time.Second
	crashBasin     = "crashtest-basin"
)

// TestServerCrash is the crash matrix for the s2lite binary: for each
// failpoint, a server on the store dies there (exit status 137) while
// several clients append over HTTP; a restarted server must then show
// every acknowledged append as acknowledged, no unacknowledged batch in
// part, contiguous sequence numbers from the trim point to the tail, the
// last fencing token and the trim point, and a second restart must show
// exactly the same. Then random SIGKILL cycles. All cases run one after
// another on one store per backend.
func TestServerCrash(t *testing.T) {
	requireFailpoints(t)
	bins := buildServers(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			be := bk.make(t)
			seed := testSeed(t)
			m := &serverMatrix{bins: bins, st: serverStoreFor(t, be), ledger: newServerLedger(crashBasin),
				rng: rand.New(rand.NewPCG(seed, 2)), seed: seed}
			m.setup(t)
			for _, c := range serverCases {
				name := c.failpoint[strings.LastIndexByte(c.failpoint, '/')+1:] + "=" + c.value
				t.Run(name, func(t *testing.T) { m.crashCase(t, c) })
			}
			t.Run("sigkill", func(t *testing.T) { m.killCycles(t, serverKillCycles) })
		})
	}
}

type serverMatrix struct {
	bins   serverBinaries
	st     serverStore
	ledger *serverLedger
	rng    *rand.Rand
	seed   uint64
	run    int // server runs so far: each gets its own batch ids
}

// setup creates the basin and the streams on a server without failpoints.
// A stream gets its cipher from the basin's stream_cipher when it is
// created, so the basin has each cipher in turn while its streams are
// created, and none afterwards (which changes no existing stream).
func (m *serverMatrix) setup(t *testing.T) {
	ctx := context.Background()
	p := startServer(t, m.bins.plain, m.st, "")
	api := newAPIClient(t, p.mustReady(t))
	defer api.close()
	if _, err := api.c.CreateBasin(ctx, crashBasin, client.CreateBasinOptions{}); err != nil {
		t.Fatalf("create basin: %v", err)
	}
	for _, cipher := range []string{"", client.CipherAegis256, client.CipherAes256Gcm} {
		if cipher != "" {
			if _, err := api.c.ReconfigureBasin(ctx, crashBasin, client.BasinReconfiguration{StreamCipher: client.SetTo(cipher)}); err != nil {
				t.Fatalf("reconfigure basin with stream cipher %s: %v", cipher, err)
			}
		}
		for _, s := range m.ledger.streams {
			if s.cipher != cipher {
				continue
			}
			info, err := api.basin.CreateStream(ctx, s.name, client.CreateStreamOptions{})
			if err != nil {
				t.Fatalf("create stream %q: %v", s.name, err)
			}
			if got := ptrValue(info.Cipher); got != s.cipher {
				t.Fatalf("stream %q created with cipher %q, want %q", s.name, got, s.cipher)
			}
		}
	}
	if _, err := api.c.ReconfigureBasin(ctx, crashBasin, client.BasinReconfiguration{StreamCipher: client.Clear[string]()}); err != nil {
		t.Fatalf("reconfigure basin without a stream cipher: %v", err)
	}
	p.stop(t, syscall.SIGTERM)
	if c := p.exitCode(); c != 0 {
		t.Fatalf("setup server: %s\n%s", p.status(), tail(p.stderr.String(), 30))
	}
}

func (m *serverMatrix) crashCase(t *testing.T, c serverCase) {
	t.Logf("verifies: %s", c.what)
	bin := m.bins.plain
	if c.tuned {
		bin = m.bins.tuned
	}
	for cycle := range serverCycles {
		if c.atOpen {
			r := m.runServer(t, m.bins.plain, "", 300*time.Millisecond+m.upTo(500*time.Millisecond))
			t.Logf("cycle %d: filler run killed: %s", cycle, r)
		}
		skip := c.lo + m.rng.IntN(c.hi-c.lo)
		terms := fmt.Sprintf("return(%q)", c.value)
		if skip > 0 {
			terms = fmt.Sprintf("%d*off->%s", skip, terms)
		}
		r := m.runServer(t, bin, c.failpoint+"="+terms, 0)
		if !r.proc.crashed() {
			t.Fatalf("cycle %d: s2lite ended with %s, want the crash status 137 (the failpoint never fired?)\n%s",
				cycle, r.proc.status(), tail(r.proc.stderr.String(), 30))
		}
		if r.err != nil {
			t.Fatalf("cycle %d: %v", cycle, r.err)
		}
		t.Logf("cycle %d: skip %d, crashed with 137: %s; recovered: %s", cycle, skip, r, m.verify(t))
	}
}

// killCycles kills a server with SIGKILL at a random moment, from inside
// its start-up to deep into the appends, n times, checking after each.
// They alternate between the plain and the tuned build.
func (m *serverMatrix) killCycles(t *testing.T, n int) {
	for cycle := range n {
		bin, which := m.bins.plain, "plain"
		if cycle%2 == 1 {
			bin, which = m.bins.tuned, "tuned"
		}
		after := 20*time.Millisecond + m.upTo(1500*time.Millisecond)
		r := m.runServer(t, bin, "", after)
		if !r.proc.killed.Load() || r.proc.exitCode() != -1 {
			t.Fatalf("cycle %d: s2lite ended with %s before the kill\n%s", cycle, r.proc.status(), tail(r.proc.stderr.String(), 30))
		}
		if r.err != nil {
			t.Fatalf("cycle %d: %v", cycle, r.err)
		}
		t.Logf("cycle %d (%s): killed after %v: %s; recovered: %s", cycle, which, after.Round(time.Millisecond), r, m.verify(t))
	}
}

func (m *serverMatrix) upTo(d time.Duration) time.Duration {
	return time.Duration(m.rng.Int64N(int64(d)))
}

// runResult is what one server run did.
type runResult struct {
	proc                             *serverProc
	listened                         bool
	startup                          time.Duration
	acked, rejected, unknown, failed int
	took                             time.Duration
	err                              error  // an answer no server may give
	stall                            string // why no append was acknowledged for stallAfter
}

func (r runResult) String() string {
	if !r.listened {
		return fmt.Sprintf("died at start-up after %v", r.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("listened after %v, died after %v: %d appends acknowledged, %d rejected (412), %d in doubt (%d of them 5xx)",
		r.startup.Round(time.Millisecond), r.took.Round(time.Millisecond), r.acked, r.rejected, r.unknown, r.failed)
}

// runServer runs bin with failpoints until it dies, with clients
// appending as soon as it listens. killAfter > 0 kills it with SIGKILL
// after that long; otherwise it is killed after serverRunLimit.
func (m *serverMatrix) runServer(t *testing.T, bin, failpoints string, killAfter time.Duration) runResult {
	t.Helper()
	m.run++
	p := startServer(t, bin, m.st, failpoints)
	limit := killAfter
	if limit <= 0 {
		limit = serverRunLimit
	}
	timer := time.AfterFunc(limit, p.kill)
	defer timer.Stop()
	addr := p.ready(t)
	res := runResult{proc: p, listened: addr != "", startup: time.Since(p.started)}
	if addr != "" {
		api := newAPIClient(t, addr)
		var acks atomic.Int64
		var stall atomic.Pointer[string]
		// Writes that stall for good are a liveness problem, not a lost
		// write: say so, with what the engine reports.
		probe := time.AfterFunc(stallAfter, func() {
			if acks.Load() == 0 {
				note := stallNote(api)
				stall.Store(&note)
			}
		})
		defer probe.Stop()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for c := range serverClients {
			rng := rand.New(rand.NewPCG(m.seed, uint64(m.run)<<8|uint64(c)))
			wg.Go(func() {
				cs := m.client(api, rng, c, p.exited, &acks)
				mu.Lock()
				res.acked += cs.acked
				res.rejected += cs.rejected
				res.unknown += cs.unknown
				res.failed += cs.failed
				if res.err == nil {
					res.err = cs.err
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		probe.Stop()
		if note := stall.Load(); note != nil {
			res.stall = *note
		}
		api.close()
	}
	<-p.exited
	res.took = time.Since(p.started)
	if res.stall != "" {
		t.Log(res.stall)
	}
	m.ledger.settle(time.Now().UnixMilli())
	return res
}

type clientStats struct {
	acked, rejected, unknown, failed int
	err                              error
}

// client appends batches one at a time until the server exits.
func (m *serverMatrix) client(api *apiClient, rng *rand.Rand, c int, exited <-chan struct{}, acks *atomic.Int64) clientStats {
	var cs clientStats
	ctx := context.Background()
	for seq := 0; seq < 1_000_000; seq++ {
		select {
		case <-exited:
			return cs
		default:
		}
		b := m.newBatch(rng, c, seq)
		in := client.AppendInput{FencingToken: b.fencingToken, MatchSeqNum: b.matchSeq}
		for _, r := range b.recs {
			in.Records = append(in.Records, r.appendRecord())
		}
		m.ledger.register(b)
		b.sendMs = time.Now().UnixMilli()
		ack, err := api.stream(b.stream).Append(ctx, in)
		done := time.Now().UnixMilli()
		var (
			condErr *client.AppendConditionError
			apiErr  *client.Error
		)
		switch {
		case err == nil:
			if ack.End.SeqNum-ack.Start.SeqNum != uint64(len(b.recs)) || ack.Tail.SeqNum < ack.End.SeqNum {
				cs.err = fmt.Errorf("append of %d records acknowledged as %+v", len(b.recs), ack)
			}
			m.ledger.complete(b, outAcked, ack, nil, done)
			cs.acked++
			acks.Add(1)
		case errors.As(err, &condErr):
			if condErr.SeqNumMismatch != nil && condErr.FencingTokenMismatch != nil {
				cs.err = fmt.Errorf("412 with two mismatches: %w", err)
			}
			m.ledger.complete(b, outRejected, client.AppendAck{}, condErr, done)
			cs.rejected++
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusPreconditionFailed:
			// A 412 without the mismatch the API defines for it.
			cs.err = fmt.Errorf("append to %q: %w", b.stream.name, err)
			m.ledger.complete(b, outRejected, client.AppendAck{}, nil, done)
			cs.rejected++
		case errors.As(err, &apiErr) && apiErr.Status >= 500:
			m.ledger.complete(b, outUnknown, client.AppendAck{}, nil, done)
			cs.unknown++
			cs.failed++
		case errors.As(err, &apiErr):
			m.ledger.complete(b, outUnknown, client.AppendAck{}, nil, done)
			cs.unknown++
			if cs.err == nil {
				cs.err = fmt.Errorf("append to %q: %w", b.stream.name, err)
			}
		default:
			// No answer (a transport failure: the server is dying), or an
			// answer that did not decode: the batch is in doubt.
			m.ledger.complete(b, outUnknown, client.AppendAck{}, nil, done)
			cs.unknown++
			// Do not hammer a closed port.
			select {
			case <-exited:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return cs
}

// newBatch makes client c's seq-th batch of this run: 1 to 6 records with
// random headers and client timestamps (none, past, now, future, ancient);
// on some streams now and then a fence or a trim; with match_seq_num now
// and then on the others.
func (m *serverMatrix) newBatch(rng *rand.Rand, c, seq int) *sentBatch {
	l := m.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, s := range l.streams {
		total += s.weight
	}
	pick := rng.IntN(total)
	var s *streamLedger
	for _, s = range l.streams {
		if pick < s.weight {
			break
		}
		pick -= s.weight
	}
	id := fmt.Sprintf("r%03d-c%d-%05d", m.run, c, seq)
	b := &sentBatch{id: id, stream: s}
	if s.fenced {
		tok := s.token
		b.fencingToken = &tok
	}
	switch {
	case s.fenced && rng.IntN(100) < 5:
		b.kind = kindFence
		b.newToken = fenceTokenPrefix + id
		b.recs = []sentRecord{{headers: []header{{[]byte{}, []byte("fence")}}, body: []byte(b.newToken)}}
	case s.trims && rng.IntN(100) < 8 && s.tailKnown >= 60:
		// Below the known tail: the trim command lands above its own trim
		// point, so the record that set a trim point stays visible.
		b.kind = kindTrim
		b.trimTo = s.tailKnown - 5 - rng.Uint64N(40)
		var to [8]byte
		binary.BigEndian.PutUint64(to[:], b.trimTo)
		b.recs = []sentRecord{envelope(rng, id, 0, 2), {headers: []header{{[]byte{}, []byte("trim")}}, body: to[:]}}
	default:
		n := 1 + rng.IntN(6)
		for i := range n {
			b.recs = append(b.recs, envelope(rng, id, i, n))
		}
		if !s.fenced && rng.IntN(100) < 20 {
			next := s.nextSeq
			b.matchSeq = &next
		}
	}
	return b
}

// envelope is the i-th of n records of batch id.
func envelope(rng *rand.Rand, id string, i, n int) sentRecord {
	var r sentRecord
	now := uint64(time.Now().UnixMilli())
	switch p := rng.IntN(100); {
	case p < 40: // none: the server's clock
	case p < 70:
		ts := now - rng.Uint64N(5000)
		r.ts = &ts
	case p < 80:
		ts := now
		r.ts = &ts
	case p < 90: // future: capped to the server's clock
		ts := now + 3_600_000 + rng.Uint64N(1000)
		r.ts = &ts
	default: // far behind the stream: raised to the previous record's
		ts := rng.Uint64N(1000)
		r.ts = &ts
	}
	for h := range rng.IntN(4) {
		name := []byte(fmt.Sprintf("h%d", h))
		if rng.IntN(3) == 0 {
			name = []byte("dup")
		}
		v := make([]byte, rng.IntN(24))
		for j := range v {
			v[j] = byte(rng.IntN(256))
		}
		r.headers = append(r.headers, header{name, v})
	}
	payload := make([]byte, rng.IntN(200))
	for j := range payload {
		payload[j] = byte(rng.IntN(256))
	}
	r.body = recordBody(id, i, n, payload)
	return r
}

// verify restarts the server without failpoints on the store twice, reads
// every stream each time, checks the first reading against the ledger and
// the second against the first. The first restart ends with SIGKILL (the
// second replays the same log again), the second with SIGTERM, which must
// shut it down cleanly.
func (m *serverMatrix) verify(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var snaps [2][]*streamSnapshot
	var startup [2]time.Duration
	for i := range snaps {
		p := startServer(t, m.bins.plain, m.st, "")
		api := newAPIClient(t, p.mustReady(t))
		startup[i] = time.Since(p.started)
		for _, s := range m.ledger.streams {
			snap, err := m.readStream(ctx, api, s)
			if err != nil {
				t.Fatalf("restart %d: stream %q: %v\n%s", i+1, s.name, err, tail(p.stderr.String(), 20))
			}
			snaps[i] = append(snaps[i], snap)
		}
		api.close()
		if i == 0 {
			p.stop(t, syscall.SIGKILL)
		} else {
			p.stop(t, syscall.SIGTERM)
			if c := p.exitCode(); c != 0 {
				t.Fatalf("restart %d: SIGTERM: s2lite ended with %s, want a clean exit\n%s", i+1, p.status(), tail(p.stderr.String(), 30))
			}
		}
	}
	var sum []string
	for j, s := range m.ledger.streams {
		a, b := snaps[0][j], snaps[1][j]
		if !a.equal(b) {
			t.Fatalf("stream %q: the second restart differs from the first: tail %v vs %v, first %d vs %d, %d vs %d records, token %q vs %q",
				s.name, a.tail, b.tail, a.first, b.first, len(a.recs), len(b.recs), a.token, b.token)
		}
		st, err := m.ledger.check(s, a)
		if err != nil {
			t.Fatalf("stream %q: %v", s.name, err)
		}
		sum = append(sum, fmt.Sprintf("%s %d..%d (%d unacked batches visible)", s.name, a.first, a.tail.SeqNum, st.unackedVisible))
	}
	return fmt.Sprintf("start-up %v and %v; %s", startup[0].Round(time.Millisecond), startup[1].Round(time.Millisecond), strings.Join(sum, ", "))
}

// readStream reads a whole stream: its tail, every record from seq num 0
// (the read starts at the trim point), and its fencing token, from the 412
// that appends with a wrong token, and with an old one, get.
func (m *serverMatrix) readStream(ctx context.Context, api *apiClient, s *streamLedger) (*streamSnapshot, error) {
	st := api.stream(s)
	tail, err := st.CheckTail(ctx)
	if err != nil {
		return nil, fmt.Errorf("check tail: %w", err)
	}
	snap := &streamSnapshot{tail: tail, first: tail.SeqNum}
	next := uint64(0)
	for page := 0; next < snap.tail.SeqNum; page++ {
		if page > 100_000 {
			return nil, fmt.Errorf("read does not end")
		}
		count := uint64(1000)
		rb, err := st.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(next), Count: &count})
		if err != nil {
			return nil, fmt.Errorf("read from %d (tail %d): %w", next, snap.tail.SeqNum, err)
		}
		if len(rb.Records) == 0 {
			return nil, fmt.Errorf("read from %d returned nothing below the tail %d", next, snap.tail.SeqNum)
		}
		for _, sr := range rb.Records {
			r := readRecordOf(sr)
			if r.seq < next {
				return nil, fmt.Errorf("read from %d returned seq %d", next, r.seq)
			}
			snap.recs = append(snap.recs, r)
			next = r.seq + 1
		}
	}
	if len(snap.recs) > 0 {
		snap.first = snap.recs[0].seq
	}
	probe := func(token string) (string, error) {
		ack, err := st.Append(ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte("probe")}}, FencingToken: &token})
		var condErr *client.AppendConditionError
		switch {
		case err == nil:
			return "", fmt.Errorf("append with the fencing token %q acknowledged as %+v, want 412 fencing_token_mismatch", token, ack)
		case !errors.As(err, &condErr) || condErr.FencingTokenMismatch == nil:
			return "", fmt.Errorf("append with the fencing token %q: %w; want 412 fencing_token_mismatch", token, err)
		}
		return *condErr.FencingTokenMismatch, nil
	}
	if s.cipher != "" {
		if err := checkSealed(ctx, api, s, snap); err != nil {
			return nil, err
		}
	}
	if snap.token, err = probe("crashtest-not-a-token"); err != nil {
		return nil, err
	}
	if old, ok := m.ledger.oldToken(s, snap.token); ok {
		got, err := probe(old)
		if err != nil {
			return nil, err
		}
		if got != snap.token {
			return nil, fmt.Errorf("412s disagree on the fencing token: %q, then %q", snap.token, got)
		}
	}
	return snap, nil
}

// checkSealed checks what an encrypted stream's records were read with
// (its key: the ledger then compares them, bodies and headers, byte for
// byte, with what was sent) is needed: the stream still has its cipher
// after recovery, and its first envelope record, read with another key,
// is 400 decryption_failed, and without a key 400 bad_header.
func checkSealed(ctx context.Context, api *apiClient, s *streamLedger, snap *streamSnapshot) error {
	page, err := api.basin.ListStreams(ctx, client.ListOptions{Prefix: s.name, Limit: 1})
	if err != nil {
		return fmt.Errorf("list streams: %w", err)
	}
	if len(page.Streams) != 1 || page.Streams[0].Name != s.name || ptrValue(page.Streams[0].Cipher) != s.cipher {
		return fmt.Errorf("listed as %+v, want cipher %q", page.Streams, s.cipher)
	}
	for _, r := range snap.recs {
		if commandOf(r) != "" {
			continue // commands are stored in clear
		}
		one := uint64(1)
		o := client.ReadOptions{Start: client.FromSeqNum(r.seq), Count: &one}
		for _, c := range []struct {
			key          client.EncryptionKey
			status       int
			code, reason string
		}{
			{wrongKey, http.StatusBadRequest, "decryption_failed", "another key"},
			{client.EncryptionKey{}, http.StatusBadRequest, "bad_header", "no key"},
		} {
			rb, err := api.basin.Stream(s.name).WithEncryptionKey(c.key).Read(ctx, o)
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.Status != c.status || apiErr.Code != c.code {
				return fmt.Errorf("read of record %d with %s: %d records, error %v; want %d %s", r.seq, c.reason, len(rb.Records), err, c.status, c.code)
			}
		}
		return nil
	}
	return nil
}

// wrongKey is no stream's key.
var wrongKey = randomEncryptionKey()

func ptrValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// stallAfter is how long a listening server may go without acknowledging
// an append before the run notes it (a healthy one takes milliseconds).
const stallAfter = 250 * time.Millisecond

// stallNote describes a server that acknowledged no append within
// stallAfter of listening, from its engine metrics.
func stallNote(api *apiClient) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	metrics, err := api.metrics(ctx)
	if err != nil {
		return fmt.Sprintf("no append acknowledged %v after listening (metrics: %v)", stallAfter, err)
	}
	var stalled, l0 string
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "s2lite_engine_writers_stalled "); ok {
			stalled = v
		}
		if v, ok := strings.CutPrefix(line, "s2lite_engine_l0_tables "); ok {
			l0 = v
		}
	}
	note := fmt.Sprintf("no append acknowledged %v after listening: %s writers stalled, %s tables in L0", stallAfter, stalled, l0)
	if n, err := strconv.Atoi(l0); err == nil && n >= 24 {
		note += " (L0StopWrites: writers wait for compaction)"
	}
	return note
}
