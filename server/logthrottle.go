package server

import (
	"sync"
	"time"
)

// logThrottle lets the first error of each kind through and then one a
// window, with a count of those it held back: a store outage fails every
// request, and a line per request (12,000 in 40 s) buries what matters.
type logThrottle struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	kinds  map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

func newLogThrottle(window time.Duration) *logThrottle {
	return &logThrottle{window: window, now: time.Now, kinds: map[string]*throttled{}}
}

// allow reports whether an error of this kind is logged now, and how many
// were held back since the last one that was.
func (l *logThrottle) allow(kind string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := l.kinds[kind]
	if k == nil {
		if len(l.kinds) > 1000 {
			clear(l.kinds) // kinds are few; this only bounds memory
		}
		l.kinds[kind] = &throttled{last: now}
		return true, 0
	}
	if now.Sub(k.last) < l.window {
		k.suppressed++
		return false, 0
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	return true, n
}
