// Package manifest stores the engine's durable state: which SSTs make up the
// tree, how far the write-ahead log has been flushed into them, and which
// writer epoch owns the database.
//
// Every version is a full snapshot written once, with put-if-absent, at the
// next sequential key manifest/<version>. Because a version is never
// overwritten, two writers can never both believe they installed the same
// version: the loser gets a precondition failure and learns, by reading the
// winner, that it has been fenced. Discovery of the newest version never
// needs a full LIST: a best-effort hint object records a recent version and
// the newest one is found from there with a handful of single-object probes.
package manifest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// Format constants for the encoded manifest.
const (
	magic         = "S2LM"
	formatVersion = 1
	headerLen     = len(magic) + 1
	trailerLen    = 4
)

// ErrCorrupt is wrapped by every decoding failure.
var ErrCorrupt = errors.New("manifest: corrupt manifest")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Table describes one SST object.
type Table struct {
	// FileNum is unique among the tables created by one writer epoch.
	FileNum uint64 `json:"file_num"`
	// Epoch is the writer epoch that created the table. Naming objects by
	// epoch as well as number means a fenced writer that reuses a number can
	// never overwrite a live table.
	Epoch uint64 `json:"epoch"`
	Size  int64  `json:"size"`
	// Smallest and Largest bound the user keys in the table (Largest may be
	// the exclusive end of a range deletion).
	Smallest []byte `json:"smallest"`
	Largest  []byte `json:"largest"`
	MinSeq   uint64 `json:"min_seq"`
	MaxSeq   uint64 `json:"max_seq"`
	// NumEntries counts point entries; NumRangeDels range deletions.
	NumEntries   uint64 `json:"num_entries"`
	NumRangeDels uint64 `json:"num_range_dels,omitempty"`
	// MinExpiry and MaxExpiry cover the entries that have an expiry (Unix
	// ms, 0 when none do); NumWithoutExpiry counts the entries that never
	// expire. Together they tell compaction when a whole table is dead.
	MinExpiry        int64  `json:"min_expiry,omitempty"`
	MaxExpiry        int64  `json:"max_expiry,omitempty"`
	NumWithoutExpiry uint64 `json:"num_without_expiry"`
}

// ObjectKey is the table's key in the object store.
func (t Table) ObjectKey() string { return TableKey(t.Epoch, t.FileNum) }

// TableKey names an SST object.
func TableKey(epoch, fileNum uint64) string {
	return fmt.Sprintf("sst/%020d-%020d.sst", epoch, fileNum)
}

// Manifest is one version of the database's durable state.
type Manifest struct {
	// Version is this manifest's sequential id; it is stored at Key(Version).
	Version uint64 `json:"version"`
	// WriterEpoch is bumped by every Open (and by a writer healing itself
	// after a failed WAL write). Objects written by lower epochs after a
	// higher epoch fenced them are ignored.
	WriterEpoch uint64 `json:"writer_epoch"`
	// Writer is a random identity of the DB instance that wrote this
	// version. A writer whose manifest PUT landed but whose reply was lost
	// recognises its own version by it on the next conflict. (The epoch
	// cannot tell: two openers racing for the same version both try the
	// same epoch number.)
	Writer string `json:"writer,omitempty"`
	// NextFileNum is the next SST file number the owning writer may use.
	NextFileNum uint64 `json:"next_file_num"`
	// LastSeq is the last sequence number reflected in the tables.
	LastSeq uint64 `json:"last_seq"`
	// WALReplayFrom is the first WAL object not reflected in the tables.
	WALReplayFrom uint64 `json:"wal_replay_from"`
	// WALEpochFloor is the writer epoch in force at WALReplayFrom: WAL
	// objects of a lower epoch from there on were written by fenced writers
	// and are skipped by replay.
	WALEpochFloor uint64 `json:"wal_epoch_floor"`
	// L0 holds flushed tables, newest first; their key ranges may overlap
	// but their sequence ranges do not.
	L0 []Table `json:"l0"`
	// Levels holds sorted runs below L0, newest first; within one run the
	// tables are sorted by key and do not overlap.
	Levels [][]Table `json:"levels,omitempty"`
}

// Clone returns a deep enough copy to edit without touching m: the table
// slices are copied (the tables themselves are treated as immutable).
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.L0 = append([]Table(nil), m.L0...)
	c.Levels = make([][]Table, len(m.Levels))
	for i, run := range m.Levels {
		c.Levels[i] = append([]Table(nil), run...)
	}
	if len(c.Levels) == 0 {
		c.Levels = nil
	}
	return &c
}

// Tables returns every table the manifest references.
func (m *Manifest) Tables() []Table {
	out := append([]Table(nil), m.L0...)
	for _, run := range m.Levels {
		out = append(out, run...)
	}
	return out
}

// Encode serializes m: magic, format version, JSON body, CRC32C trailer.
func Encode(m *Manifest) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	buf := make([]byte, 0, headerLen+len(body)+trailerLen)
	buf = append(buf, magic...)
	buf = append(buf, formatVersion)
	buf = append(buf, body...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli)), nil
}

// Decode parses and verifies an encoded manifest.
func Decode(data []byte) (*Manifest, error) {
	if len(data) < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(data))
	}
	if !bytes.Equal(data[:len(magic)], []byte(magic)) {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	n := len(data) - trailerLen
	if want, got := binary.LittleEndian.Uint32(data[n:]), crc32.Checksum(data[:n], castagnoli); want != got {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	if v := data[len(magic)]; v != formatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, v)
	}
	var m Manifest
	if err := json.Unmarshal(data[headerLen:n], &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &m, nil
}
