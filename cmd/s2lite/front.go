package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/gateway"
	"github.com/s2lite/s2lite/internal/initspec"
	"github.com/s2lite/s2lite/partition"
	"github.com/s2lite/s2lite/server"
)

// A partitioned bucket (one written in cluster mode) is served through a
// gateway in front of one API server per unit, whether by one node that
// opens every unit (servePartitioned) or by a cluster (serveCluster).

// staticDirectory serves every unit here: a single node on a partitioned
// bucket. A partition that holds no database is empty.
type staticDirectory map[int]*gateway.Unit

func (d staticDirectory) Route(u int) (gateway.Route, error) {
	if x := d[u]; x != nil {
		return gateway.Route{Local: x}, nil
	}
	return gateway.Route{Local: emptyUnit}, nil
}

// emptyUnit is a partition never written: it holds no basin.
var emptyUnit = &gateway.Unit{
	Has: func(context.Context, string) (bool, error) { return false, nil },
	API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/basins" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"basins":[],"has_more":false}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":"unavailable","message":"partition holds no database"}`)
	}),
}

// openUnits opens units concurrently (a few at a time: each recovers its
// WAL) and returns them, or the first error after closing what opened.
func openUnits(ctx context.Context, env *unitEnv, ids []int) (map[int]*unitStack, error) {
	var mu sync.Mutex
	out := make(map[int]*unitStack, len(ids))
	var errs []error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			u, err := env.openUnit(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[id] = u
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		closeUnits(out, time.Second, false)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// closeUnits drains and closes units concurrently; handoff flushes them
// first (see unitStack.close).
func closeUnits(units map[int]*unitStack, grace time.Duration, handoff bool) error {
	var mu sync.Mutex
	var err error
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(func() {
			e := u.close(grace, handoff)
			mu.Lock()
			err = errors.Join(err, e)
			mu.Unlock()
		})
	}
	wg.Wait()
	return err
}

// servePartitioned serves a partitioned bucket on one node: the root and
// every partition that holds a database, with new basins going to the
// root as they always did for a single node. No migration either way.
func servePartitioned(ctx, openCtx context.Context, stop context.CancelFunc, env *unitEnv, layout partition.Layout,
	declared *initspec.Spec, tlsCfg *tls.Config, stdout io.Writer) error {
	cfg, log := env.cfg, env.log
	found, err := partition.Found(openCtx, env.store, layout)
	if err != nil {
		return err
	}
	env.share = int64(len(found) + 1)
	dir := staticDirectory{}
	local := http.NewServeMux()
	gw := gateway.New(gateway.Options{Layout: layout, Directory: dir, Node: "local", CreateAtRoot: true,
		Logger: log.With("component", "gateway"), NodeLocal: local})
	env.auth = gw.Authority()
	units, err := openUnits(openCtx, env, append([]int{partition.Root}, found...))
	if err != nil {
		return err
	}
	for id, u := range units {
		dir[id] = u.gatewayUnit()
	}
	root := units[partition.Root]
	log.Info("partitioned bucket: serving the root and its partitions alone", "partitions", layout.Partitions, "holding_data", len(found))
	if cfg.noAuth {
		warnNoAuth(log)
	}
	if declared != nil {
		return errors.Join(errors.New("--init-file on a partitioned bucket is not built yet"), closeUnits(units, time.Second, false))
	}
	local.Handle("/", root.srv.Handler()) // health and readiness: the root's
	metrics := nodeMetrics{units: func() map[int]*unitStack { return units }}.handler()
	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, metrics, log)
		if err != nil {
			return errors.Join(err, closeUnits(units, time.Second, false))
		}
		defer stopMetrics()
	} else {
		local.Handle("GET /metrics", metrics)
	}
	// As a single database does: a unit fenced by another writer makes
	// the node drain and exit, so that a supervisor sees the takeover.
	lost := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
		case <-fencedSignal(ctx, func() bool {
			for _, u := range units {
				if u.db.Fenced() {
					return true
				}
			}
			return false
		}):
			lost <- fmt.Errorf("fenced: another server opened this storage (%w)", engine.ErrFenced)
		}
	}()
	return runFront(ctx, stop, env, gw, tlsCfg, stdout, root.generatedRoot, lost, func(grace time.Duration) error {
		return closeUnits(units, grace, false)
	})
}

// runFront serves gw on the configured port until a signal, a lost lease
// (lost) or a serve error, then closes the units with closeAll.
func runFront(ctx context.Context, stop context.CancelFunc, env *unitEnv, gw http.Handler, tlsCfg *tls.Config, stdout io.Writer,
	generatedRoot string, lost <-chan error, closeAll func(grace time.Duration) error) error {
	cfg, log := env.cfg, env.log
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return errors.Join(fmt.Errorf("listening: %w", err), closeAll(time.Second))
	}
	hs := server.NewHTTPServer(gw, log.With("component", "http"), cfg.maxConcurrentStreams)
	// Requests forwarded to other nodes (sessions above all) do not end
	// when this node's units drain: their context is cut once the units
	// are closed and a short grace has passed, so that a stopping node
	// does not hold its lease while it waits for them.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs.BaseContext = func(net.Listener) context.Context { return baseCtx }
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	if tlsCfg != nil {
		hs.Protocols.SetHTTP2(true)
		hs.TLSConfig = tlsCfg.Clone()
	} else {
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if tlsCfg != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
	}()
	printHint(stdout, ln.Addr(), cfg, generatedRoot)
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", shutdownGrace)
	case runErr = <-serveErr:
		log.Error("server stopped", "err", runErr)
	case runErr = <-lost:
		log.Error("stopping: this node may no longer serve its partitions", "err", runErr)
	}
	stop()
	// The units drain (sessions end, appends in flight are answered) while
	// the listener stops taking connections.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace+abortAnswerGrace)
	defer cancel()
	var closeErr error
	unitsClosed := make(chan struct{})
	go func() {
		defer close(unitsClosed)
		closeErr = closeAll(shutdownGrace)
	}()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := hs.Shutdown(shutdownCtx); err != nil {
			_ = hs.Close()
		}
	}()
	<-unitsClosed
	select {
	case <-httpDone:
	case <-time.After(forwardedGrace):
		cancelBase() // what is left is forwarded to other nodes: cut it
		<-httpDone
	}
	if closeErr != nil {
		runErr = errors.Join(runErr, closeErr)
	}
	if runErr == nil {
		log.Info("stopped cleanly")
	}
	return runErr
}

// forwardedGrace is how long requests forwarded to other nodes may go on
// once this node's units are closed.
const forwardedGrace = time.Second

// abortAnswerGrace covers the units' answers to appends aborted at the end
// of their grace.
const abortAnswerGrace = 3 * time.Second

// writeStatusJSON writes v as JSON.
func writeStatusJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
