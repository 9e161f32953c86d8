package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
)

// importCase is a point where the server dies while `s2lite import`
// writes records at their exported positions, or (failpoint "") the
// import process itself is killed.
type importCase struct {
	failpoint string
	lo, hi    int // the failpoint lets skip evaluations pass, skip in [lo, hi)
	what      string
}

var importCases = []importCase{
	// A fresh server with access tokens on (the default) first stores its
	// hashing key and its root token's hash (two WAL writes), then the
	// basin is created (one) and the import creates the stream (two): the
	// import's four batches and its finish are the 6th to 10th writes.
	{enginePkg + "walBeforePut", 5, 10, "an imported batch never reached storage"},
	{enginePkg + "walAfterPut", 5, 10, "an imported batch is durable, its acknowledgement lost"},
	{enginePkg + "walBeforeAck", 5, 10, "an imported batch is applied, not acknowledged"},
	{"", 0, 0, "the import process is killed with SIGKILL half way"},
}

// TestImportCrash is the crash matrix of stream import: a stream exported
// from one server (binary headers and bodies, a trim point, a fencing
// token) is imported into another, which dies at each failpoint of the
// write path (or the import process is killed). After a restart the
// imported stream must hold exactly a prefix of the export, at the
// exported positions, including every batch the import reported
// acknowledged; `import --resume` must then complete it, identical to the
// source: records, tail and fencing token.
func TestImportCrash(t *testing.T) {
	requireFailpoints(t)
	bins := buildServers(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(testSeed(t), 4))
			srcSt := serverStoreFor(t, bk.make(t))
			want, exportTail, file := exportForImport(t, bins.plain, srcSt)
			for _, c := range importCases {
				name := "kill-import"
				if c.failpoint != "" {
					name = c.failpoint[strings.LastIndexByte(c.failpoint, '/')+1:]
				}
				t.Run(name, func(t *testing.T) {
					t.Logf("verifies: %s", c.what)
					st := serverStore{args: append(serverStoreFor(t, bk.make(t)).args, "--enable-import")}
					failpoints := ""
					if c.failpoint != "" {
						failpoints = fmt.Sprintf("%s=%d*off->return(%q)", c.failpoint, c.lo+rng.IntN(c.hi-c.lo), "crash")
					}
					p := startServer(t, bins.plain, st, failpoints)
					base := p.mustReady(t)
					api := newAPIClient(t, base)
					if _, err := api.c.CreateBasin(ctx, "import-basin", client.CreateBasinOptions{}); err != nil {
						t.Fatal(err)
					}
					api.close()
					imp := exec.Command(bins.plain, "import", "s2://import-basin/s", "-i", file)
					imp.Env = clientEnv(base)
					var stderr bytes.Buffer
					imp.Stderr = &stderr
					if err := imp.Start(); err != nil {
						t.Fatal(err)
					}
					if c.failpoint == "" {
						time.AfterFunc(time.Duration(5+rng.IntN(40))*time.Millisecond, func() { _ = imp.Process.Kill() })
					}
					ierr := imp.Wait()
					if c.failpoint != "" {
						<-p.exited
						if !p.crashed() {
							t.Fatalf("the server ended with %s, want the crash status 137\n%s", p.status(), tail(p.stderr.String(), 20))
						}
					} else {
						p.stop(t, syscall.SIGTERM)
					}
					acked := ackedImportEnd(stderr.String())
					t.Logf("import ended (%v) with batches acknowledged up to %d", ierr, acked)

					// After a restart: a prefix of the export, with every
					// acknowledged batch.
					p = startServer(t, bins.plain, st, "")
					base = p.mustReady(t)
					got, gotTail := readAll(t, base)
					restarted := gotTail.SeqNum
					if !prefixOf(got, want) {
						t.Fatalf("the imported stream (%d records) is not a prefix of the export (%d)", len(got), len(want))
					}
					if gotTail.SeqNum < acked {
						t.Fatalf("the stream ends at %d, the import was acknowledged up to %d", gotTail.SeqNum, acked)
					}
					// Resume to the end.
					res := exec.Command(bins.plain, "import", "s2://import-basin/s", "-i", file, "--resume")
					res.Env = clientEnv(base)
					if out, err := res.CombinedOutput(); err != nil {
						t.Fatalf("import --resume: %v\n%s", err, out)
					}
					got, gotTail = readAll(t, base)
					if len(got) != len(want) || !prefixOf(got, want) || gotTail != exportTail {
						t.Fatalf("after --resume: %d records, tail %+v; the export has %d, tail %+v", len(got), gotTail, len(want), exportTail)
					}
					checkToken(t, base, "import-owner")
					p.stop(t, syscall.SIGTERM)
					t.Logf("the restart held the stream up to %d; the resumed import completed it (%d records, tail %d)", restarted, len(want), gotTail.SeqNum)
				})
			}
		})
	}
}

// exportForImport fills a stream on a plain server, trims and fences it,
// exports it with the binary, and returns its records, its tail and the
// export file.
func exportForImport(t *testing.T, bin string, st serverStore) ([]client.SequencedRecord, client.Position, string) {
	t.Helper()
	ctx := context.Background()
	p := startServer(t, bin, st, "")
	base := p.mustReady(t)
	api := newAPIClient(t, base)
	if _, err := api.c.CreateBasin(ctx, "import-basin", client.CreateBasinOptions{}); err != nil {
		t.Fatal(err)
	}
	b := api.c.Basin("import-basin")
	if _, err := b.CreateStream(ctx, "s", client.CreateStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	s := b.Stream("s")
	for i := range 8 {
		var in client.AppendInput
		for j := range 500 {
			n := i*500 + j
			in.Records = append(in.Records, client.AppendRecord{
				Headers: []client.Header{{Name: []byte{'h', 0xff}, Value: []byte(strconv.Itoa(n))}},
				Body:    fmt.Appendf(nil, "record %d \x00\xfe", n),
			})
		}
		if _, err := s.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Trim(ctx, 700, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fence(ctx, "import-owner", nil, nil); err != nil {
		t.Fatal(err)
	}
	api.close()
	recs, tail := readAll(t, base)
	file := filepath.Join(t.TempDir(), "s.export")
	exp := exec.Command(bin, "export", "s2://import-basin/s", "-o", file)
	exp.Env = clientEnv(base)
	if out, err := exp.CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	p.stop(t, syscall.SIGTERM)
	if len(recs) == 0 || recs[0].SeqNum != 700 {
		t.Fatalf("the source stream starts at %d records %d", recs[0].SeqNum, len(recs))
	}
	return recs, tail, file
}

// clientEnv is the environment of a command-line client of the server at
// base.
func clientEnv(base string) []string {
	return append(workerEnv(""), "S2_ACCOUNT_ENDPOINT="+base, "S2_BASIN_ENDPOINT="+base, "S2_ACCESS_TOKEN="+crashRootToken)
}

var importedRE = regexp.MustCompile(`✓ \[IMPORTED\] \S+ \d+\.\.(\d+) `)

// ackedImportEnd is the end of the last batch the import reported
// acknowledged (0 if none).
func ackedImportEnd(stderr string) uint64 {
	var end uint64
	for _, m := range importedRE.FindAllStringSubmatch(stderr, -1) {
		if n, err := strconv.ParseUint(m[1], 10, 64); err == nil && n > end {
			end = n
		}
	}
	return end
}

// readAll reads the whole stream import-basin/s (none if it does not
// exist).
func readAll(t *testing.T, base string) ([]client.SequencedRecord, client.Position) {
	t.Helper()
	ctx := context.Background()
	api := newAPIClient(t, base)
	defer api.close()
	s := api.c.Basin("import-basin").Stream("s")
	tail, err := s.CheckTail(ctx)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code == "stream_not_found" {
		return nil, client.Position{} // the import died before creating it
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []client.SequencedRecord
	for next := uint64(0); next < tail.SeqNum; {
		b, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(next)})
		var rne *client.RangeNotSatisfiableError
		if errors.As(err, &rne) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) == 0 {
			break
		}
		out = append(out, b.Records...)
		next = b.Records[len(b.Records)-1].SeqNum + 1
	}
	return out, tail
}

// prefixOf reports whether got is want's first records, identical.
func prefixOf(got, want []client.SequencedRecord) bool {
	if len(got) > len(want) {
		return false
	}
	for i, g := range got {
		w := want[i]
		if g.SeqNum != w.SeqNum || g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			return false
		}
	}
	return true
}

// checkToken fails unless the stream's fencing token is token.
func checkToken(t *testing.T, base, token string) {
	t.Helper()
	api := newAPIClient(t, base)
	defer api.close()
	wrong := "not-" + token
	_, err := api.c.Basin("import-basin").Stream("s").Append(context.Background(), client.AppendInput{Records: []client.AppendRecord{{Body: []byte("x")}}, FencingToken: &wrong})
	var ce *client.AppendConditionError
	if !errors.As(err, &ce) || ce.FencingTokenMismatch == nil || *ce.FencingTokenMismatch != token {
		t.Fatalf("fencing token after the import: %v", err)
	}
}
