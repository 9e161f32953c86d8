// Package compaction decides what to compact in s2lite's tree of tables and
// performs the merge. It does no manifest I/O and knows nothing of the
// write-ahead log: the engine picks a Plan, executes it (Run, or MoveOutput
// for a trivial move), uploads the output through a callback and installs
// the manifest that Apply returns.
//
// # Tree shape
//
// A manifest holds L0 tables, newest first, then sorted runs, newest first.
// Each L0 table and each run is a source, and every entry of a source is
// newer (has a higher sequence number) than every entry of any later
// source. Reads rely on that order: the first source that knows about a key
// decides. A compaction therefore takes a contiguous window of sources (the
// oldest tables of L0 and the runs right after them, or consecutive runs)
// and puts its output run exactly where the window was.
//
// # Strategy
//
// The policy is tiered ("universal") compaction. The workload is dominated
// by appends to streams, each byte written once and read back in order, then
// trimmed or expired. Leveled compaction would rewrite each byte about
// fan-out times per level to keep one run per level; tiered compaction
// merges whole runs of similar size, so a byte is rewritten about once per
// doubling of the data below it, O(log n) times in all, at the cost of more
// runs to consult on a read (bounded by MaxRuns, and mostly skipped by key
// range and bloom filter) and of space held by shadowed versions until the
// next merge, which is cheap on an object store.
//
// Stream keys grow within each stream, so successive flushes of a busy
// stream cover disjoint key ranges. When every table of a window is disjoint
// from every other, the window's output is its tables re-filed as one run by
// key (Plan.Move): no byte is read or rewritten. And because entries expire
// roughly in the order they were written, a table whose entries have all
// expired, with nothing older beneath its key range, is deleted outright
// (Plan.Drop).
//
// Pick considers, in order:
//
//  1. Tables to drop. Dropping costs no I/O and removes work from every
//     later compaction.
//  2. L0 of depth L0Trigger (L0Depth: the most L0 tables any one key
//     falls in), or of L0MaxTables tables: all of L0 (flushes only prepend,
//     so that is a suffix of any later L0), extended to each following run
//     whose size is at most SizeRatio times the window so far. Keeping L0
//     shallow matters most, since a read consults every L0 table over its
//     key and the engine stalls writers when L0 grows too deep. Depth, not
//     the table count, because a flush may write many key-disjoint tables
//     (one per partition, see below) that add only one to any key's depth;
//     the table cap still bounds L0's list, which reads scan.
//  3. More than MaxRuns runs: the adjacent pair of runs with the smallest
//     combined size, extended the same way, which bounds read
//     amplification at the least rewrite.
//
// # Merge rules
//
// Run merges the window's entries in internal-key order and writes, for
// each user key, at most one entry:
//
//   - Only the newest version of a user key is kept. Nothing can need older
//     ones: readers hold their own version of the tree, and replaced tables
//     stay in the bucket until garbage collection.
//   - An entry covered by a range deletion of the window with a higher
//     sequence number is dropped.
//   - A set whose expiry has passed is dropped when the window is at the
//     bottom (nothing older lies below it). Otherwise it is written as a
//     delete with the same sequence number and expiry and no value: an
//     expired newest version hides older versions exactly like a tombstone,
//     and the value bytes are freed. Keeping the expiry lets a table made
//     only of such entries still qualify for Drop.
//   - A delete is dropped at the bottom and kept otherwise.
//   - Range deletions are dropped at the bottom: what they cover in the
//     window is already gone and nothing lies below. Otherwise they are
//     fragmented into disjoint spans, each carrying the highest sequence
//     number covering it, and clipped to each output table's span.
//
// # Output table boundaries
//
// Output tables are cut at about TargetTableSize, and, when
// Options.Partition is set, wherever the next key belongs to another
// partition than the current table's, always between two user keys. The
// split point is the next table's first user key: table i holds the range
// deletions clipped to [first key of table i, first key of table i+1), so
// the tables of a run never overlap and a lookup needs exactly one table
// per run. A consequence is that a table's Largest may be the exclusive end
// of a range deletion, equal to the next table's Smallest: a run must be
// searched for the last table whose Smallest is <= key, never by Largest.
//
// # Partitions and passthrough
//
// Many streams appended at once defeat the Move: every flushed table spans
// every stream, so no two flushed tables are disjoint, and once merged into
// a run whose tables span every stream too, each later merge with that run
// rewrites it whole although its keys are all older than the new ones in
// every stream. Two things together fix that.
//
// With a Partition function (FixedPrefix(10) puts each stream of the stream
// layer in its own partition), Run cuts its output at partition
// boundaries, so each table of a run holds one stream's keys.
//
// And Run passes tables through. When the merge reaches an input table it
// has not read, and nothing else in the window lies within that table's
// key range (every other source is beyond its last key, no range deletion
// overlaps it), and the table holds nothing the rules would rewrite (no
// range deletion, no entry expired at now, at the bottom no point
// tombstone), the merge would copy it verbatim: Run finishes the table it is
// building and puts the input table in the output run as it is, without
// reading its data or uploading anything. The metadata in the manifest
// decides, except at the bottom where the table's properties (one ranged
// read) tell whether it holds tombstones.
//
// With both, merging new data into a run costs one rewrite of the new data
// only: the run's tables hold older keys of their stream than anything
// newer, so they pass through. A flushed byte is rewritten about once in
// all, where without them it was rewritten once per tier. The engine goes
// one step further and cuts its flushes per partition too (for partitions
// large enough in the memtable): then the L0 tables of a busy stream are
// disjoint from everything else in the window and a flushed byte is not
// rewritten at all (a move, or a passthrough). The price is
// smaller tables: a merge of W bytes over N streams cuts tables of about W/N
// bytes, which stay that size while they pass through.
//
// Pick needs no change for partitions. Extending a window to an older run
// whose tables pass through costs no read above the bottom and one
// metadata read per table at the bottom, and it keeps the number of runs
// down.
//
// # Reading the inputs
//
// Each source is read in order with at most one table open at a time: a
// run's next table is opened only when the merge reaches it, and not at
// all if it passes through, so a compaction holds at most one open table
// (and its readahead) per source, however large the window.
package compaction
