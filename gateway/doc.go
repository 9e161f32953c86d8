// Package gateway is the front door of a partitioned s2lite: it takes any
// request of the S2 API, finds the unit (the root database or a basin
// partition, see package partition) that holds the basin it names, and
// serves it with that unit's API handler when this node owns the unit, or
// forwards it to the owner over HTTP/2.
//
// It knows nothing of etcd or engines: a Directory says where each unit is
// served now (a local handler, or a peer's URL), and single-node mode uses it
// with every unit local. What it does:
//
//   - Locating a basin. A basin created in cluster mode lives in its home
//     partition (partition.Home); a basin created by a single node lives in
//     the root. The gateway asks the home unit first and the root second, and
//     remembers the answer: "home" for good (a basin never leaves its
//     partition, and a name recreated in cluster mode goes home again),
//     "root" for rootCacheTTL (a root basin deleted and recreated in cluster
//     mode moves home). The question is an internal request between nodes,
//     not an API call, so it needs no permission from the client's token.
//   - Creating a basin goes to the unit new basins go to (the home partition
//     in cluster mode, the root for a single node) after asking the other
//     candidate whether it already holds the name: a name lives in one unit.
//   - Listing basins asks every unit for the page and merges the answers by
//     name; access tokens and account metrics belong to the root.
//   - Forwarding streams both ways (unary, SSE, S2S) through
//     httputil.ReverseProxy with no buffering; HTTP/2 flow control on both
//     hops carries the backpressure. A forwarded request carries the unit it
//     is for and the cluster key; the receiving node serves it only if it
//     owns that unit now, and never forwards it again (503 otherwise, which
//     clients retry), so a request makes at most one hop.
//   - Tokens: Authority authenticates against the root unit's token store,
//     locally when this node owns the root, otherwise by asking its owner
//     and caching the answer for principalCacheTTL (a revoked token keeps
//     working on other nodes that long).
package gateway
