package fault

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want Action
	}{
		{nil, Action{}},
		{"crash", Action{Kind: Crash}},
		{"crash-after@manifest/", Action{Kind: CrashAfter, Prefix: "manifest/"}},
		{"error@wal/", Action{Kind: Error, Prefix: "wal/"}},
		{"permanent", Action{Kind: Permanent}},
		{"lost", Action{Kind: Lost}},
		{"timeout", Action{Kind: Timeout, Delay: defaultTimeout}},
		{"timeout(250)", Action{Kind: Timeout, Delay: 250 * time.Millisecond}},
		{"sleep(30)@sst/", Action{Kind: Sleep, Delay: 30 * time.Millisecond, Prefix: "sst/"}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{"", "crash(1)", "sleep", "sleep(x)", "sleep(-1)", "explode", 7, true} {
		if a, err := Parse(bad); err == nil {
			t.Errorf("Parse(%v) = %+v, want an error", bad, a)
		}
	}
}

func TestFor(t *testing.T) {
	a := Action{Kind: Error, Prefix: "wal/"}
	if a.For("wal/1").Kind != Error || a.For("sst/1").Kind != None {
		t.Fatal("prefix filtering is wrong")
	}
}

func TestDo(t *testing.T) {
	ctx := context.Background()
	if err := Do(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := Do(ctx, "error"); !errors.Is(err, ErrInjected) {
		t.Fatalf("error: %v", err)
	}
	start := time.Now()
	if err := Do(ctx, "sleep(20)"); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("sleep: %v after %v", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Do(cctx, "sleep(10000)"); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep with a canceled context: %v", err)
	}
}
