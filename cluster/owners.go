package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/pingcap/failpoint"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
)

// OwnerRecord is the value of an owner key: the node serving the partition
// and the engine epoch it opened the partition with.
type OwnerRecord struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
}

var (
	// ErrStaleEpoch is returned by Claim when the owner key holds a higher
	// epoch, or the same epoch for another node.
	ErrStaleEpoch = errors.New("cluster: owner key holds a higher or equal epoch")
	// ErrNotOwner is returned by Release when the owner key is absent or
	// held by another lease.
	ErrNotOwner = errors.New("cluster: partition not owned by this member")
)

func ownerKey(cluster string, p int) string {
	return prefix(cluster, "owners") + strconv.Itoa(p)
}

// Claim records m as the owner of partition p at epoch: it puts
// /s2lite/<cluster>/owners/<p> = {"node","epoch"} under m's lease, in a
// transaction conditioned on the key being unchanged since it was read, after
// checking the value read: a claim succeeds over an absent key, over a lower
// epoch (a takeover), or over m's own record at the same epoch (idempotent,
// which also moves the key to m's current lease). It fails with ErrStaleEpoch
// over a higher epoch, or the same epoch held by another node, and with
// ErrLeaseLost when m's lease no longer exists, so a node whose lease expired
// cannot claim.
func Claim(ctx context.Context, m *Member, p int, epoch uint64) error {
	if p < -1 { // -1: the root database of a partitioned bucket
		return fmt.Errorf("cluster: invalid partition %d", p)
	}
	// Failpoint: the caller's engine holds the new epoch (the previous
	// owner is fenced) but no owner key says so yet.
	var fpErr error
	failpoint.Inject("claimBefore", func(val failpoint.Value) { fpErr = fault.Do(ctx, val) })
	if fpErr != nil {
		return fpErr
	}
	key := ownerKey(m.cluster, p)
	val, err := json.Marshal(OwnerRecord{Node: m.node, Epoch: epoch})
	if err != nil {
		return err
	}
	for {
		resp, err := m.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("cluster: get %s: %w", key, err)
		}
		var cmp clientv3.Cmp
		if len(resp.Kvs) == 0 {
			cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		} else {
			kv := resp.Kvs[0]
			var cur OwnerRecord
			if err := json.Unmarshal(kv.Value, &cur); err != nil {
				return fmt.Errorf("cluster: owner key %s: %w", key, err)
			}
			if cur.Epoch > epoch || (cur.Epoch == epoch && cur.Node != m.node) {
				return fmt.Errorf("%w: %s holds epoch %d, claim for %s at %d", ErrStaleEpoch, cur.Node, cur.Epoch, m.node, epoch)
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
		}
		tx, err := m.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(val), clientv3.WithLease(m.lease))).Commit()
		if err != nil {
			if isLeaseNotFound(err) {
				return fmt.Errorf("%w: %v", ErrLeaseLost, err)
			}
			return fmt.Errorf("cluster: claim %s: %w", key, err)
		}
		if tx.Succeeded {
			// Failpoint: the key is published; the caller does not
			// serve the partition yet.
			failpoint.Inject("claimAfter", func(val failpoint.Value) { fpErr = fault.Do(ctx, val) })
			return fpErr
		}
		// The key changed between the read and the transaction: read again.
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Release deletes partition p's owner key if it is still held under m's
// lease, and returns ErrNotOwner otherwise (absent, or claimed by another
// member or an earlier incarnation).
func Release(ctx context.Context, m *Member, p int) error {
	// Failpoint: the caller closed the partition's engine; its owner key
	// still names it.
	var fpErr error
	failpoint.Inject("releaseBefore", func(val failpoint.Value) { fpErr = fault.Do(ctx, val) })
	if fpErr != nil {
		return fpErr
	}
	key := ownerKey(m.cluster, p)
	tx, err := m.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0), clientv3.Compare(clientv3.LeaseValue(key), "=", m.lease)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("cluster: release %s: %w", key, err)
	}
	if !tx.Succeeded {
		return ErrNotOwner
	}
	return nil
}

// Owners is the current owner map of a cluster, kept current by a watch on
// /s2lite/<cluster>/owners/.
type Owners struct{ w *prefixWatch }

// WatchOwners lists the cluster's owner keys and watches them until Close.
// It returns once the first listing is loaded.
func WatchOwners(ctx context.Context, cli *clientv3.Client, cluster string) (*Owners, error) {
	if err := checkName("cluster name", cluster); err != nil {
		return nil, err
	}
	w, err := startPrefixWatch(ctx, cli, prefix(cluster, "owners"))
	if err != nil {
		return nil, err
	}
	return &Owners{w: w}, nil
}

// Map returns partition → owner record. Keys that do not parse are skipped.
func (o *Owners) Map() map[int]OwnerRecord {
	s := o.w.snapshot()
	out := make(map[int]OwnerRecord, len(s))
	for k, v := range s {
		p, err := strconv.Atoi(k)
		if err != nil || p < -1 {
			continue
		}
		var r OwnerRecord
		if json.Unmarshal(v, &r) != nil {
			continue
		}
		out[p] = r
	}
	return out
}

// Owner returns partition p's owner record, if any.
func (o *Owners) Owner(p int) (OwnerRecord, bool) {
	r, ok := o.Map()[p]
	return r, ok
}

// Changed receives a value after the owner map changed (or was listed
// again); signals coalesce.
func (o *Owners) Changed() <-chan struct{} { return o.w.chng }

// Close stops the watch.
func (o *Owners) Close() { o.w.close() }
