package objstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/objstore"
)

// With no failpoint enabled (and in the ordinary build, where the markers
// are inert) a FaultStore is a plain pass-through.
func TestConformanceFaultStore(t *testing.T) {
	testConformance(t, func(t *testing.T) objstore.Store {
		return objstore.NewFaultStore(objstore.NewMemory())
	})
}

const fpPrefix = "github.com/s2lite/s2lite/objstore/"

// enableFault turns on one FaultStore failpoint for the rest of the test.
// It skips unless the fault tests were asked for (make fault-test), and
// fails if they were but the markers are inert.
func enableFault(t *testing.T, op, terms string) {
	t.Helper()
	if os.Getenv("S2LITE_FAILPOINTS") != "1" {
		t.Skip("S2LITE_FAILPOINTS not set: run `make fault-test`")
	}
	if err := failpoint.Enable(fpPrefix+op, terms); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable(fpPrefix + op) })
}

func TestFaultStoreActions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		terms     string
		key       string
		transient bool // the error is transient
		lands     bool // the object exists afterwards
		failed    bool // the call reports failure
	}{
		{name: "error", terms: `return("error")`, key: "a", failed: true, transient: true},
		{name: "permanent", terms: `return("permanent")`, key: "a", failed: true},
		{name: "lost", terms: `return("lost")`, key: "a", failed: true, transient: true, lands: true},
		{name: "sleep", terms: `return("sleep(20)")`, key: "a", lands: true},
		{name: "library sleep", terms: `sleep(20)`, key: "a", lands: true},
		{name: "timeout", terms: `return("timeout(20)")`, key: "a", failed: true, transient: true},
		{name: "prefix matches", terms: `return("error@wal/")`, key: "wal/1", failed: true, transient: true},
		{name: "prefix does not match", terms: `return("error@wal/")`, key: "sst/1", lands: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enableFault(t, "storePutIfAbsent", tc.terms)
			mem := objstore.NewMemory()
			s := objstore.NewFaultStore(mem)
			_, err := s.PutIfAbsent(ctx, tc.key, []byte("x"))
			if (err != nil) != tc.failed {
				t.Fatalf("PutIfAbsent: %v, want failure %v", err, tc.failed)
			}
			if tc.failed && (!errors.Is(err, fault.ErrInjected) || objstore.IsTransient(err) != tc.transient) {
				t.Fatalf("PutIfAbsent: %v: want an injected error, transient %v", err, tc.transient)
			}
			_, _, gerr := mem.Get(ctx, tc.key)
			if landed := gerr == nil; landed != tc.lands {
				t.Fatalf("object exists: %v, want %v", landed, tc.lands)
			}
		})
	}
}

// A timeout hangs until the caller's deadline and then reports the
// context's error, as a stuck request would.
func TestFaultStoreTimeoutHonoursContext(t *testing.T) {
	enableFault(t, "storeGet", `return("timeout")`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := objstore.NewFaultStore(objstore.NewMemory()).Get(ctx, "a")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("Get: %v, want an injected deadline error", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Get returned after %v, want about the 30ms deadline", d)
	}
}

// Under the retrying store, a lost reply turns into the ambiguity the
// engine resolves by reading back: the retry finds its own object.
func TestFaultStoreLostReplyUnderRetries(t *testing.T) {
	enableFault(t, "storePutIfAbsent", `1*return("lost")`)
	mem := objstore.NewMemory()
	s := objstore.NewRetrying(objstore.NewFaultStore(mem), objstore.RetryOptions{InitialBackoff: time.Millisecond})
	_, err := s.PutIfAbsent(context.Background(), "a", []byte("x"))
	if !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent: %v, want ErrPreconditionFailed from the retry", err)
	}
	if got, _, err := mem.Get(context.Background(), "a"); err != nil || string(got) != "x" {
		t.Fatalf("object: %q, %v", got, err)
	}
}

// Every operation has its failpoint.
func TestFaultStoreEveryOperation(t *testing.T) {
	ctx := context.Background()
	ops := map[string]func(s objstore.Store) error{
		"storeGet":      func(s objstore.Store) error { _, _, err := s.Get(ctx, "k"); return err },
		"storeGetRange": func(s objstore.Store) error { _, err := s.GetRange(ctx, "k", 0, 1); return err },
		"storePut":      func(s objstore.Store) error { _, err := s.Put(ctx, "k", []byte("y")); return err },
		"storePutIfAbsent": func(s objstore.Store) error {
			_, err := s.PutIfAbsent(ctx, "k2", []byte("y"))
			return err
		},
		"storePutIfMatch": func(s objstore.Store) error {
			_, err := s.PutIfMatch(ctx, "k", []byte("y"), "whatever")
			return err
		},
		"storeDelete": func(s objstore.Store) error { return s.Delete(ctx, "k") },
		"storeList":   func(s objstore.Store) error { _, err := s.List(ctx, "", "", 0); return err },
	}
	// GetRangeInto shares GetRange's failpoint.
	ops["storeGetRange/into"] = func(s objstore.Store) error {
		return s.GetRangeInto(ctx, "k", 0, [][]byte{make([]byte, 1)})
	}
	for name, call := range ops {
		op, _, _ := strings.Cut(name, "/")
		t.Run(name, func(t *testing.T) {
			enableFault(t, op, `return("permanent")`)
			mem := objstore.NewMemory()
			if _, err := mem.Put(ctx, "k", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := call(objstore.NewFaultStore(mem)); !errors.Is(err, fault.ErrInjected) {
				t.Fatalf("%s: %v, want an injected error", op, err)
			}
		})
	}
}
