package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// ErrMissingObjects is returned by Open when the newest manifest references
// tables that are not in the store (or not whole): serving would answer
// reads with errors, so the database is refused, naming what is missing.
var ErrMissingObjects = errors.New("engine: the store lacks objects the manifest references")

// checkPresent lists the tables and checks that every table the manifest
// references is there with its recorded size: a few LIST requests, however
// many tables. Content is Verify's business.
func checkPresent(ctx context.Context, store objstore.Store, m *manifest.Manifest) error {
	infos, err := store.List(ctx, "sst/", "", 0)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	size := make(map[string]int64, len(infos))
	for _, o := range infos {
		size[o.Key] = o.Size
	}
	var problems []string
	for _, t := range m.Tables() {
		key := t.ObjectKey()
		got, ok := size[key]
		switch {
		case !ok:
			problems = append(problems, key+" is missing")
		case got != t.Size:
			problems = append(problems, fmt.Sprintf("%s is %d bytes, the manifest says %d", key, got, t.Size))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	const show = 10
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf(" (and %d more)", len(problems)-show)
		problems = problems[:show]
	}
	return fmt.Errorf("%w: manifest version %d: %s%s", ErrMissingObjects, m.Version, strings.Join(problems, "; "), more)
}

// lostTables wraps the store tables are read through and remembers the
// first table found missing while serving: a table a live version
// references can only vanish if something outside the engine deleted it,
// and from then on the database is damaged, which Lost reports.
type lostTables struct {
	objstore.Store
	first atomic.Pointer[string]
	// live reports whether the newest version references a table: a
	// reader of an older snapshot may outlive a table the collector was
	// entitled to delete, which damages nothing.
	live func(key string) bool
}

func (l *lostTables) note(key string, err error) {
	if errors.Is(err, objstore.ErrNotFound) && (l.live == nil || l.live(key)) {
		l.first.CompareAndSwap(nil, &key)
	}
}

func (l *lostTables) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	b, err := l.Store.GetRange(ctx, key, offset, length)
	l.note(key, err)
	return b, err
}

func (l *lostTables) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	err := l.Store.GetRangeInto(ctx, key, offset, bufs)
	l.note(key, err)
	return err
}

// Lost reports a table the database needed and did not find: the store was
// changed behind the engine's back (a restore or sync that deleted live
// objects), and reads will keep failing until the database is restored.
func (db *DB) Lost() error {
	if k := db.lost.first.Load(); k != nil {
		return fmt.Errorf("%w: table %s was not found while serving reads", ErrMissingObjects, *k)
	}
	return nil
}

// referenced reports whether the newest manifest references the table.
func (db *DB) referenced(key string) bool {
	db.manMu.Lock()
	m := db.man
	db.manMu.Unlock()
	if m == nil {
		return false
	}
	for _, t := range m.Tables() {
		if t.ObjectKey() == key {
			return true
		}
	}
	return false
}
