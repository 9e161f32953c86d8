package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

// newClient starts a server and returns a client of it.
func newClient(t *testing.T, cfg client.Config) (*client.Client, *testserver.Server) {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{})
	if cfg.AccountEndpoint == "" {
		cfg.AccountEndpoint = srv.URL
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, srv
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newStream creates a basin and a stream on it.
func newStream(t *testing.T, c *client.Client, basin, stream string) *client.Stream {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.CreateBasin(ctx, basin, client.CreateBasinOptions{}); err != nil {
		var e *client.Error
		if !errors.As(err, &e) || e.Code != "resource_already_exists" {
			t.Fatalf("CreateBasin: %v", err)
		}
	}
	b := c.Basin(basin)
	if _, err := b.CreateStream(ctx, stream, client.CreateStreamOptions{}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	return b.Stream(stream)
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *client.Error %d %s", err, err, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("error %d %s (%s), want %d %s", e.Status, e.Code, e.Message, status, code)
	}
}

// proxy is a loopback TCP proxy whose connections a test can cut, to
// make transport failures happen between a client and a real server.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	refuse int // accept and close at once this many connections
	wg     sync.WaitGroup
}

// refuseNext makes the proxy close the next n connections at once.
func (p *proxy) refuseNext(n int) {
	p.mu.Lock()
	p.refuse = n
	p.mu.Unlock()
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refuse > 0 {
			p.refuse--
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
