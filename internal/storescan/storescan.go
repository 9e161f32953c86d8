// Package storescan looks for byte strings in everything an object store
// holds, for tests that check what reaches storage (records encrypted at
// rest must leave no plaintext there). Each object is searched as stored
// and, for tables, also entry by entry after decoding, because a table
// compresses its blocks and a compressed block need not contain a string
// of its input literally.
package storescan

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// Find returns, for each needle found, where: "<needle> in <object key>"
// for a raw match, "<needle> in <object key> (decoded)" for a match only in
// a table's decoded entries.
func Find(ctx context.Context, store objstore.Store, needles [][]byte) ([]string, error) {
	objs, err := store.List(ctx, "", "", 0)
	if err != nil {
		return nil, fmt.Errorf("storescan: list: %w", err)
	}
	var found []string
	for _, o := range objs {
		data, _, err := store.Get(ctx, o.Key)
		if err != nil {
			return nil, fmt.Errorf("storescan: get %s: %w", o.Key, err)
		}
		raw := make([]bool, len(needles))
		for i, n := range needles {
			if bytes.Contains(data, n) {
				raw[i] = true
				found = append(found, fmt.Sprintf("%s in %s", n, o.Key))
			}
		}
		if !strings.HasPrefix(o.Key, "sst/") {
			continue
		}
		decoded, err := tableContains(ctx, data, needles)
		if err != nil {
			return nil, fmt.Errorf("storescan: table %s: %w", o.Key, err)
		}
		for i, n := range needles {
			if decoded[i] && !raw[i] {
				found = append(found, fmt.Sprintf("%s in %s (decoded)", n, o.Key))
			}
		}
	}
	return found, nil
}

// tableContains reports which needles occur in a key or value of a table.
func tableContains(ctx context.Context, data []byte, needles [][]byte) ([]bool, error) {
	r, err := sst.Open(ctx, memObject(data), sst.ReaderOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(needles))
	it := r.NewIter(ctx)
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		for i, n := range needles {
			if bytes.Contains(it.Key().User, n) || bytes.Contains(it.Value(), n) {
				out[i] = true
			}
		}
	}
	return out, it.Err()
}

// memObject is a table already read whole.
type memObject []byte

func (m memObject) Size() int64 { return int64(len(m)) }

func (m memObject) ReadAt(_ context.Context, offset, length int64) ([]byte, error) {
	end := min(offset+length, int64(len(m)))
	if offset > end {
		return nil, nil
	}
	return m[offset:end], nil
}

func (m memObject) ReadInto(_ context.Context, offset int64, bufs [][]byte) error {
	for _, b := range bufs {
		if offset+int64(len(b)) > int64(len(m)) {
			return objstore.ErrShortObject
		}
		copy(b, m[offset:])
		offset += int64(len(b))
	}
	return nil
}
