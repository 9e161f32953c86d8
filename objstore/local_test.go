package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

func newLocal(t *testing.T, root string) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two stores on one root stand in for two processes: flock and link(2)
// exclusion do not depend on sharing a *Local.
func TestLocalConditionalPutsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	stores := []*objstore.Local{newLocal(t, root), newLocal(t, root)}

	for round := range 20 {
		key := fmt.Sprintf("fence/%02d", round)
		winners := raceN(8, func(i int) (string, error) {
			return stores[i%2].PutIfAbsent(ctx, key, fmt.Appendf(nil, "racer %d", i))
		}, t)
		if len(winners) != 1 {
			t.Fatalf("PutIfAbsent round %d: %d winners, want 1", round, len(winners))
		}
	}

	etag := mustPut(t, ctx, stores[0], "manifest", []byte("v0"))
	for round := range 10 {
		winners := raceN(8, func(i int) (string, error) {
			return stores[i%2].PutIfMatch(ctx, "manifest", fmt.Appendf(nil, "r%d/%d", round, i), etag)
		}, t)
		if len(winners) != 1 {
			t.Fatalf("PutIfMatch round %d: %d winners, want 1", round, len(winners))
		}
		etag = winners[0].etag
	}
	// Each instance sees the other's writes.
	_, got := mustGet(t, ctx, stores[1], "manifest")
	if got != etag {
		t.Fatalf("second instance sees ETag %q, want %q", got, etag)
	}
}

func TestLocalNoTempFilesLeft(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := newLocal(t, root)

	etag := mustPut(t, ctx, s, "a/b/c", []byte("1"))
	mustPut(t, ctx, s, "a/b/c", []byte("2"))
	if _, err := s.PutIfAbsent(ctx, "a/b/c", []byte("3")); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatal(err)
	}
	if _, err := s.PutIfAbsent(ctx, "a/new", []byte("4")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIfMatch(ctx, "a/b/c", []byte("5"), etag); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatal(err)
	}
	if _, err := s.PutIfMatch(ctx, "a/missing", []byte("6"), etag); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatal(err)
	}
	_, cur := mustGet(t, ctx, s, "a/b/c")
	if _, err := s.PutIfMatch(ctx, "a/b/c", []byte("7"), cur); err != nil {
		t.Fatal(err)
	}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(ctxDone, "a/b/d", []byte("8")); err == nil {
		t.Fatal("Put with canceled context succeeded")
	}

	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temporary file left behind: %s", f)
		}
	}
	// The lock file exists now but is not an object.
	objs, err := s.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Key == ".lock" {
			t.Errorf("List reports the lock file")
		}
	}
	if len(objs) != 2 {
		t.Errorf("List = %v, want a/b/c and a/new", objs)
	}
}

func TestLocalTempFilesHiddenFromList(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := newLocal(t, root)
	mustPut(t, ctx, s, "wal/000001", []byte("x"))
	// A crash between writing and renaming leaves a temp file behind.
	if err := os.WriteFile(filepath.Join(root, "wal", ".tmp-crashed"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctx, "wal/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Key != "wal/000001" {
		t.Fatalf("List = %v, want only wal/000001", objs)
	}
}

func TestLocalRejectsReservedKeys(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t, t.TempDir())
	for _, key := range []string{".tmp-x", "a/.tmp-b", "a/.tmp-/c", ".lock", "/etc/passwd", "../escape", "a/../../escape"} {
		if _, err := s.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("Put(%q): got %v, want ErrInvalidArgument", key, err)
		}
		if _, err := s.PutIfAbsent(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("PutIfAbsent(%q): got %v, want ErrInvalidArgument", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("Delete(%q): got %v, want ErrInvalidArgument", key, err)
		}
	}
	// Dots are fine elsewhere in a key.
	for _, key := range []string{"a/.lock", "x.tmp-y", "v1.2/.hidden"} {
		if _, err := s.Put(ctx, key, []byte("x")); err != nil {
			t.Errorf("Put(%q): %v", key, err)
		}
	}
}

// A key that names a directory of other keys is not an object.
func TestLocalKeyShadowedByDirectory(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t, t.TempDir())
	mustPut(t, ctx, s, "a/b", []byte("x"))
	if _, _, err := s.Get(ctx, "a"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get(dir): got %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "a", 0, 1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange(dir): got %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "a/b/c"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get(below a file): got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete(dir): %v", err)
	}
	if _, err := s.PutIfAbsent(ctx, "a", []byte("y")); errors.Is(err, objstore.ErrPreconditionFailed) || err == nil {
		t.Errorf("PutIfAbsent(dir): got %v, want a non-precondition error", err)
	}
	if _, err := s.PutIfMatch(ctx, "a", []byte("y"), "x"); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Errorf("PutIfMatch(dir): got %v, want ErrPreconditionFailed", err)
	}
	if data, _ := mustGet(t, ctx, s, "a/b"); string(data) != "x" {
		t.Errorf("a/b = %q", data)
	}
}

func TestLocalReopen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	etag := mustPut(t, ctx, newLocal(t, root), "k/v", []byte("durable"))
	data, got := mustGet(t, ctx, newLocal(t, root), "k/v")
	if string(data) != "durable" || got != etag {
		t.Fatalf("reopened store: %q, %q", data, got)
	}
}

// Prefixes are not keys, but they must not reach outside the root either.
func TestLocalListStaysInsideRoot(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "outside"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newLocal(t, filepath.Join(parent, "root"))
	mustPut(t, ctx, s, "inside", []byte("y"))
	for _, prefix := range []string{"../", "../out", "/", "/etc/", "a//", "./"} {
		objs, err := s.List(ctx, prefix, "", 0)
		if err != nil || len(objs) != 0 {
			t.Errorf("List(%q) = %v, %v; want nothing", prefix, objs, err)
		}
	}
}
