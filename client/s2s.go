package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// S2S framing (API 10.2): a 3-byte big-endian length of flag and body, a
// flag byte, and the body (a protobuf message, compressed per the flag, or
// for a terminal message a 2-byte status and a JSON error body).
const (
	s2sFlagTerminal  = 0x80
	s2sCompressMask  = 0x60
	s2sCompressZstd  = 0x20
	s2sCompressGzip  = 0x40
	s2sMaxFrame      = 2 << 20 // flag + body
	s2sContentType   = "s2s/proto"
	s2sReadBufBytes  = 256 << 10
	s2sMaxDecompress = s2sMaxFrame - 1
)

// appendFrame frames msg, compressing it when c says so and it is large
// enough.
func appendFrame(dst []byte, msg []byte, c Compression) ([]byte, error) {
	flag := byte(0)
	if c != CompressionNone && len(msg) >= compressThreshold {
		z, err := compress(c, msg)
		if err != nil {
			return nil, err
		}
		msg = z
		if c == CompressionZstd {
			flag = s2sCompressZstd
		} else {
			flag = s2sCompressGzip
		}
	}
	n := len(msg) + 1
	if n > s2sMaxFrame {
		return nil, fmt.Errorf("s2s: message of %d bytes over the frame limit", len(msg))
	}
	dst = append(dst, byte(n>>16), byte(n>>8), byte(n), flag)
	return append(dst, msg...), nil
}

// frameReader reads S2S frames from a session's response body.
type frameReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next message body, decompressed; io.EOF at the end of
// the session; the decoded error of a terminal message. The slice is valid
// until the next call.
func (f *frameReader) next() ([]byte, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(f.br, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, &TransportError{Err: fmt.Errorf("s2s: reading frame: %w", err)}
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if n < 1 || n > s2sMaxFrame {
		return nil, fmt.Errorf("s2s: frame length %d out of range", n)
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	buf := f.buf[:n]
	if _, err := io.ReadFull(f.br, buf); err != nil {
		return nil, &TransportError{Err: fmt.Errorf("s2s: reading frame: %w", err)}
	}
	flag, body := buf[0], buf[1:]
	if flag&s2sFlagTerminal != 0 {
		if len(body) < 2 {
			return nil, errors.New("s2s: terminal message too short")
		}
		return nil, decodeError(int(binary.BigEndian.Uint16(body)), body[2:])
	}
	switch flag & s2sCompressMask {
	case 0:
		return body, nil
	case s2sCompressZstd:
		return decompress(CompressionZstd, body, s2sMaxDecompress)
	case s2sCompressGzip:
		return decompress(CompressionGzip, body, s2sMaxDecompress)
	}
	return nil, errors.New("s2s: invalid compression bits")
}

// openS2S starts an S2S session: it returns once the server accepted it
// (200 with content type s2s/proto) or with the server's error.
func (c *Client) openS2S(ctx context.Context, r *request, body io.Reader) (*http.Response, error) {
	u := r.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.setCommonHeaders(req, r.basin)
	req.Header.Set("Content-Type", s2sContentType)
	req.Header.Set("Accept", "application/protobuf")
	if r.key != "" {
		req.Header.Set(encryptionKeyHeader, r.key)
	}
	resp, err := c.sessions.Do(req)
	if err != nil {
		return nil, &TransportError{Err: err}
	}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, s2sContentType) {
		data, rerr := readBody(resp)
		resp.Body.Close()
		if rerr != nil {
			return nil, &TransportError{Err: rerr}
		}
		if resp.StatusCode == http.StatusOK {
			return nil, fmt.Errorf("s2s: server answered content type %q, not a session", ct)
		}
		return nil, decodeError(resp.StatusCode, data)
	}
	return resp, nil
}
