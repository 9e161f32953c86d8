package stream

import (
	"bytes"
	"context"

	"github.com/s2lite/s2lite/engine"
)

// maxListLimit is the page size cap of list operations (API 2.4).
const maxListLimit = 1000

// listKeys visits, in key order, the names under namespace that start with
// req.Prefix and sort strictly after req.StartAfter, at most the request's
// limit of them, and reports whether more exist.
func (s *Service) listKeys(ctx context.Context, namespace []byte, req ListRequest, visit func(name string, value []byte) error) (hasMore bool, err error) {
	limit := req.Limit
	if limit <= 0 || limit > maxListLimit {
		limit = maxListLimit
	}
	lower := append(bytes.Clone(namespace), req.Prefix...)
	upper := prefixEnd(lower)
	start := lower
	if after := append(append(bytes.Clone(namespace), req.StartAfter...), 0); bytes.Compare(after, start) > 0 {
		start = after
	}
	it, err := s.db.NewIter(ctx, &engine.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return false, storageError("list", err)
	}
	defer it.Close()
	n := 0
	for ok := it.SeekGE(start); ok; ok = it.Next() {
		if n == limit {
			return true, nil
		}
		if err := visit(string(it.Key()[len(namespace):]), it.Value()); err != nil {
			return false, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return false, storageError("list", err)
	}
	return false, nil
}
