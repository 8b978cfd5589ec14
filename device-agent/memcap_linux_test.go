//go:build linux

package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

func TestCgroupDirFrom(t *testing.T) {
	mi := "24 30 0:22 / /sys rw - sysfs sysfs rw\n" +
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	dir, err := cgroupDirFrom(mi, "4:memory:/x\n0::/user.slice/agent.service\n")
	if err != nil || dir != "/sys/fs/cgroup/unified/user.slice/agent.service" {
		t.Fatalf("dir %q, %v", dir, err)
	}
	if _, err := cgroupDirFrom("24 30 0:22 / /sys rw - sysfs sysfs rw\n", "0::/\n"); err == nil {
		t.Fatal("no cgroup2 mount, no error")
	}
	if _, err := cgroupDirFrom(mi, "4:memory:/x\n"); err == nil {
		t.Fatal("no 0:: line, no error")
	}
}

// standInCgroup makes a plain directory stand in for the agent's cgroup
// v2 group (this machine's cgroup2 has no memory controller): the code
// writes memory.max, memory.swap.max and cgroup.procs there as it would on
// cgroupfs. The kernel does not enforce anything on it, so these tests
// check what the agent writes and records, not the kernel's kill.
func standInCgroup(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := cgroupRoot
	cgroupRoot = root
	cgroupParent.once = *new(sync.Once)
	t.Cleanup(func() { cgroupRoot = old; cgroupParent.once = *new(sync.Once) })
	return root
}

// TestCgroupCapStandIn: with a stand-in cgroup, the measuring child gets
// its own group with memory.max at the cap and swap off, its pid is put
// in it, the measurement records "cgroup memory.max", and an oom_kill in
// memory.events is read as the cap being hit.
func TestCgroupCapStandIn(t *testing.T) {
	root := standInCgroup(t)
	j := tinyJob("jcg")
	res, err := superviseChild(context.Background(), realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute, MemoryCap: 3 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ResultOK {
		t.Fatalf("result %s %s: %s", res.Status, res.FailKind, res.Error)
	}
	if res.Measurement.MemoryCap != capCgroup {
		t.Fatalf("memory cap %q, want %q", res.Measurement.MemoryCap, capCgroup)
	}
	if sub, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); string(sub) != "+memory" {
		t.Errorf("subtree_control %q", sub)
	}
	groups, _ := filepath.Glob(filepath.Join(root, "hil-measure-*"))
	if len(groups) != 1 {
		t.Fatalf("groups %v", groups)
	}
	for file, want := range map[string]string{"memory.max": strconv.Itoa(3 << 30), "memory.swap.max": "0"} {
		if b, _ := os.ReadFile(filepath.Join(groups[0], file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(groups[0], "cgroup.procs")); len(strings.TrimSpace(string(b))) == 0 {
		t.Error("the child's pid was not written to cgroup.procs")
	}

	c, err := newOSCap(1<<30, "oom")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "hil-measure-oom")
	if hit, _ := c.exceeded(); hit {
		t.Fatal("hit without an oom_kill")
	}
	_ = os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("1073741824\n"), 0o644)
	if hit, peak := c.exceeded(); !hit || peak != 1<<30 {
		t.Fatalf("hit %v peak %d", hit, peak)
	}
	c.close()
}

// TestMemoryCapHere records which cap this machine gives: a cgroup when
// the agent may create one with the memory controller, else the RSS poll.
func TestMemoryCapHere(t *testing.T) {
	_, capErr := prepareCgroupParent()
	j := tinyJob("jhere")
	res, err := superviseChild(context.Background(), realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute, MemoryCap: 3 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ResultOK {
		t.Fatalf("result %s %s: %s", res.Status, res.FailKind, res.Error)
	}
	want := capCgroup
	if capErr != nil {
		want = capRSSPoll
	}
	t.Logf("memory cap here: %s (cgroup: %v)", res.Measurement.MemoryCap, capErr)
	if res.Measurement.MemoryCap != want {
		t.Fatalf("memory cap %q, want %q", res.Measurement.MemoryCap, want)
	}
}
