// Package stream implements the semantics of the S2 durable-streams API
// (basins, streams, appends, reads, check-tail) on the engine package. It
// knows nothing of HTTP or wire encodings: a transport maps requests onto
// Service methods and maps the typed errors of errors.go onto status codes
// and bodies.
//
// # Key layout
//
// Everything lives in one engine keyspace. Integers are 8-byte big-endian,
// so numeric order is key order.
//
//	b/<basin>                     basin metadata (JSON basinMeta)
//	d/<basin>                     basin deletion pending (empty value)
//	s/<basin>\x00<stream>         stream metadata (JSON streamMeta: id, resolved config, created_at)
//	e/<basin>\x00<stream>         delete-on-empty enabled (empty value)
//	n/stream-id                   end of the reserved stream id block
//	t/<id>                        stream state: tail seq, last timestamp, trim point,
//	                              last append time, fencing token
//	r/<id><seq>                   record: timestamp, headers, body (TTL = retention);
//	                              on a stream with a cipher, envelope records sealed
//	                              (encryption.go)
//	x/<id><timestamp><seq>        timestamp index entry, empty value (same TTL)
//	a/…                           access tokens (package authstore)
//	m/…                           usage metrics (package usage): counters, storage
//	                              gauges, per-stream storage state
//
// A basin name cannot contain NUL, so in s/ and e/ keys the stream name is
// everything after the first NUL, and listing the streams of a basin is a
// prefix scan of s/<basin>\x00. Records and index entries are keyed by a
// stream id, not the name: ids are never reused, so deleting a stream is
// one range deletion per key family in the same batch as the metadata
// deletion, and a stream re-created under the same name starts empty even
// if old records are still physically present.
//
// Timestamps never decrease along a stream, so index entries sort in
// sequence order too: the entries below a trim point are a key prefix and
// go with one range deletion, and a timestamp lookup is one seek.
//
// # Appends
//
// Each append batch is one engine batch holding its records, their index
// entries, the new state (tail, token, trim point) and, for a trim, the
// range deletions of the trimmed records. Retention is the engine TTL set
// at write time, so expiry never touches the state and never changes the
// tail. Appends to a stream are sequenced by its in-memory handle
// (sequencer.go) and pipelined into the engine; acknowledgements go out in
// order once durable, and live readers receive the same batches from
// memory at that moment (follow.go). Readers never read past the tail of
// acknowledged batches. After a failed write the stream is repaired back
// to its last acknowledged state (repair.go) before it takes new appends.
//
// # Metadata
//
// Metadata changes are serialised per name with in-process locks
// (locks.go): a basin is locked exclusively to change or delete it and
// shared to create streams in it, so no stream can be created in a basin
// whose deletion has begun. The engine fences other processes.
package stream
