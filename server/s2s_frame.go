package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/s2lite/s2lite/internal/membudget"
)

// S2S framing (API 10.2, 10.3):
//
//	length (3 bytes, big-endian) | flag (1 byte) | body (length-1 bytes)
//
// length counts the flag and the body. Flag bit 7 marks a terminal message
// (2-byte status, then a JSON error body); bits 6-5 select the compression
// of a regular message's protobuf body.

const (
	maxFrameLen = 2 << 20 // flag + body

	flagTerminal    = 0x80
	flagCompression = 0x60
	flagZstd        = 0x20
	flagGzip        = 0x40
)

// frameCodec compresses and decompresses the messages of one session. The
// zstd coders are created on first use and released by close.
type frameCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
	// lease, on a session's input codec, pays for the frames read.
	lease *membudget.Lease
}

func (c *frameCodec) close() {
	if c.enc != nil {
		_ = c.enc.Close()
	}
	if c.dec != nil {
		c.dec.Close()
	}
}

func (c *frameCodec) compress(encoding string, p []byte) (flag byte, out []byte, err error) {
	if len(p) < compressThreshold {
		return 0, p, nil
	}
	switch encoding {
	case encodingZstd:
		if c.enc == nil {
			if c.enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true)); err != nil {
				return 0, nil, fmt.Errorf("zstd encoder: %w", err)
			}
		}
		return flagZstd, c.enc.EncodeAll(p, make([]byte, 0, len(p)/2)), nil
	case encodingGzip:
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		if _, err := gw.Write(p); err != nil {
			return 0, nil, fmt.Errorf("gzip: %w", err)
		}
		if err := gw.Close(); err != nil {
			return 0, nil, fmt.Errorf("gzip: %w", err)
		}
		return flagGzip, buf.Bytes(), nil
	}
	return 0, p, nil
}

func (c *frameCodec) decompress(flag byte, p []byte) ([]byte, error) {
	const limit = maxFrameLen - 1
	switch flag & flagCompression {
	case 0:
		return p, nil
	case flagZstd:
		if c.dec == nil {
			var err error
			if c.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(limit)); err != nil {
				return nil, fmt.Errorf("zstd decoder: %w", err)
			}
		}
		out, err := c.dec.DecodeAll(p, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > limit {
			return nil, errTooLarge
		}
		// Allocated already, and at most one frame's worth: accounted
		// rather than refused.
		c.lease.Account(int64(cap(out)))
		return out, nil
	case flagGzip:
		return decompress(encodingGzip, p, limit, c.lease)
	}
	return nil, errors.New("invalid compression bits 11")
}

// frameMemoryWait is how long reading a frame waits for memory from the
// budget before the session fails with rate_limited.
const frameMemoryWait = 5 * time.Second

// readFrame reads the next client message and returns its decompressed
// body and the bytes of codec.lease that the body holds (to shrink once it
// is no longer needed). It returns io.EOF at a clean end of input; any
// malformed frame is an error to report as bad_frame, and
// membudget.ErrExhausted one that could not get memory. Clients never send
// terminal messages.
func readFrame(ctx context.Context, r io.Reader, codec *frameCodec) ([]byte, int64, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:3]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("frame length: %w", err)
	}
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if length < 1 || length > maxFrameLen {
		return nil, 0, fmt.Errorf("frame length %d out of range", length)
	}
	if err := codec.lease.GrowWait(ctx, int64(length), frameMemoryWait); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		codec.lease.Shrink(int64(length))
		return nil, 0, fmt.Errorf("frame body: %w", err)
	}
	flag, body := buf[0], buf[1:]
	if flag&flagTerminal != 0 {
		codec.lease.Shrink(int64(length))
		return nil, 0, errors.New("unexpected terminal message from client")
	}
	out, err := codec.decompress(flag, body)
	if flag&flagCompression != 0 {
		// The compressed frame is garbage now; the output, if any, is
		// what the lease holds.
		codec.lease.Shrink(int64(length))
		if err != nil {
			return nil, 0, err
		}
		return out, int64(cap(out)), nil
	}
	return out, int64(length), err
}

// frameWriter writes server messages and flushes each one at once.
type frameWriter struct {
	w        io.Writer
	rc       *http.ResponseController
	codec    *frameCodec
	encoding string // "", zstd or gzip, from Accept-Encoding
}

func (fw *frameWriter) write(flag byte, body []byte) error {
	if len(body)+1 > maxFrameLen {
		return fmt.Errorf("s2s message of %d bytes exceeds the frame limit", len(body))
	}
	n := len(body) + 1
	hdr := [4]byte{byte(n >> 16), byte(n >> 8), byte(n), flag}
	// Two writes rather than one of a joined copy: the response writer
	// buffers and copies anyway, and a read batch is up to 1 MiB.
	if _, err := fw.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := fw.w.Write(body); err != nil {
		return err
	}
	return fw.rc.Flush()
}

// message writes a regular message with a protobuf body.
func (fw *frameWriter) message(p []byte) error {
	flag, body, err := fw.codec.compress(fw.encoding, p)
	if err != nil {
		return err
	}
	return fw.write(flag, body)
}

// terminal writes the terminal message of an error; it is never
// compressed.
func (fw *frameWriter) terminal(e *apiError) error {
	body := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(e.body)), uint16(e.status))
	return fw.write(flagTerminal, append(body, e.body...))
}

// startS2S sends the headers that establish a session (API 10.1).
func startS2S(w http.ResponseWriter, r *http.Request, codec *frameCodec) *frameWriter {
	h := w.Header()
	h.Set("Content-Type", mediaTypeS2S)
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	return &frameWriter{w: w, rc: rc, codec: codec, encoding: preferredEncoding(r.Header.Get("Accept-Encoding"))}
}
