package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// WriterOptions configure a Writer. Zero values select the defaults.
type WriterOptions struct {
	// BlockSize is the target uncompressed size of a data block. A block is
	// cut as soon as it reaches this size. Default 4096.
	BlockSize int
	// RestartInterval is the number of keys between restart points. Default 16.
	RestartInterval int
	// BloomBitsPerKey sizes the bloom filter. Default 10 (about 1% false
	// positives); a negative value writes no filter.
	BloomBitsPerKey int
	// DisableCompression stores every block uncompressed.
	DisableCompression bool
	// SizeHint, when positive, is the expected size of the finished table.
	// The writer reserves that much up front, so that building a large
	// table does not copy it over and over as its buffer grows.
	SizeHint int
	// Buffer, when its capacity suffices, is where the table is built (its
	// contents are overwritten): a caller writing many tables in a row
	// passes back the previous table's bytes once it is done with them.
	Buffer []byte
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BlockSize <= 0 {
		o.BlockSize = 4096
	}
	if o.RestartInterval <= 0 {
		o.RestartInterval = 16
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = 10
	}
	return o
}

var errFinished = errors.New("sst: writer already finished")

// Writer builds a table in memory. Tables are uploaded as one object, so
// there is nothing to gain from streaming. A Writer is not safe for
// concurrent use.
type Writer struct {
	opts WriterOptions
	out  []byte

	data    blockWriter
	index   blockWriter
	keyBuf  []byte
	valBuf  []byte
	scratch []byte // compression buffer
	// Data blocks that would not compress make the writer skip trying for
	// the next skipRun blocks, doubling up to maxCompressionSkip while they
	// keep failing: most stream payloads are already compressed or
	// random, and snappy on every block of them cost about 5% of the
	// server's CPU at full ingest for nothing. The price is that up to
	// maxCompressionSkip blocks after incompressible data turns
	// compressible are stored raw.
	skipLeft, skipRun int

	lastKey Key // User is owned by the writer
	hasLast bool

	// Distinct user keys for the filter, packed into one arena.
	filterKeys []byte
	filterEnds []int

	rangeDels []RangeDel
	props     Properties
	finished  bool
}

// NewWriter returns a Writer.
func NewWriter(opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	if cap(opts.Buffer) < opts.SizeHint {
		opts.Buffer = make([]byte, 0, opts.SizeHint)
	}
	return &Writer{
		opts:  opts,
		out:   opts.Buffer[:0:cap(opts.Buffer)],
		data:  blockWriter{restartInterval: opts.RestartInterval},
		index: blockWriter{restartInterval: opts.RestartInterval},
	}
}

// Add appends a point entry. Keys must be strictly increasing by Compare.
// expiry is in Unix milliseconds, 0 meaning never; value must be empty for
// KindDelete. A rejected call leaves the Writer unchanged.
func (w *Writer) Add(k Key, expiry int64, value []byte) error {
	switch {
	case w.finished:
		return errFinished
	case k.Kind != KindSet && k.Kind != KindDelete:
		return fmt.Errorf("sst: key %s: unsupported kind", k)
	case k.Seq > MaxSeq:
		return fmt.Errorf("sst: key %s: sequence number exceeds %d", k, MaxSeq)
	case expiry < 0:
		return fmt.Errorf("sst: key %s: negative expiry %d", k, expiry)
	case k.Kind == KindDelete && len(value) > 0:
		return fmt.Errorf("sst: key %s: a delete cannot carry a value", k)
	case w.hasLast && Compare(k, w.lastKey) <= 0:
		return fmt.Errorf("sst: key %s added after %s: keys must be strictly increasing", k, w.lastKey)
	}

	if !w.hasLast || !bytes.Equal(k.User, w.lastKey.User) {
		w.filterKeys = append(w.filterKeys, k.User...)
		w.filterEnds = append(w.filterEnds, len(w.filterKeys))
		if !w.hasLast {
			w.props.SmallestKey = append([]byte(nil), k.User...)
		}
	}
	w.lastKey = Key{User: append(w.lastKey.User[:0], k.User...), Seq: k.Seq, Kind: k.Kind}
	w.hasLast = true

	w.keyBuf = appendInternalKey(w.keyBuf[:0], k.User, k.Seq, k.Kind)
	w.valBuf = binary.AppendUvarint(w.valBuf[:0], uint64(expiry))
	w.valBuf = append(w.valBuf, value...)
	w.data.add(w.keyBuf, w.valBuf)

	p := &w.props
	w.noteSeq(k.Seq)
	p.NumEntries++
	if k.Kind == KindDelete {
		p.NumDeletes++
	}
	if expiry == 0 {
		p.NumWithoutExpiry++
	} else {
		if p.MinExpiry == 0 || expiry < p.MinExpiry {
			p.MinExpiry = expiry
		}
		p.MaxExpiry = max(p.MaxExpiry, expiry)
	}
	p.RawKeyBytes += uint64(len(k.User) + trailerLen)
	p.RawValueBytes += uint64(len(value))

	if w.data.estimatedSize() >= w.opts.BlockSize {
		w.flushDataBlock()
	}
	return nil
}

func (w *Writer) noteSeq(seq uint64) {
	p := &w.props
	if p.NumEntries == 0 && p.NumRangeDels == 0 {
		p.MinSeq, p.MaxSeq = seq, seq
		return
	}
	p.MinSeq = min(p.MinSeq, seq)
	p.MaxSeq = max(p.MaxSeq, seq)
}

// AddRangeDel records a range deletion. Range deletions may be added in any
// order, interleaved with Add. Start must sort before End.
func (w *Writer) AddRangeDel(rd RangeDel) error {
	switch {
	case w.finished:
		return errFinished
	case bytes.Compare(rd.Start, rd.End) >= 0:
		return fmt.Errorf("sst: range deletion [%q, %q): start must sort before end", rd.Start, rd.End)
	case rd.Seq > MaxSeq:
		return fmt.Errorf("sst: range deletion [%q, %q): sequence number exceeds %d", rd.Start, rd.End, MaxSeq)
	}
	w.noteSeq(rd.Seq)
	w.rangeDels = append(w.rangeDels, RangeDel{
		Start: append([]byte(nil), rd.Start...),
		End:   append([]byte(nil), rd.End...),
		Seq:   rd.Seq,
	})
	w.props.NumRangeDels++
	w.props.NumWithoutExpiry++
	return nil
}

// EstimatedSize is roughly the size Finish would return now.
func (w *Writer) EstimatedSize() int {
	n := len(w.out) + w.data.estimatedSize() + w.index.estimatedSize() + footerLen
	for _, rd := range w.rangeDels {
		n += len(rd.Start) + len(rd.End) + trailerLen + 3
	}
	if w.opts.BloomBitsPerKey > 0 {
		n += len(w.filterEnds)*w.opts.BloomBitsPerKey/8 + bloomHeaderLen
	}
	return n + 64 // properties
}

// maxCompressionSkip bounds how many data blocks in a row are stored raw
// without trying to compress them.
const maxCompressionSkip = 32

func (w *Writer) flushDataBlock() {
	var h blockHandle
	try := !w.opts.DisableCompression && w.skipLeft == 0
	if w.skipLeft > 0 {
		w.skipLeft--
	}
	var compressed bool
	w.out, h, w.scratch, compressed = appendStoredBlock(w.out, w.data.finish(), w.scratch, try)
	switch {
	case !try:
	case compressed:
		w.skipRun = 0
	default:
		w.skipRun = min(max(2*w.skipRun, 1), maxCompressionSkip)
		w.skipLeft = w.skipRun
	}
	w.valBuf = binary.AppendUvarint(w.valBuf[:0], h.offset)
	w.valBuf = binary.AppendUvarint(w.valBuf, h.length)
	w.index.add(w.data.lastKey, w.valBuf)
	w.data.reset()
	w.props.NumDataBlocks++
}

func (w *Writer) writeMetaBlock(raw []byte) blockHandle {
	var h blockHandle
	w.out, h, w.scratch, _ = appendStoredBlock(w.out, raw, w.scratch, !w.opts.DisableCompression)
	return h
}

// Finish completes the table and returns the whole object with its
// properties. The Writer cannot be used afterwards.
func (w *Writer) Finish() ([]byte, Properties, error) {
	if w.finished {
		return nil, Properties{}, errFinished
	}
	w.finished = true
	if w.data.numEntries > 0 {
		w.flushDataBlock()
	}
	p := &w.props
	if w.hasLast {
		p.LargestKey = append([]byte(nil), w.lastKey.User...)
	}

	var f footer

	// Range deletions in internal-key order of their starts, so that
	// RangeDels comes back sorted by Start.
	sort.Slice(w.rangeDels, func(i, j int) bool {
		a, b := w.rangeDels[i], w.rangeDels[j]
		if c := bytes.Compare(a.Start, b.Start); c != 0 {
			return c < 0
		}
		if a.Seq != b.Seq {
			return a.Seq > b.Seq
		}
		return bytes.Compare(a.End, b.End) < 0
	})
	rdw := blockWriter{restartInterval: w.opts.RestartInterval}
	haveBounds := w.hasLast
	for _, rd := range w.rangeDels {
		if !haveBounds || bytes.Compare(rd.Start, p.SmallestKey) < 0 {
			p.SmallestKey = rd.Start
		}
		if !haveBounds || bytes.Compare(rd.End, p.LargestKey) > 0 {
			p.LargestKey = rd.End
		}
		haveBounds = true
		w.keyBuf = appendInternalKey(w.keyBuf[:0], rd.Start, rd.Seq, kindRangeDel)
		rdw.add(w.keyBuf, rd.End)
	}
	f.rangeDel = w.writeMetaBlock(rdw.finish())

	var filter []byte
	if w.opts.BloomBitsPerKey > 0 {
		keys := make([][]byte, len(w.filterEnds))
		start := 0
		for i, end := range w.filterEnds {
			keys[i] = w.filterKeys[start:end]
			start = end
		}
		var err error
		if filter, err = buildFilter(keys, w.opts.BloomBitsPerKey); err != nil {
			return nil, Properties{}, err
		}
	}
	f.filter = w.writeMetaBlock(filter)
	f.index = w.writeMetaBlock(w.index.finish())
	f.props = w.writeMetaBlock(p.encode(nil))
	w.out = f.encode(w.out)
	return w.out, *p, nil
}
