package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

func TestConformanceMemory(t *testing.T) {
	testConformance(t, func(t *testing.T) objstore.Store { return objstore.NewMemory() })
}

func TestConformanceLocal(t *testing.T) {
	testConformance(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceS3(t *testing.T) {
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	testConformance(t, func(t *testing.T) objstore.Store { return s3test.Store(t) })
}

// The wrappers must not change behaviour on the happy path.
func TestConformanceWrapped(t *testing.T) {
	testConformance(t, func(t *testing.T) objstore.Store {
		return objstore.NewRetrying(objstore.NewCounting(objstore.NewMemory()), objstore.RetryOptions{})
	})
}

// testConformance runs every behaviour check against fresh stores from
// newStore, one per subtest.
func testConformance(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, context.Background(), newStore(t))
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, ctx context.Context, s objstore.Store)
}{
	{"GetMissing", testGetMissing},
	{"RoundTrip", testRoundTrip},
	{"BuffersAreCopied", testBuffersAreCopied},
	{"GetRange", testGetRange},
	{"GetRangeInto", testGetRangeInto},
	{"PutIfAbsent", testPutIfAbsent},
	{"PutIfAbsentRace", testPutIfAbsentRace},
	{"PutIfMatch", testPutIfMatch},
	{"PutIfMatchRace", testPutIfMatchRace},
	{"Delete", testDelete},
	{"List", testList},
	{"Large", testLarge},
	{"InvalidKeys", testInvalidKeys},
	{"CanceledContext", testCanceledContext},
}

func mustPut(t *testing.T, ctx context.Context, s objstore.Store, key string, data []byte) string {
	t.Helper()
	etag, err := s.Put(ctx, key, data)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if etag == "" {
		t.Fatalf("Put(%q) returned an empty ETag", key)
	}
	return etag
}

func mustGet(t *testing.T, ctx context.Context, s objstore.Store, key string) ([]byte, string) {
	t.Helper()
	data, etag, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data, etag
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testGetMissing(t *testing.T, ctx context.Context, s objstore.Store) {
	if _, _, err := s.Get(ctx, "missing/key"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get missing: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "missing/key", 0, 10); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange missing: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "missing/key", 0, 0); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange missing, zero length: got %v, want ErrNotFound", err)
	}
	if objs, err := s.List(ctx, "", "", 0); err != nil || len(objs) != 0 {
		t.Errorf("List on empty store: %v, %v", objs, err)
	}
}

func testRoundTrip(t *testing.T, ctx context.Context, s objstore.Store) {
	v1 := []byte("hello, object store")
	etag1 := mustPut(t, ctx, s, "dir/obj", v1)
	data, etag := mustGet(t, ctx, s, "dir/obj")
	if !bytes.Equal(data, v1) || etag != etag1 {
		t.Fatalf("Get = %q, %q; want %q, %q", data, etag, v1, etag1)
	}

	v2 := []byte("different content")
	etag2 := mustPut(t, ctx, s, "dir/obj", v2)
	if etag2 == etag1 {
		t.Errorf("ETag did not change with content: %q", etag2)
	}
	data, etag = mustGet(t, ctx, s, "dir/obj")
	if !bytes.Equal(data, v2) || etag != etag2 {
		t.Fatalf("after overwrite Get = %q, %q; want %q, %q", data, etag, v2, etag2)
	}

	// Same content, same ETag: the engine may rely on content ETags.
	if etag3 := mustPut(t, ctx, s, "dir/obj", v1); etag3 != etag1 {
		t.Errorf("re-put of same content: ETag %q, first time %q", etag3, etag1)
	}

	// Empty objects are objects.
	mustPut(t, ctx, s, "empty", nil)
	data, _ = mustGet(t, ctx, s, "empty")
	if len(data) != 0 {
		t.Errorf("empty object read back as %q", data)
	}
}

func testBuffersAreCopied(t *testing.T, ctx context.Context, s objstore.Store) {
	buf := []byte("original")
	mustPut(t, ctx, s, "k", buf)
	copy(buf, "XXXXXXXX")
	data, _ := mustGet(t, ctx, s, "k")
	if string(data) != "original" {
		t.Fatalf("store kept the caller's buffer: %q", data)
	}
	copy(data, "YYYYYYYY")
	data, _ = mustGet(t, ctx, s, "k")
	if string(data) != "original" {
		t.Fatalf("store handed out its own buffer: %q", data)
	}
}

func testGetRange(t *testing.T, ctx context.Context, s objstore.Store) {
	data := randomBytes(t, 100)
	mustPut(t, ctx, s, "r", data)
	mustPut(t, ctx, s, "r-empty", nil)
	cases := []struct {
		key            string
		offset, length int64
		want           []byte
	}{
		{"r", 0, 100, data},
		{"r", 10, 20, data[10:30]},
		{"r", 99, 1, data[99:]},
		{"r", 90, 20, data[90:]},            // overlaps the end
		{"r", 0, math.MaxInt64, data},       // "to the end"
		{"r", 50, math.MaxInt64, data[50:]}, // no overflow
		{"r", 100, 5, []byte{}},             // starts at the end
		{"r", 150, 5, []byte{}},             // starts past the end
		{"r", 10, 0, []byte{}},
		{"r-empty", 0, 10, []byte{}},
	}
	for _, c := range cases {
		got, err := s.GetRange(ctx, c.key, c.offset, c.length)
		if err != nil {
			t.Errorf("GetRange(%q, %d, %d): %v", c.key, c.offset, c.length, err)
			continue
		}
		if got == nil || !bytes.Equal(got, c.want) {
			t.Errorf("GetRange(%q, %d, %d) = %d bytes (nil %v), want %d", c.key, c.offset, c.length, len(got), got == nil, len(c.want))
		}
	}
	for _, bad := range [][2]int64{{-1, 10}, {0, -1}} {
		if _, err := s.GetRange(ctx, "r", bad[0], bad[1]); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("GetRange(%d, %d): got %v, want ErrInvalidArgument", bad[0], bad[1], err)
		}
	}
}

func testGetRangeInto(t *testing.T, ctx context.Context, s objstore.Store) {
	data := randomBytes(t, 100)
	mustPut(t, ctx, s, "r", data)
	mustPut(t, ctx, s, "r-empty", nil)
	for _, c := range []struct {
		offset int64
		sizes  []int
	}{
		{0, []int{100}},
		{0, []int{10, 0, 30, 60}},
		{10, []int{20}},
		{37, []int{1, 1, 1, 60}},
		{99, []int{1}},
		{100, nil},
		{5, []int{0}},
	} {
		var bufs [][]byte
		var want []byte
		off := c.offset
		for _, n := range c.sizes {
			bufs = append(bufs, bytes.Repeat([]byte{0xee}, n))
			want = append(want, data[off:off+int64(n)]...)
			off += int64(n)
		}
		if err := s.GetRangeInto(ctx, "r", c.offset, bufs); err != nil {
			t.Errorf("GetRangeInto(%d, %v): %v", c.offset, c.sizes, err)
			continue
		}
		if got := bytes.Join(bufs, nil); !bytes.Equal(got, want) {
			t.Errorf("GetRangeInto(%d, %v) filled %x, want %x", c.offset, c.sizes, got, want)
		}
	}
	for _, c := range []struct {
		key    string
		offset int64
		sizes  []int
		want   error
	}{
		{"r", 90, []int{5, 6}, objstore.ErrShortObject},   // ends inside the range
		{"r", 100, []int{1}, objstore.ErrShortObject},     // starts at the end
		{"r", 200, []int{10}, objstore.ErrShortObject},    // starts past the end
		{"r-empty", 0, []int{1}, objstore.ErrShortObject}, // empty object
		{"r", -1, []int{10}, objstore.ErrInvalidArgument},
		{"missing/key", 0, []int{10}, objstore.ErrNotFound},
		{"missing/key", 0, nil, objstore.ErrNotFound},
	} {
		var bufs [][]byte
		for _, n := range c.sizes {
			bufs = append(bufs, make([]byte, n))
		}
		err := s.GetRangeInto(ctx, c.key, c.offset, bufs)
		if !errors.Is(err, c.want) {
			t.Errorf("GetRangeInto(%q, %d, %v): got %v, want %v", c.key, c.offset, c.sizes, err, c.want)
		}
		if objstore.IsTransient(err) {
			t.Errorf("GetRangeInto(%q, %d, %v): %v is transient", c.key, c.offset, c.sizes, err)
		}
	}
}

func testPutIfAbsent(t *testing.T, ctx context.Context, s objstore.Store) {
	etag, err := s.PutIfAbsent(ctx, "once", []byte("first"))
	if err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	data, got := mustGet(t, ctx, s, "once")
	if string(data) != "first" || got != etag {
		t.Fatalf("Get = %q, %q; want first, %q", data, got, etag)
	}
	if _, err := s.PutIfAbsent(ctx, "once", []byte("second")); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("second PutIfAbsent: got %v, want ErrPreconditionFailed", err)
	}
	if data, _ := mustGet(t, ctx, s, "once"); string(data) != "first" {
		t.Fatalf("losing PutIfAbsent changed the object to %q", data)
	}
	// After a delete the key is free again.
	if err := s.Delete(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIfAbsent(ctx, "once", []byte("third")); err != nil {
		t.Fatalf("PutIfAbsent after delete: %v", err)
	}
}

func testPutIfAbsentRace(t *testing.T, ctx context.Context, s objstore.Store) {
	const rounds, racers = 20, 8
	for round := range rounds {
		key := fmt.Sprintf("race/%02d", round)
		winners := raceN(racers, func(i int) (string, error) {
			return s.PutIfAbsent(ctx, key, fmt.Appendf(nil, "racer %d", i))
		}, t)
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		data, etag := mustGet(t, ctx, s, key)
		if w := winners[0]; string(data) != fmt.Sprintf("racer %d", w.i) || etag != w.etag {
			t.Fatalf("round %d: stored %q (%s), winner was racer %d (%s)", round, data, etag, w.i, w.etag)
		}
	}
}

type winner struct {
	i    int
	etag string
}

// raceN runs fn(0..n-1) at once and returns the calls that succeeded. Any
// error other than ErrPreconditionFailed fails the test.
func raceN(n int, fn func(i int) (string, error), t *testing.T) []winner {
	t.Helper()
	var (
		mu      sync.Mutex
		winners []winner
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			etag, err := fn(i)
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, winner{i, etag})
				mu.Unlock()
			case !errors.Is(err, objstore.ErrPreconditionFailed):
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return winners
}

func testPutIfMatch(t *testing.T, ctx context.Context, s objstore.Store) {
	if _, err := s.PutIfMatch(ctx, "cas", []byte("x"), "0123456789abcdef0123456789abcdef"); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Errorf("PutIfMatch on missing key: got %v, want ErrPreconditionFailed", err)
	}
	if _, _, err := s.Get(ctx, "cas"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("failed PutIfMatch created the object: %v", err)
	}

	etag1 := mustPut(t, ctx, s, "cas", []byte("v1"))
	etag2, err := s.PutIfMatch(ctx, "cas", []byte("v2"), etag1)
	if err != nil {
		t.Fatalf("PutIfMatch with current ETag: %v", err)
	}
	data, got := mustGet(t, ctx, s, "cas")
	if string(data) != "v2" || got != etag2 {
		t.Fatalf("Get = %q, %q; want v2, %q", data, got, etag2)
	}
	if _, err := s.PutIfMatch(ctx, "cas", []byte("v3"), etag1); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Errorf("PutIfMatch with stale ETag: got %v, want ErrPreconditionFailed", err)
	}
	if _, err := s.PutIfMatch(ctx, "cas", []byte("v3"), ""); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Errorf("PutIfMatch with empty ETag: got %v, want ErrPreconditionFailed", err)
	}
	if data, _ := mustGet(t, ctx, s, "cas"); string(data) != "v2" {
		t.Fatalf("failed PutIfMatch changed the object to %q", data)
	}
}

func testPutIfMatchRace(t *testing.T, ctx context.Context, s objstore.Store) {
	const rounds, racers = 10, 8
	etag := mustPut(t, ctx, s, "cas", []byte("start"))
	for round := range rounds {
		winners := raceN(racers, func(i int) (string, error) {
			return s.PutIfMatch(ctx, "cas", fmt.Appendf(nil, "round %d racer %d", round, i), etag)
		}, t)
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		data, got := mustGet(t, ctx, s, "cas")
		if w := winners[0]; string(data) != fmt.Sprintf("round %d racer %d", round, w.i) || got != w.etag {
			t.Fatalf("round %d: stored %q (%s), winner was racer %d (%s)", round, data, got, w.i, w.etag)
		}
		etag = got
	}
}

func testDelete(t *testing.T, ctx context.Context, s objstore.Store) {
	mustPut(t, ctx, s, "d/1", []byte("x"))
	mustPut(t, ctx, s, "d/2", []byte("y"))
	for range 2 {
		if err := s.Delete(ctx, "d/1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if _, _, err := s.Get(ctx, "d/1"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Errorf("Delete of a never-existing key: %v", err)
	}
	if data, _ := mustGet(t, ctx, s, "d/2"); string(data) != "y" {
		t.Errorf("Delete touched a sibling: %q", data)
	}
}

func testList(t *testing.T, ctx context.Context, s objstore.Store) {
	// "dir-z" and "dir0" bracket "dir/..." in byte order ('-' < '/' < '0'),
	// which a naive directory walk gets wrong.
	keys := []string{"dir/x/1", "dir/x/10", "dir/x/2", "dir/y", "dir-z", "dir0", "other/q", "top"}
	etags := map[string]string{}
	for i, k := range keys {
		etags[k] = mustPut(t, ctx, s, k, bytes.Repeat([]byte{'a'}, i+1))
	}
	sizes := map[string]int64{}
	for i, k := range keys {
		sizes[k] = int64(i + 1)
	}

	list := func(prefix, startAfter string, limit int) []string {
		t.Helper()
		objs, err := s.List(ctx, prefix, startAfter, limit)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", prefix, startAfter, limit, err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Key)
			if o.Size != sizes[o.Key] {
				t.Errorf("List: %q has size %d, want %d", o.Key, o.Size, sizes[o.Key])
			}
			// Local leaves ETags out of listings; where given they must match.
			if o.ETag != "" && o.ETag != etags[o.Key] {
				t.Errorf("List: %q has ETag %q, want %q", o.Key, o.ETag, etags[o.Key])
			}
			// Garbage collection relies on write times (clocks may differ
			// a little between client and server).
			if age := time.Since(o.LastModified); age < -time.Minute || age > 10*time.Minute {
				t.Errorf("List: %q has LastModified %v (age %v)", o.Key, o.LastModified, age)
			}
		}
		return out
	}
	sorted := slices.Sorted(slices.Values(keys))
	cases := []struct {
		prefix, startAfter string
		limit              int
		want               []string
	}{
		{"", "", 0, sorted},
		{"dir/", "", 0, []string{"dir/x/1", "dir/x/10", "dir/x/2", "dir/y"}},
		{"dir", "", 0, []string{"dir-z", "dir/x/1", "dir/x/10", "dir/x/2", "dir/y", "dir0"}},
		{"dir/x", "", 0, []string{"dir/x/1", "dir/x/10", "dir/x/2"}},
		{"dir/x/1", "", 0, []string{"dir/x/1", "dir/x/10"}},
		{"dir/", "dir/x/10", 0, []string{"dir/x/2", "dir/y"}},
		{"dir/", "dir/x", 0, []string{"dir/x/1", "dir/x/10", "dir/x/2", "dir/y"}},
		{"dir", "dir/y", 0, []string{"dir0"}},
		{"dir/", "", 2, []string{"dir/x/1", "dir/x/10"}},
		{"", "dir0", 1, []string{"other/q"}},
		{"", "top", 0, nil},
		{"nothing/", "", 0, nil},
		{"nothing", "", 0, nil},
	}
	for _, c := range cases {
		if got := list(c.prefix, c.startAfter, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("List(%q, %q, %d) = %q, want %q", c.prefix, c.startAfter, c.limit, got, c.want)
		}
	}

	// Paging with startAfter visits every key once, in order.
	var paged []string
	after := ""
	for {
		page := list("", after, 3)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, sorted) {
		t.Errorf("paged listing = %q, want %q", paged, sorted)
	}
}

func testLarge(t *testing.T, ctx context.Context, s objstore.Store) {
	if testing.Short() {
		t.Skip("large object in -short mode")
	}
	data := randomBytes(t, 20<<20)
	etag := mustPut(t, ctx, s, "big", data)
	got, gotETag := mustGet(t, ctx, s, "big")
	if !bytes.Equal(got, data) || gotETag != etag {
		t.Fatalf("large round trip: %d bytes, ETag %q; want %d bytes, %q", len(got), gotETag, len(data), etag)
	}
	part, err := s.GetRange(ctx, "big", 10<<20-5, 1<<20)
	if err != nil || !bytes.Equal(part, data[10<<20-5:11<<20-5]) {
		t.Fatalf("large GetRange: %d bytes, %v", len(part), err)
	}
}

func testInvalidKeys(t *testing.T, ctx context.Context, s objstore.Store) {
	for _, key := range []string{"", "/abs", "a/../b", "..", "a/./b", "a//b", "trailing/", `back\slash`} {
		if _, err := s.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("Put(%q): got %v, want ErrInvalidArgument", key, err)
		}
		if _, _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidArgument) {
			t.Errorf("Get(%q): got %v, want ErrInvalidArgument", key, err)
		}
		if objstore.IsTransient(func() error { _, e := s.PutIfAbsent(ctx, key, nil); return e }()) {
			t.Errorf("PutIfAbsent(%q): invalid key reported as transient", key)
		}
	}
}

func testCanceledContext(t *testing.T, ctx context.Context, s objstore.Store) {
	mustPut(t, ctx, s, "k", []byte("v"))
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled context: %v", err)
	}
	if _, err := s.Put(ctx, "k2", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled context: %v", err)
	}
	if _, err := s.List(ctx, "", "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context: %v", err)
	}
}
