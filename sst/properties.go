package sst

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Properties summarise a table. They are computed by the Writer, stored in
// the properties block and available from Reader.Properties without reading
// any data block.
type Properties struct {
	// SmallestKey is the smallest user key over point entries and
	// range-deletion starts.
	SmallestKey []byte
	// LargestKey is the largest user key over point entries and
	// range-deletion ends. When it comes from a range deletion it is that
	// deletion's exclusive End: no key equal to it is in the table.
	LargestKey []byte
	// MinSeq and MaxSeq bound the sequence numbers of point entries and
	// range deletions.
	MinSeq, MaxSeq uint64
	// NumEntries counts point entries (sets and deletes).
	NumEntries uint64
	// NumDeletes counts point tombstones.
	NumDeletes uint64
	// NumRangeDels counts range deletions.
	NumRangeDels uint64
	// NumDataBlocks counts data blocks.
	NumDataBlocks uint64
	// MinExpiry and MaxExpiry bound the expiries (Unix milliseconds) of
	// point entries that have one; both are 0 when none has.
	MinExpiry, MaxExpiry int64
	// NumWithoutExpiry counts point entries with expiry 0 plus range
	// deletions, which never expire.
	NumWithoutExpiry uint64
	// RawKeyBytes is the sum of len(User)+8 over point entries: the size of
	// their keys before prefix compression.
	RawKeyBytes uint64
	// RawValueBytes is the sum of value lengths over point entries.
	RawValueBytes uint64
}

// propertiesVersion is the first field of the encoded properties. A reader
// rejects other versions; fields added in the future may be appended within
// version 1 and are ignored by older readers.
const propertiesVersion = 1

// encode appends the properties as: uvarint version, then uvarint-length-
// prefixed SmallestKey and LargestKey, then uvarints MinSeq, MaxSeq,
// NumEntries, NumDeletes, NumRangeDels, NumDataBlocks, MinExpiry, MaxExpiry,
// NumWithoutExpiry, RawKeyBytes, RawValueBytes. Expiries are never negative
// (the Writer rejects negative ones) so they encode as uvarints.
func (p *Properties) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, propertiesVersion)
	dst = binary.AppendUvarint(dst, uint64(len(p.SmallestKey)))
	dst = append(dst, p.SmallestKey...)
	dst = binary.AppendUvarint(dst, uint64(len(p.LargestKey)))
	dst = append(dst, p.LargestKey...)
	for _, v := range []uint64{
		p.MinSeq, p.MaxSeq, p.NumEntries, p.NumDeletes, p.NumRangeDels,
		p.NumDataBlocks, uint64(p.MinExpiry), uint64(p.MaxExpiry),
		p.NumWithoutExpiry, p.RawKeyBytes, p.RawValueBytes,
	} {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

// decodeProperties parses encode's output. Keys are copied so the result
// does not pin the buffer.
func decodeProperties(b []byte) (Properties, error) {
	var p Properties
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, corruptf("properties: bad varint for %s", what)
		}
		b = b[n:]
		return v, nil
	}
	bytesField := func(what string) ([]byte, error) {
		n, err := uv(what)
		if err != nil {
			return nil, err
		}
		if n > uint64(len(b)) {
			return nil, corruptf("properties: %s length %d overruns block", what, n)
		}
		v := append([]byte(nil), b[:n]...)
		b = b[n:]
		return v, nil
	}
	v, err := uv("version")
	if err != nil {
		return p, err
	}
	if v != propertiesVersion {
		return p, corruptf("properties: unknown version %d", v)
	}
	if p.SmallestKey, err = bytesField("smallest key"); err != nil {
		return p, err
	}
	if p.LargestKey, err = bytesField("largest key"); err != nil {
		return p, err
	}
	var minExp, maxExp uint64
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"min seq", &p.MinSeq}, {"max seq", &p.MaxSeq},
		{"entries", &p.NumEntries}, {"deletes", &p.NumDeletes},
		{"range dels", &p.NumRangeDels}, {"data blocks", &p.NumDataBlocks},
		{"min expiry", &minExp}, {"max expiry", &maxExp},
		{"without expiry", &p.NumWithoutExpiry},
		{"raw key bytes", &p.RawKeyBytes}, {"raw value bytes", &p.RawValueBytes},
	} {
		if *f.dst, err = uv(f.name); err != nil {
			return p, err
		}
	}
	if minExp > math.MaxInt64 || maxExp > math.MaxInt64 || minExp > maxExp {
		return p, corruptf("properties: bad expiry range [%d, %d]", minExp, maxExp)
	}
	p.MinExpiry, p.MaxExpiry = int64(minExp), int64(maxExp)
	if p.MinSeq > p.MaxSeq || p.NumDeletes > p.NumEntries {
		return p, corruptf("properties: inconsistent counts")
	}
	return p, nil
}

func (p Properties) String() string {
	return fmt.Sprintf("keys [%q, %q] seqs [%d, %d] entries %d deletes %d rangedels %d blocks %d expiry [%d, %d] without-expiry %d raw %d/%d",
		p.SmallestKey, p.LargestKey, p.MinSeq, p.MaxSeq, p.NumEntries, p.NumDeletes,
		p.NumRangeDels, p.NumDataBlocks, p.MinExpiry, p.MaxExpiry, p.NumWithoutExpiry,
		p.RawKeyBytes, p.RawValueBytes)
}
