package searchcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hilsearch/hilsearch/cmd/hil/internal/client"
)

// globals are the flags every subcommand that talks to a coordinator
// accepts, before or after the subcommand name.
type globals struct {
	coordinator string
	token       secret
}

// secret is a flag value that never shows itself (flag usage prints
// defaults; the token must not appear there or anywhere else).
type secret struct{ v string }

func (s *secret) String() string     { return "" }
func (s *secret) Set(v string) error { s.v = v; return nil }

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.coordinator, "coordinator", g.coordinator, "coordinator `URL` (host:port means http://host:port; env HIL_COORDINATOR; default "+client.DefaultURL+")")
	fs.Var(&g.token, "token", "API `token` (env HIL_TOKEN)")
}

// client returns a client from the flags, else the environment, else the
// defaults.
func (g *globals) client() (*client.Client, error) {
	u := g.coordinator
	if u == "" {
		u = os.Getenv("HIL_COORDINATOR")
	}
	if u == "" {
		u = client.DefaultURL
	}
	t := g.token.v
	if t == "" {
		t = os.Getenv("HIL_TOKEN")
	}
	return client.New(u, t)
}

// env is what a subcommand runs with.
type env struct {
	g      *globals
	name   string // "hil search create"
	stdout io.Writer
	stderr io.Writer
}

// flags returns a flag set for the subcommand with the global flags.
func (e *env) flags(usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	e.g.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: hil search %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments (std flag stops at the
// first positional one) and returns the positional arguments; after "--"
// everything is positional. It returns -1 when parsing went well, else the
// exit code (0 for -h).
func (e *env) parse(fs *flag.FlagSet, args []string, npos int, what string) ([]string, int) {
	var pos []string
	for {
		before := len(args)
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		rest := fs.Args()
		// flag consumes a "--" terminator: everything after it is positional.
		if consumed := args[:before-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != npos {
		if npos == 0 {
			fmt.Fprintf(e.stderr, "%s: unexpected argument %q\n", e.name, pos[0])
		} else {
			fmt.Fprintf(e.stderr, "%s: want %s\n", e.name, what)
		}
		fs.Usage()
		return nil, 2
	}
	return pos, -1
}

// fail prints an error (an API error's field errors one per line) and
// returns exit code 1.
func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "%s: %s\n", e.name, strings.TrimRight(err.Error(), "\n"))
	return 1
}
