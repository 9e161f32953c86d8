// Package cli is the client side of the s2lite binary: the official S2
// CLI's commands (ls, list-basins, create-stream, append, read, tail,
// apply, issue-access-token, ...) with its names, arguments, flags, environment variables and
// output formats, so that runbooks and scripts written for `s2` work
// against s2lite unchanged. Every command goes through the client package.
package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
)

// Exit statuses. Scripts can rely on them: 0 is success, 1 an operation
// the server (or the connection to it) failed, 2 a bad command line, 130
// an append interrupted before all its input was acknowledged.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Env is what a command may touch of its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (S2_ACCOUNT_ENDPOINT,
	// S2_BASIN_ENDPOINT, S2_ACCESS_TOKEN, S2_ENCRYPTION_KEY, ...); default
	// os.Getenv.
	Getenv func(string) string
	// StderrIsTerminal turns on colours and progress lines.
	StderrIsTerminal bool
	// StdoutIsTerminal: records printed to a terminal are interleaved
	// with per-batch lines instead of a progress line.
	StdoutIsTerminal bool
}

// OSEnv is the process's own standard streams and environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StderrIsTerminal: isTerminal(os.Stderr), StdoutIsTerminal: isTerminal(os.Stdout)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Run executes a command line of the s2lite binary: the client commands
// and the given others (serve), and returns the process exit status. ctx
// ends long-running commands (read and tail follow until it is cancelled,
// as on Ctrl-C).
func Run(ctx context.Context, args []string, env Env, others ...*cobra.Command) int {
	root := &cobra.Command{
		Use:   "s2lite",
		Short: "An S2 durable-streams server on object storage, and the S2 command line",
		Long: "s2lite serves the S2 v1 API with every byte on object storage (s2lite serve), and carries the\n" +
			"official S2 CLI's client commands. Client commands read S2_ACCOUNT_ENDPOINT, S2_BASIN_ENDPOINT and\n" +
			"S2_ACCESS_TOKEN; for s2lite both endpoints are the server's URL, e.g. http://localhost:8080.",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], "s2lite")
			}
			cmd.SetOut(env.Stderr)
			_ = cmd.Usage()
			return usagef("a command is required")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.AddCommand(others...)
	root.AddCommand(Commands(ctx, env)...)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	if err := root.ExecuteContext(ctx); err != nil {
		PrintError(env.Stderr, err)
		return ExitCode(err)
	}
	return ExitOK
}

// Commands returns the client commands.
func Commands(ctx context.Context, env Env) []*cobra.Command {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	a := &app{ctx: ctx, env: env}
	return []*cobra.Command{
		a.lsCmd(), a.listBasinsCmd(), a.createBasinCmd(), a.deleteBasinCmd(), a.getBasinConfigCmd(), a.reconfigureBasinCmd(),
		a.listAccessTokensCmd(), a.issueAccessTokenCmd(), a.revokeAccessTokenCmd(),
		a.listStreamsCmd(), a.createStreamCmd(), a.deleteStreamCmd(), a.getStreamConfigCmd(), a.reconfigureStreamCmd(),
		a.checkTailCmd(), a.trimCmd(), a.fenceCmd(), a.appendCmd(), a.readCmd(), a.tailCmd(), a.applyCmd(),
		a.exportCmd(), a.importCmd(),
	}
}

// app carries what every command needs.
type app struct {
	ctx context.Context
	env Env
}

// client makes a client from the environment, as the official CLI does.
func (a *app) client() (*client.Client, error) {
	cfg := client.Config{
		AccountEndpoint: a.env.Getenv("S2_ACCOUNT_ENDPOINT"),
		BasinEndpoint:   a.env.Getenv("S2_BASIN_ENDPOINT"),
		AccessToken:     a.env.Getenv("S2_ACCESS_TOKEN"),
		UserAgent:       "s2lite-cli",
	}
	// The official CLI's other settings: compression, and skipping TLS
	// verification (for a server with a self-signed certificate).
	switch c := a.env.Getenv("S2_COMPRESSION"); c {
	case "", "none":
	case "gzip", "zstd":
		cfg.Compression = client.Compression(c)
	default:
		return nil, usagef("S2_COMPRESSION=%q: expected gzip or zstd", c)
	}
	if v := a.env.Getenv("S2_SSL_NO_VERIFY"); v != "" {
		insecure, err := strconv.ParseBool(v)
		if err != nil {
			return nil, usagef("S2_SSL_NO_VERIFY=%q: expected true or false", v)
		}
		if insecure {
			cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user, as in the official CLI
		}
	}
	if cfg.AccountEndpoint == "" && cfg.BasinEndpoint == "" {
		return nil, &usageError{errors.New("no endpoint: set S2_ACCOUNT_ENDPOINT and S2_BASIN_ENDPOINT (for s2lite both are its URL, e.g. http://localhost:8080)")}
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, &usageError{fmt.Errorf("unable to parse S2 endpoints: %w", err)}
	}
	return c, nil
}

// withClient runs fn with a client and closes it afterwards.
func (a *app) withClient(fn func(*client.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// interruptedError marks an append cut short by the context (exit 130).
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

// opError names the operation that failed, as the official CLI does:
// "Failed to read: <error>".
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "Failed to " + e.op + ": " + describe(e.err) }
func (e *opError) Unwrap() error { return e.err }

func op(name string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: name, err: err}
}

// describe words a client error as the official SDK does: the server's
// "code: message", or what the failed condition was.
func describe(err error) string {
	var se *client.Error
	var ce *client.AppendConditionError
	var re *client.RangeNotSatisfiableError
	switch {
	case errors.As(err, &ce) && ce.FencingTokenMismatch != nil:
		return "fencing token mismatch, expected: " + *ce.FencingTokenMismatch
	case errors.As(err, &ce) && ce.SeqNumMismatch != nil:
		return fmt.Sprintf("sequence number mismatch, expected: %d", *ce.SeqNumMismatch)
	case errors.As(err, &re):
		return fmt.Sprintf("read from an unwritten position. current tail: seq_num=%d, timestamp=%d", re.Tail.SeqNum, re.Tail.Timestamp)
	case errors.As(err, &se) && se.Code == "bad_header" && strings.Contains(se.Message, "encryption key for stream cipher"):
		return se.Code + ": " + se.Message + " (give the stream's key with -k/--encryption-key, --encryption-key-file or S2_ENCRYPTION_KEY)"
	case errors.As(err, &se) && se.Code == "decryption_failed":
		return se.Code + ": " + se.Message + " (not the key the records were written with?)"
	case errors.As(err, &se) && se.Code != "":
		return se.Code + ": " + se.Message
	}
	return err.Error()
}

// ExitCode maps a command's error to the process exit status.
func ExitCode(err error) int {
	var ue *usageError
	var ie *interruptedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ie):
		return ExitInterrupted
	case strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag") || strings.Contains(err.Error(), "flag needs an argument") ||
		strings.HasPrefix(err.Error(), "invalid argument") || strings.Contains(err.Error(), "arg(s)") ||
		strings.HasPrefix(err.Error(), "if any flags in the group") || strings.HasPrefix(err.Error(), "required flag"):
		// cobra's and pflag's own parse errors.
		return ExitUsage
	}
	return ExitFailed
}

// PrintError writes err the way the command line reports failures:
// "Error: <operation>: <code> (<status>): <message>".
func PrintError(w io.Writer, err error) {
	fmt.Fprintf(w, "Error: %v\n", err)
}

// style colours text for a terminal.
type style string

const (
	green  style = "\x1b[1;32m"
	red    style = "\x1b[1;31m"
	blue   style = "\x1b[1;34m"
	yellow style = "\x1b[1;33m"
	dim    style = "\x1b[2m"
	bold   style = "\x1b[1m"
)

// paint colours s when stderr is a terminal.
func (a *app) paint(st style, s string) string {
	if !a.env.StderrIsTerminal {
		return s
	}
	return string(st) + s + "\x1b[0m"
}

// status writes a line to stderr, where the official CLI writes its
// confirmations ("✓ Basin created").
func (a *app) status(st style, format string, args ...any) {
	fmt.Fprintln(a.env.Stderr, a.paint(st, fmt.Sprintf(format, args...)))
}

// Usage marks err as a bad command line (exit status 2), for commands
// defined outside this package.
func Usage(err error) error { return &usageError{err} }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
