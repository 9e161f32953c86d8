package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

// s2Client is a small client of the S2 API (API.md), enough for the
// benchmark: basin and stream creation, unary JSON and protobuf appends,
// S2S append and read sessions over h2c, SSE read sessions, and /metrics.
// It uses no code of the server.
type s2Client struct {
	base  string // http://host:port
	basin string
	h1    *http.Client // HTTP/1.1, keep-alive
	h2    *http.Client // cleartext HTTP/2 with prior knowledge
}

func newS2Client(base, basin string) *s2Client {
	h1 := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     time.Minute,
		// Compression would make the server gzip responses: the benchmark
		// measures the uncompressed path.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	h2 := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		// Without this the transport asks for gzip, and the server would
		// compress S2S frames of 1 KiB and more.
		DisableCompression: true,
		ReadIdleTimeout:    30 * time.Second,
	}
	return &s2Client{base: base, basin: basin, h1: &http.Client{Transport: h1}, h2: &http.Client{Transport: h2}}
}

func (c *s2Client) close() {
	c.h1.CloseIdleConnections()
	c.h2.CloseIdleConnections()
}

func streamPath(name string) string { return "/v1/streams/" + url.PathEscape(name) }

// do sends a request and returns the body of a 2xx response, or an error
// with the status and body.
func (c *s2Client) do(ctx context.Context, hc *http.Client, method, path string, body []byte, hdr ...string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func (c *s2Client) health(ctx context.Context) error {
	_, err := c.do(ctx, c.h1, http.MethodGet, "/health", nil)
	return err
}

func (c *s2Client) createBasin(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"basin": c.basin})
	_, err := c.do(ctx, c.h1, http.MethodPost, "/v1/basins", body, "Content-Type", "application/json")
	return err
}

func (c *s2Client) createStream(ctx context.Context, hc *http.Client, name string) error {
	body, _ := json.Marshal(map[string]any{"stream": name})
	_, err := c.do(ctx, hc, http.MethodPost, "/v1/streams", body, "Content-Type", "application/json", "s2-basin", c.basin)
	return err
}

// appendJSON is a unary JSON append (API 7.3) over HTTP/1.1; body is a
// prebuilt AppendInput JSON document.
func (c *s2Client) appendJSON(ctx context.Context, stream string, body []byte) (appendAck, error) {
	data, err := c.do(ctx, c.h1, http.MethodPost, streamPath(stream)+"/records", body,
		"Content-Type", "application/json", "s2-basin", c.basin)
	if err != nil {
		return appendAck{}, err
	}
	var ack appendAck
	err = json.Unmarshal(data, &ack)
	return ack, err
}

// appendProto is a unary protobuf append (API 7.8) over the given client
// (HTTP/1.1 or h2c).
func (c *s2Client) appendProto(ctx context.Context, hc *http.Client, stream string, body []byte) (appendAck, error) {
	data, err := c.do(ctx, hc, http.MethodPost, streamPath(stream)+"/records", body,
		"Content-Type", "application/protobuf", "Accept", "application/protobuf", "s2-basin", c.basin)
	if err != nil {
		return appendAck{}, err
	}
	return decodeAppendAck(data)
}

// metrics scrapes /metrics into name (with labels) -> value.
func (c *s2Client) metrics(ctx context.Context) (map[string]float64, error) {
	data, err := c.do(ctx, c.h1, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, nil
}

// s2sSession is an S2S session (API 10) on one HTTP/2 stream.
type s2sSession struct {
	pw     *io.PipeWriter
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
	buf    []byte
}

func (c *s2Client) openS2S(ctx context.Context, method, path string) (*s2sSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	var body io.Reader
	var pr *io.PipeReader
	var pw *io.PipeWriter
	if method == http.MethodPost {
		pr, pw = io.Pipe()
		body = pr
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "s2s/proto")
	req.Header.Set("Accept", "application/protobuf")
	req.Header.Set("s2-basin", c.basin)
	resp, err := c.h2.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "s2s/proto" {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("s2s %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return &s2sSession{pw: pw, resp: resp, br: bufio.NewReaderSize(resp.Body, 256<<10), cancel: cancel}, nil
}

// openAppendSession starts an S2S append session.
func (c *s2Client) openAppendSession(ctx context.Context, stream string) (*s2sSession, error) {
	return c.openS2S(ctx, http.MethodPost, streamPath(stream)+"/records")
}

// openReadSession starts an S2S read session with the given query.
func (c *s2Client) openReadSession(ctx context.Context, stream string, q url.Values) (*s2sSession, error) {
	return c.openS2S(ctx, http.MethodGet, streamPath(stream)+"/records?"+q.Encode())
}

// send writes one framed message (see s2sFrame); it blocks while HTTP/2
// flow control holds the data back.
func (s *s2sSession) send(frame []byte) error {
	_, err := s.pw.Write(frame)
	return err
}

// closeSend ends the input of an append session.
func (s *s2sSession) closeSend() { _ = s.pw.Close() }

// recv reads the next message; io.EOF at the normal end of the session, a
// *terminalError for a terminal message. The returned slice is valid until
// the next call.
func (s *s2sSession) recv() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(s.br, hdr[:3]); err != nil {
		return nil, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if n < 1 || n > s2sMaxFrame {
		return nil, fmt.Errorf("s2s frame length %d", n)
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	buf := s.buf[:n]
	if _, err := io.ReadFull(s.br, buf); err != nil {
		return nil, fmt.Errorf("s2s frame body: %w", err)
	}
	flag, body := buf[0], buf[1:]
	if flag&s2sFlagTerminal != 0 {
		if len(body) < 2 {
			return nil, errors.New("s2s terminal message too short")
		}
		return nil, &terminalError{Status: int(binary.BigEndian.Uint16(body)), Body: string(body[2:])}
	}
	if flag&s2sFlagCompression != 0 {
		return nil, errors.New("s2s: compressed frame (compression was not requested)")
	}
	return body, nil
}

func (s *s2sSession) close() {
	s.cancel()
	if s.pw != nil {
		_ = s.pw.Close()
	}
	_ = s.resp.Body.Close()
}

// sseSession is a read session over Server-Sent Events (API 9).
type sseSession struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

func (c *s2Client) openSSE(ctx context.Context, stream string, q url.Values) (*sseSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+streamPath(stream)+"/records?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("s2-basin", c.basin)
	resp, err := c.h1.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("sse %s: %d %s", stream, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return &sseSession{resp: resp, br: bufio.NewReaderSize(resp.Body, 256<<10), cancel: cancel}, nil
}

type sseBatch struct {
	Records []struct {
		SeqNum uint64 `json:"seq_num"`
		Body   string `json:"body"`
	} `json:"records"`
	Tail *position `json:"tail"`
}

// next returns the next event: its type ("batch", "ping", "error" or
// "done") and, for a batch, the records' sequence numbers and body bytes.
func (s *sseSession) next(rb *readBatchInfo) (string, error) {
	event := ""
	var data []byte
	for {
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			return "", err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if data == nil && event == "" {
				continue
			}
			break
		}
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[6:]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = bytes.TrimSpace(line[5:])
		}
	}
	if event == "" && string(data) == "[DONE]" {
		return "done", nil
	}
	rb.Seqs, rb.BodyBytes, rb.HasTail = rb.Seqs[:0], 0, false
	switch event {
	case "batch":
		var b sseBatch
		if err := json.Unmarshal(data, &b); err != nil {
			return "", fmt.Errorf("sse batch: %w", err)
		}
		for _, r := range b.Records {
			rb.Seqs = append(rb.Seqs, r.SeqNum)
			rb.BodyBytes += int64(len(r.Body))
		}
		if b.Tail != nil {
			rb.HasTail, rb.Tail = true, *b.Tail
		}
	case "error":
		return "", fmt.Errorf("sse error event: %s", data)
	}
	return event, nil
}

func (s *sseSession) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}
