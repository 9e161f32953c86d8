// Package crashtest proves the engine's promise with real process deaths:
// a write is acknowledged only once it is durable, no acknowledged write is
// lost whatever the moment of a crash, failed writes are errors and never
// acknowledgements, and no unacknowledged batch is ever partially visible.
//
// A worker process (./worker) writes batches with several concurrent writers
// and prints one line per acknowledged batch. The tests in this package (run
// by `make fault-test`, which rewrites the failpoint markers in engine and
// objstore first) kill the worker at a chosen failpoint or at a random time,
// then open the same store in-process and check every acknowledgement
// against what recovery produced. The storage-fault tests inject object
// store errors, lost replies, timeouts and a MinIO restart into a live
// engine. README.md in this directory describes every case.
//
// This file holds what the worker and the tests share: the batch naming
// scheme, the values, and how a store is named on the command line.
package crashtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// Bucket is the bucket S3 stores live in (the one internal/s3test uses).
const Bucket = "s2lite-test"

// AckPrefix starts every acknowledgement line the worker prints.
const AckPrefix = "ack "

// BatchID names the seq-th batch of a writer in a worker run. IDs sort by
// run, then writer, then seq, and never repeat on one store as long as each
// run has its own number.
func BatchID(run, writer, seq int) string {
	return fmt.Sprintf("r%04d-w%02d-%06d", run, writer, seq)
}

// BatchSize is how many keys batch id holds: 2 or 3, derived from the id so
// that a checker knows a complete batch when it sees one.
func BatchSize(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return 2 + int(h.Sum32()%2)
}

// BatchKey is the i-th key of batch id. The keys of a batch are adjacent in
// key order.
func BatchKey(id string, i int) string { return id + "/" + strconv.Itoa(i) }

// ParseKey splits a key written by BatchKey.
func ParseKey(key string) (id string, i int, ok bool) {
	id, n, found := strings.Cut(key, "/")
	if !found {
		return "", 0, false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || i >= BatchSize(id) {
		return "", 0, false
	}
	return id, i, true
}

// Value is the value stored under key: the key itself and pseudo-random
// bytes derived from it, so any mix-up between keys, batches or runs shows
// as a wrong value.
func Value(key string, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64() | 1
	v := make([]byte, 0, len(key)+1+size)
	v = append(v, key...)
	v = append(v, '=')
	for range size {
		// xorshift64: cheap and deterministic.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v = append(v, 'a'+byte(x%26))
	}
	return v
}

// ValueSize is the size of the random part of a value for key: 50 to 400
// bytes, so memtables fill and flush often.
func ValueSize(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return 50 + int(h.Sum32()%351)
}

// NewBatch builds batch id.
func NewBatch(id string) *engine.Batch {
	b := engine.NewBatch()
	for i := range BatchSize(id) {
		k := BatchKey(id, i)
		b.Set([]byte(k), Value(k, ValueSize(k)))
	}
	return b
}

// OpenStore opens the store named by spec: "dir:PATH" for a local
// directory, "s3:PREFIX" for a prefix of Bucket on the S3 endpoint the
// AWS_* variables describe. release frees it.
func OpenStore(ctx context.Context, spec string) (s objstore.Store, release func(), err error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case kind == "dir" && arg != "":
		l, err := objstore.NewLocal(arg)
		if err != nil {
			return nil, nil, err
		}
		return l, func() {}, nil
	case kind == "s3" && arg != "":
		opts := objstore.S3OptionsFromEnv(Bucket, arg)
		if err := objstore.CreateBucket(ctx, opts); err != nil {
			return nil, nil, err
		}
		s3, err := objstore.NewS3(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		return s3, func() { s3.Close() }, nil
	}
	return nil, nil, fmt.Errorf("crashtest: bad store %q: want dir:PATH or s3:PREFIX", spec)
}

// WorkerOptions are the engine options of the worker: tiny memtables and
// tables, frequent compaction and garbage collection with a short minimum
// age, so that a run of a second or two goes through every background step
// that a crash can interrupt.
func WorkerOptions(store objstore.Store) engine.Options {
	return engine.Options{
		Store:                 store,
		MemtableSize:          16 << 10,
		MaxMemtableWALObjects: 24,
		CompactionInterval:    300 * time.Millisecond,
		GCInterval:            250 * time.Millisecond,
		// Well above an upload-to-install time on a loopback store, which
		// is what garbage collection's safety needs (see DESIGN.md).
		GCMinAge: time.Second,
		Table:    sst.WriterOptions{BlockSize: 512},
		// The worker's batches are small; a low gate keeps several WAL
		// PUTs in flight, the states where a crash leaves gaps.
		WALParallelBytes: 1 << 10,
	}
}

// IsFinal reports whether a write error means the worker should stop
// writing: the engine is closed or fenced.
func IsFinal(err error) bool {
	return errors.Is(err, engine.ErrClosed) || errors.Is(err, engine.ErrFenced)
}
