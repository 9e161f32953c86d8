package crashtest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// TestServerWritesStallAfterRestart: a store whose L0 holds L0StopWrites
// (24) tables or more, as a crash can leave it when compaction fell behind,
// must not make a restarted s2lite's writes wait for the compaction timer
// (30 s): Open and stalled writers kick compaction. The server crash matrix
// ran into this on MinIO before it was fixed.
func TestServerWritesStallAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 30 flushes, no compaction: L0 is left with 30 tables.
	db, err := engine.Open(ctx, engine.Options{Store: store, MemtableSize: 4 << 10, L0StopWrites: 1000,
		DisableAutoCompaction: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		b := engine.NewBatch()
		b.Set([]byte(fmt.Sprintf("zz/filler/%03d", i)), make([]byte, 1000))
		if err := db.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l0 := db.Metrics().L0Tables
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if l0 < 24 {
		t.Fatalf("set-up: L0 holds %d tables, want at least 24", l0)
	}

	bin := filepath.Join(t.TempDir(), "s2lite")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/s2lite")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := startServer(t, bin, serverStore{args: []string{"--local-root", dir}}, "")
	api := newAPIClient(t, p.mustReady(t))
	defer api.close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := api.c.CreateBasin(wctx, crashBasin, client.CreateBasinOptions{}); err != nil {
		t.Fatalf("with %d tables in L0, the first write after the restart (create basin) failed after %v: %v",
			l0, time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("create basin took %v", time.Since(start).Round(time.Millisecond))
}
