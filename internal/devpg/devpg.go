// Package devpg runs a private PostgreSQL cluster for `coordinator serve
// --dev` when no DATABASE_URL is given and nothing answers on
// 127.0.0.1:5432. It uses the machine's initdb and pg_ctl; the cluster
// lives in the data directory and is reused on the next start.
package devpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNoPostgres means neither a server nor the binaries to start one exist.
var ErrNoPostgres = errors.New("no PostgreSQL server answers on 127.0.0.1:5432 and no initdb/pg_ctl was found: " +
	"install PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL")

// Answers reports whether something accepts TCP connections at addr.
func Answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Cluster is a running private cluster.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	run  []string // prefix to run as the cluster's owner (runuser when root)
}

// URL is the connection URL of the cluster's hilsearch database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/hilsearch?sslmode=disable", c.Port)
}

// findBin locates initdb and pg_ctl: pg_config --bindir, then the newest
// /usr/lib/postgresql/*/bin, then PATH.
func findBin() (string, error) {
	var cands []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		cands = append(cands, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	cands = append(cands, dirs...)
	if p, err := exec.LookPath("initdb"); err == nil {
		cands = append(cands, filepath.Dir(p))
	}
	for _, d := range cands {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// Start initialises (first time) and starts the cluster in dir on port,
// or reuses it when it already runs. initdb refuses to run as root, so as
// root the cluster is owned by the "postgres" user.
func Start(ctx context.Context, dir string, port int, logf func(string, ...any)) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, Port: port, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root: initdb needs a 'postgres' user to own the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(abs, uid, gid); err != nil {
			return nil, err
		}
		c.run = []string{"runuser", "-u", "postgres", "--"}
		if err := c.cmd(ctx, "", "test", "-w", abs).Run(); err != nil {
			return nil, fmt.Errorf("the postgres user cannot reach %s (a parent directory is not traversable for it); "+
				"use a --data-dir it can reach, run as another user, or set DATABASE_URL", abs)
		}
	} else if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	data := filepath.Join(abs, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		logf("creating a private PostgreSQL cluster in %s", data)
		if out, err := c.cmd(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %v: %s", err, out)
		}
	}
	if Answers(fmt.Sprintf("127.0.0.1:%d", port)) {
		if c.owns(ctx, data) {
			return c, nil
		}
		return nil, fmt.Errorf("port %d is taken by another program; free it or set DATABASE_URL", port)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s", port, abs)
	if out, err := c.cmd(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(abs, "postgres.log"), "-w", "-t", "60", "start", "-o", opts).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	logf("private PostgreSQL started on 127.0.0.1:%d", port)
	return c, nil
}

// cmd runs the PostgreSQL program name (from the bin directory; with name
// "" the first argument is a program from PATH) as the cluster's owner.
func (c *Cluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	prog := args
	if name != "" {
		prog = append([]string{filepath.Join(c.bin, name)}, args...)
	}
	full := append(append([]string{}, c.run...), prog...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	Detach(cmd)
	return cmd
}

// owns reports whether the cluster in data is the one running.
func (c *Cluster) owns(ctx context.Context, data string) bool {
	return c.cmd(ctx, "pg_ctl", "-D", data, "status").Run() == nil
}

// Stop shuts the cluster down (fast mode: running transactions roll back).
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.cmd(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Restart stops the cluster in immediate mode (every server process
// quits at once, without a checkpoint, as after a crash: the next start
// replays the write-ahead log) and starts it again on the same port and
// data, waiting until it accepts connections. The fleet harness uses it
// as its PostgreSQL fault.
func (c *Cluster) Restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := c.cmd(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "postgres.log"),
		"-m", "immediate", "-w", "-t", "60", "restart").CombinedOutput() // -l: the server must not hold our output pipe
	if err != nil {
		return fmt.Errorf("pg_ctl restart: %v: %s", err, out)
	}
	return nil
}

// OthersCanReach reports whether every existing ancestor directory of dir
// lets other users through (o+x), as the postgres user needs when root
// runs dev mode from its home directory (mode 0700 on Debian).
func OthersCanReach(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}
