package hostile

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/encoding/protowire"
)

// Target is what an attack aims at: a server (host:port on loopback), a
// stream, and the access token the attacker holds (a careless client is
// authenticated; without a token every attack ends at a 401).
type Target struct {
	Addr, Basin, Stream, Token string
}

// An Attack runs against its target until ctx ends, holding whatever it
// took, and then lets go of it. It returns an error only when it could
// not attack at all.
type Attack func(ctx context.Context, t Target) error

// AnnounceH2 opens one cleartext HTTP/2 connection and starts streams
// appends that each announce a 16 MiB body and send none of it.
func AnnounceH2(streams int) Attack {
	return func(ctx context.Context, t Target) error {
		addr, basin, stream := t.Addr, t.Basin, t.Stream
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
			return err
		}
		fr := http2.NewFramer(conn, conn)
		var wmu sync.Mutex
		if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
			return err
		}
		go func() {
			// Keep the connection healthy: acknowledge settings
			// and pings, discard the rest.
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				wmu.Lock()
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						_ = fr.WriteSettingsAck()
					}
				case *http2.PingFrame:
					if !f.IsAck() {
						_ = fr.WritePing(true, f.Data)
					}
				}
				wmu.Unlock()
			}
		}()
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for i := range streams {
			hb.Reset()
			for _, kv := range [][2]string{
				{":method", "POST"}, {":scheme", "http"}, {":authority", addr},
				{":path", "/v1/streams/" + stream + "/records"},
				{"s2-basin", basin}, {"content-type", "application/json"},
				{"content-length", strconv.Itoa(16 << 20)},
				{"authorization", "Bearer " + t.Token},
			} {
				_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
			}
			wmu.Lock()
			err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndHeaders: true})
			wmu.Unlock()
			if err != nil {
				return fmt.Errorf("stream %d: %w", i, err)
			}
		}
		<-ctx.Done()
		return nil
	}
}

// TrickleH1 opens conns HTTP/1.1 connections that each announce a 16 MiB
// append body and then send one byte every interval.
func TrickleH1(conns int, interval time.Duration) Attack {
	return func(ctx context.Context, t Target) error {
		open, err := openRequests(t.Addr, conns, fmt.Sprintf("POST /v1/streams/%s/records HTTP/1.1\r\nHost: %s\r\ns2-basin: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
			t.Stream, t.Addr, t.Basin, t.Token, 16<<20))
		defer closeAll(open)
		if err != nil {
			return err
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				for _, c := range open {
					_, _ = c.Write([]byte(" "))
				}
			}
		}
	}
}

// openRequests opens n HTTP/1.1 connections to addr with a small receive
// buffer (so that a server writing to them blocks soon) and sends the
// start of a request on each.
func openRequests(addr string, n int, request string) ([]net.Conn, error) {
	var open []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return open, err
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		open = append(open, c)
		if _, err := io.WriteString(c, request); err != nil {
			return open, err
		}
	}
	return open, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// emptyProtoRecords is a protobuf AppendInput of n empty records.
func emptyProtoRecords(n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	return b
}

func gzipBytes(p []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(p)
	_ = w.Close()
	return buf.Bytes()
}

// GzipBombs sends, from workers loops, gzip bodies of a few KiB that
// inflate to 16 MiB of empty records (protobuf and JSON in turn).
func GzipBombs(workers int) Attack {
	return func(ctx context.Context, t Target) error {
		addr, basin, stream := t.Addr, t.Basin, t.Stream
		proto := gzipBytes(emptyProtoRecords(8 << 20)[:16<<20])
		json := gzipBytes([]byte(`{"records":[` + strings.Repeat(`{},`, (16<<20)/3-10) + `{}]}`))
		c := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: workers}}
		defer c.CloseIdleConnections()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					body, ct := proto, "application/protobuf"
					if (w+i)%2 == 1 {
						body, ct = json, "application/json"
					}
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/streams/"+stream+"/records", bytes.NewReader(body))
					req.Header.Set("s2-basin", basin)
					req.Header.Set("authorization", "Bearer "+t.Token)
					req.Header.Set("content-type", ct)
					req.Header.Set("content-encoding", "gzip")
					if resp, err := c.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		return nil
	}
}

// h2cClient is an HTTP/2 client over cleartext TCP.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// S2SFrameBombs keeps sessions S2S append sessions busy sending zstd
// frames that inflate to 2 MiB of empty records each.
func S2SFrameBombs(sessions int) Attack {
	return func(ctx context.Context, t Target) error {
		addr, basin, stream := t.Addr, t.Basin, t.Stream
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			return err
		}
		payload := enc.EncodeAll(emptyProtoRecords((2<<20-16)/2), nil)
		_ = enc.Close()
		frame := make([]byte, 4, 4+len(payload))
		n := len(payload) + 1
		frame[0], frame[1], frame[2], frame[3] = byte(n>>16), byte(n>>8), byte(n), 0x20
		frame = append(frame, payload...)
		c := h2cClient()
		defer c.CloseIdleConnections()
		var wg sync.WaitGroup
		for range sessions {
			wg.Go(func() {
				for ctx.Err() == nil {
					pr, pw := io.Pipe()
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/streams/"+stream+"/records", pr)
					req.Header.Set("s2-basin", basin)
					req.Header.Set("authorization", "Bearer "+t.Token)
					req.Header.Set("content-type", "s2s/proto")
					go func() {
						for ctx.Err() == nil {
							if _, err := pw.Write(frame); err != nil {
								return
							}
						}
						pw.Close()
					}()
					if resp, err := c.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					pw.CloseWithError(io.ErrClosedPipe)
				}
			})
		}
		wg.Wait()
		return nil
	}
}

// StalledReaders opens conns SSE read sessions from the start of the
// stream over HTTP/1.1 and never reads their sockets.
func StalledReaders(conns int) Attack {
	return func(ctx context.Context, t Target) error {
		open, err := openRequests(t.Addr, conns, fmt.Sprintf("GET /v1/streams/%s/records?seq_num=0 HTTP/1.1\r\nHost: %s\r\ns2-basin: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
			t.Stream, t.Addr, t.Basin, t.Token))
		defer closeAll(open)
		if err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
}
