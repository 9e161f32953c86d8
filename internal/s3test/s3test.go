// Package s3test gives tests a throwaway S3 store on the MinIO that
// `make test` (internal/tools/withminio) starts.
//
// The contract with that harness: when S2LITE_TEST_S3=1 is set, the
// AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_REGION variables point at a running MinIO.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// Bucket is the bucket all tests share; each store gets its own prefix.
const Bucket = "s2lite-test"

// Enabled reports whether the harness provides an S3 endpoint.
func Enabled() bool { return os.Getenv("S2LITE_TEST_S3") == "1" }

// Store returns an S3 store under a fresh prefix of Bucket, whose objects
// are removed when the test ends. It skips the test when S3 is not enabled
// and fails it when S3 is enabled but unreachable.
func Store(t testing.TB) *objstore.S3 {
	t.Helper()
	if !Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	opts := objstore.S3OptionsFromEnv(Bucket, "t/"+sanitize(t.Name())+"-"+randomSuffix(t))
	if err := objstore.CreateBucket(ctx, opts); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	s, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(func() {
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The store is rooted at the prefix, so listing everything lists
		// exactly this test's objects.
		objs, err := s.List(ctx, "", "", 0)
		if err != nil {
			t.Errorf("s3test: cleanup list: %v", err)
			return
		}
		// A few deletes in flight keep cleanup quick for tests that leave
		// many objects behind.
		keys := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for k := range keys {
					if err := s.Delete(ctx, k); err != nil {
						t.Errorf("s3test: cleanup delete %q: %v", k, err)
					}
				}
			})
		}
		for _, o := range objs {
			keys <- o.Key
		}
		close(keys)
		wg.Wait()
	})
	return s
}

// sanitize keeps test names readable in object keys while making them a
// single, safe path element.
func sanitize(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

func randomSuffix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("s3test: random: %v", err)
	}
	return hex.EncodeToString(b[:])
}
