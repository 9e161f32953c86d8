package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/s2lite/s2lite/internal/membudget"
)

// Compression of unary /v1 bodies (API 1.7) and of S2S messages (API
// 10.3). Codecs are created per use and closed at once: no codec state is
// shared between requests, and nothing keeps goroutines alive.

const (
	encodingZstd = "zstd"
	encodingGzip = "gzip"

	// compressThreshold: smaller payloads are sent as they are.
	compressThreshold = 1024
)

// errTooLarge marks a (decompressed) body over its limit.
var errTooLarge = errors.New("body too large")

// preferredEncoding picks zstd, else gzip, from an Accept-Encoding value,
// ignoring parameters such as q=.
func preferredEncoding(acceptEncoding string) string {
	var gz bool
	for part := range strings.SplitSeq(acceptEncoding, ",") {
		name, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case encodingZstd:
			return encodingZstd
		case encodingGzip:
			gz = true
		}
	}
	if gz {
		return encodingGzip
	}
	return ""
}

// responseEncoding is the encoding for a unary /v1 response of n bytes, or
// "" to send it as is.
func responseEncoding(r *http.Request, n int) string {
	if n <= compressThreshold || !strings.HasPrefix(r.URL.Path, "/v1/") {
		return ""
	}
	return preferredEncoding(r.Header.Get("Accept-Encoding"))
}

func compress(enc string, data []byte) ([]byte, error) {
	switch enc {
	case encodingZstd:
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd writer: %w", err)
		}
		defer zw.Close()
		return zw.EncodeAll(data, make([]byte, 0, len(data)/2)), nil
	case encodingGzip:
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		if _, err := gw.Write(data); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := gw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("unknown encoding %q", enc)
}

// decompress decodes data, failing with errTooLarge past limit bytes; the
// output's buffer is drawn from lease as it grows.
func decompress(enc string, data []byte, limit int64, lease *membudget.Lease) ([]byte, error) {
	rc, err := decompressReader(enc, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readLimitedSized(rc, limit, -1, lease)
}

// maxZstdWindow bounds the history a zstd body may make the decoder keep:
// no more than the largest decompressed body. Encoders size the window to
// the input (level 3, the usual default, uses 2 MiB at most), so only a
// crafted frame asks for more.
const maxZstdWindow = maxUnaryBody

// gzipDecoderMemory is what a gzip reader holds: its 32 KiB window and
// Huffman tables.
const gzipDecoderMemory = 64 << 10

// decoderMemory is the memory a decoder for enc will hold on the body
// buffered in br: for zstd, the window the frame header asks for (peeked,
// not consumed).
func decoderMemory(enc string, br *bufio.Reader) (int64, error) {
	if enc != encodingZstd {
		return gzipDecoderMemory, nil
	}
	hdr, _ := br.Peek(zstd.HeaderMaxSize)
	var h zstd.Header
	if err := h.Decode(hdr); err != nil {
		return 0, fmt.Errorf("zstd: %w", err)
	}
	w := h.WindowSize
	if w == 0 || h.HasFCS && h.FrameContentSize < w {
		w = h.FrameContentSize
	}
	if w > maxZstdWindow {
		return 0, fmt.Errorf("zstd: window of %d bytes exceeds the %d byte limit", w, maxZstdWindow)
	}
	return int64(w) + 256<<10, nil
}

// decompressReader wraps r in a decoder for enc.
func decompressReader(enc string, r io.Reader) (io.ReadCloser, error) {
	switch enc {
	case encodingZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case encodingGzip:
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return gr, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", enc)
}

// initialBodyBuffer is what a body's buffer starts with at most: the
// announced length is only a claim, so memory follows the bytes that
// actually arrive (a client announcing 16 MiB and sending nothing gets
// this much, not 16 MiB).
const initialBodyBuffer = 64 << 10

// readLimitedSized reads r to the end, failing with errTooLarge past
// limit; size is the announced size (negative when unknown). The buffer
// starts small and quadruples as it fills, up to the announced size: at
// most four times what arrived is ever reserved, and an honest 1 MiB body
// is copied twice on the way (64 KiB, then 256 KiB) rather than at every
// doubling. Every buffer is drawn from lease before it is allocated
// (membudget.ErrExhausted when it cannot be); on success the lease keeps
// the returned buffer's capacity.
func readLimitedSized(r io.Reader, limit, size int64, lease *membudget.Lease) ([]byte, error) {
	want := int64(initialBodyBuffer)
	if size >= 0 && size <= limit {
		want = min(size, initialBodyBuffer)
	}
	if err := lease.Grow(want + bytes.MinRead); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, want+bytes.MinRead)
	for {
		if len(buf) == cap(buf) {
			next := int64(cap(buf)) * 4
			if size >= 0 && size <= limit && int64(len(buf)) <= size {
				next = min(next, size+bytes.MinRead)
			}
			next = min(next, limit+1+bytes.MinRead)
			if next <= int64(cap(buf)) {
				next = int64(cap(buf)) * 2
			}
			if err := lease.Grow(next); err != nil {
				lease.Shrink(int64(cap(buf)))
				return nil, err
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			lease.Shrink(int64(cap(buf)))
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			lease.Shrink(int64(cap(buf)))
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			lease.Shrink(int64(cap(buf)))
			return nil, err
		}
	}
}

// requestBodyEncoding returns the Content-Encoding of a unary request body
// ("" for identity) or an error for one we cannot decode.
func requestBodyEncoding(r *http.Request) (string, error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		return "", nil
	case encodingZstd, encodingGzip:
		return enc, nil
	}
	return "", fmt.Errorf("unsupported content-encoding %q", enc)
}
