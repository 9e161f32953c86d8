package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

// TestRestoreFromVersions: a database on a versioned MinIO bucket keeps
// writing (flushing, compacting, collecting) after a moment T; rebuilding
// the bucket as of T from object versions gives a database that opens and
// holds everything acknowledged before T, and no key written after.
func TestRestoreFromVersions(t *testing.T) {
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under internal/tools/withminio")
	}
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	opts := objstore.S3OptionsFromEnv("s2lite-versions-"+hex.EncodeToString(b[:]), "db")
	if err := objstore.CreateBucket(ctx, opts); err != nil {
		t.Fatal(err)
	}
	s3, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.EnableVersioning(ctx); err != nil {
		t.Fatal(err)
	}
	src := objstore.NewRetrying(s3, objstore.RetryOptions{})
	db, err := engine.Open(ctx, smallOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(db)
	time.Sleep(500 * time.Millisecond)
	asOf := time.Now()
	time.Sleep(700 * time.Millisecond)
	// After T: flushes, compactions and collections rewrite and delete.
	for range 3 {
		_ = db.Flush(ctx)
		_ = db.Compact(ctx)
		time.Sleep(350 * time.Millisecond)
		if _, err := db.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	w.halt(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	dst := objstore.NewMemory()
	st, err := RestoreVersions(ctx, s3, dst, asOf, 8)
	if err != nil {
		t.Fatal(err)
	}
	n := checkCopy(t, dst, w.ackedBefore(asOf.Add(-50*time.Millisecond)), w.next)
	written := len(w.ackedBefore(asOf.Add(time.Second)))
	if n >= w.next || n > written {
		t.Fatalf("the restore as of T holds %d keys; %d were written in all, %d by a second after T", n, w.next, written)
	}
	t.Logf("restored %d objects (%d bytes): %d keys, of %d written in all", st.Objects, st.BytesCopied, n, w.next)
}
