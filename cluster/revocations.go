package cluster

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// revocationTTL is how long a revocation stays announced: far longer than
// any node caches a token's answer.
const revocationTTL = 60 * time.Second

// AnnounceRevocation tells the other nodes that access token id was
// revoked: it puts /s2lite/<cluster>/revoked/<id> under a lease of its own
// that expires after revocationTTL, so announcements do not pile up.
func AnnounceRevocation(ctx context.Context, cli *clientv3.Client, cluster, id string) error {
	g, err := cli.Grant(ctx, int64(revocationTTL/time.Second))
	if err != nil {
		return fmt.Errorf("cluster: announce revocation: %w", err)
	}
	if _, err := cli.Put(ctx, prefix(cluster, "revoked")+id, "", clientv3.WithLease(g.ID)); err != nil {
		return fmt.Errorf("cluster: announce revocation: %w", err)
	}
	return nil
}

// Revocations is the set of recently revoked token IDs, kept current by a
// watch.
type Revocations struct{ w *prefixWatch }

// WatchRevocations watches the revocations of a cluster.
func WatchRevocations(ctx context.Context, cli *clientv3.Client, cluster string) (*Revocations, error) {
	w, err := startPrefixWatch(ctx, cli, prefix(cluster, "revoked"))
	if err != nil {
		return nil, fmt.Errorf("cluster: watch revocations: %w", err)
	}
	return &Revocations{w: w}, nil
}

// IDs returns the token IDs announced as revoked in the last revocationTTL.
func (r *Revocations) IDs() []string { return sortedKeys(r.w.snapshot()) }

// Changed receives a value after the set changed; signals coalesce.
func (r *Revocations) Changed() <-chan struct{} { return r.w.chng }

// Close stops the watch.
func (r *Revocations) Close() { r.w.close() }
