package usage

import (
	"context"
	"math/bits"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/s2lite/s2lite/objstore"
)

// Object-store cost metrics (s2lite extensions; see DESIGN.md, "Usage
// metrics"). Each has one series per object class.
const (
	MetricStoragePuts         = "storage-puts"
	MetricStorageGets         = "storage-gets"
	MetricStorageBytesWritten = "storage-bytes-written"
	MetricStorageBytesRead    = "storage-bytes-read"

	LabelWAL   = "wal"   // write-ahead log objects (wal/)
	LabelTable = "table" // SSTs, written by flushes and compactions (sst/)
	LabelOther = "other" // manifests, checkpoints, anything else
)

// StorageClasses are the labels of the storage metrics, in class order.
var StorageClasses = []string{LabelWAL, LabelTable, LabelOther}

const (
	classWAL = iota
	classTable
	classOther
	numClasses
)

func classOf(key string) int {
	switch {
	case strings.HasPrefix(key, "wal/"):
		return classWAL
	case strings.HasPrefix(key, "sst/"):
		return classTable
	}
	return classOther
}

// StorageCounts are cumulative object-store requests and bytes by object
// class (indexed like StorageClasses). Requests include failed ones (a
// store bills them too); bytes are those of successful requests.
type StorageCounts struct {
	Puts, Gets, BytesWritten, BytesRead [numClasses]uint64
}

func (c StorageCounts) sub(p StorageCounts) StorageCounts {
	var d StorageCounts
	for i := range numClasses {
		// A source that went backwards (restarted) counts from zero.
		d.Puts[i] = subFloor(c.Puts[i], p.Puts[i])
		d.Gets[i] = subFloor(c.Gets[i], p.Gets[i])
		d.BytesWritten[i] = subFloor(c.BytesWritten[i], p.BytesWritten[i])
		d.BytesRead[i] = subFloor(c.BytesRead[i], p.BytesRead[i])
	}
	return d
}

func subFloor(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return a - b
}

// StorageMeter wraps an object store and counts its PUTs and GETs (and
// their bytes) by object class: the source of Options.StorageCounts. Put
// it directly around the real store, under any retrying wrapper, so that
// every attempt is counted. Deletes and lists are not counted.
type StorageMeter struct {
	inner                     objstore.Store
	puts, gets, written, read [numClasses]atomic.Uint64
}

var _ objstore.Store = (*StorageMeter)(nil)

// NewStorageMeter returns a meter around inner.
func NewStorageMeter(inner objstore.Store) *StorageMeter { return &StorageMeter{inner: inner} }

// Counts returns the cumulative counts.
func (m *StorageMeter) Counts() StorageCounts {
	var c StorageCounts
	for i := range numClasses {
		c.Puts[i], c.Gets[i] = m.puts[i].Load(), m.gets[i].Load()
		c.BytesWritten[i], c.BytesRead[i] = m.written[i].Load(), m.read[i].Load()
	}
	return c
}

func (m *StorageMeter) put(key string, n int, err error) {
	c := classOf(key)
	m.puts[c].Add(1)
	if err == nil {
		m.written[c].Add(uint64(n))
	}
}

func (m *StorageMeter) get(key string, n int, err error) {
	c := classOf(key)
	m.gets[c].Add(1)
	if err == nil {
		m.read[c].Add(uint64(n))
	}
}

func (m *StorageMeter) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, err := m.inner.Get(ctx, key)
	m.get(key, len(data), err)
	return data, etag, err
}

func (m *StorageMeter) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	data, err := m.inner.GetRange(ctx, key, offset, length)
	m.get(key, len(data), err)
	return data, err
}

func (m *StorageMeter) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	err := m.inner.GetRangeInto(ctx, key, offset, bufs)
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	m.get(key, n, err)
	return err
}

func (m *StorageMeter) Put(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := m.inner.Put(ctx, key, data)
	m.put(key, len(data), err)
	return etag, err
}

func (m *StorageMeter) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := m.inner.PutIfAbsent(ctx, key, data)
	m.put(key, len(data), err)
	return etag, err
}

func (m *StorageMeter) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	newETag, err := m.inner.PutIfMatch(ctx, key, data, etag)
	m.put(key, len(data), err)
	return newETag, err
}

func (m *StorageMeter) Delete(ctx context.Context, key string) error {
	return m.inner.Delete(ctx, key)
}

func (m *StorageMeter) List(ctx context.Context, prefix, startAfter string, limit int) ([]objstore.ObjectInfo, error) {
	return m.inner.List(ctx, prefix, startAfter, limit)
}

// StorageUse is a basin's attributed object-store use since the recorder
// opened (the Prometheus counters).
type StorageUse struct {
	Puts, Gets, BytesWritten, BytesRead uint64
}

// BasinStorage returns every basin's attributed object-store use since
// the recorder opened (not since the metrics began: for the API's sets,
// use Accumulations).
func (r *Recorder) BasinStorage() map[string]StorageUse {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]StorageUse, len(r.basinStorage))
	for b, u := range r.basinStorage {
		out[b] = *u
	}
	return out
}

// attributeStorage splits the object-store use since the last call
// across basins (see DESIGN.md, "Usage metrics"): writes (PUTs and bytes
// written, of every class) in proportion to each basin's appended bytes
// in the period, reads (GETs and bytes read) in proportion to its read
// bytes. What a period cannot attribute (no appends, or no reads) goes to
// the account scope ("") as unattributed.
func (r *Recorder) attributeStorage(now int64) {
	if r.opts.StorageCounts == nil {
		return
	}
	cur := r.opts.StorageCounts()
	r.mu.Lock()
	defer r.mu.Unlock()
	d := cur.sub(r.lastCounts)
	r.lastCounts = cur
	appended, read := r.periodAppended, r.periodRead
	r.periodAppended, r.periodRead = map[string]uint64{}, map[string]uint64{}
	use := func(basin string) *StorageUse {
		u := r.basinStorage[basin]
		if u == nil {
			u = &StorageUse{}
			r.basinStorage[basin] = u
		}
		return u
	}
	for c, label := range StorageClasses {
		for _, q := range []struct {
			metric  string
			total   uint64
			weights map[string]uint64
			field   func(*StorageUse) *uint64
		}{
			{MetricStoragePuts, d.Puts[c], appended, func(u *StorageUse) *uint64 { return &u.Puts }},
			{MetricStorageBytesWritten, d.BytesWritten[c], appended, func(u *StorageUse) *uint64 { return &u.BytesWritten }},
			{MetricStorageGets, d.Gets[c], read, func(u *StorageUse) *uint64 { return &u.Gets }},
			{MetricStorageBytesRead, d.BytesRead[c], read, func(u *StorageUse) *uint64 { return &u.BytesRead }},
		} {
			sk := seriesKey{q.metric, label}
			shares := split(q.total, q.weights)
			if shares == nil {
				r.addLocked(now, "", sk, q.total) // unattributed
				continue
			}
			for basin, n := range shares {
				r.addLocked(now, basin, sk, n)
				*q.field(use(basin)) += n
			}
		}
	}
}

// split divides total among the keys of weights in proportion to their
// weights, in whole units that sum to total: each gets the floor of its
// exact share, and what is left (fewer units than keys) goes one each to
// the largest remainders, ties to the smaller name. It returns nil when
// total is 0 or the weights sum to 0.
func split(total uint64, weights map[string]uint64) map[string]uint64 {
	var sum uint64
	for _, w := range weights {
		sum += w
	}
	if total == 0 || sum == 0 {
		return nil
	}
	type share struct {
		name   string
		q, rem uint64
	}
	shares := make([]share, 0, len(weights))
	var given uint64
	for name, w := range weights {
		if w == 0 {
			continue
		}
		hi, lo := bits.Mul64(total, w)
		q, rem := bits.Div64(hi, lo, sum) // hi < sum because w <= sum
		shares = append(shares, share{name, q, rem})
		given += q
	}
	sort.Slice(shares, func(i, j int) bool {
		if shares[i].rem != shares[j].rem {
			return shares[i].rem > shares[j].rem
		}
		return shares[i].name < shares[j].name
	})
	out := make(map[string]uint64, len(shares))
	for i, s := range shares {
		if uint64(i) < total-given {
			s.q++
		}
		if s.q > 0 {
			out[s.name] = s.q
		}
	}
	return out
}
