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
	"strconv"
	"syscall"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/initspec"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/stream"
)

const (
	// fencePoll is how often serve checks whether it was fenced.
	fencePoll = time.Second

	// shutdownGrace bounds a graceful shutdown, as in the reference.
	shutdownGrace = 10 * time.Second
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

	openCtx, cancelOpen := context.WithTimeout(ctx, openTimeout)
	defer cancelOpen()
	st, err := openStorage(openCtx, cfg, log)
	if err != nil {
		return err
	}
	defer st.close()
	db, err := engine.Open(openCtx, engine.Options{
		Store:      st.store,
		Logger:     log.With("component", "engine"),
		Compaction: compaction.Options{Partition: stream.CompactionPartition},

		GCMinAge:            cfg.gcMinAge,
		CheckpointInterval:  cfg.checkpointInterval,
		CheckpointRetention: cfg.checkpointRetention,
	})
	if err != nil {
		return fmt.Errorf("opening the storage engine on %s: %w", st.describe, err)
	}
	svc, err := stream.New(openCtx, db, stream.Options{
		Logger:              log.With("component", "stream"),
		AppendInflightBytes: cfg.appendInflightBytes,
	})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("starting the stream service: %w", err)
	}
	closeBackend := func() error {
		return errors.Join(svc.Close(), db.Close())
	}
	if declared != nil {
		if err := applyInitFile(openCtx, declared, svc, log); err != nil {
			return errors.Join(err, closeBackend())
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return errors.Join(fmt.Errorf("listening: %w", err), closeBackend())
	}
	srv := server.New(svc, server.Options{
		Logger:        log.With("component", "server"),
		DisableCORS:   cfg.noCORS,
		CORSOrigins:   cfg.corsOrigins,
		EnableImport:  cfg.enableImport,
		EngineMetrics: db.Metrics,
		// Only permanent conditions make /health fail: a WAL failure heals
		// on the next write, which a failing health check would keep away.
		// It is checked on every request, so it reads only atomics.
		Ready: func() error {
			if db.Fenced() {
				return engine.ErrFenced
			}
			return db.Lost()
		},
		Durable: db.StorageErr,
	})
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
	printHint(stdout, ln.Addr(), cfg)
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
	if err := closeBackend(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("closing storage: %w", err))
	}
	if runErr == nil {
		log.Info("stopped cleanly")
	}
	return runErr
}

// printHint tells how to point the SDKs and CLI at this server.
func printHint(w io.Writer, addr net.Addr, cfg serveConfig) {
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
	fmt.Fprintf(w, "export S2_ACCOUNT_ENDPOINT=%s://%s\nexport S2_BASIN_ENDPOINT=%s://%s\nexport S2_ACCESS_TOKEN=ignored\n", scheme, host, scheme, host)
	if f, ok := w.(*os.File); ok {
		_ = f.Sync()
	}
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
