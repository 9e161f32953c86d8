package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildServer compiles the s2lite command into dir. It runs in the current
// directory, which must be inside the module (make bench does that).
func buildServer(dir string) (string, error) { return buildCommand(dir, "./cmd/s2lite") }

// buildCommand compiles the command package pkg (e.g. ./cmd/s2lite) into
// dir, named after its directory.
func buildCommand(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from the repository root): %w", pkg, err)
	}
	return bin, nil
}

// serverProc is one s2lite process on loopback.
type serverProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	base   string // http://127.0.0.1:port
	log    *os.File
}

// startServer runs `s2lite serve` on a free loopback port against the
// bucket and path, with the object store reached through endpoint (the
// counting proxy), and waits until /health answers. extraEnv (NAME=value)
// is added to its environment.
func startServer(ctx context.Context, bin, endpoint, bucket, path, logPath string, extraEnv ...string) (*serverProc, error) {
	args := serveArgs(bucket, path, 0)
	// Profiling the server while a phase runs, e.g.
	// S2LITE_BENCH_SERVER_PPROF=127.0.0.1:6060 and
	// go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=5
	if addr := os.Getenv("S2LITE_BENCH_SERVER_PPROF"); addr != "" {
		args = append(args, "--pprof-addr", addr)
	}
	return startServerArgs(ctx, bin, endpoint, logPath, args, extraEnv...)
}

// serveArgs are the arguments of `s2lite serve` on loopback port (0: any
// free one) against the bucket and path.
func serveArgs(bucket, path string, port int) []string {
	return []string{"serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--bucket", bucket, "--path", path, "--log-level", "warn"}
}

// startServerArgs runs the s2lite binary with args (a serve command on
// loopback), its object store reached through endpoint, and waits until
// /health answers.
func startServerArgs(ctx context.Context, bin, endpoint, logPath string, args []string, extraEnv ...string) (*serverProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3=") {
			env = append(env, kv)
		}
	}
	// Access tokens on, as by default (an environment variable rather than
	// --root-token, so that -server-bin may be a build from before tokens).
	cmd.Env = append(env, "AWS_ENDPOINT_URL_S3="+endpoint, "S2LITE_ROOT_TOKEN="+benchRootToken)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p, err := launch(cmd, logf)
	if err != nil {
		return nil, err
	}
	baseCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if _, v, ok := strings.Cut(line, "S2_ACCOUNT_ENDPOINT="); ok && !sent {
				baseCh <- strings.TrimSpace(v)
				sent = true
			}
		}
	}()
	err = p.waitUntil(time.After(3*time.Minute), "s2lite", logPath, func() error {
		if p.base == "" {
			select {
			case p.base = <-baseCh:
			default:
				return errors.New("no address printed yet")
			}
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return health(hctx, p.base)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts cmd in a process group of its own, its output going to
// logf, which is closed once the process is stopped.
func launch(cmd *exec.Cmd, logf *os.File) (*serverProc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &serverProc{cmd: cmd, exited: make(chan struct{}), log: logf}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitUntil calls ready every 50 ms until it succeeds. When the process
// (named what in errors) exits first, or deadline passes, it gives up and
// stops the process.
func (p *serverProc) waitUntil(deadline <-chan time.Time, what, logPath string, ready func() error) error {
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			p.log.Close()
			return fmt.Errorf("%s exited at start-up; see %s", what, logPath)
		case <-deadline:
			p.stop()
			return fmt.Errorf("%s not ready in time (%v); see %s", what, err, logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down gracefully (SIGTERM), killing it if it takes
// longer than 20 seconds.
func (p *serverProc) stop() {
	defer p.log.Close()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// freePort returns a loopback port that was free a moment ago: cluster
// nodes need theirs before they start, to advertise it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd runs the withetcd tool (bin), an embedded single-member etcd
// on a free loopback port, and waits for it to write its client URL, which
// becomes the process's base.
func startEtcd(bin, dir, logPath string) (*serverProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	urlFile := filepath.Join(dir, "etcd.url")
	cmd := exec.Command(bin, "-url-file", urlFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := launch(cmd, logf)
	if err != nil {
		return nil, err
	}
	err = p.waitUntil(time.After(time.Minute), "etcd", logPath, func() error {
		data, err := os.ReadFile(urlFile)
		p.base = strings.TrimSpace(string(data))
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}
