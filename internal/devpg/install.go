package devpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// system is what EnsureBinaries needs from the machine; tests replace it
// with a stand-in package manager.
type system struct {
	find     func() (string, error)
	lookPath func(string) (string, error)
	euid     int
	stdin    io.Reader
}

var hostSystem = system{find: findBin, lookPath: exec.LookPath, euid: os.Geteuid(), stdin: os.Stdin}

// EnsureBinaries makes sure initdb and pg_ctl exist and returns their
// directory. When they are missing on a Debian or Ubuntu machine and this
// process is root (or sudo exists), it installs Debian's postgresql
// package with apt-get, saying so on out first; it never installs
// anything when the binaries are there, so it is safe to call on every
// start. Elsewhere it returns ErrNoPostgres.
func EnsureBinaries(ctx context.Context, out io.Writer) (string, error) {
	return hostSystem.ensure(ctx, out)
}

func (s system) ensure(ctx context.Context, out io.Writer) (string, error) {
	if bin, err := s.find(); err == nil {
		return bin, nil
	}
	apt, err := s.lookPath("apt-get")
	if err != nil {
		return "", ErrNoPostgres
	}
	var prefix []string
	switch {
	case s.euid == 0:
	default:
		sudo, err := s.lookPath("sudo")
		if err != nil {
			return "", fmt.Errorf("%w (not root and no sudo: run `apt-get install postgresql` as root)", ErrNoPostgres)
		}
		prefix = []string{sudo}
	}
	how := "as root"
	if prefix != nil {
		how = "with sudo (it may ask for your password)"
	}
	fmt.Fprintf(out, "PostgreSQL is not installed: installing Debian's postgresql package %s: apt-get update && apt-get install -y postgresql\n", how)
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		full := append(append(append([]string{}, prefix...), apt), args...)
		if prefix != nil {
			// sudo resets the environment; pass the non-interactive
			// front end explicitly.
			full = append(append(append([]string{}, prefix...), "env", "DEBIAN_FRONTEND=noninteractive", apt), args...)
		}
		cmd := exec.CommandContext(ctx, full[0], full[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, out, out
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w; install PostgreSQL yourself or set DATABASE_URL", strings.Join(full, " "), err)
		}
	}
	bin, err := s.find()
	if err != nil {
		return "", errors.New("apt-get installed postgresql but initdb/pg_ctl are still not found; set DATABASE_URL")
	}
	fmt.Fprintf(out, "PostgreSQL installed (%s)\n", bin)
	return bin, nil
}
