package usage

import (
	"context"
	"fmt"

	"github.com/s2lite/s2lite/engine"
)

// EngineStore keeps the recorder's state in an engine.DB under m/.
type EngineStore struct{ DB *engine.DB }

// Scan implements Store.
func (s EngineStore) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	end := append([]byte(nil), prefix...)
	end[len(end)-1]++ // prefixes end in '/', never 0xff
	it, err := s.DB.NewIter(ctx, &engine.IterOptions{LowerBound: prefix, UpperBound: end})
	if err != nil {
		return fmt.Errorf("scan %q: %w", prefix, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("scan %q: %w", prefix, err)
	}
	return nil
}

// Write implements Store.
func (s EngineStore) Write(ctx context.Context, b *Batch) error {
	eb := engine.NewBatch()
	for _, op := range b.Ops {
		switch {
		case op.Delete:
			eb.Delete(op.Key)
		case op.ExpiresAt.IsZero():
			eb.Set(op.Key, op.Value)
		default:
			eb.SetWithExpiry(op.Key, op.Value, op.ExpiresAt)
		}
	}
	return s.DB.Write(ctx, eb)
}
