package objstore

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Object versions of a versioned bucket: what a point-in-time restore from
// bucket versioning reads. Only the S3 store has them.

// ObjectVersion is one stored version of an object.
type ObjectVersion struct {
	Key          string
	VersionID    string
	LastModified time.Time
	Size         int64
	// DeleteMarker: the object was deleted at LastModified.
	DeleteMarker bool
}

// EnableVersioning turns on versioning for the store's bucket.
func (s *S3) EnableVersioning(ctx context.Context) error {
	if err := s.core.Client.EnableVersioning(ctx, s.bucket); err != nil {
		return fmt.Errorf("objstore: enable versioning on %s: %w", s.bucket, err)
	}
	return nil
}

// ListVersions lists every version (and delete marker) of every object
// under prefix, keys relative to the store's prefix.
func (s *S3) ListVersions(ctx context.Context, prefix string) ([]ObjectVersion, error) {
	listCtx, cancel := context.WithCancel(ctx)
	ch := s.core.Client.ListObjects(listCtx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true, WithVersions: true})
	defer func() {
		cancel()
		for range ch {
		}
	}()
	var out []ObjectVersion
	for obj := range ch {
		if obj.Err != nil {
			return nil, s.mapErr(ctx, "list versions", prefix, obj.Err, ErrNotFound)
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok {
			continue
		}
		out = append(out, ObjectVersion{Key: key, VersionID: obj.VersionID, LastModified: obj.LastModified, Size: obj.Size, DeleteMarker: obj.IsDeleteMarker})
	}
	return out, nil
}

// GetVersion reads one version of an object.
func (s *S3) GetVersion(ctx context.Context, key, versionID string) ([]byte, error) {
	obj, err := s.core.Client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return nil, s.mapErr(ctx, "get version", key, err, ErrNotFound)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.mapErr(ctx, "get version", key, err, ErrNotFound)
	}
	return data, nil
}
