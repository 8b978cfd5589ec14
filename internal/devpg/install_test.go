package devpg

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// standInSystem is a machine without PostgreSQL whose package manager is
// a stand-in script: "apt-get" logs its arguments and, on install, creates
// stand-in initdb and pg_ctl in bin. Nothing is installed for real.
func standInSystem(t *testing.T, euid int, withSudo bool) (system, string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "pgbin")
	log := filepath.Join(dir, "calls")
	write := func(name, script string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("apt-get", `#!/bin/sh
echo "apt-get $*" >> `+log+`
if [ "$1" = install ]; then
	mkdir -p `+bin+`
	printf '#!/bin/sh\n' > `+bin+`/initdb; chmod 755 `+bin+`/initdb
	printf '#!/bin/sh\n' > `+bin+`/pg_ctl; chmod 755 `+bin+`/pg_ctl
fi
`)
	if withSudo {
		write("sudo", `#!/bin/sh
echo "sudo" >> `+log+`
exec "$@"
`)
	}
	s := system{
		find: func() (string, error) {
			if isExec(filepath.Join(bin, "initdb")) && isExec(filepath.Join(bin, "pg_ctl")) {
				return bin, nil
			}
			return "", ErrNoPostgres
		},
		lookPath: func(name string) (string, error) {
			p := filepath.Join(dir, name)
			if isExec(p) {
				return p, nil
			}
			return "", exec.ErrNotFound
		},
		euid:  euid,
		stdin: strings.NewReader(""),
	}
	return s, bin, log
}

func TestEnsureBinariesInstallsOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		euid  int
		sudo  bool
		calls string
		how   string
	}{
		{"root", 0, false, "apt-get update\napt-get install -y --no-install-recommends postgresql\n", "as root"},
		{"sudo", 1000, true, "sudo\napt-get update\nsudo\napt-get install -y --no-install-recommends postgresql\n", "with sudo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, bin, log := standInSystem(t, c.euid, c.sudo)
			var out bytes.Buffer
			got, err := s.ensure(context.Background(), &out)
			if err != nil || got != bin {
				t.Fatalf("ensure = %q, %v\n%s", got, err, out.String())
			}
			if !strings.Contains(out.String(), "PostgreSQL is not installed: installing Debian's postgresql package "+c.how) {
				t.Fatalf("nothing said on screen before installing:\n%s", out.String())
			}
			calls, _ := os.ReadFile(log)
			if string(calls) != c.calls {
				t.Fatalf("package manager calls:\n%s\nwant:\n%s", calls, c.calls)
			}
			// Idempotent: with the binaries there, nothing runs.
			out.Reset()
			if got, err := s.ensure(context.Background(), &out); err != nil || got != bin || out.Len() != 0 {
				t.Fatalf("second ensure = %q, %v, said %q", got, err, out.String())
			}
			if again, _ := os.ReadFile(log); string(again) != c.calls {
				t.Fatalf("second ensure ran the package manager:\n%s", again)
			}
		})
	}
}

func TestEnsureBinariesWithoutRights(t *testing.T) {
	s, _, log := standInSystem(t, 1000, false)
	var out bytes.Buffer
	_, err := s.ensure(context.Background(), &out)
	if !errors.Is(err, ErrNoPostgres) || !strings.Contains(err.Error(), "not root and no sudo") {
		t.Fatalf("ensure as a user without sudo: %v", err)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) || out.Len() != 0 {
		t.Fatalf("something ran or was said: %v %q", err, out.String())
	}
	// No apt-get at all (not Debian/Ubuntu): the plain error.
	s.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	s.euid = 0
	if _, err := s.ensure(context.Background(), &out); !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("ensure without apt-get: %v", err)
	}
}

func TestOthersCanReach(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open", "data")
	closed := filepath.Join(base, "closed", "data")
	if err := os.MkdirAll(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(closed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(base, "closed"), 0o700); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's own parents may be closed on some machines; only the
	// difference between the two is checked.
	if OthersCanReach(filepath.Join(base, "x")) {
		if !OthersCanReach(filepath.Join(open, "postgres")) || OthersCanReach(filepath.Join(closed, "postgres")) {
			t.Fatal("reachability of open/closed directories wrong")
		}
	} else if OthersCanReach(filepath.Join(closed, "postgres")) {
		t.Fatal("a path under a closed directory is reachable")
	}
}
