package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Optional server profiles. Besides Go's own profiles (with
// S2LITE_BENCH_SERVER_PPROF=addr the server serves net/http/pprof there),
// with S2LITE_BENCH_SERVER_PERF=dir the benchmark records the server process
// with Linux perf (`perf record -g -p PID`) during each measured window of
// the throughput and catch-up phases, into dir/<label>.data, and builds
// the server binary into dir so that the profiles keep their symbols:
//
//	perf report -i dir/throughput-1.data --no-children --sort sym
//
// Go binaries keep frame pointers, so call graphs work without DWARF
// unwinding. S2LITE_BENCH_SERVER_PERF_HZ sets the sampling frequency
// (default 499): a cold catch-up read lasts about 0.2 s, so profiling it
// needs a few thousand.

func perfDir() string { return os.Getenv("S2LITE_BENCH_SERVER_PERF") }

// profile starts recording the current server and returns the function
// that stops it. Without S2LITE_BENCH_SERVER_PERF (or perf) it does
// nothing.
func (sb *serverBench) profile(label string) func() {
	dir := perfDir()
	pid := sb.meter.pids["server"]
	if dir == "" || pid == 0 {
		return func() {}
	}
	name := strings.NewReplacer(" ", "-", ",", "", "/", "-").Replace(label)
	out := filepath.Join(dir, name+".data")
	hz := "499"
	if v := os.Getenv("S2LITE_BENCH_SERVER_PERF_HZ"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "S2LITE_BENCH_SERVER_PERF_HZ=%q: want a positive integer; using %s\n", v, hz)
		} else {
			hz = v
		}
	}
	cmd := exec.Command("perf", "record", "-q", "-F", hz, "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "perf record: %v\n", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
}
