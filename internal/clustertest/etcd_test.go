package clustertest

// The etcd the cluster coordinates through: three embedded members in the
// test process, on loopback, so that losing one (the leader) keeps a
// quorum. The s2lite processes never talk to a member directly: each node
// has one TCP proxy per member (proxy_test.go), which lets the test make a
// member vanish from the network at once, as a killed process would, and
// cut one node from etcd while the others keep it.

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

type etcdMember struct {
	name      string
	dir       string
	clientURL url.URL
	peerURL   url.URL

	mu sync.Mutex
	e  *embed.Etcd // nil while stopped
	// closing is closed when a background Close of the previous
	// incarnation has finished (ports released).
	closing chan struct{}
}

type etcdCluster struct {
	t       *testing.T
	members []*etcdMember
	initial string // the initial-cluster string
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts an n-member etcd cluster on loopback with its data in
// dir and waits until every member is ready. The members are closed when
// the test ends.
func startEtcd(t *testing.T, n int, dir string) *etcdCluster {
	t.Helper()
	c := &etcdCluster{t: t}
	var initial []string
	for i := range n {
		m := &etcdMember{name: fmt.Sprintf("e%d", i), dir: filepath.Join(dir, fmt.Sprintf("etcd%d", i))}
		cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		m.clientURL, m.peerURL = *cu, *pu
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+pu.String())
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, m := range c.members {
			wg.Go(func() { m.close() })
		}
		wg.Wait()
	})
	// Members of a new cluster wait for each other: start them together.
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() { errs <- c.start(m) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *etcdCluster) config(m *etcdMember) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{m.clientURL}, []url.URL{m.clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{m.peerURL}, []url.URL{m.peerURL}
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = "s2lite-clustertest"
	// A restarted member has its data directory, which takes precedence
	// over the initial cluster state.
	cfg.ClusterState = embed.ClusterStateFlagNew
	return cfg
}

// start starts (or restarts, on its data directory) member m and waits
// until it is ready: it has joined the raft group and can serve.
func (c *etcdCluster) start(m *etcdMember) error {
	m.mu.Lock()
	closing := m.closing
	m.mu.Unlock()
	if closing != nil {
		select {
		case <-closing:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("etcd %s: previous incarnation not closed after 30s", m.name)
		}
	}
	e, err := embed.StartEtcd(c.config(m))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", m.name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd %s: %w", m.name, err)
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("etcd %s not ready after 30s", m.name)
	}
	m.mu.Lock()
	m.e, m.closing = e, nil
	m.mu.Unlock()
	return nil
}

// close stops m gracefully (the cleanup path).
func (m *etcdMember) close() {
	m.mu.Lock()
	e, closing := m.e, m.closing
	m.e = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
		<-e.Server.StopNotify()
	}
	if closing != nil {
		<-closing
	}
}

// crash stops m's raft node at once, without handing its leadership over
// (as when the process dies); the caller cuts its network (the proxies)
// at the same moment. Releasing its listeners and files takes a while
// (a graceful close after a hard stop waits for a leadership transfer
// that cannot happen), so that runs in the background; start waits for
// it.
func (m *etcdMember) crash() {
	m.mu.Lock()
	e := m.e
	m.e = nil
	done := make(chan struct{})
	m.closing = done
	m.mu.Unlock()
	if e == nil {
		close(done)
		return
	}
	e.Server.HardStop()
	go func() {
		defer close(done)
		e.Close()
	}()
}

// leader returns the index of the member that is the raft leader, by the
// view of every running member (they must agree), or -1.
func (c *etcdCluster) leader() int {
	lead := -1
	for i, m := range c.members {
		m.mu.Lock()
		e := m.e
		m.mu.Unlock()
		if e == nil {
			continue
		}
		if e.Server.Leader() == e.Server.MemberID() {
			if lead >= 0 {
				return -1
			}
			lead = i
		}
	}
	return lead
}

// waitLeader waits until the running members agree on one leader.
func (c *etcdCluster) waitLeader(limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		if l := c.leader(); l >= 0 {
			agree := true
			lid := c.members[l].e.Server.MemberID()
			for _, m := range c.members {
				m.mu.Lock()
				e := m.e
				m.mu.Unlock()
				if e != nil && e.Server.Leader() != lid {
					agree = false
				}
			}
			if agree {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("etcd: no agreed leader within %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *etcdCluster) running(i int) bool {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e != nil
}
