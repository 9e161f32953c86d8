package objstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// ErrTransient marks errors that may go away if the request is repeated:
// network failures, throttling, server-side 5xx. Test with IsTransient.
var ErrTransient = errors.New("objstore: transient error")

// transientError carries the original error and ErrTransient, so that
// errors.Is matches both and the message stays the original one.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }

func (e *transientError) Unwrap() []error { return []error{e.err, ErrTransient} }

// Transient marks err as transient. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil || errors.Is(err, ErrTransient) {
		return err
	}
	return &transientError{err: err}
}

// IsTransient reports whether err, or an error it wraps, is transient.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// RetryOptions configures NewRetrying. Zero fields take the defaults.
type RetryOptions struct {
	// InitialBackoff is the wait before the first retry (default 20ms). It
	// doubles after every retry, up to MaxBackoff, with jitter.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between attempts (default 1s).
	MaxBackoff time.Duration
	// Deadline bounds one whole operation, attempts and waits together
	// (default 30s). A stuck request is cut off when it expires.
	Deadline time.Duration
	// Logger receives one warning per retry. Nil means no logging.
	Logger *slog.Logger
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 20 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.Deadline <= 0 {
		o.Deadline = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// NewRetrying wraps inner so that transient errors are retried with
// exponential backoff and jitter until the operation's deadline passes or
// ctx is done; the last error is then returned, still transient. Every
// other error (ErrNotFound, ErrPreconditionFailed, context errors, invalid
// arguments) is returned at once.
//
// Conditional puts are retried too, which makes them ambiguous: if the first
// attempt reached the store but its response was lost, the retry sees
// ErrPreconditionFailed caused by that very attempt. Callers that get
// ErrPreconditionFailed resolve it by reading the object back.
//
// Wrap the innermost store (or a Counting around it) so that each retry is
// one real request.
func NewRetrying(inner Store, opts RetryOptions) Store {
	return &retrying{inner: inner, opts: opts.withDefaults()}
}

type retrying struct {
	inner Store
	opts  RetryOptions
}

// do runs fn until it succeeds, fails permanently, or time runs out.
// ErrRetryDeadline means an operation's retry budget (RetryOptions.Deadline)
// ran out. It is transient, and deliberately not a context error: the
// caller's context did not end, so callers must not report it as their
// own timeout.
var ErrRetryDeadline = errors.New("objstore: retry deadline exceeded")

// deadlineErr reports a spent retry budget, wrapping the last error unless
// it is a context error: that would be our own deadline as the inner store
// saw it, and must not leak out looking like the caller's.
func (r *retrying) deadlineErr(op, key string, attempt int, last error) error {
	format := "objstore: %s %q: %w (%v, %d attempts); last error: %w"
	if errors.Is(last, context.DeadlineExceeded) || errors.Is(last, context.Canceled) {
		format = "objstore: %s %q: %w (%v, %d attempts); last error: %v"
	}
	return Transient(fmt.Errorf(format, op, key, ErrRetryDeadline, r.opts.Deadline, attempt, last))
}

func (r *retrying) do(ctx context.Context, op, key string, fn func(ctx context.Context) error) error {
	opCtx, cancel := context.WithTimeout(ctx, r.opts.Deadline)
	defer cancel()

	backoff := r.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := fn(opCtx)
		if err == nil || !retryable(err) {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && opCtx.Err() != nil {
				// The inner store saw our deadline as a context error;
				// to the caller it is a retry budget running out.
				return r.deadlineErr(op, key, attempt, err)
			}
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("objstore: %s %q: %w after %d attempts: %w", op, key, ctx.Err(), attempt, err)
		}

		// Full jitter on the upper half keeps racing clients apart while
		// still growing the wait.
		wait := backoff/2 + rand.N(backoff/2+1)
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "objstore: retrying after transient error",
			slog.String("op", op), slog.String("key", key), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.Any("err", err))

		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-opCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("objstore: %s %q: %w after %d attempts: %w", op, key, ctx.Err(), attempt, err)
			}
			return r.deadlineErr(op, key, attempt, err)
		}
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
}

// retryable reports whether err is worth another attempt. Answers that are
// final by nature win even if something in the chain claims transience.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrPreconditionFailed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return IsTransient(err)
}

func (r *retrying) Get(ctx context.Context, key string) (data []byte, etag string, err error) {
	err = r.do(ctx, "get", key, func(ctx context.Context) error {
		var e error
		data, etag, e = r.inner.Get(ctx, key)
		return e
	})
	return data, etag, err
}

func (r *retrying) GetRange(ctx context.Context, key string, offset, length int64) (data []byte, err error) {
	err = r.do(ctx, "get range", key, func(ctx context.Context) error {
		var e error
		data, e = r.inner.GetRange(ctx, key, offset, length)
		return e
	})
	return data, err
}

func (r *retrying) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	return r.do(ctx, "get range", key, func(ctx context.Context) error {
		return r.inner.GetRangeInto(ctx, key, offset, bufs)
	})
}

func (r *retrying) Put(ctx context.Context, key string, data []byte) (etag string, err error) {
	err = r.do(ctx, "put", key, func(ctx context.Context) error {
		var e error
		etag, e = r.inner.Put(ctx, key, data)
		return e
	})
	return etag, err
}

// PutIfAbsent retries transient failures. After an ambiguous failure the
// retry may return ErrPreconditionFailed because the first attempt created
// the object; callers resolve that by reading it back.
func (r *retrying) PutIfAbsent(ctx context.Context, key string, data []byte) (etag string, err error) {
	err = r.do(ctx, "put if absent", key, func(ctx context.Context) error {
		var e error
		etag, e = r.inner.PutIfAbsent(ctx, key, data)
		return e
	})
	return etag, err
}

// PutIfMatch retries transient failures. After an ambiguous failure the
// retry may return ErrPreconditionFailed because the first attempt already
// replaced the object; callers resolve that by reading it back.
func (r *retrying) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (newETag string, err error) {
	err = r.do(ctx, "put if match", key, func(ctx context.Context) error {
		var e error
		newETag, e = r.inner.PutIfMatch(ctx, key, data, etag)
		return e
	})
	return newETag, err
}

func (r *retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete", key, func(ctx context.Context) error {
		return r.inner.Delete(ctx, key)
	})
}

func (r *retrying) List(ctx context.Context, prefix, startAfter string, limit int) (infos []ObjectInfo, err error) {
	err = r.do(ctx, "list", prefix, func(ctx context.Context) error {
		var e error
		infos, e = r.inner.List(ctx, prefix, startAfter, limit)
		return e
	})
	return infos, err
}
