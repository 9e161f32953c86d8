package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU time per process from /proc (Linux), to tell where the time goes on
// a machine whose cores are shared by the client, the proxies, the server
// and MinIO. Elsewhere the figures are simply absent.

const clockTicks = 100 // USER_HZ on Linux

// procCPU returns user+system CPU time of a process.
func procCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, true
}

// findMinioPid looks for the MinIO process serving endpoint's host:port.
func findMinioPid(endpoint string) int {
	hostport := strings.TrimPrefix(strings.TrimPrefix(endpoint, "http://"), "https://")
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if len(args) < 2 || !strings.HasSuffix(args[0], "minio") || args[1] != "server" {
			continue
		}
		for _, a := range args {
			if a == hostport {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
				return pid
			}
		}
	}
	return 0
}

// cpuMeter samples the CPU time of named processes.
type cpuMeter struct {
	pids map[string]int
	// machine adds "machine", the busy time of all CPUs (/proc/stat), so
	// that what other processes took shows.
	machine bool
}

// machineBusy returns the time all CPUs spent busy (not idle or waiting
// for I/O) since boot.
func machineBusy() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	// user nice system idle iowait irq softirq steal (guest time is
	// counted in user already)
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, true
}

type cpuSample struct {
	at   time.Time
	used map[string]time.Duration
}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{at: time.Now(), used: map[string]time.Duration{}}
	for name, pid := range m.pids {
		if pid == 0 {
			continue
		}
		if d, ok := procCPU(pid); ok {
			s.used[name] = d
		}
	}
	if m.machine {
		if d, ok := machineBusy(); ok {
			s.used["machine"] = d
		}
	}
	return s
}

// cores is the average number of cores each process used between a and b.
// With the machine's busy time sampled, "others" is what the rest of the
// machine took: the machine's less that of the processes measured.
func cores(a, b cpuSample) map[string]float64 {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return nil
	}
	out := map[string]float64{}
	for name, d := range b.used {
		if d0, ok := a.used[name]; ok {
			out[name] = round2((d - d0).Seconds() / secs)
		}
	}
	if m, ok := out["machine"]; ok {
		others := m
		for name, c := range out {
			if name != "machine" {
				others -= c
			}
		}
		out["others"] = round2(max(0, others))
	}
	return out
}

func fmtCores(c map[string]float64) string {
	if len(c) == 0 {
		return ""
	}
	return fmt.Sprintf("server %.2f, MinIO %.2f, bench %.2f", c["server"], c["minio"], c["bench"])
}
