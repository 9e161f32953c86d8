// Package hostile attacks a running s2lite server the way a hostile or
// careless client would: bodies announced and never sent, bodies trickled
// a byte at a time, compression bombs, read sessions that never drain. Its
// test (make hostile-test) runs each attack against the real binary with
// default flags while a well-behaved client appends and reads, and checks
// the server's peak memory, its health, the good client's latency and
// that memory returns afterwards.
package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Server is an s2lite process started for an attack run.
type Server struct {
	cmd    *exec.Cmd
	Addr   string // host:port on loopback
	stderr *tailWriter
	exited chan struct{}
	err    error
}

// Build compiles ./cmd/s2lite of the module at root into dir.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "s2lite")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/s2lite")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Start runs bin serve on a free loopback port with extra flags, and
// waits until it listens.
func Start(ctx context.Context, bin string, extra ...string) (*Server, error) {
	args := append([]string{"serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warn"}, extra...)
	s := &Server{cmd: exec.Command(bin, args...), stderr: &tailWriter{max: 64 << 10}, exited: make(chan struct{})}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start s2lite: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "export S2_ACCOUNT_ENDPOINT=http://"); ok {
				select {
				case addr <- v:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.Addr = <-addr:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("s2lite exited at start-up: %v\n%s", s.err, s.stderr)
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
}

// Alive reports whether the process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stderr is the tail of the server's log.
func (s *Server) Stderr() string { return s.stderr.String() }

// Kill stops the process at once and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Memory is the process's resident size now and at its peak (VmRSS and
// VmHWM from /proc), in bytes.
func (s *Server) Memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
