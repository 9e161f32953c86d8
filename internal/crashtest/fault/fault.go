// Package fault gives failpoint values one meaning everywhere: the markers
// in engine and objstore pass the value of their failpoint here, and this
// package crashes the process, sleeps, or produces an error.
//
// Markers are inert function calls until `failpoint-ctl enable` rewrites
// them, and a rewritten marker still does nothing unless its failpoint is
// enabled, through the GO_FAILPOINTS variable or failpoint.Enable. A value
// is a string, set with the return term, e.g.
//
//	GO_FAILPOINTS='github.com/s2lite/s2lite/engine/walAfterPut=20*off->return("crash")'
//	GO_FAILPOINTS='github.com/s2lite/s2lite/objstore/storePutIfAbsent=10%return("lost@wal/")'
//
// The grammar is ACTION or ACTION@PREFIX; with a prefix, the action applies
// only to object keys (list prefixes, for List) that start with PREFIX.
//
//	crash       exit at once with status 137, as SIGKILL would: no deferred
//	            function runs, nothing is flushed
//	crash-after (object store) perform the request, then crash
//	error       fail with a transient error (the retrying store retries it)
//	permanent   fail with an error that is not transient
//	lost        (object store) perform the request, then report a transient
//	            failure: the reply was lost
//	timeout     hang until the caller's context ends (at most 10s), then
//	            fail as a transient timeout; timeout(MS) hangs at most MS
//	sleep(MS)   wait MS milliseconds, then go on normally
//
// The failpoint library's own sleep(MS) term also works; it yields no value,
// which means "go on normally" here.
package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/failpoint"
)

// ErrInjected is wrapped by every error this package produces.
var ErrInjected = errors.New("fault: injected")

// CrashExitCode is the exit status of a crash action, the one a shell
// reports for a process killed by SIGKILL.
const CrashExitCode = 137

// defaultTimeout bounds a timeout action whose caller set no deadline.
const defaultTimeout = 10 * time.Second

// Kind is what an action does.
type Kind int

// The kinds of action; see the package documentation.
const (
	None Kind = iota
	Crash
	CrashAfter
	Error
	Permanent
	Lost
	Timeout
	Sleep
)

// Action is a parsed failpoint value.
type Action struct {
	Kind   Kind
	Delay  time.Duration // for Sleep and Timeout
	Prefix string        // the action applies only to keys with this prefix
}

// Parse interprets a failpoint value. A nil value (the library's sleep or
// off terms) is the action None.
func Parse(v failpoint.Value) (Action, error) {
	if v == nil {
		return Action{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return Action{}, fmt.Errorf("fault: failpoint value %v (%T) is not a string", v, v)
	}
	var a Action
	s, a.Prefix, _ = strings.Cut(s, "@")
	name, arg, hasArg := strings.Cut(s, "(")
	if hasArg {
		ms, err := strconv.Atoi(strings.TrimSuffix(arg, ")"))
		if err != nil || !strings.HasSuffix(arg, ")") || ms < 0 {
			return Action{}, fmt.Errorf("fault: bad argument in %q", s)
		}
		a.Delay = time.Duration(ms) * time.Millisecond
	}
	switch name {
	case "crash":
		a.Kind = Crash
	case "crash-after":
		a.Kind = CrashAfter
	case "error":
		a.Kind = Error
	case "permanent":
		a.Kind = Permanent
	case "lost":
		a.Kind = Lost
	case "timeout":
		a.Kind = Timeout
		if !hasArg {
			a.Delay = defaultTimeout
		}
	case "sleep":
		if !hasArg {
			return Action{}, fmt.Errorf("fault: sleep needs a duration in %q", s)
		}
		a.Kind = Sleep
	default:
		return Action{}, fmt.Errorf("fault: unknown action %q", s)
	}
	if hasArg && a.Kind != Sleep && a.Kind != Timeout {
		return Action{}, fmt.Errorf("fault: %q takes no argument", name)
	}
	return a, nil
}

// MustParse is Parse for markers: a misspelt failpoint value is a broken
// test setup, reported loudly rather than silently ignored.
func MustParse(v failpoint.Value) Action {
	a, err := Parse(v)
	if err != nil {
		panic(err)
	}
	return a
}

// For returns the action, or None if it does not apply to key.
func (a Action) For(key string) Action {
	if !strings.HasPrefix(key, a.Prefix) {
		return Action{}
	}
	return a
}

// CrashNow ends the process the way a kill would: os.Exit runs no deferred
// functions and flushes no buffers.
func CrashNow() { os.Exit(CrashExitCode) }

// Do runs a value at a marker that has no object key (engine steps): crash
// exits, sleep waits (or until ctx ends), error and permanent return an
// error wrapping ErrInjected. The object-store-only kinds are refused.
func Do(ctx context.Context, v failpoint.Value) error {
	a := MustParse(v)
	switch a.Kind {
	case None:
		return nil
	case Crash:
		CrashNow()
	case Sleep:
		return Wait(ctx, a.Delay)
	case Error, Permanent:
		return fmt.Errorf("%w at an engine step", ErrInjected)
	}
	panic(fmt.Sprintf("fault: action %v is for the object store only", v))
}

// Wait sleeps for d or until ctx ends, and returns ctx's error in that case.
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
