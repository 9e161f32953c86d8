package engine

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// opKind is the kind of one batch operation. The values are part of the WAL
// format.
type opKind uint8

const (
	opDelete      opKind = 0
	opSet         opKind = 1
	opDeleteRange opKind = 2
)

// op is one operation of a batch. For opDeleteRange, value holds the
// exclusive end key.
type op struct {
	kind   opKind
	key    []byte
	value  []byte
	expiry int64 // Unix milliseconds; 0 never expires
}

// Batch is a set of operations applied atomically: after a crash either all
// of them are visible or none. Operations get consecutive sequence numbers
// in the order they were added, so a later operation in a batch wins over an
// earlier one on the same key. A Batch must not be modified after it has
// been passed to Write or Submit.
type Batch struct {
	ops  []op
	size int
	// chunk is where add copies keys and values: a few shared allocations
	// per batch instead of two per operation, which the memtable keeps
	// alive until it is flushed and the garbage collector must trace.
	chunk []byte
}

const (
	batchChunkMin = 256
	batchChunkMax = 64 << 10
)

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

// Set writes key = value with no expiry.
func (b *Batch) Set(key, value []byte) { b.add(op{kind: opSet, key: key, value: value}) }

// SetWithExpiry writes key = value, visible until expiresAt. A zero time
// means no expiry. Expiry has millisecond resolution.
func (b *Batch) SetWithExpiry(key, value []byte, expiresAt time.Time) {
	b.add(op{kind: opSet, key: key, value: value, expiry: expiryMillis(expiresAt)})
}

// expiryMillis is an operation's expiry: Unix milliseconds, 0 for never.
func expiryMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

// SetDeferred adds key = value, visible until expiresAt (zero: no expiry),
// for a value of n bytes that the caller writes into the returned slice
// before it submits the batch. A value built elsewhere is copied into the
// batch; one built here is written once. The slice belongs to the batch:
// once the batch is submitted it must not change, and like an Iterator's
// values it may be read and retained for as long as the caller likes.
func (b *Batch) SetDeferred(key []byte, n int, expiresAt time.Time) []byte {
	key = b.copyBytes(key)
	value := b.alloc(n)
	b.ops = append(b.ops, op{kind: opSet, key: key, value: value, expiry: expiryMillis(expiresAt)})
	b.size += len(key) + n + 16
	return value
}

// Delete removes key.
func (b *Batch) Delete(key []byte) { b.add(op{kind: opDelete, key: key}) }

// DeleteRange removes every key k with start <= k < end.
func (b *Batch) DeleteRange(start, end []byte) {
	b.add(op{kind: opDeleteRange, key: start, value: end})
}

func (b *Batch) add(o op) {
	o.key = b.copyBytes(o.key)
	o.value = b.copyBytes(o.value)
	b.ops = append(b.ops, o)
	b.size += len(o.key) + len(o.value) + 16
}

// copyBytes copies p into the batch's current chunk (nil stays nil). Chunks
// double from batchChunkMin to batchChunkMax, so a small batch keeps
// little memory alive and at most about half of a chunk is wasted; a large
// value gets an allocation of its own. The copy's capacity ends at its
// length, so no append can reach the next copy.
func (b *Batch) copyBytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	dst := b.alloc(len(p))
	copy(dst, p)
	return dst
}

// alloc returns n bytes of the batch's memory that no other operation
// shares, from the current chunk or, when large, an allocation of its own.
func (b *Batch) alloc(n int) []byte {
	if n > batchChunkMax/4 {
		return make([]byte, n)
	}
	if cap(b.chunk)-len(b.chunk) < n {
		size := min(max(2*cap(b.chunk), batchChunkMin, 2*n), batchChunkMax)
		b.chunk = make([]byte, 0, size)
	}
	off := len(b.chunk)
	b.chunk = b.chunk[:off+n]
	return b.chunk[off : off+n : off+n]
}

// Len is the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Size approximates the encoded size in bytes.
func (b *Batch) Size() int { return b.size }

// Reset empties the batch for reuse.
// The chunk is not reused: writes already submitted still point into it.
func (b *Batch) Reset() { b.ops, b.size, b.chunk = b.ops[:0], 0, nil }

// maxKeyLen bounds keys so that an SST index entry stays small.
const maxKeyLen = 64 << 10

// ErrInvalidBatch wraps every validation failure.
var ErrInvalidBatch = errors.New("engine: invalid batch")

func (b *Batch) validate() error {
	if len(b.ops) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidBatch)
	}
	for i, o := range b.ops {
		if len(o.key) == 0 {
			return fmt.Errorf("%w: operation %d has an empty key", ErrInvalidBatch, i)
		}
		if len(o.key) > maxKeyLen {
			return fmt.Errorf("%w: operation %d key is %d bytes (limit %d)", ErrInvalidBatch, i, len(o.key), maxKeyLen)
		}
		if o.kind == opDeleteRange && bytes.Compare(o.key, o.value) >= 0 {
			return fmt.Errorf("%w: operation %d deletes an empty or inverted range", ErrInvalidBatch, i)
		}
		if o.expiry < 0 {
			return fmt.Errorf("%w: operation %d has a negative expiry", ErrInvalidBatch, i)
		}
	}
	return nil
}
