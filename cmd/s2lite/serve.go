package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/initspec"
	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/partition"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/usage"
)

const (
	// fencePoll is how often serve checks whether it was fenced.
	fencePoll = time.Second

	// shutdownGrace bounds a graceful shutdown, as in the reference.
	shutdownGrace = 10 * time.Second
	// storageCloseTimeout bounds closing the engine at exit: with a store
	// that does not answer, the last WAL and manifest writes would hang.
	// Every append still unacknowledged was answered 503 by then, so
	// giving up loses nothing acknowledged. A shutdown therefore lasts at
	// most shutdownGrace + 2 s (answers) + storageCloseTimeout.
	storageCloseTimeout = 5 * time.Second
	// memoryRefusalWindow: /ready answers 503 while requests were refused
	// memory this recently.
	memoryRefusalWindow = 2 * time.Second
	// openTimeout bounds reaching storage and recovering the engine.
	openTimeout = 2 * time.Minute
)

// serve runs the server until SIGINT or SIGTERM, then shuts down
// gracefully. It returns an error for anything that prevents a clean run.
func serve(cfg serveConfig, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var declared *initspec.Spec
	if cfg.initFile != "" {
		var err error
		if declared, err = loadInitFile(cfg.initFile); err != nil {
			return err
		}
	}
	var tlsCfg *tls.Config
	var err error
	switch {
	case cfg.tlsSelf:
		tlsCfg, err = server.SelfSignedTLSConfig()
	case cfg.tlsCert != "":
		tlsCfg, err = server.LoadTLSConfig(cfg.tlsCert, cfg.tlsKey)
	}
	if err != nil {
		return err
	}

	mem, err := planMemory(cfg)
	if err != nil {
		return err
	}
	// Go's soft limit makes the collector work harder as the heap nears
	// the limit, instead of letting garbage push the process past it.
	debug.SetMemoryLimit(mem.limit)
	budget, readBudget := membudget.New(mem.requests), membudget.New(mem.readers)
	log.Info("memory", mem.logAttrs()...)
	go returnMemoryAfterBursts(ctx, 5*time.Second, log.With("component", "memory"), budget, readBudget)

	openCtx, cancelOpen := context.WithTimeout(ctx, openTimeout)
	defer cancelOpen()
	// The usage metrics attribute the object store's requests to basins
	// (storage-* sets): the meter counts them under the retries.
	var meter *usage.StorageMeter
	st, err := openStorageWith(openCtx, cfg, log, func(s objstore.Store) objstore.Store {
		meter = usage.NewStorageMeter(s)
		return meter
	})
	if err != nil {
		return err
	}
	defer st.close()
	env := &unitEnv{cfg: cfg, log: log, store: st.store, meter: meter, share: 1, budget: budget, readBudg: readBudget}
	if len(cfg.clusterEtcd) > 0 {
		return serveCluster(ctx, stop, env, declared, tlsCfg, stdout)
	}
	layout, partitioned, err := partition.Load(openCtx, st.store)
	if err != nil {
		return err
	}
	if partitioned {
		return servePartitioned(ctx, openCtx, stop, env, layout, declared, tlsCfg, stdout)
	}
	root, err := env.openUnit(openCtx, partition.Root)
	if err != nil {
		return fmt.Errorf("%w (storage: %s)", err, st.describe)
	}
	db, closeBackend, generatedRoot := root.db, root.closeBackend, root.generatedRoot
	if cfg.noAuth {
		warnNoAuth(log)
	}
	if declared != nil {
		if err := applyInitFile(openCtx, declared, root.svc, log); err != nil {
			return errors.Join(err, closeBackend())
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return errors.Join(fmt.Errorf("listening: %w", err), closeBackend())
	}
	srv := root.srv
	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, srv.MetricsHandler(), log)
		if err != nil {
			return errors.Join(err, ln.Close(), closeBackend())
		}
		defer stopMetrics()
	}
	if cfg.pprofAddr != "" {
		stopPprof, err := servePprof(cfg.pprofAddr, log)
		if err != nil {
			return errors.Join(err, ln.Close(), closeBackend())
		}
		defer stopPprof()
	}
	serveErr := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			serveErr <- srv.ServeTLS(ln, tlsCfg)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	printHint(stdout, ln.Addr(), cfg, generatedRoot)
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil, "storage", st.describe)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", shutdownGrace)
	case runErr = <-serveErr:
		log.Error("server stopped", "err", runErr)
	case <-fencedSignal(ctx, db.Fenced):
		// Another server took the database over. This one acknowledges
		// nothing more already; exiting (non-zero, after draining) makes
		// the takeover visible to a supervisor instead of leaving two
		// servers to trade ownership unnoticed.
		runErr = fmt.Errorf("fenced: another server opened this database (%w)", engine.ErrFenced)
		log.Error("fenced by another writer: draining and exiting", "err", runErr)
	}
	stop() // a second signal now kills the process the default way

	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr == nil {
		runErr = <-serveErr
	}
	if err := closeWithin(closeBackend, storageCloseTimeout); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("closing storage: %w", err))
	}
	if runErr == nil {
		log.Info("stopped cleanly")
	}
	return runErr
}

// printHint tells how to point the SDKs and CLI at this server. A root
// token generated at this start is printed this once (only its hash is
// stored); a given or stored one is not repeated.
func printHint(w io.Writer, addr net.Addr, cfg serveConfig, generatedRoot string) {
	scheme := "http"
	if cfg.tls() {
		scheme = "https"
	}
	host := cfg.host
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "localhost"
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		host = net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	}
	fmt.Fprintf(w, "export S2_ACCOUNT_ENDPOINT=%s://%s\nexport S2_BASIN_ENDPOINT=%s://%s\n", scheme, host, scheme, host)
	switch {
	case cfg.noAuth:
		fmt.Fprintf(w, "export S2_ACCESS_TOKEN=ignored\n")
	case generatedRoot != "":
		fmt.Fprintf(w, "export S2_ACCESS_TOKEN=%q\n# the root access token, shown this once: keep it (only a hash of it is stored)\n", generatedRoot)
	case cfg.rootToken != "":
		fmt.Fprintf(w, "# S2_ACCESS_TOKEN: the root token given with --root-token or S2LITE_ROOT_TOKEN\n")
	default:
		fmt.Fprintf(w, "# S2_ACCESS_TOKEN: the root token printed when this storage was first served\n")
	}
	if f, ok := w.(*os.File); ok {
		_ = f.Sync()
	}
}

// basinStorage is the per-basin Prometheus source: only with
// --metrics-per-basin (label cardinality grows with the basins).
func basinStorage(on bool, rec *usage.Recorder) func() map[string]usage.StorageUse {
	if !on {
		return nil
	}
	return rec.BasinStorage
}

func warnNoAuth(log *slog.Logger) {
	log.Warn("ACCESS TOKENS ARE OFF (--no-auth): anyone who can reach this port can read, write and delete every basin and stream")
}

// authority is the server's view of tokens: nil (auth off) when there is
// no store.
func authority(tokens *authstore.Store) server.Authority {
	if tokens == nil {
		return nil
	}
	return tokens
}

// fencedSignal is closed once fenced reports true (checked every
// fencePoll), or never if ctx ends first.
func fencedSignal(ctx context.Context, fenced func() bool) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(fencePoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if fenced() {
					close(ch)
					return
				}
			}
		}
	}()
	return ch
}

// errCloseTimeout reports storage that did not close in time.
var errCloseTimeout = errors.New("storage did not close in time; exiting without waiting (nothing acknowledged is at risk)")

// closeWithin runs close and waits for it at most d.
func closeWithin(close func() error, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- close() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errCloseTimeout
	}
}
