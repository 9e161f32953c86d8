package clustertest

// The s2lite processes: building the binary, starting a node (n1, n2,
// ...) on its fixed loopback port with the cluster flags, signalling it,
// waiting for it, and waiting until the cluster has settled (every node
// agrees on the members and every unit has a live owner).
//
// A node's clients (the test's workload and checks) reach it at its port
// (url); its peers reach it at its advertise URL, a proxy of the test in
// front of that port (peer), so that the test can cut it from its peers
// while its clients and its etcd connections stay up.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	clusterName = "clustertest"
	// partitions is --cluster-partitions: few, so that opening them all
	// at start-up and moving them is quick.
	partitions = 8
	// leaseTTL is --cluster-lease-ttl, the design's default.
	leaseTTL = 5 * time.Second
)

// units are the owned units of /cluster/status: -1 (root) and 0..P-1.
func units() []string {
	out := []string{"-1"}
	for p := range partitions {
		out = append(out, strconv.Itoa(p))
	}
	return out
}

type nodeProc struct {
	cmd      *exec.Cmd
	started  time.Time
	exited   chan struct{}
	waitErr  error     // once exited is closed
	exitedAt time.Time // once exited is closed
	// ending is set when the test sent a signal meant to end it, or
	// expects it to end itself (a lost lease).
	ending bool
}

func (p *nodeProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// status is "running", "exit status N" or "signal: killed".
func (p *nodeProc) status() string {
	if p.alive() {
		return "running"
	}
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

// exitCode is the exit status, -1 if a signal ended the process.
func (p *nodeProc) exitCode() int {
	if p.waitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	return -2
}

type node struct {
	id   string
	port int
	// url is where clients reach the node: its listener, directly.
	url string
	// peer is the proxy the node's peers forward requests through: its
	// --advertise-url.
	peer    *tcpProxy
	proxies []*tcpProxy // one per etcd member, in member order
	logPath string
	starts  int
	proc    *nodeProc // the current or last incarnation
}

type cluster struct {
	t         *testing.T
	bin       string
	storeArgs []string
	etcd      *etcdCluster
	logDir    string
	api       *api
	begin     time.Time

	mu    sync.Mutex
	nodes map[string]*node
}

// buildBinary compiles ./cmd/s2lite of this module into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "s2lite")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/s2lite")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/s2lite: %v\n%s", err, out)
	}
	// Fail, not skip, when cluster mode is missing: make cluster-test asks
	// for it explicitly.
	help, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	if !bytes.Contains(help, []byte("cluster-etcd")) {
		t.Fatalf("s2lite serve has no --cluster-etcd flag: cluster mode is not built\n%s", help)
	}
	return bin
}

// logf logs with the time since the cluster began.
func (c *cluster) logf(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("[%6.1fs] %s", time.Since(c.begin).Seconds(), fmt.Sprintf(format, args...))
}

// addNode declares a node: its port, the proxy its peers reach it
// through and its proxies to etcd.
func (c *cluster) addNode(id string) *node {
	c.t.Helper()
	n := &node{id: id, port: freePort(c.t), logPath: filepath.Join(c.logDir, id+".log")}
	n.url = fmt.Sprintf("http://127.0.0.1:%d", n.port)
	peer, err := newProxy(fmt.Sprintf("127.0.0.1:%d", n.port))
	if err != nil {
		c.t.Fatal(err)
	}
	n.peer = peer
	for _, m := range c.etcd.members {
		p, err := newProxy(m.clientURL.Host)
		if err != nil {
			c.t.Fatal(err)
		}
		n.proxies = append(n.proxies, p)
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

func (c *cluster) node(id string) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n == nil {
		panic("no node " + id)
	}
	return n
}

// start starts a new incarnation of node id. Its output goes to its log
// file, incarnations one after the other.
func (c *cluster) start(id string) {
	c.t.Helper()
	n := c.node(id)
	c.mu.Lock()
	if n.proc != nil && n.proc.alive() {
		c.mu.Unlock()
		c.t.Fatalf("start %s: already running", id)
	}
	c.mu.Unlock()
	var eps []string
	for _, p := range n.proxies {
		eps = append(eps, p.URL())
	}
	args := []string{"serve",
		"--host", "127.0.0.1", "--port", strconv.Itoa(n.port),
		"--root-token", rootToken,
		"--log-level", "info",
		"--cluster-etcd", strings.Join(eps, ","),
		"--advertise-url", n.peer.URL(),
		"--node-id", n.id,
		"--cluster-name", clusterName,
		"--cluster-partitions", strconv.Itoa(partitions),
		"--cluster-lease-ttl", leaseTTL.String(),
	}
	args = append(args, c.storeArgs...)
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	n.starts++
	fmt.Fprintf(logf, "=== %s incarnation %d at +%.1fs: %s %s\n", id, n.starts, time.Since(c.begin).Seconds(), c.bin, strings.Join(args, " "))
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &nodeProc{cmd: cmd, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start %s: %v", id, err)
	}
	go func() {
		err := cmd.Wait()
		p.exitedAt = time.Now()
		p.waitErr = err
		st := "exit status 0"
		if err != nil {
			st = err.Error()
		}
		fmt.Fprintf(logf, "=== %s incarnation exited at +%.1fs: %s\n", id, time.Since(c.begin).Seconds(), st)
		logf.Close()
		close(p.exited)
	}()
	c.mu.Lock()
	n.proc = p
	c.mu.Unlock()
	c.logf("%s started (pid %d, incarnation %d)", id, cmd.Process.Pid, n.starts)
}

func (c *cluster) proc(id string) *nodeProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id].proc
}

// live lists the nodes whose process runs (frozen ones included), sorted.
func (c *cluster) live() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.alive() {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (c *cluster) liveIDs() []string {
	var ids []string
	for _, n := range c.live() {
		ids = append(ids, n.id)
	}
	return ids
}

// signal sends sig to node id; ending marks a signal meant to end it.
func (c *cluster) signal(id string, sig syscall.Signal, ending bool) {
	c.t.Helper()
	p := c.proc(id)
	if p == nil || !p.alive() {
		c.t.Fatalf("signal %v to %s: not running", sig, id)
	}
	if ending {
		c.mu.Lock()
		p.ending = true
		c.mu.Unlock()
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v to %s: %v", sig, id, err)
	}
}

// expectEnd marks node id's process as expected to end by itself.
func (c *cluster) expectEnd(id string) {
	c.mu.Lock()
	c.nodes[id].proc.ending = true
	c.mu.Unlock()
}

// waitExit waits up to limit for node id's process to exit.
func (c *cluster) waitExit(id string, limit time.Duration) bool {
	p := c.proc(id)
	select {
	case <-p.exited:
		return true
	case <-time.After(limit):
		return false
	}
}

// kill sends SIGKILL and waits for the process.
func (c *cluster) kill(id string) {
	c.t.Helper()
	c.signal(id, syscall.SIGKILL, true)
	if !c.waitExit(id, 10*time.Second) {
		c.t.Fatalf("%s did not die within 10s of SIGKILL", id)
	}
}

// terminate sends SIGTERM and waits up to limit for the exit; it returns
// the exit code and how long the exit took. A node still running at the
// limit fails the test (and is killed).
func (c *cluster) terminate(id string, limit time.Duration) (int, time.Duration) {
	c.t.Helper()
	p := c.proc(id)
	start := time.Now()
	c.signal(id, syscall.SIGTERM, true)
	if !c.waitExit(id, limit) {
		_ = p.cmd.Process.Kill()
		<-p.exited
		c.t.Fatalf("%s did not exit within %v of SIGTERM\n%s", id, limit, c.tail(id, 40))
	}
	return p.exitCode(), p.exitedAt.Sub(start)
}

// terminateLeaving is terminate that also measures how long after the
// signal every node of others stopped listing id as a member (left):
// a stopping node revokes its lease, which deletes its owner keys, so
// until then the others route its units to it.
func (c *cluster) terminateLeaving(id string, others []string, limit time.Duration) (code int, exit, left time.Duration) {
	c.t.Helper()
	start := time.Now()
	done := make(chan time.Duration, 1)
	stop := make(chan struct{})
	go func() {
		for {
			gone := true
			for _, o := range others {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				members, err := c.membersSeenBy(ctx, o)
				cancel()
				if err != nil || slices.Contains(members, id) {
					gone = false
					break
				}
			}
			if gone {
				done <- time.Since(start)
				return
			}
			select {
			case <-stop:
				done <- -1
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	code, exit = c.terminate(id, limit)
	// Once it exited, its lease is gone or expires within the TTL.
	timer := time.AfterFunc(leaseTTL+5*time.Second, func() { close(stop) })
	left = <-done
	timer.Stop()
	return code, exit, left
}

// stopAll kills every running node (the cleanup path).
func (c *cluster) stopAll() {
	for _, n := range c.live() {
		c.mu.Lock()
		p := n.proc
		p.ending = true
		c.mu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// unexpectedExits reports processes that ended without the test asking,
// and restarts them so that the run can go on and report everything it
// finds; each is a test failure.
func (c *cluster) unexpectedExits(phase string) {
	c.t.Helper()
	c.mu.Lock()
	var dead []*node
	for _, n := range c.nodes {
		if n.proc != nil && !n.proc.alive() && !n.proc.ending {
			dead = append(dead, n)
		}
	}
	c.mu.Unlock()
	for _, n := range dead {
		c.t.Errorf("%s: node %s exited unexpectedly (%s) %.1fs after its start\n%s", phase, n.id, n.proc.status(),
			n.proc.exitedAt.Sub(n.proc.started).Seconds(), c.tail(n.id, 40))
		c.start(n.id)
	}
}

// tail is the last lines of node id's log.
func (c *cluster) tail(id string, lines int) string {
	b, err := os.ReadFile(c.node(id).logPath)
	if err != nil {
		return fmt.Sprintf("(log of %s: %v)", id, err)
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(ls), c.node(id).logPath, strings.Join(ls, "\n"))
}

// dumpLogs prints the tail of every node's log.
func (c *cluster) dumpLogs(lines int) {
	c.mu.Lock()
	var ids []string
	for id := range c.nodes {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	sort.Strings(ids)
	for _, id := range ids {
		c.t.Log(c.tail(id, lines))
	}
}

// settled checks one view of the cluster: every node in want answers
// /cluster/status with exactly want as members, every unit owned by one of
// them, all nodes agreeing, and /ready 200. It returns the owners, or why
// not.
func (c *cluster) settled(ctx context.Context, want []string) (map[string]ownerRecord, error) {
	var owners map[string]ownerRecord
	var first string
	for _, id := range want {
		n := c.node(id)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.api.clusterStatus(cctx, n.url)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if st.Node != id {
			return nil, fmt.Errorf("%s: /cluster/status says node %q", id, st.Node)
		}
		if st.Partitions != partitions {
			return nil, fmt.Errorf("%s: /cluster/status says %d partitions, want %d", id, st.Partitions, partitions)
		}
		var members []string
		for m := range st.Members {
			members = append(members, m)
		}
		sort.Strings(members)
		if !slices.Equal(members, want) {
			return nil, fmt.Errorf("%s: members %v, want %v", id, members, want)
		}
		for _, m := range members {
			// Peers must be reached through the test's proxy, or cutting
			// a node from its peers would cut nothing.
			if u := c.node(m).peer.URL(); st.Members[m] != u {
				return nil, fmt.Errorf("%s: member %s at %q, not at its advertise URL %s", id, m, st.Members[m], u)
			}
		}
		for _, u := range units() {
			o, ok := st.Owners[u]
			if !ok {
				return nil, fmt.Errorf("%s: unit %s has no owner", id, u)
			}
			if !slices.Contains(want, o.Node) {
				return nil, fmt.Errorf("%s: unit %s owned by %q, not a member", id, u, o.Node)
			}
		}
		if owners == nil {
			owners, first = st.Owners, id
		} else {
			for _, u := range units() {
				if owners[u] != st.Owners[u] {
					return nil, fmt.Errorf("unit %s: %s sees owner %v, %s sees %v", u, first, owners[u], id, st.Owners[u])
				}
			}
		}
		cctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		r := c.api.ready(cctx, n.url)
		cancel()
		if r.status != 200 {
			return nil, fmt.Errorf("%s: /ready: %s", id, r)
		}
	}
	return owners, nil
}

// settle waits until settled(want) holds, for at most limit; it returns
// how long it took and the owners, or the last reason it did not.
func (c *cluster) settle(want []string, limit time.Duration) (time.Duration, map[string]ownerRecord, error) {
	c.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		c.unexpectedExits("waiting for the cluster to settle")
		owners, err := c.settled(ctx, want)
		if err == nil {
			return time.Since(start), owners, nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), nil, fmt.Errorf("cluster of %v not settled within %v: %w", want, limit, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSettled is settle that fails the test, with the nodes' logs.
func (c *cluster) waitSettled(want []string, limit time.Duration) (time.Duration, map[string]ownerRecord) {
	c.t.Helper()
	took, owners, err := c.settle(want, limit)
	if err != nil {
		for _, id := range want {
			c.t.Log(c.tail(id, 30))
		}
		c.t.Fatal(err)
	}
	return took, owners
}

// ownersString renders an owner map compactly: unit=node@epoch.
func ownersString(owners map[string]ownerRecord) string {
	var b strings.Builder
	for i, u := range units() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s@%d", u, owners[u].Node, owners[u].Epoch)
	}
	return b.String()
}

// membersSeenBy returns the members in node id's /cluster/status.
func (c *cluster) membersSeenBy(ctx context.Context, id string) ([]string, error) {
	st, err := c.api.clusterStatus(ctx, c.node(id).url)
	if err != nil {
		return nil, err
	}
	var out []string
	for m := range st.Members {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}
