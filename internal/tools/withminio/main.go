// Command withminio runs a command against a throwaway MinIO server:
//
//	go run ./internal/tools/withminio [-keep-data] -- go test ./...
//
// It starts MinIO on free loopback ports with a fresh data directory, waits
// until it is live, runs the command with the AWS_* variables pointing at it
// and S2LITE_TEST_S3=1 (see internal/s3test), then stops MinIO, removes the
// data and exits with the command's exit code. The MinIO binary is taken
// from PATH or $GOPATH/bin, and installed with `go install` if missing.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	minioModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

	// Fixed credentials: the server only listens on loopback and lives as
	// long as one command.
	accessKey = "s2liteadmin"
	secretKey = "s2liteadmin-secret"

	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("withminio", flag.ContinueOnError)
	keepData := fs.Bool("keep-data", false, "keep MinIO's data directory and log after the command ends")
	parent := fs.String("dir", "", "where to create MinIO's data directory (default: the system temp directory); a tmpfs such as /dev/shm keeps the disk's writeback stalls out of MinIO's latencies")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: withminio [-keep-data] [-dir DIR] -- CMD [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		fs.Usage()
		return 2
	}

	// Catch signals from the start so an early Ctrl-C still cleans up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	bin, err := findMinio()
	if err != nil {
		logf("%v", err)
		return 1
	}

	dir, err := os.MkdirTemp(*parent, "s2lite-minio-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		if *keepData {
			logf("kept MinIO data and log in %s", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			logf("removing %s: %v", dir, err)
		}
	}()

	srv, err := startMinio(bin, dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer srv.stop()

	start := time.Now()
	if err := srv.waitReady(readyTimeout, sigs); err != nil {
		logf("%v", err)
		logf("last lines of %s:\n%s", srv.logPath, tail(srv.logPath, 40))
		return 1
	}
	logf("MinIO ready at %s after %v", srv.endpoint, time.Since(start).Round(time.Millisecond))

	return runCommand(cmdArgs, srv.endpoint, dir, sigs)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "withminio: "+format+"\n", args...)
}

// findMinio looks for the minio binary in PATH, then in GOBIN or
// $GOPATH/bin, and installs the pinned version if it is in neither.
func findMinio() (string, error) {
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	installed, err := goInstallPath()
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(installed); err == nil && !fi.IsDir() {
		return installed, nil
	}
	logf("minio not found; running `go install %s` (this can take minutes)", minioModule)
	cmd := exec.Command("go", "install", minioModule)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("installing minio: %w", err)
	}
	if _, err := os.Stat(installed); err != nil {
		return "", fmt.Errorf("minio installed but not found at %s: %w", installed, err)
	}
	return installed, nil
}

// goInstallPath is where `go install` puts the minio binary.
func goInstallPath() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 2 && lines[0] != "" {
		return filepath.Join(lines[0], "minio"), nil
	}
	if len(lines) != 2 || lines[1] == "" {
		return "", fmt.Errorf("go env: cannot determine GOPATH from %q", out)
	}
	gopath := filepath.SplitList(lines[1])[0]
	return filepath.Join(gopath, "bin", "minio"), nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// The listeners are held together so the ports differ, then closed for
// MinIO to bind.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type server struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error         // valid once exited is closed
	logFile  *os.File
	logPath  string
	endpoint string
}

func startMinio(bin, dir string) (*server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	certsDir := filepath.Join(dir, "certs")
	for _, d := range []string{dataDir, certsDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}

	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "server",
		"--address", addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		// Keep MinIO away from ~/.minio.
		"--certs-dir", certsDir,
		dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+accessKey,
		"MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group: a Ctrl-C in the terminal must not stop MinIO while
	// the command is still shutting down and cleaning up its objects.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting minio: %w", err)
	}
	s := &server{
		cmd:      cmd,
		exited:   make(chan struct{}),
		logFile:  logFile,
		logPath:  logPath,
		endpoint: "http://" + addr,
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// waitReady polls MinIO's liveness endpoint until it answers 200, MinIO
// exits, a signal arrives, or timeout passes.
func (s *server) waitReady(timeout time.Duration, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	url := s.endpoint + "/minio/health/live"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-s.exited:
			return fmt.Errorf("minio exited before becoming ready: %v", s.waitErr)
		case sig := <-sigs:
			return fmt.Errorf("interrupted by %v while waiting for minio", sig)
		case <-ctx.Done():
			return fmt.Errorf("minio not ready at %s after %v", url, timeout)
		}
	}
}

// stop asks MinIO to shut down, kills it if it takes too long, and waits.
func (s *server) stop() {
	defer s.logFile.Close()
	select {
	case <-s.exited:
		return
	default:
	}
	// Signal the whole group in case MinIO started helpers.
	pgid := -s.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		logf("minio did not stop within %v; killing it", stopTimeout)
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-s.exited
	}
}

// runCommand runs the command with the test environment, forwarding
// SIGINT and SIGTERM, and returns its exit code. S2LITE_MINIO_DIR tells
// the command where MinIO keeps its data (the benchmarks report which
// filesystem that is).
func runCommand(args []string, endpoint, dir string, sigs <-chan os.Signal) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL_S3="+endpoint,
		"AWS_ACCESS_KEY_ID="+accessKey,
		"AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_REGION=us-east-1",
		"S2LITE_TEST_S3=1",
		"S2LITE_MINIO_DIR="+dir,
	)
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		logf("starting %s: %v", args[0], err)
		return 1
	}

	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-forwarded

	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	default:
		logf("%s: %v", args[0], err)
		return 1
	}
}

// tail returns up to the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
