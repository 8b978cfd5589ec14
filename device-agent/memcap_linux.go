//go:build linux

package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// cgroupRoot, when set (tests), is used as the agent's own cgroup v2
// directory instead of the one /proc/self/cgroup and mountinfo name.
var cgroupRoot string

// cgroupParent is the directory under which measuring children get their
// cgroups, found (and prepared) once per agent process.
var cgroupParent struct {
	once sync.Once
	dir  string
	err  error
}

// ownCgroupDir returns the agent's cgroup v2 directory: the cgroup2 mount
// from mountinfo joined with the "0::" line of /proc/self/cgroup.
func ownCgroupDir() (string, error) {
	if cgroupRoot != "" {
		return cgroupRoot, nil
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	return cgroupDirFrom(string(mi), string(cg))
}

// cgroupDirFrom parses mountinfo and /proc/self/cgroup (see
// proc_pid_mountinfo(5), cgroups(7)).
func cgroupDirFrom(mountinfo, cgroup string) (string, error) {
	mount := ""
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		f := strings.Fields(sc.Text())
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				mount = f[4]
			}
		}
	}
	if mount == "" {
		return "", errors.New("no cgroup v2 mount")
	}
	for _, line := range strings.Split(cgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mount, p), nil
		}
	}
	return "", errors.New("this process is in no cgroup v2 group (/proc/self/cgroup has no 0:: line)")
}

// writeCgroup writes v to a cgroup control file. (O_CREATE changes
// nothing on cgroupfs, where control files cannot be created: a missing one
// still fails; it lets tests stand a plain directory in for a cgroup.)
func writeCgroup(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// prepareCgroupParent makes the agent's cgroup able to hold capped
// children: the memory controller must be available there
// (cgroup.controllers) and enabled for its children
// (cgroup.subtree_control). A cgroup other than the root may not both hold
// processes and enable controllers for children, so when enabling fails
// with EBUSY the agent first moves itself into a leaf "hil-agent" (only
// possible when the group is delegated to it, e.g. systemd Delegate=yes,
// or the agent is root in its cgroup namespace).
func prepareCgroupParent() (string, error) {
	dir, err := ownCgroupDir()
	if err != nil {
		return "", err
	}
	if filepath.Base(dir) == "hil-agent" { // moved there by an earlier agent in this process tree
		dir = filepath.Dir(dir)
	}
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return "", err
	}
	if !hasWord(string(ctl), "memory") {
		return "", fmt.Errorf("the memory controller is not available in %s", dir)
	}
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if hasWord(string(sub), "memory") {
		return dir, nil
	}
	err = writeCgroup(filepath.Join(dir, "cgroup.subtree_control"), "+memory")
	if errors.Is(err, syscall.EBUSY) {
		leaf := filepath.Join(dir, "hil-agent")
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create %s: %w", leaf, err)
		}
		if err := writeCgroup(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
			return "", fmt.Errorf("move the agent into %s: %w", leaf, err)
		}
		err = writeCgroup(filepath.Join(dir, "cgroup.subtree_control"), "+memory")
	}
	if err != nil {
		return "", fmt.Errorf("enable the memory controller in %s: %w", dir, err)
	}
	return dir, nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// newOSCap gives the measuring child its own cgroup v2 group with
// memory.max = limit (and memory.swap.max = 0, so the cap is on memory,
// not on memory plus swap), when the agent may create one. The child is
// started in it (clone3 CLONE_INTO_CGROUP, Linux 5.7+) or, when that
// fails, moved into it right after it starts. Otherwise the error says
// why and the caller falls back to polling RSS.
func newOSCap(limit int64, tag string) (*osCap, error) {
	if limit <= 0 {
		return nil, errors.New("no cap asked for")
	}
	cgroupParent.once.Do(func() { cgroupParent.dir, cgroupParent.err = prepareCgroupParent() })
	if cgroupParent.err != nil {
		return nil, cgroupParent.err
	}
	dir := filepath.Join(cgroupParent.dir, "hil-measure-"+tag)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fail := func(err error) (*osCap, error) {
		_ = os.Remove(dir)
		return nil, err
	}
	if err := writeCgroup(filepath.Join(dir, "memory.max"), strconv.FormatInt(limit, 10)); err != nil {
		return fail(fmt.Errorf("set %s/memory.max: %w", dir, err))
	}
	_ = writeCgroup(filepath.Join(dir, "memory.swap.max"), "0") // absent without swap accounting
	fd, err := os.Open(dir)
	if err != nil {
		return fail(err)
	}
	c := &osCap{kind: "cgroup memory.max"}
	c.before = func(cmd *exec.Cmd) {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(fd.Fd())
	}
	c.retry = func(cmd *exec.Cmd) { cmd.SysProcAttr.UseCgroupFD = false }
	c.after = func(p *os.Process) error {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err == nil && hasWord(string(procs), strconv.Itoa(p.Pid)) {
			return nil
		}
		return writeCgroup(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(p.Pid))
	}
	c.exceeded = func() (bool, int64) {
		peak, _ := readInt(filepath.Join(dir, "memory.peak")) // Linux 5.19+
		ev, err := os.ReadFile(filepath.Join(dir, "memory.events"))
		if err != nil {
			return false, peak
		}
		for _, line := range strings.Split(string(ev), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true, peak
			}
		}
		return false, peak
	}
	c.close = func() {
		_ = fd.Close()
		_ = os.Remove(dir) // rmdir: the group is empty once the child was waited for
	}
	return c, nil
}

func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}
