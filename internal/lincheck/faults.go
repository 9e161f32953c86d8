package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/s2lite/s2lite/objstore"
)

// ErrInjected is the error of an injected fault.
var ErrInjected = errors.New("lincheck: injected WAL fault")

// WALFaults is an object store that makes a fraction of WAL writes (keys
// under "wal/") fail: half of them before reaching the store, half after
// the object was written, as when the reply is lost. That second kind is
// what makes an outcome unknown all the way up to the client: the data is
// durable but nobody was told.
type WALFaults struct {
	objstore.Store
	// Transient marks injected errors as transient, so that a retrying
	// store above retries them (and then meets its own object, for faults
	// after the write).
	Transient bool

	mu   sync.Mutex
	rng  *rand.Rand
	rate float64

	Before, After atomic.Int64 // faults injected so far
}

// NewWALFaults wraps inner; no fault is injected until SetRate.
func NewWALFaults(inner objstore.Store, seed uint64) *WALFaults {
	return &WALFaults{Store: inner, rng: rand.New(rand.NewPCG(seed, 0x5741_4c))}
}

// SetRate sets the fraction of WAL writes that fail, from now on.
func (f *WALFaults) SetRate(p float64) {
	f.mu.Lock()
	f.rate = p
	f.mu.Unlock()
}

// pick decides the fate of one write: fail before, fail after, or none.
func (f *WALFaults) pick(key string) (before, after bool) {
	if !strings.HasPrefix(key, "wal/") {
		return false, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.rate {
		return false, false
	}
	if f.rng.IntN(2) == 0 {
		return true, false
	}
	return false, true
}

func (f *WALFaults) fault(op, key string, after bool) error {
	when := "before"
	if after {
		when = "after"
		f.After.Add(1)
	} else {
		f.Before.Add(1)
	}
	err := fmt.Errorf("%s %q: %w (%s the write)", op, key, ErrInjected, when)
	if f.Transient {
		return objstore.Transient(err)
	}
	return err
}

func (f *WALFaults) Put(ctx context.Context, key string, data []byte) (string, error) {
	before, after := f.pick(key)
	if before {
		return "", f.fault("put", key, false)
	}
	etag, err := f.Store.Put(ctx, key, data)
	if err == nil && after {
		return "", f.fault("put", key, true)
	}
	return etag, err
}

func (f *WALFaults) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	before, after := f.pick(key)
	if before {
		return "", f.fault("put if absent", key, false)
	}
	etag, err := f.Store.PutIfAbsent(ctx, key, data)
	if err == nil && after {
		return "", f.fault("put if absent", key, true)
	}
	return etag, err
}

func (f *WALFaults) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	before, after := f.pick(key)
	if before {
		return "", f.fault("put if match", key, false)
	}
	newETag, err := f.Store.PutIfMatch(ctx, key, data, etag)
	if err == nil && after {
		return "", f.fault("put if match", key, true)
	}
	return newETag, err
}
