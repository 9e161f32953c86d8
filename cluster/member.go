package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// prefix returns /s2lite/<cluster>/<kind>/.
func prefix(cluster, kind string) string {
	return "/s2lite/" + cluster + "/" + kind + "/"
}

func checkName(what, s string) error {
	if s == "" || strings.Contains(s, "/") {
		return fmt.Errorf("cluster: invalid %s %q (empty or contains '/')", what, s)
	}
	return nil
}

// Member is this node's membership: a lease and the membership key under it,
// kept alive until Close or until the lease is lost.
type Member struct {
	cli     *clientv3.Client
	cluster string
	node    string
	url     string
	lease   clientv3.LeaseID

	cancel    context.CancelFunc
	done      chan struct{} // closed when the keep-alive loop ends (lease lost or Close)
	closeOnce sync.Once
	closeErr  error

	ttl     time.Duration
	lastAck atomic.Int64 // unix nanoseconds when the last keep-alive answer arrived
}

// Join grants a lease of ttl (rounded up to whole seconds, at least 1; etcd
// may raise it to its own minimum) and puts
// /s2lite/<cluster>/members/<nodeID> = advertiseURL under it, then keeps the
// lease alive in the background. A key left by an earlier incarnation of the
// same node ID is overwritten.
func Join(ctx context.Context, cli *clientv3.Client, cluster, nodeID, advertiseURL string, ttl time.Duration) (*Member, error) {
	if err := checkName("cluster name", cluster); err != nil {
		return nil, err
	}
	if err := checkName("node ID", nodeID); err != nil {
		return nil, err
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	granted := time.Now() // before the request: the lease cannot end earlier than this plus its TTL
	g, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("cluster: grant lease: %w", err)
	}
	key := prefix(cluster, "members") + nodeID
	if _, err := cli.Put(ctx, key, advertiseURL, clientv3.WithLease(g.ID)); err != nil {
		revokeQuietly(cli, g.ID)
		return nil, fmt.Errorf("cluster: put %s: %w", key, err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := cli.KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		revokeQuietly(cli, g.ID)
		return nil, fmt.Errorf("cluster: keep lease alive: %w", err)
	}
	m := &Member{cli: cli, cluster: cluster, node: nodeID, url: advertiseURL, lease: g.ID, cancel: cancel, done: make(chan struct{}),
		ttl: time.Duration(g.TTL) * time.Second}
	m.lastAck.Store(granted.UnixNano())
	go func() {
		defer close(m.done)
		for resp := range ch { // closed when the lease expires, is revoked, or kctx ends
			if resp != nil && resp.TTL > 0 {
				m.lastAck.Store(time.Now().UnixNano())
			}
		}
	}()
	return m, nil
}

func revokeQuietly(cli *clientv3.Client, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = cli.Revoke(ctx, id)
}

// Fresh reports whether the lease is surely still alive at now: the last
// keep-alive answer came less than two thirds of the TTL ago (keep-alives go
// every third of it, so one may be late). The last third covers
// the answer's time in flight and clock rate differences. A node that was
// frozen or cut off past that must not serve even reads from its
// partitions: their new owners may have acknowledged appends since.
func (m *Member) Fresh(now time.Time) bool {
	select {
	case <-m.done:
		return false
	default:
	}
	return now.Sub(time.Unix(0, m.lastAck.Load())) < m.ttl*2/3
}

// Node returns the member's node ID.
func (m *Member) Node() string { return m.node }

// Cluster returns the cluster name.
func (m *Member) Cluster() string { return m.cluster }

// URL returns the advertise URL.
func (m *Member) URL() string { return m.url }

// Lease returns the member's lease ID.
func (m *Member) Lease() clientv3.LeaseID { return m.lease }

// Done is closed when the member stops keeping its lease alive: after Close,
// or when keep-alives end on their own (the lease expired or was revoked, or
// the client was closed). A node whose Done is closed without its calling
// Close must assume its lease is gone and stop serving its partitions.
func (m *Member) Done() <-chan struct{} { return m.done }

// stopKeepAlive stops refreshing the lease without revoking it, as a frozen
// node would; the lease then expires after its TTL. For tests.
func (m *Member) stopKeepAlive() {
	m.cancel()
	<-m.done
}

// Close stops the keep-alives and revokes the lease, which deletes the
// membership key and every owner key the member still holds. It is
// idempotent. A lease already gone is not an error.
func (m *Member) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := m.cli.Revoke(ctx, m.lease); err != nil && !isLeaseNotFound(err) {
			m.closeErr = fmt.Errorf("cluster: revoke lease: %w", err)
		}
	})
	return m.closeErr
}

func isLeaseNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), "requested lease not found")
}

// ErrLeaseLost is returned by Claim when the member's lease no longer exists.
var ErrLeaseLost = errors.New("cluster: member lease lost")
