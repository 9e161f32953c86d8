package stream

import "encoding/binary"

// Engine key layout; see doc.go for the table and the reasons.

const (
	basinPrefix         = "b/"
	basinDeletionPrefix = "d/"
	streamMetaPrefix    = "s/"
	deleteOnEmptyPrefix = "e/"
	statePrefix         = "t/"
	recordPrefix        = "r/"
	indexPrefix         = "x/"
	// a/ (access tokens, package authstore) and m/ (usage metrics,
	// package usage) are taken by others in the same keyspace.

	// streamIDKey holds the exclusive upper bound of the stream ids
	// reserved so far.
	streamIDKey = "n/stream-id"
)

func basinKey(basin string) []byte { return []byte(basinPrefix + basin) }

func basinDeletionKey(basin string) []byte { return []byte(basinDeletionPrefix + basin) }

// streamMetaKey separates basin and stream with a NUL, which a basin name
// cannot contain, so the stream name is everything after the first NUL.
func streamMetaKey(basin, stream string) []byte {
	return []byte(streamMetaPrefix + basin + "\x00" + stream)
}

func streamsOfBasinPrefix(basin string) []byte { return []byte(streamMetaPrefix + basin + "\x00") }

func deleteOnEmptyKey(basin, stream string) []byte {
	return []byte(deleteOnEmptyPrefix + basin + "\x00" + stream)
}

func stateKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte(statePrefix), id) }

func recordStreamPrefix(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(recordPrefix), id)
}

func recordKey(id, seq uint64) []byte { return appendRecordKey(nil, id, seq) }

// appendRecordKey appends the record key of (id, seq) to dst.
func appendRecordKey(dst []byte, id, seq uint64) []byte {
	dst = append(dst, recordPrefix...)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// recordSeq extracts the sequence number of a record key.
func recordSeq(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

func indexStreamPrefix(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(indexPrefix), id)
}

func indexKey(id, ts, seq uint64) []byte { return appendIndexKey(nil, id, ts, seq) }

// appendIndexKey appends the timestamp index key of (id, ts, seq) to dst.
func appendIndexKey(dst []byte, id, ts, seq uint64) []byte {
	dst = append(dst, indexPrefix...)
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint64(dst, ts)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// indexSeq extracts the sequence number of a timestamp index key.
func indexSeq(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// CompactionPartition tells the engine's compaction where output tables may
// not straddle (engine.Options.Compaction.Partition): each stream's records
// and each stream's timestamp index form a partition, and every other key
// family one partition each. A stream's appends then land in tables of
// their own that later merges pass through unchanged, which keeps write
// amplification near WAL + flush + one rewrite.
func CompactionPartition(key []byte) []byte {
	const streamPrefixLen = 2 + 8 // family prefix + stream id
	if len(key) >= streamPrefixLen && (string(key[:2]) == recordPrefix || string(key[:2]) == indexPrefix) {
		return key[:streamPrefixLen]
	}
	return key[:min(len(key), 2)]
}
