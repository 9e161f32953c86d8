package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestPprofFlagAndServer(t *testing.T) {
	cfg, err := parseServeFlags([]string{"--pprof-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil || cfg.pprofAddr != "127.0.0.1:0" {
		t.Fatalf("--pprof-addr parsed as %q, %v", cfg.pprofAddr, err)
	}
	// Find a free port, then serve pprof there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := servePprof(addr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		stop()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	stop()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof answered %d: %.200s", resp.StatusCode, body)
	}
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("pprof still answering after stop")
	}
	if _, err := servePprof("256.0.0.1:1", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("servePprof accepted a bad address")
	}
}
