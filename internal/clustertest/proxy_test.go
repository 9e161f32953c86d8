package clustertest

// A TCP proxy in front of one endpoint: an etcd member (one proxy per node
// and member), or a node's listener as its peers reach it (the node's
// --advertise-url). Up, it forwards bytes both ways. Down, the endpoint is
// gone from the network: connections are reset and new ones refused
// (closed at once). Blackholed, the endpoint is cut off without anyone
// being told: bytes in both directions are read and dropped, new
// connections are accepted and never answered, as with a network
// partition. Cut is blackholed after resetting the connections open at
// the time, so that the cut takes effect at once rather than when the
// peers' keep-alives give up. Healing closes every connection that lived
// through a blackhole (their streams lost bytes) and forwards new ones
// again.

import (
	"io"
	"net"
	"sync"
	"time"
)

type proxyMode int

const (
	proxyUp proxyMode = iota
	proxyDown
	proxyBlackhole
	proxyCut
)

type tcpProxy struct {
	ln     net.Listener
	target string // host:port

	mu    sync.Mutex
	mode  proxyMode
	conns map[*proxyConn]struct{}
	done  bool
}

// proxyConn is one client connection and, when forwarded, its upstream.
type proxyConn struct {
	client, upstream net.Conn
	// dropping is set when the connection lived through a cut: bytes are
	// dropped from then on, and the connection is closed at heal time.
	mu       sync.Mutex
	dropping bool
}

func (pc *proxyConn) isDropping() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.dropping
}

func (pc *proxyConn) close(reset bool) {
	pc.mu.Lock()
	conns := []net.Conn{pc.client, pc.upstream}
	pc.mu.Unlock()
	for _, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0) // RST, as a vanished peer's kernel would
		}
		_ = c.Close()
	}
}

func newProxy(target string) (*tcpProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	go p.serve()
	return p, nil
}

// URL is the endpoint to give the node instead of the member's.
func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *tcpProxy) handle(c net.Conn) {
	pc := &proxyConn{client: c}
	p.mu.Lock()
	mode, done := p.mode, p.done
	if !done {
		p.conns[pc] = struct{}{}
	}
	p.mu.Unlock()
	switch {
	case done || mode == proxyDown:
		p.forget(pc)
		pc.close(true)
		return
	case mode == proxyBlackhole || mode == proxyCut:
		pc.mu.Lock()
		pc.dropping = true
		pc.mu.Unlock()
		// Accepted, never answered: read and drop until healed.
		_, _ = io.Copy(io.Discard, c)
		p.forget(pc)
		pc.close(false)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.forget(pc)
		pc.close(true)
		return
	}
	pc.mu.Lock()
	pc.upstream = up
	pc.mu.Unlock()
	var wg sync.WaitGroup
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !pc.isDropping() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// One direction ended: end both.
		pc.close(false)
	}
	wg.Go(func() { pump(up, c) })
	wg.Go(func() { pump(c, up) })
	wg.Wait()
	p.forget(pc)
}

func (p *tcpProxy) forget(pc *proxyConn) {
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// setMode switches the proxy. Down and cut reset every connection;
// blackhole makes every open connection drop its bytes; up (heal) closes
// the connections that lived through a blackhole or cut.
func (p *tcpProxy) setMode(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		switch m {
		case proxyDown, proxyCut:
			pc.close(true)
		case proxyBlackhole:
			pc.mu.Lock()
			pc.dropping = true
			pc.mu.Unlock()
		case proxyUp:
			if pc.isDropping() {
				pc.close(true)
			}
		}
	}
}

// close stops the proxy and its connections.
func (p *tcpProxy) close() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.setMode(proxyDown)
}
