package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/s2lite/s2lite/objstore"
)

const (
	prefix = "manifest/"
	// hintKey sorts after every numbered manifest ('L' > '9').
	hintKey = prefix + "LATEST"
)

// ErrConflict is returned by Write when another manifest already occupies
// the version. The caller decides whether that means it was fenced.
var ErrConflict = errors.New("manifest: version already written by another writer")

// ErrNotFound is returned when a requested version does not exist.
var ErrNotFound = errors.New("manifest: version not found")

// Key is the object key of a manifest version. Zero padding makes the
// lexicographic order of keys the numeric order of versions.
func Key(version uint64) string { return fmt.Sprintf("%s%020d", prefix, version) }

func parseKey(key string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Store reads and writes manifest versions in an object store.
type Store struct {
	objs objstore.Store
	log  *slog.Logger
}

// NewStore returns a Store over objs. A nil logger discards logs.
func NewStore(objs objstore.Store, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{objs: objs, log: log}
}

// Load reads one version.
func (s *Store) Load(ctx context.Context, version uint64) (*Manifest, error) {
	data, _, err := s.objs.Get(ctx, Key(version))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, version)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: load %d: %w", version, err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("manifest: load %d: %w", version, err)
	}
	if m.Version != version {
		return nil, fmt.Errorf("%w: object %s holds version %d", ErrCorrupt, Key(version), m.Version)
	}
	return m, nil
}

// Write installs m at Key(m.Version) with put-if-absent, then records the
// version in the hint (best effort). If the version is taken it returns
// ErrConflict, unless the object there is byte-for-byte m: then an earlier
// attempt whose reply was lost did succeed, and Write reports success.
func (s *Store) Write(ctx context.Context, m *Manifest) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	key := Key(m.Version)
	_, err = s.objs.PutIfAbsent(ctx, key, data)
	if errors.Is(err, objstore.ErrPreconditionFailed) {
		existing, _, gerr := s.objs.Get(ctx, key)
		if gerr != nil {
			return fmt.Errorf("manifest: write %d: lost the race, and reading the winner failed: %w", m.Version, gerr)
		}
		if !bytes.Equal(existing, data) {
			return fmt.Errorf("%w: version %d", ErrConflict, m.Version)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("manifest: write %d: %w", m.Version, err)
	}
	// The hint is only a lower bound used to start the search, so losing or
	// reordering hint writes is harmless; it is never read as the truth.
	if _, herr := s.objs.Put(ctx, hintKey, []byte(strconv.FormatUint(m.Version, 10))); herr != nil {
		s.log.Warn("manifest hint not updated", "version", m.Version, "err", herr)
	}
	return nil
}

// Latest returns the newest manifest, or (nil, nil) if none was written.
//
// Versions are dense from the first surviving one to the newest, so the
// search is: start at the hint, probe forward at doubling distances until a
// version is missing, then binary-search the gap. That costs O(log n) small
// ranged reads where n is how far the hint lags. If the hinted version itself
// is gone (garbage collected after the hint went stale), a LIST that starts
// after the hint finds the survivors; it is bounded because collection keeps
// only a bounded number of old versions.
func (s *Store) Latest(ctx context.Context) (*Manifest, error) {
	lo, err := s.readHint(ctx)
	if err != nil {
		return nil, err
	}
	if lo > 0 {
		ok, err := s.exists(ctx, lo)
		if err != nil {
			return nil, err
		}
		if !ok {
			if lo, err = s.listFrom(ctx, lo); err != nil {
				return nil, err
			}
		}
	}
	if lo == 0 {
		// No hint: versions start at 1.
		ok, err := s.exists(ctx, 1)
		if err != nil {
			return nil, err
		}
		if !ok {
			if lo, err = s.listFrom(ctx, 0); err != nil || lo == 0 {
				return nil, err
			}
		} else {
			lo = 1
		}
	}
	// Invariant: lo exists. Find hi that does not.
	step := uint64(1)
	hi := lo + step
	for {
		ok, err := s.exists(ctx, hi)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		lo = hi
		step *= 2
		hi = lo + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := s.exists(ctx, mid)
		if err != nil {
			return nil, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.Load(ctx, lo)
}

func (s *Store) readHint(ctx context.Context) (uint64, error) {
	data, _, err := s.objs.Get(ctx, hintKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("manifest: read hint: %w", err)
	}
	v, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		// A damaged hint only costs a longer search.
		s.log.Warn("manifest hint unreadable; searching from the start", "err", err)
		return 0, nil
	}
	return v, nil
}

func (s *Store) exists(ctx context.Context, version uint64) (bool, error) {
	_, err := s.objs.GetRange(ctx, Key(version), 0, 1)
	if errors.Is(err, objstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("manifest: probe %d: %w", version, err)
	}
	return true, nil
}

// listFrom returns the highest version listed after version after, or 0.
func (s *Store) listFrom(ctx context.Context, after uint64) (uint64, error) {
	start := ""
	if after > 0 {
		start = Key(after)
	}
	var newest uint64
	for {
		objs, err := s.objs.List(ctx, prefix, start, 1000)
		if err != nil {
			return 0, fmt.Errorf("manifest: list: %w", err)
		}
		for _, o := range objs {
			if v, ok := parseKey(o.Key); ok && v > newest {
				newest = v
			}
		}
		if len(objs) < 1000 {
			return newest, nil
		}
		start = objs[len(objs)-1].Key
	}
}

// Versions lists every stored version in ascending order. It is a full LIST
// and meant for garbage collection and tools, not for the open path.
func (s *Store) Versions(ctx context.Context) ([]uint64, error) {
	var out []uint64
	start := ""
	for {
		objs, err := s.objs.List(ctx, prefix, start, 1000)
		if err != nil {
			return nil, fmt.Errorf("manifest: list: %w", err)
		}
		for _, o := range objs {
			if v, ok := parseKey(o.Key); ok {
				out = append(out, v)
			}
		}
		if len(objs) < 1000 {
			return out, nil
		}
		start = objs[len(objs)-1].Key
	}
}

// WriteHint records version as the newest in the hint object. Tools that
// copy manifest versions between stores (backup, restore) call it after the
// version is in place, since Latest starts its search there.
func (s *Store) WriteHint(ctx context.Context, version uint64) error {
	if _, err := s.objs.Put(ctx, hintKey, []byte(strconv.FormatUint(version, 10))); err != nil {
		return fmt.Errorf("manifest: write hint %d: %w", version, err)
	}
	return nil
}
