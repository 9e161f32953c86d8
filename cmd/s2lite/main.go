// Command s2lite is a self-hostable server for the S2 durable-streams API
// that keeps every byte on object storage.
//
//	s2lite serve [flags]
//
// Run `s2lite serve -h` for the flags.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// exitUsage is the exit status for bad command lines, as flag uses.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command line and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServeFlags(args[1:], stderr)
		if errors.Is(err, errHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "s2lite serve: %v\n", err)
			return exitUsage
		}
		if err := serve(cfg, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "s2lite serve: %v\n", err)
			return 1
		}
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "s2lite: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: s2lite <command> [flags]

Commands:
  serve   run the S2 API server (s2lite serve -h for its flags)
  help    show this help
`)
}
