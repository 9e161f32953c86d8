package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
)

// Memory accounting (DESIGN.md, "Memory budget"). Every request draws the
// memory it holds from the server's budget through a lease that serveHTTP
// opens and closes: body buffers as the bytes arrive (never the announced
// length), decoded append inputs, S2S frames until their ack, read-session
// buffers. A lease that cannot grow fails the request with 429
// rate_limited before the memory is allocated.

type leaseKey struct{}

// requestLease is the lease of the request being served (nil without a
// budget).
func requestLease(r *http.Request) *membudget.Lease {
	l, _ := r.Context().Value(leaseKey{}).(*membudget.Lease)
	return l
}

func withLease(ctx context.Context, l *membudget.Lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

// decodedOverhead is what a decoded record costs beyond its metered bytes
// (the record and header structs, slice headers).
const decodedOverhead = 128

// decodedSize is the memory a decoded append input holds, for the budget:
// JSON decoding copies bodies and headers out of the request body, and
// protobuf decoding is charged the same so that one rule covers both.
func decodedSize(in stream.AppendInput, metered uint64) int64 {
	return int64(metered) + int64(len(in.Records))*decodedOverhead
}

const (
	// readSessionMemory is charged when a read session opens: its
	// goroutines, HTTP/2 stream buffers and decoder state.
	readSessionMemory = 64 << 10
	// readBatchMemory is reserved before a catch-up read: a batch is at
	// most 1 MiB of metered bytes, plus its records' structs.
	readBatchMemory = 1<<20 + 1000*decodedOverhead
	// readMemoryWait is how long a session waits for memory before it
	// ends with rate_limited.
	readMemoryWait = 10 * time.Second
	// keptFollowBuffer: a following session gives back a buffer larger
	// than this.
	keptFollowBuffer = 256 << 10
)

// batchMemory is what a read batch holds.
func batchMemory(b stream.ReadBatch) int64 {
	var n int64
	for _, r := range b.Records {
		n += int64(r.MeteredBytes()) + decodedOverhead
	}
	return n
}

// admitReadSession counts a read session in against the cap on open
// sessions and opens the lease its buffers draw from: the read-session
// budget when there is one (so that readers, however many or slow, cannot
// take the memory appends need), else the request's. release counts the
// session out and returns its memory.
func (s *Server) admitReadSession(r *http.Request) (lease *membudget.Lease, release func(), err *apiError) {
	limit := int64(s.opts.MaxReadSessions)
	if limit == 0 {
		limit = defaultMaxReadSessions
	}
	if n := s.readSessions.Add(1); limit > 0 && n > limit {
		s.readSessions.Add(-1)
		return nil, nil, newAPIError(http.StatusTooManyRequests, codeRateLimited,
			fmt.Sprintf("too many open read sessions (the limit is %d); retry later", limit))
	}
	lease = requestLease(r)
	own := s.opts.ReadMemory != nil
	if own {
		lease = s.opts.ReadMemory.NewLease()
	}
	release = func() {
		if own {
			lease.Close()
		}
		s.readSessions.Add(-1)
	}
	if lease.Grow(readSessionMemory) != nil {
		release()
		return nil, nil, outOfMemory()
	}
	return lease, release, nil
}
