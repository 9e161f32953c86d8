// Package partition is the on-bucket layout of a partitioned database: which
// basin lives in which partition, where each partition's engine keeps its
// objects, and the layout record that fixes the number of partitions.
//
// A bucket written by a single node is one database at the root of its path.
// Cluster mode adds P partitions, each an ordinary database under "p/<n>/",
// and records P in "cluster/layout.json" the first time it starts. The root
// database stays what it was: it keeps the basins created before (and any
// created later by a single node) and the access tokens. A basin created in
// cluster mode goes to partition Home(basin, P); a basin never moves, so
// moving the ownership of a partition moves no data.
package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/s2lite/s2lite/objstore"
)

// Root is the unit number of the root database.
const Root = -1

// LayoutKey is where the layout record lives, relative to the bucket path.
const LayoutKey = "cluster/layout.json"

// MaxPartitions bounds P: every node lists and may open each partition.
const MaxPartitions = 4096

// Layout is the layout record.
type Layout struct {
	// Partitions is P, fixed for the life of the bucket.
	Partitions int `json:"partitions"`
}

// Units lists the units of the layout: the root, then partitions 0..P-1.
func (l Layout) Units() []int {
	out := make([]int, 0, l.Partitions+1)
	out = append(out, Root)
	for p := range l.Partitions {
		out = append(out, p)
	}
	return out
}

// Prefix is where unit u's database keeps its objects, relative to the
// bucket path: "" for the root, "p/<n>/" for partition n.
func Prefix(u int) string {
	if u == Root {
		return ""
	}
	return "p/" + strconv.Itoa(u) + "/"
}

// Name is how logs and status pages name unit u.
func Name(u int) string {
	if u == Root {
		return "root"
	}
	return "p" + strconv.Itoa(u)
}

// Home is the partition a basin created in cluster mode lives in: FNV-1a of
// the name, modulo P. It must never change for a given P, or basins would
// be looked for where they are not.
func Home(basin string, partitions int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(basin))
	return int(h.Sum64() % uint64(partitions))
}

// ErrBadLayout reports a layout record that cannot be used.
var ErrBadLayout = errors.New("partition: bad layout record")

// Load reads the layout record; ok is false when the bucket has none (it
// was only ever served by a single node).
func Load(ctx context.Context, store objstore.Store) (l Layout, ok bool, err error) {
	data, _, err := store.Get(ctx, LayoutKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return Layout{}, false, nil
	}
	if err != nil {
		return Layout{}, false, fmt.Errorf("partition: read %s: %w", LayoutKey, err)
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return Layout{}, false, fmt.Errorf("%w: %s: %w", ErrBadLayout, LayoutKey, err)
	}
	if l.Partitions < 1 || l.Partitions > MaxPartitions {
		return Layout{}, false, fmt.Errorf("%w: %s: %d partitions", ErrBadLayout, LayoutKey, l.Partitions)
	}
	return l, true, nil
}

// Establish returns the bucket's layout, writing one with the given number
// of partitions if there is none yet. The write is put-if-absent, so nodes
// starting together agree on whichever landed first; a different number
// asked for later is ignored (the record wins).
func Establish(ctx context.Context, store objstore.Store, partitions int) (Layout, error) {
	if l, ok, err := Load(ctx, store); err != nil || ok {
		return l, err
	}
	if partitions < 1 || partitions > MaxPartitions {
		return Layout{}, fmt.Errorf("%w: %d partitions (1 to %d)", ErrBadLayout, partitions, MaxPartitions)
	}
	data, err := json.Marshal(Layout{Partitions: partitions})
	if err != nil {
		return Layout{}, err
	}
	if _, err := store.PutIfAbsent(ctx, LayoutKey, data); err != nil && !errors.Is(err, objstore.ErrPreconditionFailed) {
		return Layout{}, fmt.Errorf("partition: write %s: %w", LayoutKey, err)
	}
	l, ok, err := Load(ctx, store)
	if err == nil && !ok {
		err = fmt.Errorf("partition: %s missing right after it was written", LayoutKey)
	}
	return l, err
}

// Found lists the partitions of l that hold any object, one small LIST
// each: a single node serving a partitioned bucket opens those, and the
// tools copy and verify them. A partition with objects but no manifest is
// listed too, so that opening or verifying it names the damage instead of
// skipping it.
func Found(ctx context.Context, store objstore.Store, l Layout) ([]int, error) {
	var out []int
	for p := range l.Partitions {
		infos, err := store.List(ctx, Prefix(p), "", 1)
		if err != nil {
			return nil, fmt.Errorf("partition: list %s: %w", Prefix(p), err)
		}
		if len(infos) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}
