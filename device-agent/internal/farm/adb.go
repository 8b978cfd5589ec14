package farm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// adb runs the adb client.
type adb struct {
	path string
}

// device is one line of `adb devices`.
type device struct {
	serial string
	// state is "device" (usable), "offline", "unauthorized", "recovery", …
	state string
}

// errNoADB means the adb executable cannot be run.
var errNoADB = errors.New("adb cannot be run (install Android platform-tools or pass --adb)")

// command returns an exec.Cmd for adb args. Cancelling ctx sends SIGTERM
// first (adb closes its shell session; on Windows, where only Kill
// exists, WaitDelay kills it), and WaitDelay bounds the wait for the output
// pipes, which a device-side process left running could hold open.
func (a adb) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, a.path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	return cmd
}

// run runs adb with args and returns its standard output with carriage
// returns removed (adb adds them on some hosts and old devices). A non-zero
// exit is an error carrying the tail of the output.
func (a adb) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := a.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	stdout := strings.ReplaceAll(out.String(), "\r", "")
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout, fmt.Errorf("adb %s: exit %d: %s", argsForLog(args), ee.ExitCode(), tail(errb.String()+stdout, 300))
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return stdout, fmt.Errorf("%w: %v", errNoADB, err)
		}
		return stdout, fmt.Errorf("adb %s: %w", argsForLog(args), err)
	}
	return stdout, nil
}

// argsForLog shortens long shell scripts in error messages.
func argsForLog(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// tail returns the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// devices lists the phones adb sees.
func (a adb) devices(ctx context.Context) ([]device, error) {
	out, err := a.run(ctx, nil, "devices")
	if err != nil {
		return nil, err
	}
	return parseDevices(out), nil
}

// parseDevices parses `adb devices` output: a header line, then
// "<serial>\t<state>" per device (with -l, more fields follow). Lines of
// the daemon ("* daemon started successfully") are skipped.
func parseDevices(out string) []device {
	var ds []device
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "*") || strings.HasPrefix(line, "List of devices") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ds = append(ds, device{serial: f[0], state: f[1]})
	}
	return ds
}

// shell runs script with the device's sh (`adb -s serial shell script`) and
// returns its standard output.
func (a adb) shell(ctx context.Context, serial, script string, stdin io.Reader) (string, error) {
	return a.run(ctx, stdin, "-s", serial, "shell", script)
}

// push copies a local file to the device.
func (a adb) push(ctx context.Context, serial, local, remote string) error {
	_, err := a.run(ctx, nil, "-s", serial, "push", local, remote)
	return err
}

// reverse makes the device's 127.0.0.1:port reach this host's
// 127.0.0.1:port over USB.
func (a adb) reverse(ctx context.Context, serial string, port int) error {
	spec := fmt.Sprintf("tcp:%d", port)
	_, err := a.run(ctx, nil, "-s", serial, "reverse", spec, spec)
	return err
}

// quote quotes s for a POSIX shell (sh, mksh, toybox).
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
