// Package backup copies a consistent state of a database from one object
// store to another while its writer keeps running: the online backup,
// point-in-time restore and migration of DESIGN.md ("Backup and restore").
//
// A copy is a manifest version, every table it references and the WAL from
// its replay start, so the destination opens as an ordinary database whose
// recovery replays that WAL. Objects are immutable, so a copy into a
// destination that holds an earlier copy transfers only what is new. The
// manifest version is written last: a destination without it (a copy that
// died half way) is refused by Open and by Verify, and the next copy
// completes it.
package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// Options configure a copy.
type Options struct {
	// Checkpoint copies the version an existing checkpoint pins (a restore
	// point). Empty pins the newest version for the copy's duration (an
	// online backup).
	Checkpoint string
	// Until, when set, copies only the WAL objects written at or before it,
	// so the destination holds every write acknowledged up to that moment
	// and none after (restore to a point in time). The destination must
	// then be empty.
	Until time.Time
	// FromReplica copies from a source nobody writes to, such as a replica
	// bucket kept by asynchronous replication: its newest manifest may
	// name tables that have not arrived, so the copy takes the newest
	// version whose tables are all present (its latest consistent state),
	// without pinning anything in it.
	FromReplica bool
	// GCMinAge is the source writer's garbage collection minimum age
	// (serve --gc-min-age); the pin protocol needs it. Default: the
	// engine's.
	GCMinAge time.Duration
	// PinLease is how long the pin lasts if this process dies; a live copy
	// renews it at a third of that. Default 1 hour.
	PinLease time.Duration
	// Parallel bounds the objects copied at once (default 8).
	Parallel int
	// Logger receives progress; default discard.
	Logger *slog.Logger
}

// Stats describe a finished copy.
type Stats struct {
	ManifestVersion uint64
	// Tables and WAL count the objects the copy needs; Copied how many
	// were transferred (the rest were in the destination already).
	Tables, TablesCopied int
	WAL, WALCopied       int
	// Objects counts the objects RestoreVersions wrote.
	Objects     int
	BytesCopied int64
	// WALFrom and WALEnd bound the WAL copied: [WALFrom, WALEnd).
	WALFrom, WALEnd uint64
	// AckedThrough is when the last WAL object copied was written: the copy
	// holds every write acknowledged before it.
	AckedThrough time.Time
	Duration     time.Duration
}

// ErrDiverged is returned when the destination holds a database that is
// not an earlier copy of the source (it was opened and written to, or is
// another database): copying over it would mix two histories.
var ErrDiverged = errors.New("backup: the destination holds a different database")

// Copy copies a consistent state of the database in src to dst.
func Copy(ctx context.Context, src, dst objstore.Store, o Options) (Stats, error) {
	start := time.Now()
	if o.PinLease <= 0 {
		o.PinLease = time.Hour
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var st Stats

	// The version to copy, pinned against the source's garbage collection.
	var version uint64
	var lease *lease
	switch {
	case o.FromReplica:
		v, err := latestConsistent(ctx, src)
		if err != nil {
			return st, err
		}
		version = v
	default:
		cpName := o.Checkpoint
		if cpName == "" {
			l, err := pinLatest(ctx, src, o)
			if err != nil {
				return st, err
			}
			lease = l
			defer lease.release()
			cpName = l.current()
		}
		cp, err := engine.LoadCheckpoint(ctx, src, cpName)
		if err != nil {
			return st, fmt.Errorf("backup: %w", err)
		}
		version = cp.ManifestVersion
	}
	failpoint.Inject("backupAfterPin", func(val failpoint.Value) {
		if ferr := fault.Do(ctx, val); ferr != nil {
			failpoint.Return(st, ferr)
		}
	})
	srcManifests := manifest.NewStore(src, o.Logger)
	m, err := srcManifests.Load(ctx, version)
	if err != nil {
		return st, fmt.Errorf("backup: reading manifest version %d: %w", version, err)
	}
	manifestBytes, _, err := src.Get(ctx, manifest.Key(m.Version))
	if err != nil {
		return st, fmt.Errorf("backup: reading manifest version %d: %w", m.Version, err)
	}
	st.ManifestVersion = m.Version

	have, err := checkDestination(ctx, dst, m.Version, manifestBytes, !o.Until.IsZero())
	if err != nil {
		return st, err
	}

	// Tables.
	var objs []object
	for _, t := range m.Tables() {
		objs = append(objs, object{key: t.ObjectKey(), size: t.Size})
	}
	st.Tables = len(objs)
	n, bytesCopied, err := copyObjects(ctx, latest(src), dst, objs, have, o.Parallel)
	st.TablesCopied, st.BytesCopied = n, bytesCopied
	if err != nil {
		return st, err
	}
	failpoint.Inject("backupAfterTables", func(val failpoint.Value) {
		if ferr := fault.Do(ctx, val); ferr != nil {
			failpoint.Return(st, ferr)
		}
	})

	// The WAL from the replay start to its current end (or to Until).
	// On a replica the first object of the log may simply not have
	// arrived yet: the version alone is then its latest consistent state.
	wal, err := walToCopy(ctx, src, m.WALReplayFrom, o.Until, o.FromReplica)
	if err != nil {
		return st, err
	}
	st.WALFrom, st.WALEnd, st.WAL = m.WALReplayFrom, m.WALReplayFrom+uint64(len(wal)), len(wal)
	objs = objs[:0]
	for _, w := range wal {
		objs = append(objs, object{key: w.Key, size: w.Size})
		st.AckedThrough = w.LastModified
	}
	n, bytesCopied, err = copyObjects(ctx, latest(src), dst, objs, have, o.Parallel)
	st.WALCopied, st.BytesCopied = n, st.BytesCopied+bytesCopied
	if err != nil {
		return st, err
	}
	if lease != nil {
		// Everything the copy needs is in the destination; a pin that
		// lapsed meanwhile would have made a read above fail.
		if err := lease.err(); err != nil {
			return st, err
		}
	}
	failpoint.Inject("backupBeforeManifest", func(val failpoint.Value) {
		if ferr := fault.Do(ctx, val); ferr != nil {
			failpoint.Return(st, ferr)
		}
	})

	// The manifest last: from here the destination opens at this state.
	dstManifests := manifest.NewStore(dst, o.Logger)
	if _, err := dst.Put(ctx, manifest.Key(m.Version), manifestBytes); err != nil {
		return st, fmt.Errorf("backup: writing manifest version %d: %w", m.Version, err)
	}
	if err := dstManifests.WriteHint(ctx, m.Version); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	failpoint.Inject("backupAfterManifest", func(val failpoint.Value) {
		if ferr := fault.Do(ctx, val); ferr != nil {
			failpoint.Return(st, ferr)
		}
	})
	// Older versions of earlier copies go: recovery finds the newest by
	// probing from the hint, which needs versions without gaps.
	for key := range have {
		if v, ok := manifestVersion(key); ok && v < m.Version {
			if err := dst.Delete(ctx, key); err != nil {
				return st, fmt.Errorf("backup: removing superseded %s: %w", key, err)
			}
		}
	}
	st.Duration = time.Since(start)
	o.Logger.Info("backup copied", "manifest", m.Version, "tables", st.Tables, "tables_copied", st.TablesCopied,
		"wal", st.WAL, "wal_copied", st.WALCopied, "bytes", st.BytesCopied, "duration", st.Duration)
	return st, nil
}

// latestConsistent finds the newest manifest version of src whose tables
// are all present with their recorded sizes.
func latestConsistent(ctx context.Context, src objstore.Store) (uint64, error) {
	ms := manifest.NewStore(src, nil)
	versions, err := ms.Versions(ctx)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	infos, err := src.List(ctx, "sst/", "", 0)
	if err != nil {
		return 0, fmt.Errorf("backup: listing tables: %w", err)
	}
	size := make(map[string]int64, len(infos))
	for _, o := range infos {
		size[o.Key] = o.Size
	}
	for i := len(versions) - 1; i >= 0; i-- {
		m, err := ms.Load(ctx, versions[i])
		if err != nil {
			continue // damaged or half replicated: try an older one
		}
		whole := true
		for _, t := range m.Tables() {
			if got, ok := size[t.ObjectKey()]; !ok || got != t.Size {
				whole = false
				break
			}
		}
		if whole {
			return m.Version, nil
		}
	}
	return 0, errors.New("backup: the source holds no manifest version whose tables are all present")
}

func manifestVersion(key string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, "manifest/")
	if !ok || len(s) != 20 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// checkDestination lists what dst holds (key to size) and refuses a
// destination that is not empty or an earlier copy of the same database.
func checkDestination(ctx context.Context, dst objstore.Store, version uint64, manifestBytes []byte, mustBeEmpty bool) (map[string]int64, error) {
	have := map[string]int64{}
	for _, prefix := range []string{"manifest/", "sst/", "wal/"} {
		infos, err := dst.List(ctx, prefix, "", 0)
		if err != nil {
			return nil, fmt.Errorf("backup: listing the destination: %w", err)
		}
		for _, o := range infos {
			have[o.Key] = o.Size
		}
	}
	if mustBeEmpty && len(have) > 0 {
		return nil, fmt.Errorf("backup: a restore to a point in time needs an empty destination; it holds objects (e.g. manifests or tables)")
	}
	for key := range have {
		v, ok := manifestVersion(key)
		if !ok {
			continue
		}
		switch {
		case v > version:
			return nil, fmt.Errorf("%w: it has manifest version %d, newer than the source's %d", ErrDiverged, v, version)
		case v == version:
			existing, _, err := dst.Get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("backup: reading the destination's %s: %w", key, err)
			}
			if !bytes.Equal(existing, manifestBytes) {
				return nil, fmt.Errorf("%w: its manifest version %d differs from the source's", ErrDiverged, v)
			}
		}
	}
	return have, nil
}

// walToCopy lists the WAL from id from to the first missing id (or the
// first object written after until).
func walToCopy(ctx context.Context, src objstore.Store, from uint64, until time.Time, replica bool) ([]objstore.ObjectInfo, error) {
	infos, err := src.List(ctx, "wal/", walKey(from-1), 0)
	if err != nil {
		return nil, fmt.Errorf("backup: listing the WAL: %w", err)
	}
	if len(infos) > 0 && infos[0].Key != walKey(from) && !replica {
		// The log continues past the replay start, but its first object
		// is gone: garbage collection took it, so the version was not
		// retained (its pin did not hold). Copying the version without it
		// would silently lose every write in that part of the log.
		return nil, fmt.Errorf("backup: the WAL from the version's replay start (%s) is gone from the source, but %s follows: the version was not retained", walKey(from), infos[0].Key)
	}
	var out []objstore.ObjectInfo
	for i, o := range infos {
		if o.Key != walKey(from+uint64(i)) {
			break // the first missing id: the end of the log
		}
		if !until.IsZero() && o.LastModified.After(until) {
			break
		}
		out = append(out, o)
	}
	return out, nil
}

func walKey(id uint64) string { return fmt.Sprintf("wal/%020d", id) }

// object is a key to copy, its size in the source, and for a versioned
// source the version to copy.
type object struct {
	key     string
	size    int64
	version string
}

// reader reads one object of the source.
type reader func(ctx context.Context, o object) ([]byte, error)

// latest reads the current version of an object.
func latest(src objstore.Store) reader {
	return func(ctx context.Context, o object) ([]byte, error) {
		data, _, err := src.Get(ctx, o.key)
		return data, err
	}
}

// copyObjects copies objects from src to dst, several at a time, skipping
// those dst has with the same size. An object that dst has with another
// size means dst is a different database: objects never change, so two
// copies of one object are the same size.
func copyObjects(ctx context.Context, read reader, dst objstore.Store, objs []object, have map[string]int64, parallel int) (int, int64, error) {
	var todo []object
	for _, o := range objs {
		size, ok := have[o.key]
		switch {
		case !ok:
			todo = append(todo, o)
		case size != o.size:
			return 0, 0, fmt.Errorf("%w: its %s is %d bytes, the source's %d", ErrDiverged, o.key, size, o.size)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var copied, nbytes atomic.Int64
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, o := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			data, err := read(ctx, o)
			if err != nil {
				if errors.Is(err, objstore.ErrNotFound) {
					err = fmt.Errorf("%w (deleted from the source during the copy)", err)
				}
				fail(fmt.Errorf("backup: reading %s: %w", o.key, err))
				return
			}
			if _, err := dst.Put(ctx, o.key, data); err != nil {
				fail(fmt.Errorf("backup: writing %s: %w", o.key, err))
				return
			}
			copied.Add(1)
			nbytes.Add(int64(len(data)))
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("backup: %w", ctx.Err())
	}
	return int(copied.Load()), nbytes.Load(), firstErr
}

// lease holds a pin on the source and renews it until released.
type lease struct {
	src      objstore.Store
	o        Options
	mu       sync.Mutex
	name     string
	renewErr error
	stop     chan struct{}
	done     chan struct{}
}

func pinLatest(ctx context.Context, src objstore.Store, o Options) (*lease, error) {
	base := "backup-" + time.Now().UTC().Format("20060102T150405Z") + "-" + randomSuffix()
	name := base + "-0"
	if _, err := engine.PinLatest(ctx, src, name, o.PinLease, o.GCMinAge); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	l := &lease{src: src, o: o, name: name, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew(base)
	return l, nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	return hex.EncodeToString(b[:])
}

func (l *lease) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name
}

func (l *lease) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewErr
}

// renew re-pins the version at a third of the lease, so that a copy that
// takes longer than the lease keeps its version.
func (l *lease) renew(base string) {
	defer close(l.done)
	t := time.NewTicker(l.o.PinLease / 3)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		next := fmt.Sprintf("%s-%d", base, i)
		_, err := engine.RenewPin(ctx, l.src, l.current(), next, l.o.PinLease)
		cancel()
		l.mu.Lock()
		if err != nil {
			l.renewErr = fmt.Errorf("backup: renewing the pin: %w", err)
			l.o.Logger.Warn("renewing the backup's pin failed; the copy fails if the source collects what it still needs", "err", err)
		} else {
			l.name = next
		}
		l.mu.Unlock()
	}
}

// release stops renewing and removes the pin.
func (l *lease) release() {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := engine.Unpin(ctx, l.src, l.current()); err != nil {
		l.o.Logger.Warn("removing the backup's pin failed; it expires by itself", "err", err)
	}
}
