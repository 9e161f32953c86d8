package client

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// compressThreshold: smaller payloads are not worth compressing (the
// server uses the same bound, API 10.3).
const compressThreshold = 1024

// compress encodes data. Codecs are made per call and closed at once, so
// the client keeps no codec goroutines alive between requests.
func compress(c Compression, data []byte) ([]byte, error) {
	switch c {
	case CompressionGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CompressionZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer enc.Close()
		return enc.EncodeAll(data, nil), nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// decompress decodes data, failing if the result would exceed limit bytes.
func decompress(c Compression, data []byte, limit int64) ([]byte, error) {
	switch c {
	case CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("gzip: decompressed over %d bytes", limit)
		}
		return out, nil
	case CompressionZstd:
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer dec.Close()
		out, err := dec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown content encoding %q", c)
}
