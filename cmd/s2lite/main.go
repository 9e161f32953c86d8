// Command s2lite is a self-hostable server for the S2 durable-streams API
// that keeps every byte on object storage, and a command line for it: the
// official S2 CLI's client commands (ls, create-stream, append, read,
// tail, apply, ...) work against any S2 endpoint.
//
//	s2lite serve [flags]          run the server (s2lite serve -h)
//	s2lite <command> [args]       a client command (s2lite --help lists them)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/internal/cli"
)

func main() {
	// Ctrl-C ends a following read normally; serve installs its own
	// handling for a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}

// run executes a command line and returns the process exit status.
func run(ctx context.Context, args []string, env cli.Env) int {
	return cli.Run(ctx, args, env, serveCmd(env.Stdout, env.Stderr),
		verifyCmd(env.Stdout, env.Stderr), backupCmd(env.Stdout, env.Stderr),
		restoreCmd(env.Stdout, env.Stderr), promoteCmd(env.Stdout, env.Stderr), checkpointsCmd(env.Stdout, env.Stderr))
}

// serveCmd runs the server. Its flags keep their own parser (Go's flag
// package, the single-dash forms included), so cobra hands it the raw
// arguments.
func serveCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "serve [flags]",
		Short:              "Run the S2 API server (s2lite serve -h for its flags)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := parseServeFlags(args, stderr)
			if errors.Is(err, errHelp) {
				return nil
			}
			if err != nil {
				return cli.Usage(fmt.Errorf("s2lite serve: %w", err))
			}
			if err := serve(cfg, stdout, stderr); err != nil {
				return fmt.Errorf("s2lite serve: %w", err)
			}
			return nil
		},
	}
}
