// Command hil is the hilsearch command-line tool. Each subcommand lives in
// its own package under cmd/hil/internal and is registered in commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/hilsearch/hilsearch/cmd/hil/internal/archcmd"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/fidelitycmd"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/predictcmd"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/searchcmd"
)

// command runs one subcommand with its arguments and returns the exit code.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// commands maps subcommand names to their entry points; add one line per
// subcommand package.
var commands = map[string]command{
	"arch":     archcmd.Main,
	"fidelity": fidelitycmd.Main,
	"predict":  predictcmd.Main,
	"search":   searchcmd.Main,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args[0] to its subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hil: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: hil <command> [arguments]")
	fmt.Fprintln(w, "commands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w, "run 'hil <command> -h' for a command's usage")
}
