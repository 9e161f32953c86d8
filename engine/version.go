package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/s2lite/s2lite/compaction"
	"sync"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// version is an immutable view of the tree for readers: a manifest and open
// handles for its tables.
type version struct {
	m       *manifest.Manifest
	l0      []*tableHandle   // newest first
	l0Depth int              // compaction.L0Depth of m.L0
	levels  [][]*tableHandle // sorted runs, newest first
}

// tableHandle opens a table's reader lazily (one ranged GET for its
// metadata) and keeps it for every version that references the table.
type tableHandle struct {
	meta    manifest.Table
	objs    objstore.Store
	cache   *sst.Cache
	cacheID uint64

	mu     sync.Mutex
	reader *sst.Reader
	tomb   *tombstones
}

func (t *tableHandle) open(ctx context.Context) (*sst.Reader, *tombstones, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reader != nil {
		return t.reader, t.tomb, nil
	}
	obj := &tableObject{objs: t.objs, key: t.meta.ObjectKey(), size: t.meta.Size}
	r, err := sst.Open(ctx, obj, sst.ReaderOptions{Cache: t.cache, CacheID: t.cacheID})
	if err != nil {
		// Not cached: a transient failure must not poison the handle.
		return nil, nil, fmt.Errorf("open table %s: %w", obj.key, err)
	}
	t.reader, t.tomb = r, newTombstones(r.RangeDels())
	return r, t.tomb, nil
}

// tableObject adapts an object store key to sst.ReadableObject.
type tableObject struct {
	objs objstore.Store
	key  string
	size int64
}

func (o *tableObject) Size() int64 { return o.size }

func (o *tableObject) ReadAt(ctx context.Context, offset, length int64) ([]byte, error) {
	return o.objs.GetRange(ctx, o.key, offset, length)
}

func (o *tableObject) ReadInto(ctx context.Context, offset int64, bufs [][]byte) error {
	err := o.objs.GetRangeInto(ctx, o.key, offset, bufs)
	if errors.Is(err, objstore.ErrShortObject) {
		// The table is shorter than its manifest entry says.
		return fmt.Errorf("%w: %w", sst.ErrCorrupt, err)
	}
	return err
}

// tableSet shares handles across versions so that readers and block cache
// identities survive manifest changes.
type tableSet struct {
	objs   objstore.Store
	cache  *sst.Cache
	mu     sync.Mutex
	byKey  map[string]*tableHandle
	nextID uint64
}

func newTableSet(objs objstore.Store, cache *sst.Cache) *tableSet {
	return &tableSet{objs: objs, cache: cache, byKey: map[string]*tableHandle{}}
}

func (s *tableSet) handle(t manifest.Table) *tableHandle {
	key := t.ObjectKey()
	if h, ok := s.byKey[key]; ok {
		return h
	}
	s.nextID++
	h := &tableHandle{meta: t, objs: s.objs, cache: s.cache, cacheID: s.nextID}
	s.byKey[key] = h
	return h
}

// version builds the read view of m, dropping handles m no longer uses.
func (s *tableSet) version(m *manifest.Manifest) *version {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &version{m: m, l0Depth: compaction.L0Depth(m.L0)}
	live := map[string]bool{}
	for _, t := range m.L0 {
		v.l0 = append(v.l0, s.handle(t))
		live[t.ObjectKey()] = true
	}
	for _, run := range m.Levels {
		hs := make([]*tableHandle, len(run))
		for i, t := range run {
			hs[i] = s.handle(t)
			live[t.ObjectKey()] = true
		}
		v.levels = append(v.levels, hs)
	}
	for k := range s.byKey {
		if !live[k] {
			delete(s.byKey, k)
		}
	}
	return v
}
