package server

import (
	"testing"
	"time"
)

func TestLogThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLogThrottle(10 * time.Second)
	l.now = func() time.Time { return now }
	logged := 0
	held := 0
	for i := range 12000 {
		now = time.Unix(0, 0).Add(time.Duration(i) * 40 * time.Second / 12000)
		ok, n := l.allow(`{"code":"storage"}`)
		if ok {
			logged++
			held += n
		}
	}
	// 40 s of errors: the first, then one per 10 s window.
	if logged < 4 || logged > 5 {
		t.Fatalf("%d lines for 12000 errors in 40 s", logged)
	}
	// Every error is a logged line, counted in a later line, or held in
	// the current window's count.
	pending := l.kinds[`{"code":"storage"}`].suppressed
	if logged+held+pending != 12000 {
		t.Fatalf("the counts account for %d+%d+%d of 12000 errors", logged, held, pending)
	}
	// Another kind is logged at once.
	if ok, _ := l.allow(`{"code":"other"}`); !ok {
		t.Fatal("a new kind of error was held back")
	}
}
