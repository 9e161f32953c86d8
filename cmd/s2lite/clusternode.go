package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/s2lite/s2lite/cluster"
	"github.com/s2lite/s2lite/gateway"
	"github.com/s2lite/s2lite/internal/initspec"
	"github.com/s2lite/s2lite/partition"
)

const (
	// handoffWait is how long a new owner waits for a live previous owner
	// to drain and release a unit before opening it anyway (which fences
	// the previous owner at the object store).
	handoffWait = 10 * time.Second
	// clusterFenceCheck is the engines' fence probe in cluster mode: the
	// lease check before every request is what keeps a node that lost its
	// lease from answering; the probe is a backstop.
	clusterFenceCheck = 10 * time.Second
	// clusterMaxMemtableWALObjects bounds the WAL objects a takeover
	// replays after a node died (about 1.5-2 ms each on MinIO: 0.5 s),
	// instead of the single node's 4096 (up to 8 s). Under a trickle of
	// appends it costs one more flush (a table and a manifest PUT) every
	// 256 WAL objects.
	clusterMaxMemtableWALObjects = 256
	// reconcileEvery re-evaluates ownership even without a watch event
	// (a failed open is retried this often).
	reconcileEvery = 500 * time.Millisecond
	// ownerKeyGrace is how long after its claim a unit served here may
	// lack its owner key in the watched copy (the watch event is on its
	// way) before the unit is taken for lost.
	ownerKeyGrace = 2 * time.Second
)

// clusterNode serves this node's share of a partitioned bucket: it keeps a
// membership lease in etcd, opens the units that rendezvous hashing gives
// it over the live members, publishes each one's owner key once its engine
// holds the new writer epoch, and closes the units it no longer owns. It
// is the gateway's Directory.
type clusterNode struct {
	env    *unitEnv
	log    *slog.Logger
	layout partition.Layout
	node   string
	member *cluster.Member
	view   *cluster.View
	owners *cluster.Owners
	gw     *gateway.Gateway
	stdout io.Writer

	mu   sync.Mutex
	open map[int]*unitStack // serving here
	gu   map[int]*gateway.Unit
	busy map[int]bool // opening or closing

	table    atomic.Pointer[routeTable]
	stopping atomic.Bool
	wg       sync.WaitGroup
}

// routeTable is the owner keys and member URLs, rebuilt on each change.
type routeTable struct {
	owners map[int]cluster.OwnerRecord
	urls   map[string]string
}

var (
	errLeaseStale = errors.New("this node's etcd lease is not fresh (frozen or cut off from etcd): not serving its partitions")
	errNoOwner    = errors.New("no owner yet (the partition is moving); retry")
)

// Route implements gateway.Directory.
func (n *clusterNode) Route(u int) (gateway.Route, error) {
	n.mu.Lock()
	local := n.gu[u]
	n.mu.Unlock()
	if local != nil {
		if !n.member.Fresh(time.Now()) {
			return gateway.Route{}, errLeaseStale
		}
		return gateway.Route{Local: local}, nil
	}
	t := n.table.Load()
	rec, ok := t.owners[u]
	switch {
	case !ok:
		return gateway.Route{}, errNoOwner
	case rec.Node == n.node:
		return gateway.Route{}, fmt.Errorf("being opened or closed on this node: %w", errNoOwner)
	}
	url, ok := t.urls[rec.Node]
	if !ok {
		return gateway.Route{}, fmt.Errorf("owner %s is gone: %w", rec.Node, errNoOwner)
	}
	return gateway.Route{Node: rec.Node, URL: url}, nil
}

func (n *clusterNode) refreshTable() {
	n.table.Store(&routeTable{owners: n.owners.Map(), urls: n.view.URLs()})
}

// run keeps ownership right until ctx ends.
func (n *clusterNode) run(ctx context.Context) {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		n.refreshTable()
		n.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-n.view.Changed():
		case <-n.owners.Changed():
		case <-t.C:
		}
	}
}

// wants reports whether this node should own u under the current members.
func (n *clusterNode) wants(u int) bool {
	members := n.view.Members()
	return slices.Contains(members, n.node) && cluster.Owner(u, members) == n.node
}

func (n *clusterNode) reconcile(ctx context.Context) {
	if n.stopping.Load() || !n.member.Fresh(time.Now()) {
		return
	}
	t := n.table.Load()
	for _, u := range n.layout.Units() {
		want := n.wants(u)
		n.mu.Lock()
		us, open := n.open[u]
		// A unit served here whose owner key names another node or epoch
		// (or stays absent) was opened by another node meanwhile, which
		// fenced this one: while nodes join at once their views of the
		// members differ for a moment and two may open the same unit.
		// Close it; if it is still ours to own, it is opened again (a new
		// epoch) on a later round.
		lost := open && (us.db.Fenced() || n.keyLost(t, u, us))
		if lost {
			want = false
		}
		start := !n.busy[u] && want != open
		if start {
			n.busy[u] = true
		}
		n.mu.Unlock()
		if !start {
			continue
		}
		n.wg.Go(func() {
			defer func() {
				n.mu.Lock()
				delete(n.busy, u)
				n.mu.Unlock()
			}()
			if want {
				n.acquire(ctx, u)
			} else {
				n.release(u)
			}
		})
	}
}

// keyLost reports whether u's owner key shows that us no longer owns it.
func (n *clusterNode) keyLost(t *routeTable, u int, us *unitStack) bool {
	rec, ok := t.owners[u]
	if ok && rec.Node == n.node && rec.Epoch == us.db.Epoch() {
		return false
	}
	if ok && (rec.Node != n.node || rec.Epoch > us.db.Epoch()) {
		return true
	}
	return time.Since(us.claimed) > ownerKeyGrace
}

// acquire opens unit u and publishes its owner key.
func (n *clusterNode) acquire(ctx context.Context, u int) {
	// A graceful move: the previous owner, still a live member, drains and
	// releases; wait for that (bounded) so that its appends in flight are
	// answered rather than fenced.
	deadline := time.Now().Add(handoffWait)
	for time.Now().Before(deadline) {
		t := n.table.Load()
		rec, ok := t.owners[u]
		if _, live := t.urls[rec.Node]; !ok || rec.Node == n.node || !live {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		n.refreshTable()
		if !n.wants(u) || n.stopping.Load() {
			return
		}
	}
	start := time.Now()
	us, err := n.env.openUnit(ctx, u)
	if err != nil {
		n.log.Error("opening a partition failed; retrying", "partition", partition.Name(u), "err", err)
		return
	}
	if err := cluster.Claim(ctx, n.member, u, us.db.Epoch()); err != nil {
		n.log.Error("publishing ownership failed; closing the partition", "partition", partition.Name(u), "err", err)
		_ = us.close(time.Second, false)
		return
	}
	us.claimed = time.Now()
	n.mu.Lock()
	n.open[u], n.gu[u] = us, us.gatewayUnit()
	n.mu.Unlock()
	n.log.Info("serving partition", "partition", partition.Name(u), "epoch", us.db.Epoch(), "took", time.Since(start).Round(time.Millisecond))
	if us.generatedRoot != "" {
		fmt.Fprintf(n.stdout, "export S2_ACCESS_TOKEN=%q\n# the root access token, shown this once: keep it (only a hash of it is stored)\n", us.generatedRoot)
	}
	if n.stopping.Load() || !n.wants(u) {
		n.release(u)
	}
}

// release stops serving u: requests for it are answered 503 (retryable)
// from now on, appends in flight finish, the engine closes, then the owner
// key goes so the next owner can open it without waiting.
func (n *clusterNode) release(u int) {
	n.mu.Lock()
	us := n.open[u]
	delete(n.open, u)
	delete(n.gu, u)
	n.mu.Unlock()
	if us == nil {
		return
	}
	start := time.Now()
	if err := us.close(shutdownGrace, true); err != nil {
		n.log.Warn("closing a partition", "partition", partition.Name(u), "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cluster.Release(ctx, n.member, u); err != nil && !errors.Is(err, cluster.ErrNotOwner) {
		n.log.Warn("releasing the owner key", "partition", partition.Name(u), "err", err)
	}
	n.log.Info("released partition", "partition", partition.Name(u), "took", time.Since(start).Round(time.Millisecond))
}

// closeAll stops reconciling and closes every unit served here, flushing
// each for its next owner unless the lease is gone (the units are being
// or were opened elsewhere: flushing would only fail).
func (n *clusterNode) closeAll(grace time.Duration) error {
	n.stopping.Store(true)
	n.wg.Wait()
	n.mu.Lock()
	units := n.open
	n.open, n.gu = map[int]*unitStack{}, map[int]*gateway.Unit{}
	n.mu.Unlock()
	return closeUnits(units, grace, n.member.Fresh(time.Now()))
}

// status is GET /cluster/status.
func (n *clusterNode) status(w http.ResponseWriter, _ *http.Request) {
	t := n.table.Load()
	owners := make(map[string]cluster.OwnerRecord, len(t.owners))
	for u, rec := range t.owners {
		owners[strconv.Itoa(u)] = rec
	}
	n.mu.Lock()
	var serving []int
	for u := range n.open {
		serving = append(serving, u)
	}
	n.mu.Unlock()
	slices.Sort(serving)
	writeStatusJSON(w, http.StatusOK, map[string]any{
		"node": n.node, "partitions": n.layout.Partitions, "members": t.urls, "owners": owners,
		"serving": serving, "lease_fresh": n.member.Fresh(time.Now()),
	})
}

// ready is GET /ready: 200 while the lease is fresh and every unit has an
// owner that can be reached.
func (n *clusterNode) ready(w http.ResponseWriter, _ *http.Request) {
	var missing []string
	for _, u := range n.layout.Units() {
		if _, err := n.Route(u); err != nil {
			missing = append(missing, partition.Name(u)+": "+err.Error())
		}
	}
	if len(missing) > 0 {
		writeStatusJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "not_served": missing})
		return
	}
	writeStatusJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// serveCluster runs this node as a member of the cluster named by the
// flags, until a signal or the loss of its lease.
func serveCluster(ctx context.Context, stop context.CancelFunc, env *unitEnv, declared *initspec.Spec, tlsCfg *tls.Config, stdout io.Writer) error {
	cfg, log := env.cfg, env.log.With("node", env.cfg.nodeID)
	env.log = log
	if cfg.noAuth {
		warnNoAuth(log)
	}
	if declared != nil {
		return errors.New("--init-file with --cluster-etcd is not built yet: apply it with `s2lite apply` against the cluster")
	}
	openCtx, cancelOpen := context.WithTimeout(ctx, openTimeout)
	defer cancelOpen()
	layout, err := partition.Establish(openCtx, env.store, cfg.clusterPartitions)
	if err != nil {
		return err
	}
	if layout.Partitions != cfg.clusterPartitions {
		log.Warn("the bucket's partition count is fixed; --cluster-partitions ignored", "partitions", layout.Partitions)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.clusterEtcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("connecting to etcd %v: %w", cfg.clusterEtcd, err)
	}
	defer cli.Close()
	key, err := cluster.Key(openCtx, cli, cfg.clusterName)
	if err != nil {
		return err
	}
	// Each node may come to own every unit (the others gone): the engine
	// shares are divided among all of them so the node stays in budget.
	env.share = int64(layout.Partitions + 1)
	env.fenceCheck = clusterFenceCheck
	env.maxMemtableWALObjects = clusterMaxMemtableWALObjects

	n := &clusterNode{env: env, log: log, layout: layout, node: cfg.nodeID, stdout: stdout,
		open: map[int]*unitStack{}, gu: map[int]*gateway.Unit{}, busy: map[int]bool{}}
	watchCtx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	if n.view, err = cluster.WatchMembers(watchCtx, cli, cfg.clusterName); err != nil {
		return err
	}
	defer n.view.Close()
	if n.owners, err = cluster.WatchOwners(watchCtx, cli, cfg.clusterName); err != nil {
		return err
	}
	defer n.owners.Close()
	n.refreshTable()

	local := http.NewServeMux()
	local.HandleFunc("GET /cluster/status", n.status)
	metrics := nodeMetrics{units: func() map[int]*unitStack {
		n.mu.Lock()
		defer n.mu.Unlock()
		return maps.Clone(n.open)
	}}.handler()
	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	} else {
		local.Handle("GET /metrics", metrics)
	}
	local.HandleFunc("GET /ready", n.ready)
	local.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if !n.member.Fresh(time.Now()) {
			writeStatusJSON(w, http.StatusServiceUnavailable, map[string]any{"healthy": false, "reason": errLeaseStale.Error()})
			return
		}
		writeStatusJSON(w, http.StatusOK, map[string]any{"healthy": true})
	})
	n.gw = gateway.New(gateway.Options{Layout: layout, Directory: n, Node: cfg.nodeID, ClusterKey: key,
		Logger: log.With("component", "gateway"), NodeLocal: local})
	env.auth = n.gw.Authority()
	// A token revoked at the root's owner is forgotten by every node's
	// cache as soon as the announcement arrives, not after the cache TTL.
	revs, err := cluster.WatchRevocations(watchCtx, cli, cfg.clusterName)
	if err != nil {
		return err
	}
	defer revs.Close()
	n.gw.Authority().OnRevoke(func(id string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cluster.AnnounceRevocation(ctx, cli, cfg.clusterName, id); err != nil {
			log.Warn("announcing a revoked token to the other nodes failed; they forget it within their cache TTL", "err", err)
		}
	})
	go func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-revs.Changed():
				for _, id := range revs.IDs() {
					n.gw.Authority().Forget(id)
				}
			}
		}
	}()
	env.ready = func() error {
		if !n.member.Fresh(time.Now()) {
			return errLeaseStale
		}
		return nil
	}

	if n.member, err = cluster.Join(openCtx, cli, cfg.clusterName, cfg.nodeID, cfg.advertiseURL, cfg.clusterLeaseTTL); err != nil {
		return err
	}
	log.Info("joined the cluster", "cluster", cfg.clusterName, "etcd", cfg.clusterEtcd, "advertise", cfg.advertiseURL,
		"partitions", layout.Partitions, "lease_ttl", cfg.clusterLeaseTTL)
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	go n.run(runCtx)

	lost := make(chan error, 1)
	go func() {
		select {
		case <-n.member.Done():
			if !n.stopping.Load() {
				lost <- errors.New("lost the etcd lease: other nodes take over this node's partitions")
			}
		case <-runCtx.Done():
		}
	}()
	err = runFront(ctx, stop, env, n.gw, tlsCfg, stdout, "", lost, func(grace time.Duration) error {
		cancelRun()
		err := n.closeAll(grace)
		// Leave at once: revoking the lease deletes the membership and
		// owner keys, so the others take the units over without waiting
		// for it to expire or for this node's forwarded requests to end.
		return errors.Join(err, n.member.Close())
	})
	return errors.Join(err, n.member.Close()) // idempotent; for the error paths

}
