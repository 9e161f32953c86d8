package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A minimal S2S client for tests, written from API 10.2 rather than from
// s2s_frame.go, over the env's h2c client. It stays raw on purpose, beside
// the client package that tests of ordinary flows use (TestStoreKinds): the
// protocol tests here send what a well-behaved client never would
// (malformed frames, reserved or invalid compression bits, terminal frames
// from the client, sessions over HTTP/1.1) and check replies frame by
// frame.

type s2sConn struct {
	t      testing.TB
	pw     *io.PipeWriter
	resp   *http.Response
	cancel context.CancelFunc
}

// openS2S starts a session. For a failure before the session, it returns
// nil and the plain HTTP response.
func (e *env) openS2S(method, path string, kv ...string) (*s2sConn, *response) {
	e.t.Helper()
	return e.openS2SWith(e.h2, method, path, kv...)
}

// openS2SWith is openS2S over another client (HTTP/1.1 also works, with
// a chunked full-duplex exchange).
func (e *env) openS2SWith(client *http.Client, method, path string, kv ...string) (*s2sConn, *response) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var body io.Reader = pr
	if method == http.MethodGet {
		body = nil
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "s2s/proto")
	req.Header.Set("Accept", "application/protobuf")
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("s2s %s %s: %v", method, path, err)
	}
	if client == e.h2 && resp.ProtoMajor != 2 {
		e.t.Fatalf("s2s over HTTP/%d", resp.ProtoMajor)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "s2s/proto" {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		_ = pw.Close()
		return nil, &response{status: resp.StatusCode, header: resp.Header, body: data, proto: resp.ProtoMajor}
	}
	c := &s2sConn{t: e.t, pw: pw, resp: resp, cancel: cancel}
	e.t.Cleanup(c.close)
	return c, nil
}

func (c *s2sConn) close() {
	c.cancel()
	_ = c.pw.Close()
	_ = c.resp.Body.Close()
}

func testFrame(flag byte, body []byte) []byte {
	n := len(body) + 1
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), flag}, body...)
}

// send writes one regular message, compressed as flag says.
func (c *s2sConn) send(msg []byte, compression byte) {
	c.t.Helper()
	body := msg
	switch compression {
	case flagZstd:
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			c.t.Fatal(err)
		}
		body = zw.EncodeAll(msg, nil)
		_ = zw.Close()
	case flagGzip:
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		_, _ = gw.Write(msg)
		_ = gw.Close()
		body = buf.Bytes()
	}
	c.raw(testFrame(compression, body))
}

// raw writes bytes to the request stream as they are.
func (c *s2sConn) raw(b []byte) {
	c.t.Helper()
	if _, err := c.pw.Write(b); err != nil {
		c.t.Fatalf("s2s write: %v", err)
	}
}

func (c *s2sConn) closeInput() { _ = c.pw.Close() }

type s2sFrame struct {
	flag byte
	body []byte // decompressed message, or the terminal body after the status
	// status is set for terminal messages.
	status int
}

func (f s2sFrame) terminal() bool { return f.flag&0x80 != 0 }

// next reads the next message; io.EOF at the end of the stream. It fails
// the test if nothing arrives within timeout.
func (c *s2sConn) next(timeout time.Duration) (s2sFrame, error) {
	c.t.Helper()
	type result struct {
		f   s2sFrame
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := readTestFrame(c.resp.Body)
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-time.After(timeout):
		c.close()
		<-ch
		c.t.Fatalf("no S2S message within %v", timeout)
		return s2sFrame{}, nil
	}
}

func readTestFrame(r io.Reader) (s2sFrame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:3]); err != nil {
		if errors.Is(err, io.EOF) {
			return s2sFrame{}, io.EOF
		}
		return s2sFrame{}, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return s2sFrame{}, err
	}
	f := s2sFrame{flag: buf[0], body: buf[1:]}
	if f.terminal() {
		f.status = int(binary.BigEndian.Uint16(f.body))
		f.body = f.body[2:]
		return f, nil
	}
	switch f.flag & 0x60 {
	case 0x20:
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return f, err
		}
		defer zr.Close()
		if f.body, err = zr.DecodeAll(f.body, nil); err != nil {
			return f, err
		}
	case 0x40:
		gr, err := gzip.NewReader(bytes.NewReader(f.body))
		if err != nil {
			return f, err
		}
		if f.body, err = io.ReadAll(gr); err != nil {
			return f, err
		}
	}
	return f, nil
}

// expectMessage reads a regular message and decodes it as the named
// protobuf message.
func (c *s2sConn) expectMessage(name string) pbMessage {
	c.t.Helper()
	f, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatalf("reading %s: %v", name, err)
	}
	if f.terminal() {
		c.t.Fatalf("terminal message %d %s, want %s", f.status, f.body, name)
	}
	return unmarshalPB(c.t, name, f.body)
}

// expectTerminal reads a terminal message with status and returns its
// JSON body, then checks that the stream ends.
func (c *s2sConn) expectTerminal(status int) map[string]any {
	c.t.Helper()
	f, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatalf("reading terminal message: %v", err)
	}
	if !f.terminal() || f.status != status {
		c.t.Fatalf("message flag %#x status %d body %q, want terminal %d", f.flag, f.status, f.body, status)
	}
	var body map[string]any
	if err := json.Unmarshal(f.body, &body); err != nil {
		c.t.Fatalf("terminal body %q: %v", f.body, err)
	}
	c.expectEnd()
	return body
}

// expectEnd checks that the response stream ends without more messages.
func (c *s2sConn) expectEnd() {
	c.t.Helper()
	f, err := c.next(10 * time.Second)
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("got message %#x %q (err %v), want end of stream", f.flag, f.body, err)
	}
}
