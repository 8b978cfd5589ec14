//go:build linux

package agent

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// niceOf reads the nice value of a task from /proc/<pid>[/task/<tid>]/stat.
func niceOf(t *testing.T, statPath string) int {
	t.Helper()
	data, err := os.ReadFile(statPath)
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; nice is field 19.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartNicedAppliesToTheChildOnly(t *testing.T) {
	// Raising the nice value (lowering priority) needs no privilege.
	base := niceOf(t, "/proc/self/stat")
	want := min(base+5, 19)
	if want == 0 || want == base {
		t.Skipf("test process runs at nice %d", base)
	}
	cmd := exec.Command("sleep", "30")
	niceErr, err := startNiced(cmd, want)
	if err != nil || niceErr != nil {
		t.Fatalf("start: %v, nice: %v", err, niceErr)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if got := niceOf(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/stat"); got != want {
		t.Fatalf("child nice %d, want %d", got, want)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if n := niceOf(t, "/proc/self/task/"+task.Name()+"/stat"); n != base {
			t.Fatalf("agent thread %s left at nice %d, want %d", task.Name(), n, base)
		}
	}
}
