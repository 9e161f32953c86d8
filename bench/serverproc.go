package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildServer compiles the s2lite command into dir. It runs in the current
// directory, which must be inside the module (make bench does that).
func buildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "s2lite")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/s2lite")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/s2lite (run from the repository root): %w", err)
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
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--host", "127.0.0.1", "--port", "0",
		"--bucket", bucket, "--path", path, "--log-level", "warn"}
	// Profiling the server while a phase runs, e.g.
	// S2LITE_BENCH_SERVER_PPROF=127.0.0.1:6060 and
	// go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=5
	if addr := os.Getenv("S2LITE_BENCH_SERVER_PPROF"); addr != "" {
		args = append(args, "--pprof-addr", addr)
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &serverProc{cmd: cmd, exited: make(chan struct{}), log: logf}
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
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	deadline := time.After(3 * time.Minute)
	select {
	case p.base = <-baseCh:
	case <-p.exited:
		logf.Close()
		return nil, fmt.Errorf("s2lite exited at start-up; see %s", logPath)
	case <-deadline:
		p.stop()
		return nil, fmt.Errorf("s2lite did not start within 3 minutes; see %s", logPath)
	}
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := health(hctx, p.base)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			logf.Close()
			return nil, fmt.Errorf("s2lite exited at start-up; see %s", logPath)
		case <-deadline:
			p.stop()
			return nil, fmt.Errorf("s2lite not healthy within 3 minutes: %v", err)
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
