// Command withetcd runs a command next to an embedded single-member etcd on a
// free loopback port, with S2LITE_CLUSTER_ETCD set to its client URL, and
// stops etcd when the command exits. For trying cluster mode by hand and
// for the SDK suite against a cluster:
//
//	go run ./internal/tools/withetcd -- sh -c 's2lite serve --cluster-etcd "$S2LITE_CLUSTER_ETCD" ...'
//
// With -url-file F and no command, it writes the client URL to F and
// serves until SIGINT or SIGTERM.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func main() {
	urlFile := flag.String("url-file", "", "without a command: write the client URL here and serve until a signal")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 && *urlFile == "" {
		fmt.Fprintln(os.Stderr, "usage: withetcd [-url-file F] [-- command [args...]]")
		os.Exit(2)
	}
	os.Exit(run(args, *urlFile))
}

func freeURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return url.Parse("http://" + l.Addr().String())
}

func run(args []string, urlFile string) int {
	dir, err := os.MkdirTemp("", "withetcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withetcd:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cu, err1 := freeURL()
	pu, err2 := freeURL()
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "withetcd:", err)
		return 1
	}
	cfg := embed.NewConfig()
	cfg.Name = "withetcd"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withetcd: start etcd:", err)
		return 1
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "withetcd: etcd did not become ready")
		return 1
	}
	if len(args) == 0 {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		tmp := urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(cu.String()+"\n"), 0o644); err != nil || os.Rename(tmp, urlFile) != nil {
			fmt.Fprintln(os.Stderr, "withetcd: cannot write", urlFile)
			return 1
		}
		<-sigs
		return 0
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "S2LITE_CLUSTER_ETCD="+cu.String())
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withetcd:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withetcd:", err)
		return 1
	}
	return 0
}
