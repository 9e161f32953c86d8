package stream

import (
	"context"
	"errors"
	"sync"
)

// AppendSession is a pipelined append session on one stream.
type AppendSession struct {
	svc *Service
	h   *streamHandle
	// enc seals the session's records; nil for a stream without a cipher.
	enc *recordCipher

	submitMu sync.Mutex // orders Submit calls
	closed   bool

	errMu sync.Mutex
	err   error // the first failure; nothing is accepted after it
}

func (s *Service) openAppendSession(ctx context.Context, basin, name string, opts []OpenOption) (*AppendSession, error) {
	h, enc, err := s.openStreamWithKey(ctx, basin, name, false, opts)
	if err != nil {
		return nil, err
	}
	return &AppendSession{svc: s, h: h, enc: enc}, nil
}

func (a *AppendSession) fail(err error) {
	a.errMu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.errMu.Unlock()
}

func (a *AppendSession) failure() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

func (a *AppendSession) submit(ctx context.Context, in AppendInput) (*AppendFuture, error) {
	v, err := validateAppendInput(in)
	if err != nil {
		a.fail(err)
		return nil, err
	}
	return a.submitValidated(ctx, v)
}

func (a *AppendSession) submitValidated(ctx context.Context, v *validatedInput) (*AppendFuture, error) {
	a.submitMu.Lock()
	defer a.submitMu.Unlock()
	if a.closed {
		return nil, errAppendSessionClosed
	}
	if err := a.failure(); err != nil {
		return nil, err
	}
	if err := a.svc.checkOpen(); err != nil {
		return nil, err
	}
	if err := a.svc.admission.acquire(ctx, int64(v.metered)); err != nil {
		return nil, err
	}
	fut := newAppendFuture()
	rejected, err := a.h.sequence(ctx, v, fut, a)
	if err != nil {
		a.svc.admission.release(int64(v.metered))
		a.fail(err)
		return nil, err
	}
	if rejected != nil {
		a.svc.admission.release(int64(v.metered))
		a.fail(rejected)
	}
	return fut, nil
}

func (a *AppendSession) close() {
	a.submitMu.Lock()
	defer a.submitMu.Unlock()
	if !a.closed {
		a.closed = true
		a.h.release()
	}
}

var errAppendSessionClosed = errors.New("stream: append session closed")
