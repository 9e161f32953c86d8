package s3test_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTB records Skip and Fatal instead of ending the real test, so the
// helper's failure paths can be checked.
type fakeTB struct {
	testing.TB
	skipped  bool
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Name() string          { return "Fake" }
func (f *fakeTB) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Skip(args ...any)      { f.skipped = true; runtime.Goexit() }
func (f *fakeTB) Errorf(string, ...any) {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls s3test.Store on a fake in its own goroutine, as Goexit needs.
func run(f *fakeTB) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s3test.Store(f)
	}()
	<-done
	for _, fn := range f.cleanups {
		fn()
	}
}

func TestSkipsWhenDisabled(t *testing.T) {
	t.Setenv("S2LITE_TEST_S3", "")
	f := &fakeTB{}
	run(f)
	if !f.skipped || f.fatal != "" {
		t.Fatalf("skipped %v, fatal %q; want a skip", f.skipped, f.fatal)
	}
}

// Enabled but unreachable is a failure, not a skip: a broken harness must
// not quietly turn the S3 tests off.
func TestFailsWhenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("S2LITE_TEST_S3", "1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://"+addr)
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	f := &fakeTB{}
	run(f)
	if f.skipped || f.fatal == "" {
		t.Fatalf("skipped %v, fatal %q; want a fatal error", f.skipped, f.fatal)
	}
	t.Log(f.fatal)
}

func TestStoresAreIsolatedAndCleanedUp(t *testing.T) {
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	ctx := context.Background()
	t.Run("inner", func(t *testing.T) {
		a, b := s3test.Store(t), s3test.Store(t)
		if _, err := a.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Get(ctx, "k"); err == nil {
			t.Fatal("second store sees the first one's object")
		}
	})

	root, err := objstore.NewS3(ctx, objstore.S3OptionsFromEnv(s3test.Bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	left, err := root.List(ctx, "t/TestStoresAreIsolatedAndCleanedUp_inner-", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("cleanup left %v", left)
	}
}
