// Package usage keeps the usage metrics of the S2 metrics API
// (GET /v1/metrics, /v1/metrics/{basin}, /v1/metrics/{basin}/{stream}):
// per-minute counters of operations and bytes with their hour and day
// roll-ups, storage gauges per stream and per basin, their durable
// encoding in the engine, and the queries that answer the API. It knows
// nothing of HTTP and nothing of the stream layer's types: the stream
// layer and the server report events through small interfaces of their
// own, which *Recorder satisfies.
//
// # Counting
//
// Every event bumps three buckets at once, the minute, the hour and the
// day that contain it, so a roll-up is never a separate step: an hour
// bucket is by construction the sum of its minutes, and finer buckets are
// simply dropped when they age past their retention (minutes after
// Options.MinuteRetention, default 24 h; hours after HourRetention,
// default 31 d; days after DayRetention, default 400 d).
//
// # Durability
//
// Counters live in memory and are written every Options.FlushInterval
// (default 10 s) as one engine batch holding the absolute value of every
// bucket, gauge point and stream storage state that changed. Values are
// absolute, never deltas, so a batch replayed from the WAL after a crash
// writes the same values again and nothing is counted twice; a batch is
// atomic, so a crash leaves the state of the last flush whole. A crash
// loses at most the events of the last flush period. Counter keys carry
// an engine TTL of their retention, so expired buckets leave the store
// without a scan.
//
// # Storage gauges
//
// A stream's stored bytes are kept incrementally, never by scanning
// records: appends add their metered bytes, deletion sets zero, and
// trims and retention expiry subtract through a list of append buckets
// (one per minute of appends: first and end sequence numbers, bytes,
// expiry instant). A trim drops the buckets wholly below the trim point
// and the part of the straddling bucket proportional to its records
// (uniform record size within one minute: the approximation). Retention
// expiry drops a bucket when its expiry instant (the write time plus the
// retention, as the engine's TTL) has passed, at the next flush or query.
// A stream keeps at most MaxStreamBuckets buckets; past that, adjacent
// buckets merge and the merged one expires at the later instant, so
// storage is then over-counted for at most the gap between them.
//
// # Object-store cost (s2lite extension)
//
// With Options.StorageCounts (a StorageMeter around the object store),
// every flush takes the change in PUTs, GETs, bytes written and bytes
// read by object class (wal/, sst/, the rest) since the last flush and
// splits it across basins: writes in proportion to each basin's appended
// bytes in that period, reads in proportion to its read bytes, in whole
// units by largest remainder so the shares sum to the total. A period
// with no appends (or no reads) cannot charge its writes (or reads) to
// anyone: they are counted in the account scope as unattributed. This is
// an attribution, not a measurement: a flush or compaction is charged to
// whoever appended in the period it happened, and compaction's GETs to
// the period's readers.
//
// # Key layout (under the engine's m/ prefix)
//
//	m/c/<res><bucket start BE32><scope>\x00<metric>\x00<label>   counter, u64 BE (TTL = retention)
//	m/g/<minute BE32><basin>\x00<stream>                         storage gauge change point, u64 BE;
//	                                                             stream "" is the basin total
//	m/s/<basin>\x00<stream>                                      stream storage state (buckets)
//
// res is 'm', 'h' or 'd'; scope is the basin name, or "" for the account.
package usage
