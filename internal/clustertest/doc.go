// Package clustertest runs s2lite's cluster mode end to end (make
// cluster-test): an embedded three-member etcd, three or four s2lite
// processes on loopback sharing one bucket and path, a workload of
// appends and reads through randomly chosen nodes, sessions forwarded
// between nodes, and faults (kill -9 of a partition owner, SIGSTOP past
// the lease, loss of the etcd leader, a rolling restart, a node added and
// removed, a node cut from its peers, the root's owner cut from its
// peers, a node cut from etcd). After each fault every stream is read
// back and checked against a ledger of acknowledged appends; a
// linearizability workload (internal/lincheck) runs alongside and its
// history is checked at the end.
//
// Each node's clients reach its port directly; its peers reach it at its
// --advertise-url, a TCP proxy of the test in front of that port, and its
// etcd connections go through one proxy per etcd member. Cutting a node
// from its peers resets the connections its peers forward through and
// leaves new ones unanswered, while its clients and etcd connections stay
// up: it keeps its lease and its partitions, must go on serving them to
// clients that reach it, they are unavailable through the other nodes
// (503 or no answer, never served elsewhere), ownership does not change,
// everything else must go on through every other node (also once their
// token caches expire), and once the cut heals every node must take an
// append to every basin within 5 s. The first such phase cuts a node that
// does not own the root; the second cuts the root's owner, which every
// other node asks to authenticate tokens.
//
// Sessions run through the whole run on the streams of one basin, each
// opened through a node that does not own the basin's partition and
// opened again through such a node whenever it ends: an SSE follower
// (the test's own reader), an S2S follower (the client package, which
// also resumes by itself) and an S2S append session (the test's own
// framing, so that each ack's S2lite-Served-By is known) whose batches go
// into the ledger like unary appends. A follower's records must come in
// sequence with no gap or repeat across reconnections, heartbeats may not
// report a tail below what was delivered, and what it delivered is held
// against the stream at every check; at the end each follower must catch
// up with its stream's tail. The node cut from etcd is the one serving
// the sessions' basin, and in the rolling restart each node must leave
// the membership (revoke its lease) within 5 s of SIGTERM, sessions
// through it or not.
//
// The package holds only tests; TestCluster skips itself unless
// S2LITE_CLUSTER_TEST=1. Without S2LITE_TEST_S3=1 (the MinIO of make
// cluster-test) the nodes share a local directory instead.
// S2LITE_CLUSTER_LOGS=DIR keeps the nodes' logs (one file per node, every
// incarnation) in DIR; otherwise they are in a temporary directory and
// their tails are printed when the test fails. S2LITE_LINCHECK_SEED=N
// replays the linearizability clients' random choices.
package clustertest
