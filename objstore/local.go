package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrInvalidArgument is returned for keys or ranges a store cannot accept.
// It is never transient.
var ErrInvalidArgument = errors.New("objstore: invalid argument")

const (
	tmpPrefix    = ".tmp-"
	lockFileName = ".lock"
)

// checkKey enforces the key rules shared by all stores, so that data can
// move between them: non-empty, relative, slash-separated, with no empty,
// "." or ".." elements. The local store's file layout relies on these.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	if strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) || strings.ContainsRune(key, '\\') {
		return fmt.Errorf("%w: key %q", ErrInvalidArgument, key)
	}
	for elem := range strings.SplitSeq(key, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("%w: key %q", ErrInvalidArgument, key)
		}
	}
	return nil
}

// Local is a Store on a local directory: key "wal/000001" is the file
// root/wal/000001. Writes go to a temporary file that is fsynced and then
// renamed (or linked) into place, so readers never see partial objects and
// a completed put survives a crash. ETags are the hex MD5 of the content.
//
// Conditional puts are atomic across processes sharing the directory:
// PutIfAbsent relies on link(2) failing when the target exists, and
// PutIfMatch, Put and Delete serialise their final step on an flock(2) of
// root/.lock. The directory must be on a local file system.
//
// Unlike S3, a key cannot be both an object and a "directory" of other
// keys ("a" and "a/b"); such a put fails. List does not report ETags
// because that would mean reading every object; use Get for them. A crash
// can leave .tmp-* files behind; they are never listed or read.
type Local struct {
	root string
	// sem serialises this process's holders of the root flock; a channel
	// rather than a mutex so that waiting honours ctx.
	sem chan struct{}
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at root, creating the directory if needed.
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("objstore: local root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: local root %q: %w", root, err)
	}
	return &Local{root: abs, sem: make(chan struct{}, 1)}, nil
}

// path validates key and returns its file name.
func (l *Local) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	for elem := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(elem, tmpPrefix) {
			return "", fmt.Errorf("%w: key %q uses the reserved prefix %q", ErrInvalidArgument, key, tmpPrefix)
		}
	}
	if key == lockFileName {
		return "", fmt.Errorf("%w: key %q is reserved", ErrInvalidArgument, key)
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// isNotFound reports whether a file system error means "no such object":
// the file is missing, a parent is a regular file, or the name is a
// directory of other keys.
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

// Get reads the whole object.
func (l *Local) Get(ctx context.Context, key string) ([]byte, string, error) {
	name, err := l.path(key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(name)
	if err != nil {
		if isNotFound(err) {
			return nil, "", fmt.Errorf("objstore: get %q: %w", key, ErrNotFound)
		}
		return nil, "", fmt.Errorf("objstore: get %q: %w", key, err)
	}
	return data, md5Hex(data), nil
}

// GetRange reads up to length bytes at offset.
func (l *Local) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	name, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if err := checkRange(offset, length); err != nil {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("objstore: get range %q: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, ErrNotFound)
	}
	// Size the buffer from the file so a huge length means "to the end"
	// without a huge allocation. The file never changes under an open
	// descriptor: writers replace it by rename.
	n := max(0, min(length, fi.Size()-offset))
	buf := make([]byte, n)
	if n == 0 {
		return buf, nil
	}
	got, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	return buf[:got], nil
}

// GetRangeInto reads the range into bufs, one pread each.
func (l *Local) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	name, err := l.path(key)
	if err != nil {
		return err
	}
	if _, err := rangeInto(offset, bufs); err != nil {
		return fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("objstore: get range %q: %w", key, ErrNotFound)
		}
		return fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		if err == nil {
			err = ErrNotFound
		}
		return fmt.Errorf("objstore: get range %q: %w", key, err)
	}
	off := offset
	for _, b := range bufs {
		if _, err := f.ReadAt(b, off); err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrShortObject
			}
			return fmt.Errorf("objstore: get range %q: %d bytes at %d: %w", key, len(b), off, err)
		}
		off += int64(len(b))
	}
	return nil
}

// Put replaces the object.
func (l *Local) Put(ctx context.Context, key string, data []byte) (string, error) {
	name, err := l.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := l.writeTemp(ctx, name, data)
	if err != nil {
		return "", fmt.Errorf("objstore: put %q: %w", key, err)
	}
	defer os.Remove(tmp) // no-op after a successful rename
	err = l.locked(ctx, func() error { return os.Rename(tmp, name) })
	if err != nil {
		return "", fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(name)); err != nil {
		return "", fmt.Errorf("objstore: put %q: %w", key, err)
	}
	return md5Hex(data), nil
}

// PutIfAbsent creates the object unless it exists. link(2) refuses to
// replace an existing name, which makes this atomic across processes.
func (l *Local) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	name, err := l.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := l.writeTemp(ctx, name, data)
	if err != nil {
		return "", fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(name); serr == nil && fi.IsDir() {
				return "", fmt.Errorf("objstore: put if absent %q: %w: a directory of other keys has this name", key, ErrInvalidArgument)
			}
			return "", fmt.Errorf("objstore: put if absent %q: %w", key, ErrPreconditionFailed)
		}
		return "", fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(name)); err != nil {
		return "", fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	return md5Hex(data), nil
}

// PutIfMatch replaces the object if its content still hashes to etag. The
// new content is written and synced before the lock is taken, so the
// critical section is just read, compare and rename.
func (l *Local) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	name, err := l.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := l.writeTemp(ctx, name, data)
	if err != nil {
		return "", fmt.Errorf("objstore: put if match %q: %w", key, err)
	}
	defer os.Remove(tmp)
	err = l.locked(ctx, func() error {
		cur, err := os.ReadFile(name)
		if err != nil {
			if isNotFound(err) {
				return ErrPreconditionFailed
			}
			return err
		}
		if md5Hex(cur) != etag {
			return ErrPreconditionFailed
		}
		return os.Rename(tmp, name)
	})
	if err != nil {
		return "", fmt.Errorf("objstore: put if match %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(name)); err != nil {
		return "", fmt.Errorf("objstore: put if match %q: %w", key, err)
	}
	return md5Hex(data), nil
}

// Delete removes the object. Empty parent directories are left in place:
// removing them would race with puts creating files in them.
func (l *Local) Delete(ctx context.Context, key string) error {
	name, err := l.path(key)
	if err != nil {
		return err
	}
	removed := false
	err = l.locked(ctx, func() error {
		// A directory at name holds other keys; it is not this object.
		if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
			return nil
		}
		err := os.Remove(name)
		if err != nil && isNotFound(err) {
			return nil
		}
		removed = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if !removed {
		return nil
	}
	if err := syncDir(filepath.Dir(name)); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	return nil
}

// List walks the directories that can hold keys under prefix. Directory
// order is not key order ("a-b" sorts before "a/c"), so results are
// collected, then sorted.
func (l *Local) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Start at the deepest directory the prefix names completely.
	startDir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		startDir = prefix[:i]
		// Every complete element of a key's prefix is a valid element, so an
		// invalid one ("..", "") matches nothing, and must not be walked.
		if checkKey(startDir) != nil {
			return nil, nil
		}
	}
	var out []ObjectInfo
	err := filepath.WalkDir(filepath.Join(l.root, filepath.FromSlash(startDir)), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotFound(err) {
				return nil // vanished under us, or the prefix has no directory
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), tmpPrefix) || key == lockFileName {
			return nil
		}
		if d.IsDir() {
			if key == "." {
				return nil
			}
			dirPrefix := key + "/"
			// Skip subtrees that cannot match the prefix, or whose every key
			// ("dir/..." < "dir0") sorts at or before startAfter.
			if !strings.HasPrefix(dirPrefix, prefix) && !strings.HasPrefix(prefix, dirPrefix) {
				return fs.SkipDir
			}
			if startAfter >= key+"0" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || key <= startAfter {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), LastModified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	if limit > 0 && len(out) > limit {
		out = out[:limit:limit]
	}
	return out, nil
}

// locked runs fn holding both the in-process semaphore and an exclusive
// flock on root/.lock, which other processes using the same root honour.
func (l *Local) locked(ctx context.Context, fn func() error) error {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.sem }()

	f, err := os.OpenFile(filepath.Join(l.root, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open lock: %w", err)
	}
	defer f.Close() // closing drops the lock
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	return fn()
}

// writeTemp writes data to a fresh temporary file next to name, syncs it,
// and returns its path. The caller removes it if it is not moved into place.
func (l *Local) writeTemp(ctx context.Context, name string, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir := filepath.Dir(name)
	if err := l.mkdirs(dir); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// mkdirs creates dir and any missing parents below the root, syncing the
// parent of each directory it creates so that the new entry is durable.
func (l *Local) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(l.root, dir)
	if err != nil {
		return err
	}
	cur := l.root
	for elem := range strings.SplitSeq(filepath.ToSlash(rel), "/") {
		if elem == "." {
			continue
		}
		parent := cur
		cur = filepath.Join(cur, elem)
		err := os.Mkdir(cur, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // created earlier, or concurrently by a put that syncs it
		}
		if err != nil {
			return err
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs a directory so that renames, links and removals in it are
// durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
