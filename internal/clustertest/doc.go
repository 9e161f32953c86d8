// Package clustertest runs s2lite's cluster mode end to end (make
// cluster-test): an embedded three-member etcd, three or four s2lite
// processes on loopback sharing one bucket and path, a workload of
// appends and reads through randomly chosen nodes, and faults (kill -9 of
// a partition owner, SIGSTOP past the lease, loss of the etcd leader, a
// rolling restart, a node added and removed, a node cut from etcd). After
// each fault every stream is read back and checked against a ledger of
// acknowledged appends; a linearizability workload (internal/lincheck)
// runs alongside and its history is checked at the end.
//
// The package holds only tests; TestCluster skips itself unless
// S2LITE_CLUSTER_TEST=1. Without S2LITE_TEST_S3=1 (the MinIO of make
// cluster-test) the nodes share a local directory instead.
// S2LITE_CLUSTER_LOGS=DIR keeps the nodes' logs (one file per node, every
// incarnation) in DIR; otherwise they are in a temporary directory and
// their tails are printed when the test fails. S2LITE_LINCHECK_SEED=N
// replays the linearizability clients' random choices.
package clustertest
