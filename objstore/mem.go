package objstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store kept in process memory, for tests and benchmarks. ETags
// are the hex MD5 of the content, as S3 gives for single-part uploads. Data
// is copied in and out, so callers may reuse their buffers.
type Memory struct {
	mu      sync.RWMutex
	objects map[string]memObject
}

type memObject struct {
	data    []byte
	etag    string
	written time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{objects: make(map[string]memObject)}
}

func md5Hex(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

func newMemObject(data []byte) memObject {
	return memObject{data: slices.Clone(data), etag: md5Hex(data), written: time.Now()}
}

// Get returns a copy of the object and its ETag.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, string, error) {
	if err := checkKey(key); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("objstore: get %q: %w", key, ErrNotFound)
	}
	// The stored slice is never modified in place, so copying outside the
	// lock is safe.
	return clone(obj.data), obj.etag, nil
}

// GetRange returns a copy of up to length bytes starting at offset.
func (m *Memory) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkRange(offset, length); err != nil {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, ErrNotFound)
	}
	return clone(sliceRange(obj.data, offset, length)), nil
}

// GetRangeInto copies the range into bufs.
func (m *Memory) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	n, err := rangeInto(offset, bufs)
	if err != nil {
		return fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("objstore: get range %q: %w", key, ErrNotFound)
	case int64(len(obj.data)) < offset+n:
		return fmt.Errorf("objstore: get range %q: %d bytes at %d of %d: %w", key, n, offset, len(obj.data), ErrShortObject)
	}
	fill(bufs, obj.data[offset:])
	return nil
}

// Put stores a copy of data at key.
func (m *Memory) Put(ctx context.Context, key string, data []byte) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	obj := newMemObject(data)
	m.mu.Lock()
	m.objects[key] = obj
	m.mu.Unlock()
	return obj.etag, nil
}

// PutIfAbsent stores a copy of data only if key is not present.
func (m *Memory) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	obj := newMemObject(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok {
		return "", fmt.Errorf("objstore: put if absent %q: %w", key, ErrPreconditionFailed)
	}
	m.objects[key] = obj
	return obj.etag, nil
}

// PutIfMatch stores a copy of data only if the current ETag is etag.
func (m *Memory) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	obj := newMemObject(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.objects[key]
	if !ok || cur.etag != etag {
		return "", fmt.Errorf("objstore: put if match %q: %w", key, ErrPreconditionFailed)
	}
	m.objects[key] = obj
	return obj.etag, nil
}

// Delete removes key; a missing key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

// List returns the objects under prefix after startAfter, sorted by key.
func (m *Memory) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []ObjectInfo
	m.mu.RLock()
	for k, obj := range m.objects {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(obj.data)), ETag: obj.etag, LastModified: obj.written})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	if limit > 0 && len(out) > limit {
		out = out[:limit:limit]
	}
	return out, nil
}

// clone copies b, returning an empty non-nil slice for empty input so that
// callers never have to tell nil from empty.
func clone(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// rangeInto checks a GetRangeInto request and returns its total length.
func rangeInto(offset int64, bufs [][]byte) (int64, error) {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n, checkRange(offset, n)
}

// fill copies data, which must hold at least as much as bufs, into bufs.
func fill(bufs [][]byte, data []byte) {
	for _, b := range bufs {
		data = data[copy(b, data):]
	}
}

// checkRange rejects ranges no store can serve.
func checkRange(offset, length int64) error {
	if offset < 0 || length < 0 {
		return fmt.Errorf("%w: range offset %d length %d", ErrInvalidArgument, offset, length)
	}
	return nil
}

// sliceRange returns data[offset:offset+length] clamped to data's end.
func sliceRange(data []byte, offset, length int64) []byte {
	size := int64(len(data))
	if offset >= size {
		return data[:0]
	}
	end := size
	if length < size-offset {
		end = offset + length
	}
	return data[offset:end]
}
