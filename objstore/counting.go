package objstore

import (
	"context"
	"sync/atomic"
)

// Counting wraps a Store and counts requests, errors and bytes per
// operation, so benchmarks can report what a workload would cost on a
// request-billed object store. Put it directly around the real store (under
// any Retrying wrapper) so that every attempt is counted. A List call counts
// as one request although S3 pages through 1000 keys per request.
type Counting struct {
	inner                                                  Store
	get, getRange, put, putIfAbsent, putIfMatch, del, list opCounter
}

var _ Store = (*Counting)(nil)

// OpStats counts one kind of operation. Requests includes failed ones.
// Bytes is payload read (Get, GetRange) or written (puts) by successful
// calls; for List it is the number of objects returned.
type OpStats struct {
	Requests int64
	Errors   int64
	Bytes    int64
}

// CountingStats is a snapshot of a Counting's counters.
type CountingStats struct {
	Get, GetRange, Put, PutIfAbsent, PutIfMatch, Delete, List OpStats
}

// Total sums requests, errors and bytes over all operations.
func (s CountingStats) Total() OpStats {
	var t OpStats
	for _, o := range []OpStats{s.Get, s.GetRange, s.Put, s.PutIfAbsent, s.PutIfMatch, s.Delete, s.List} {
		t.Requests += o.Requests
		t.Errors += o.Errors
		t.Bytes += o.Bytes
	}
	return t
}

// Sub returns the counts accumulated since the earlier snapshot prev.
func (s CountingStats) Sub(prev CountingStats) CountingStats {
	sub := func(a, b OpStats) OpStats {
		return OpStats{Requests: a.Requests - b.Requests, Errors: a.Errors - b.Errors, Bytes: a.Bytes - b.Bytes}
	}
	return CountingStats{
		Get:         sub(s.Get, prev.Get),
		GetRange:    sub(s.GetRange, prev.GetRange),
		Put:         sub(s.Put, prev.Put),
		PutIfAbsent: sub(s.PutIfAbsent, prev.PutIfAbsent),
		PutIfMatch:  sub(s.PutIfMatch, prev.PutIfMatch),
		Delete:      sub(s.Delete, prev.Delete),
		List:        sub(s.List, prev.List),
	}
}

type opCounter struct {
	requests, errors, bytes atomic.Int64
}

func (c *opCounter) record(n int, err error) {
	c.requests.Add(1)
	if err != nil {
		c.errors.Add(1)
		return
	}
	c.bytes.Add(int64(n))
}

func (c *opCounter) load() OpStats {
	return OpStats{Requests: c.requests.Load(), Errors: c.errors.Load(), Bytes: c.bytes.Load()}
}

// NewCounting returns a counting wrapper around inner.
func NewCounting(inner Store) *Counting { return &Counting{inner: inner} }

// Stats returns the current counts. Each counter is read atomically; the
// snapshot as a whole is not, which is fine for reporting.
func (c *Counting) Stats() CountingStats {
	return CountingStats{
		Get:         c.get.load(),
		GetRange:    c.getRange.load(),
		Put:         c.put.load(),
		PutIfAbsent: c.putIfAbsent.load(),
		PutIfMatch:  c.putIfMatch.load(),
		Delete:      c.del.load(),
		List:        c.list.load(),
	}
}

func (c *Counting) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, err := c.inner.Get(ctx, key)
	c.get.record(len(data), err)
	return data, etag, err
}

func (c *Counting) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	data, err := c.inner.GetRange(ctx, key, offset, length)
	c.getRange.record(len(data), err)
	return data, err
}

func (c *Counting) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	err := c.inner.GetRangeInto(ctx, key, offset, bufs)
	n := 0
	if err == nil {
		for _, b := range bufs {
			n += len(b)
		}
	}
	c.getRange.record(n, err)
	return err
}

func (c *Counting) Put(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := c.inner.Put(ctx, key, data)
	c.put.record(len(data), err)
	return etag, err
}

func (c *Counting) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := c.inner.PutIfAbsent(ctx, key, data)
	c.putIfAbsent.record(len(data), err)
	return etag, err
}

func (c *Counting) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	newETag, err := c.inner.PutIfMatch(ctx, key, data, etag)
	c.putIfMatch.record(len(data), err)
	return newETag, err
}

func (c *Counting) Delete(ctx context.Context, key string) error {
	err := c.inner.Delete(ctx, key)
	c.del.record(0, err)
	return err
}

func (c *Counting) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	infos, err := c.inner.List(ctx, prefix, startAfter, limit)
	c.list.record(len(infos), err)
	return infos, err
}
