// Package objstore hides where bytes live. The engine talks to one small
// interface, Store, and three implementations provide it: S3-compatible
// object stores (through minio-go), a local directory, and memory.
//
// The interface is deliberately narrow: whole-object puts (plain and
// conditional), whole and ranged gets (a ranged get can fill the caller's
// buffers), deletes, and listing by prefix. The conditional puts are what
// the engine's fencing is built on, so every implementation must make them
// atomic: of several racing PutIfAbsent calls for one key exactly one
// succeeds.
package objstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the object does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// ErrPreconditionFailed is returned when a conditional put loses: the key
// already exists (PutIfAbsent), or its ETag is not the expected one or the
// object is missing (PutIfMatch). It is never retried blindly: after a
// transient error and a retry, the first attempt may have been the one that
// succeeded, so callers resolve it by reading the object back.
var ErrPreconditionFailed = errors.New("objstore: precondition failed")

// ErrShortObject is returned by GetRangeInto when the object ends before
// the buffers are full. It is not transient: the object is what it is.
var ErrShortObject = errors.New("objstore: object ends before the range")

// ObjectInfo describes one listed object.
type ObjectInfo struct {
	Key  string
	Size int64
	ETag string // may be empty where computing it would mean reading the object
	// LastModified is when the object was last written. Garbage collection
	// uses it to leave young objects alone.
	LastModified time.Time
}

// Store is an object store. Keys are slash-separated paths relative to the
// store's root (an S3 store adds its own bucket and path prefix). All methods
// are safe for concurrent use.
type Store interface {
	// Get returns the whole object and its ETag.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// GetRange returns length bytes starting at offset. Reading past the end
	// returns the bytes that exist.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
	// GetRangeInto fills bufs, in order, with the object's bytes from
	// offset on, in one ranged read whose body lands straight in the
	// caller's buffers: a reader that splits what it reads (a table's
	// blocks) then needs no copy of it. An object that ends before the
	// buffers are full is ErrShortObject. After an error the buffers'
	// contents are undefined.
	GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error
	// Put writes the object unconditionally and returns its new ETag.
	Put(ctx context.Context, key string, data []byte) (etag string, err error)
	// PutIfAbsent writes the object only if no object exists at key
	// (If-None-Match: *). It returns ErrPreconditionFailed otherwise.
	PutIfAbsent(ctx context.Context, key string, data []byte) (etag string, err error)
	// PutIfMatch writes the object only if its current ETag equals etag
	// (If-Match). A missing object is ErrPreconditionFailed too.
	PutIfMatch(ctx context.Context, key string, data []byte, etag string) (newETag string, err error)
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns objects whose keys start with prefix and sort strictly
	// after startAfter, in lexicographic order, at most limit of them
	// (limit <= 0 means no limit).
	List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error)
}
