package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Deep reads every data block of every table and checks its checksum;
	// otherwise each table's metadata (footer, index, filter, properties)
	// is read and checked, which proves the object is there, whole in
	// size and readable.
	Deep bool
	// Parallel bounds the table checks in flight (default 8).
	Parallel int
}

// VerifyReport is a database's durable state as a recovery would find it,
// read without writing anything.
type VerifyReport struct {
	// ManifestVersion is the newest manifest version; 0 with no manifest.
	ManifestVersion uint64
	WriterEpoch     uint64
	Tables          int
	TableBytes      int64
	// WALFrom and WALEnd bound the WAL objects a recovery replays:
	// [WALFrom, WALEnd), WALEnd being the first missing id.
	WALFrom, WALEnd uint64
	// WALApplied counts the objects whose writes a recovery applies
	// (fences and skipped objects are not counted).
	WALApplied int
	// LastSeq is the last engine sequence number a recovery makes
	// visible: every write acknowledged up to the recorded point.
	LastSeq uint64
	// AckedThrough is when the last applied WAL object was written (its
	// LastModified), or the manifest's when no WAL object is applied: the
	// database holds every write acknowledged before it.
	AckedThrough time.Time
	// Problems names each missing or damaged object and what is wrong.
	// A database with problems must not be served.
	Problems []string
	// Empty is true when the store holds no object at all of a database.
	Empty bool
}

// OK reports whether the database is whole.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// ErrNoManifest is returned by Open for a store that holds tables or WAL
// objects but no manifest: a partial copy, or a prefix whose manifests were
// deleted. Serving it would lose everything it holds.
var ErrNoManifest = errors.New("engine: the store holds database objects but no manifest")

// Verify checks that the newest manifest, every table it references and
// the WAL from its replay point are present and intact, and replays the
// WAL's decisions (epochs, fences, orphans) without applying or writing
// anything. Problems are reported, not returned as errors; an error means
// the store could not be read.
func Verify(ctx context.Context, store objstore.Store, o VerifyOptions) (*VerifyReport, error) {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	rep := &VerifyReport{}
	ms := manifest.NewStore(store, nil)
	m, err := ms.Latest(ctx)
	if err != nil {
		if errors.Is(err, manifest.ErrCorrupt) {
			rep.Problems = append(rep.Problems, err.Error())
			return rep, nil
		}
		return nil, fmt.Errorf("engine: verify: %w", err)
	}
	if m == nil {
		objs, err := hasDatabaseObjects(ctx, store)
		if err != nil {
			return nil, fmt.Errorf("engine: verify: %w", err)
		}
		if objs != "" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("no manifest, but the store holds %s: not a whole database", objs))
		} else {
			rep.Empty = true
		}
		return rep, nil
	}
	rep.ManifestVersion, rep.WriterEpoch = m.Version, m.WriterEpoch
	rep.Problems = append(rep.Problems, checkTables(ctx, store, m.Tables(), o)...)
	for _, t := range m.Tables() {
		rep.Tables++
		rep.TableBytes += t.Size
	}
	if err := verifyWAL(ctx, store, m, rep); err != nil {
		return nil, err
	}
	if rep.AckedThrough.IsZero() {
		if infos, err := store.List(ctx, manifest.Key(m.Version), "", 1); err == nil && len(infos) == 1 {
			rep.AckedThrough = infos[0].LastModified
		}
	}
	return rep, nil
}

// hasDatabaseObjects names the kind of database object the store holds
// ("tables", "WAL objects"), or "" when it holds none.
func hasDatabaseObjects(ctx context.Context, store objstore.Store) (string, error) {
	for _, p := range []struct{ prefix, what string }{{"sst/", "tables"}, {walPrefix, "WAL objects"}} {
		infos, err := store.List(ctx, p.prefix, "", 1)
		if err != nil {
			return "", err
		}
		if len(infos) > 0 {
			return p.what + " (" + infos[0].Key + ", ...)", nil
		}
	}
	return "", nil
}

// checkTables opens (and with Deep, reads through) every table, several at
// a time, and describes each one that is missing or damaged.
func checkTables(ctx context.Context, store objstore.Store, tables []manifest.Table, o VerifyOptions) []string {
	var mu sync.Mutex
	var problems []string
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, t := range tables {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := checkTable(ctx, store, t, o.Deep); err != nil {
				mu.Lock()
				problems = append(problems, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(problems)
	return problems
}

func checkTable(ctx context.Context, store objstore.Store, t manifest.Table, deep bool) error {
	key := t.ObjectKey()
	r, err := sst.Open(ctx, &tableObject{objs: store, key: key, size: t.Size}, sst.ReaderOptions{})
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return fmt.Errorf("table %s is missing", key)
	case err != nil:
		return fmt.Errorf("table %s is damaged: %w", key, err)
	}
	if !deep {
		return nil
	}
	it := r.NewScanIter(ctx, 1<<20)
	n := uint64(0)
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("table %s is damaged: %w", key, err)
	}
	if n != t.NumEntries {
		return fmt.Errorf("table %s holds %d entries, its manifest entry says %d", key, n, t.NumEntries)
	}
	return nil
}

// verifyWAL walks the log from the manifest's replay start the way replay
// does, deciding for each object whether recovery would apply or skip it,
// up to the first missing id.
func verifyWAL(ctx context.Context, store objstore.Store, m *manifest.Manifest, rep *VerifyReport) error {
	rep.WALFrom = m.WALReplayFrom
	infos, err := store.List(ctx, walPrefix, walKey(m.WALReplayFrom-1), 0)
	if err != nil {
		return fmt.Errorf("engine: verify: listing the WAL: %w", err)
	}
	modified := map[string]time.Time{}
	for _, info := range infos {
		modified[info.Key] = info.LastModified
	}
	floor, epoch := m.WALEpochFloor, m.WriterEpoch
	last := m.LastSeq
	id := m.WALReplayFrom
	for ; ; id++ {
		key := walKey(id)
		if _, ok := modified[key]; !ok {
			break
		}
		data, _, err := store.Get(ctx, key)
		if errors.Is(err, objstore.ErrNotFound) {
			break // deleted since the listing: as good as the end
		}
		if err != nil {
			return fmt.Errorf("engine: verify: %s: %w", key, err)
		}
		w, err := decodeWAL(data)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("WAL object %s is damaged: %v", key, err))
			break
		}
		if w.epoch > epoch {
			// A writer that opened after the manifest we read was the
			// newest; its objects continue the log.
			epoch = w.epoch
		}
		switch {
		case w.id != id:
			rep.Problems = append(rep.Problems, fmt.Sprintf("WAL object %s claims id %d", key, w.id))
		case w.epoch < floor, w.firstSeq > last+1:
			// A fenced writer's leftover, or an orphan: replay skips it.
		case w.firstSeq < last+1:
			rep.Problems = append(rep.Problems, fmt.Sprintf("WAL object %s starts at sequence %d, expected %d", key, w.firstSeq, last+1))
		default:
			floor = w.epoch
			if len(w.ops) > 0 {
				last = w.firstSeq + uint64(len(w.ops)) - 1
				rep.WALApplied++
				rep.AckedThrough = modified[key]
			}
		}
		if len(rep.Problems) > 0 {
			break
		}
	}
	rep.WALEnd = id
	rep.LastSeq = last
	if len(rep.Problems) == 0 {
		rep.Problems = append(rep.Problems, walHole(infos, id, modified)...)
	}
	return nil
}

// A gap in the log ends replay there: every object after it is skipped,
// since the next writer fences the gap. After a crash a few objects may
// legitimately follow it (a pipeline's in-flight groups, never
// acknowledged); many objects, or objects written long after the gap's
// neighbours, mean an object in the middle of the log was lost, and every
// acknowledged write after it with it.
const (
	holeMaxLeftovers = 16
	holeMaxSpread    = time.Minute
)

func walHole(infos []objstore.ObjectInfo, end uint64, modified map[string]time.Time) []string {
	var after []objstore.ObjectInfo
	endKey := walKey(end)
	for _, o := range infos {
		if o.Key > endKey {
			after = append(after, o)
		}
	}
	if len(after) == 0 {
		return nil
	}
	first, last := after[0].LastModified, after[0].LastModified
	for _, o := range after {
		first, last = minTime(first, o.LastModified), maxTime(last, o.LastModified)
	}
	if prev, ok := modified[walKey(end-1)]; ok {
		first = minTime(first, prev)
	}
	if len(after) <= holeMaxLeftovers && last.Sub(first) <= holeMaxSpread {
		return nil
	}
	return []string{fmt.Sprintf("WAL object %s is missing but %d objects follow it (%s to %s): a recovery would stop at the gap and lose every write after it",
		endKey, len(after), after[0].Key, after[len(after)-1].Key)}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
