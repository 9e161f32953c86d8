package cluster

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/s2lite/s2lite/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startEtcd starts an embedded etcd for the test.
func startEtcd(t *testing.T) string { return etcdtest.Start(t) }

func newClient(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// waitFor waits until cond holds, re-checking after each change signal and
// at least every 50 ms, and returns how long it took.
func waitFor(t *testing.T, changed <-chan struct{}, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(limit)
	for !cond() {
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
	return time.Since(start)
}

func TestMembershipJoinLeaveExpire(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	v, err := WatchMembers(ctx, cli, "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := v.Members(); len(got) != 0 {
		t.Fatalf("initial members %v", got)
	}
	same := func(want ...string) func() bool {
		return func() bool { return slices.Equal(v.Members(), want) }
	}

	b, err := Join(ctx, cli, "c1", "b", "http://b:1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Join(ctx, cli, "c1", "a", "http://a:1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, v.Changed(), 5*time.Second, "a and b joined", same("a", "b"))
	if u := v.URLs(); u["a"] != "http://a:1" || u["b"] != "http://b:1" {
		t.Fatalf("URLs %v", u)
	}
	// Another cluster's members are not seen.
	other, err := Join(ctx, cli, "c2", "z", "http://z:1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	d := waitFor(t, v.Changed(), 5*time.Second, "a left", same("b"))
	t.Logf("graceful leave seen after %v", d)

	// A member whose client dies without revoking disappears when its
	// lease expires: within TTL+1 s.
	const ttl = 2 * time.Second
	ccli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Join(ctx, ccli, "c1", "c", "http://c:1", ttl)
	if err != nil {
		ccli.Close()
		t.Fatal(err)
	}
	waitFor(t, v.Changed(), 5*time.Second, "c joined", same("b", "c"))
	// Keep-alives must keep it beyond its TTL.
	time.Sleep(ttl + 500*time.Millisecond)
	if !same("b", "c")() {
		t.Fatalf("c gone while alive: %v", v.Members())
	}
	ccli.Close()
	killed := time.Now()
	waitFor(t, v.Changed(), ttl+time.Second, "c expired", same("b"))
	t.Logf("expired member gone after %v (TTL %v)", time.Since(killed), ttl)
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Fatal("c.Done not closed after its client closed")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, v.Changed(), 5*time.Second, "b left", same())
}

func TestClaimRelease(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ow, err := WatchOwners(ctx, cli, "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer ow.Close()
	is := func(p int, want OwnerRecord, present bool) func() bool {
		return func() bool {
			got, ok := ow.Owner(p)
			return ok == present && (!ok || got == want)
		}
	}

	m1, err := Join(ctx, cli, "c1", "n1", "http://n1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	m2, err := Join(ctx, cli, "c1", "n2", "http://n2", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()

	if err := Claim(ctx, m1, 0, 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ow.Changed(), 5*time.Second, "n1 owns 0", is(0, OwnerRecord{"n1", 5}, true))
	if err := Claim(ctx, m1, 0, 5); err != nil { // idempotent
		t.Fatalf("re-claim at same epoch: %v", err)
	}
	for _, e := range []uint64{3, 5} {
		if err := Claim(ctx, m2, 0, e); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("n2 claims at %d over n1@5: %v, want ErrStaleEpoch", e, err)
		}
	}
	if err := Release(ctx, m2, 0); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("n2 releases n1's partition: %v", err)
	}
	// Takeover at a higher epoch.
	if err := Claim(ctx, m2, 0, 6); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ow.Changed(), 5*time.Second, "n2 owns 0", is(0, OwnerRecord{"n2", 6}, true))
	if err := Claim(ctx, m1, 0, 5); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("old owner re-claims at lower epoch: %v", err)
	}
	if err := Release(ctx, m1, 0); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("old owner releases after takeover: %v", err)
	}
	if r, ok := ow.Owner(0); !ok || r != (OwnerRecord{"n2", 6}) {
		t.Fatalf("owner of 0 after failed release: %v %v", r, ok)
	}
	if err := Release(ctx, m2, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ow.Changed(), 5*time.Second, "0 released", is(0, OwnerRecord{}, false))
	if err := Release(ctx, m2, 0); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("second release: %v", err)
	}

	// Several partitions and the owner map.
	for p := 1; p <= 3; p++ {
		if err := Claim(ctx, m1, p, uint64(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, ow.Changed(), 5*time.Second, "owner map", func() bool {
		return reflect.DeepEqual(ow.Map(), map[int]OwnerRecord{1: {"n1", 1}, 2: {"n1", 2}, 3: {"n1", 3}})
	})

	// A stale member: its keep-alives stop (a frozen node), its lease
	// expires, its owner keys go, and it can no longer claim anything.
	m3, err := Join(ctx, cli, "c1", "n3", "http://n3", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := Claim(ctx, m3, 7, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ow.Changed(), 5*time.Second, "n3 owns 7", is(7, OwnerRecord{"n3", 1}, true))
	m3.stopKeepAlive()
	frozen := time.Now()
	waitFor(t, ow.Changed(), 3*time.Second, "n3's owner key expired", is(7, OwnerRecord{}, false))
	t.Logf("stale member's owner key gone after %v", time.Since(frozen))
	for _, p := range []int{7, 8} {
		if err := Claim(ctx, m3, p, 100); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("stale member claims %d: %v, want ErrLeaseLost", p, err)
		}
	}
	if _, ok := ow.Owner(8); ok {
		t.Fatal("stale member's failed claim left a key")
	}
	if err := m3.Close(); err != nil { // lease already gone: not an error
		t.Fatal(err)
	}

	// Closing a member revokes its lease, which drops its owner keys.
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ow.Changed(), 5*time.Second, "n1's keys gone with its lease", func() bool { return len(ow.Map()) == 0 })
}

func TestJoinRejectsBadNames(t *testing.T) {
	for _, c := range [][2]string{{"", "n"}, {"c", ""}, {"a/b", "n"}, {"c", "x/y"}} {
		if _, err := Join(context.Background(), nil, c[0], c[1], "u", time.Second); err == nil {
			t.Fatalf("Join(%q, %q) accepted", c[0], c[1])
		}
	}
}
