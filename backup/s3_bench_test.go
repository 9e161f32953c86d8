package backup

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// BenchmarkBackupS3 measures, on MinIO, for a database of
// S2LITE_BACKUP_BENCH_MIB MiB (default 1024) with restore points:
//
//   - raw-MiB/s: copying the same objects with plain GET and PUT, 8 at a
//     time (what a sync tool does at best);
//
//   - backup-MiB/s: s2lite's online backup of it, pin and verify included;
//
//   - rto-s: a restore to its newest checkpoint into an empty prefix, plus
//     opening the restored database and reading from it: the time from
//     "restore" to serving.
//
//     go run ./internal/tools/withminio -- env S2LITE_TEST_S3=1 \
//     go test -run - -bench BackupS3 -benchtime 1x -timeout 60m ./backup
func BenchmarkBackupS3(b *testing.B) {
	if !s3test.Enabled() {
		b.Skip("S2LITE_TEST_S3 not set: run under internal/tools/withminio")
	}
	mib := 1024
	if v := os.Getenv("S2LITE_BACKUP_BENCH_MIB"); v != "" {
		mib, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	retry := func(s objstore.Store) objstore.Store { return objstore.NewRetrying(s, objstore.RetryOptions{}) }
	src := retry(s3test.Store(b))

	// The database: 256 KiB random values, flushed into tables, a
	// checkpoint.
	fill := time.Now()
	db, err := engine.Open(ctx, engine.Options{Store: src, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var werr error
	var mu sync.Mutex
	for i := range mib * 4 {
		// Random values: tables of the size written (snappy gains
		// nothing), as with encrypted or compressed payloads.
		v := make([]byte, 256<<10)
		_, _ = rand.Read(v)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			bt := engine.NewBatch()
			bt.Set(fmt.Appendf(nil, "key-%08d", i), v)
			if err := db.Write(ctx, bt); err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if werr != nil {
		b.Fatal(werr)
	}
	if _, err := db.CreateCheckpoint(ctx, "auto-bench", time.Hour); err != nil {
		b.Fatal(err)
	}
	rep, err := engine.Verify(ctx, src, engine.VerifyOptions{})
	if err != nil || !rep.OK() {
		b.Fatalf("%v %v", rep, err)
	}
	b.Logf("database: %d tables, %.0f MiB, filled in %v", rep.Tables, float64(rep.TableBytes)/(1<<20), time.Since(fill).Round(time.Second))

	// Raw copy of the same objects.
	m, err := manifest.NewStore(src, nil).Load(ctx, rep.ManifestVersion)
	if err != nil {
		b.Fatal(err)
	}
	var objs []object
	for _, t := range m.Tables() {
		objs = append(objs, object{key: t.ObjectKey(), size: t.Size})
	}
	raw := retry(s3test.Store(b))
	b.ResetTimer()
	start := time.Now()
	_, rawBytes, err := copyObjects(ctx, latest(src), raw, objs, map[string]int64{}, 8)
	if err != nil {
		b.Fatal(err)
	}
	rawTook := time.Since(start)

	// Online backup, while the writer is still open.
	dst := retry(s3test.Store(b))
	start = time.Now()
	st, err := Copy(ctx, src, dst, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if r, err := engine.Verify(ctx, dst, engine.VerifyOptions{}); err != nil || !r.OK() {
		b.Fatalf("%v %v", r, err)
	}
	backupTook := time.Since(start)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}

	// Restore to the checkpoint and serve a read.
	restored := retry(s3test.Store(b))
	start = time.Now()
	if _, err := Copy(ctx, src, restored, Options{Checkpoint: "auto-bench", Until: time.Now()}); err != nil {
		b.Fatal(err)
	}
	rdb, err := engine.Open(ctx, engine.Options{Store: restored, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rdb.Get(ctx, []byte("key-00000000")); err != nil {
		b.Fatal(err)
	}
	rto := time.Since(start)
	b.StopTimer()
	_ = rdb.Close()

	mibf := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(mibf(rawBytes)/rawTook.Seconds(), "raw-MiB/s")
	b.ReportMetric(mibf(st.BytesCopied)/backupTook.Seconds(), "backup-MiB/s")
	b.ReportMetric(rto.Seconds(), "rto-s")
	b.Logf("raw copy %.0f MiB in %v; backup %.0f MiB in %v (%d tables, %d WAL objects); restore to serving %v",
		mibf(rawBytes), rawTook.Round(time.Millisecond), mibf(st.BytesCopied), backupTook.Round(time.Millisecond), st.Tables, st.WAL, rto.Round(time.Millisecond))
}
