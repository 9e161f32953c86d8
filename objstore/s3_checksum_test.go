package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestS3ChecksumVerifiedByService checks that the CRC32C header sent with
// every PUT is verified by the service: a body that does not match it is
// rejected, so a body corrupted on the way is never stored.
func TestS3ChecksumVerifiedByService(t *testing.T) {
	if os.Getenv("S2LITE_TEST_S3") != "1" {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	ctx := context.Background()
	opts := S3OptionsFromEnv("s2lite-test", fmt.Sprintf("t/checksum-%d", time.Now().UnixNano()))
	if err := CreateBucket(ctx, opts); err != nil {
		t.Fatal(err)
	}
	s, err := NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("hello world")
	obj, err := s.object("bad")
	if err != nil {
		t.Fatal(err)
	}
	put := minio.PutObjectOptions{DisableContentSha256: true, UserMetadata: map[string]string{crc32cHeader: crc32cBase64([]byte("other"))}}
	if _, err := s.core.PutObject(ctx, s.bucket, obj, bytes.NewReader(data), int64(len(data)), "", "", put); err == nil {
		t.Fatal("the service accepted a body that does not match its CRC32C")
	}
	if _, _, err := s.Get(ctx, "bad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rejected object is readable: %v", err)
	}
	if _, err := s.Put(ctx, "good", data); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "good"); err != nil {
		t.Fatal(err)
	}
}
