// Package cluster is the first piece of the cluster design in DESIGN.md
// ("Cluster (designed, not built)"): membership, ownership computation and
// owner keys in etcd. Nothing else in s2lite imports it yet; single-node mode
// is unchanged.
//
// What it does:
//
//   - Membership. [Join] grants an etcd lease and puts
//     /s2lite/<cluster>/members/<node> = advertise URL under it, kept alive
//     until [Member.Close] revokes it (or the lease expires because the node
//     froze, crashed or lost etcd). [Member.Done] reports a lost lease.
//     [WatchMembers] returns a [View] of the live members, sorted, kept current
//     by a watch, with a coalescing change signal.
//
//   - Ownership computation. [Owner] picks the owner of a partition among the
//     live members by rendezvous (highest random weight) hashing of
//     partition‖member with FNV-1a 64 and a 64-bit finalizer, so every node
//     computes the same owner from the same membership, and a membership change
//     moves only the partitions it must: removing one of N members moves only
//     its ~P/N partitions, adding one moves ~P/(N+1). [Partitions] is the
//     inverse map, node → partitions.
//
//   - Owner keys. [Claim] writes /s2lite/<cluster>/owners/<p> = {"node",
//     "epoch"} (JSON) in an etcd transaction: the key is put under the
//     member's lease, so the transaction fails if the lease is gone (a node
//     whose lease expired cannot claim), and it is conditioned on the key's
//     ModRevision as read, so a claim never overwrites an equal or higher epoch
//     of another node, nor a higher epoch of its own. [Release] deletes the key
//     only if it is still held under the member's lease. [WatchOwners] returns
//     the current owner map, kept current by a watch.
//
// What it does not do yet: open, serve or close partition engines; decide
// when to claim or release (the caller runs Owner over View.Members and calls
// Claim after engine.Open has taken the engine epoch); route or proxy
// requests; partition basins; anything in the server, the CLI or the
// Makefile (make cluster-test). The lease is never trusted for safety: that
// remains the job of the engine's writer epoch in the object store, as the
// design says; owner keys are for routing.
package cluster
