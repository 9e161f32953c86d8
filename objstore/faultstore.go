package objstore

import (
	"context"
	"fmt"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
)

// FaultStore passes every request to an inner store, unless the failpoint of
// its operation is enabled: then the failpoint's value (see package
// internal/crashtest/fault) makes the request fail before it reaches the
// store, hang, go slow, crash the process, or take effect and report a
// failure anyway, as when a reply is lost.
//
// The failpoints, one per operation, are named
// github.com/s2lite/s2lite/objstore/ followed by storeGet, storeGetRange,
// storePut, storePutIfAbsent, storePutIfMatch, storeDelete and storeList
// (GetRangeInto shares storeGetRange).
// In an ordinary build the markers are inert and FaultStore is a plain
// pass-through; `failpoint-ctl enable` makes them live.
//
// Put it under NewRetrying, so that each injected fault is one attempt and
// transient ones are retried like real ones.
type FaultStore struct {
	inner Store
}

var _ Store = (*FaultStore)(nil)

// NewFaultStore wraps inner.
func NewFaultStore(inner Store) *FaultStore { return &FaultStore{inner: inner} }

// before applies the part of an action that precedes the request. A nil
// error means the request goes ahead.
func (f *FaultStore) before(ctx context.Context, a fault.Action, op, key string) error {
	switch a.Kind {
	case fault.Crash:
		fault.CrashNow()
	case fault.Sleep:
		return fault.Wait(ctx, a.Delay)
	case fault.Error:
		return Transient(fmt.Errorf("objstore: %s %q: %w", op, key, fault.ErrInjected))
	case fault.Permanent:
		return fmt.Errorf("objstore: %s %q: %w (permanent)", op, key, fault.ErrInjected)
	case fault.Timeout:
		err := fault.Wait(ctx, a.Delay)
		if err == nil {
			err = context.DeadlineExceeded
		}
		// Like a real stuck request: a context error once the caller's
		// deadline passes, otherwise a transient timeout.
		if ctx.Err() != nil {
			return fmt.Errorf("objstore: %s %q: %w: request timed out: %w", op, key, fault.ErrInjected, err)
		}
		return Transient(fmt.Errorf("objstore: %s %q: %w: request timed out", op, key, fault.ErrInjected))
	}
	return nil
}

// after applies the part of an action that follows a request that went
// ahead and returned err.
func (f *FaultStore) after(a fault.Action, op, key string, err error) error {
	switch a.Kind {
	case fault.CrashAfter:
		fault.CrashNow()
	case fault.Lost:
		if err == nil {
			return Transient(fmt.Errorf("objstore: %s %q: %w: reply lost after the request took effect", op, key, fault.ErrInjected))
		}
	}
	return err
}

func (f *FaultStore) Get(ctx context.Context, key string) (data []byte, etag string, err error) {
	var a fault.Action
	failpoint.Inject("storeGet", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "get", key); err != nil {
		return nil, "", err
	}
	data, etag, err = f.inner.Get(ctx, key)
	if err = f.after(a, "get", key, err); err != nil {
		return nil, "", err
	}
	return data, etag, nil
}

func (f *FaultStore) GetRange(ctx context.Context, key string, offset, length int64) (data []byte, err error) {
	var a fault.Action
	failpoint.Inject("storeGetRange", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "get range", key); err != nil {
		return nil, err
	}
	data, err = f.inner.GetRange(ctx, key, offset, length)
	if err = f.after(a, "get range", key, err); err != nil {
		return nil, err
	}
	return data, nil
}

// GetRangeInto is governed by the storeGetRange failpoint too: it is the
// same request as GetRange.
func (f *FaultStore) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	var a fault.Action
	failpoint.Inject("storeGetRange", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "get range", key); err != nil {
		return err
	}
	return f.after(a, "get range", key, f.inner.GetRangeInto(ctx, key, offset, bufs))
}

func (f *FaultStore) Put(ctx context.Context, key string, data []byte) (etag string, err error) {
	var a fault.Action
	failpoint.Inject("storePut", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "put", key); err != nil {
		return "", err
	}
	etag, err = f.inner.Put(ctx, key, data)
	if err = f.after(a, "put", key, err); err != nil {
		return "", err
	}
	return etag, nil
}

func (f *FaultStore) PutIfAbsent(ctx context.Context, key string, data []byte) (etag string, err error) {
	var a fault.Action
	failpoint.Inject("storePutIfAbsent", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "put if absent", key); err != nil {
		return "", err
	}
	etag, err = f.inner.PutIfAbsent(ctx, key, data)
	if err = f.after(a, "put if absent", key, err); err != nil {
		return "", err
	}
	return etag, nil
}

func (f *FaultStore) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (newETag string, err error) {
	var a fault.Action
	failpoint.Inject("storePutIfMatch", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "put if match", key); err != nil {
		return "", err
	}
	newETag, err = f.inner.PutIfMatch(ctx, key, data, etag)
	if err = f.after(a, "put if match", key, err); err != nil {
		return "", err
	}
	return newETag, nil
}

func (f *FaultStore) Delete(ctx context.Context, key string) error {
	var a fault.Action
	failpoint.Inject("storeDelete", func(val failpoint.Value) { a = fault.MustParse(val).For(key) })
	if err := f.before(ctx, a, "delete", key); err != nil {
		return err
	}
	return f.after(a, "delete", key, f.inner.Delete(ctx, key))
}

func (f *FaultStore) List(ctx context.Context, prefix, startAfter string, limit int) (infos []ObjectInfo, err error) {
	var a fault.Action
	failpoint.Inject("storeList", func(val failpoint.Value) { a = fault.MustParse(val).For(prefix) })
	if err := f.before(ctx, a, "list", prefix); err != nil {
		return nil, err
	}
	infos, err = f.inner.List(ctx, prefix, startAfter, limit)
	if err = f.after(a, "list", prefix, err); err != nil {
		return nil, err
	}
	return infos, nil
}
