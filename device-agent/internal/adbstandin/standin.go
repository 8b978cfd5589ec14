//go:build linux

package adbstandin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvDir names the environment variable holding the phones' directory.
const EnvDir = "ADB_STANDIN_DIR"

// envPhone marks every process a phone's shell starts (and their
// children, which inherit it): "<serial>@<dir>".
const envPhone = "ADB_STANDIN_PHONE"

// phonePrefix is the part of the phone's file system the stand-in maps.
const phonePrefix = "/data/local/tmp"

// Phones controls the stand-in's phones from a test.
type Phones struct {
	// Dir is the directory ADB_STANDIN_DIR names.
	Dir string
}

func (p Phones) dir(serial string) string { return filepath.Join(p.Dir, serial) }

// Root returns the host directory standing for the phone's /data/local/tmp.
func (p Phones) Root(serial string) string {
	return filepath.Join(p.dir(serial), "root", "data", "local", "tmp")
}

// HostPath maps a phone path under /data/local/tmp to this host.
func (p Phones) HostPath(serial, phonePath string) string {
	return p.Root(serial) + strings.TrimPrefix(phonePath, phonePrefix)
}

// Add creates a phone and plugs it in.
func (p Phones) Add(serial string) error {
	if err := os.MkdirAll(p.Root(serial), 0o755); err != nil {
		return err
	}
	return p.setState(serial, "device")
}

// Connect plugs a phone in again.
func (p Phones) Connect(serial string) error { return p.setState(serial, "device") }

// SetState sets the state `adb devices` reports ("offline",
// "unauthorized", …).
func (p Phones) SetState(serial, state string) error { return p.setState(serial, state) }

// Disconnect unplugs a phone: adb no longer lists it, its reverse rules
// are gone and its open shell sessions end; its processes keep running.
func (p Phones) Disconnect(serial string) error {
	if err := os.Remove(filepath.Join(p.dir(serial), "state")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.dir(serial), "reverse"), nil, 0o644)
}

func (p Phones) setState(serial, state string) error {
	return os.WriteFile(filepath.Join(p.dir(serial), "state"), []byte(state+"\n"), 0o644)
}

// State returns what `adb devices` says of the phone ("" when unplugged).
func (p Phones) State(serial string) string {
	b, err := os.ReadFile(filepath.Join(p.dir(serial), "state"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Reverses returns the phone's reverse rules.
func (p Phones) Reverses(serial string) []string {
	b, _ := os.ReadFile(filepath.Join(p.dir(serial), "reverse"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Processes lists the PIDs of the processes the phone's shells started
// (found by their environment in /proc; Linux only).
func (p Phones) Processes(serial string) []int {
	mark := []byte(envPhone + "=" + serial + "@" + p.Dir + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, mark) && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether pid has exited but was not reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// Reboot kills every process of the phone (SIGKILL), as a reboot does.
func (p Phones) Reboot(serial string) int {
	pids := p.Processes(serial)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids)
}

// KillAll kills the processes of every phone (test clean-up).
func (p Phones) KillAll() {
	ents, _ := os.ReadDir(p.Dir)
	for _, e := range ents {
		if e.IsDir() {
			p.Reboot(e.Name())
		}
	}
}

// Main runs the stand-in with adb's command line and returns the exit
// status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		fmt.Fprintf(stderr, "adb stand-in: %s is not set\n", EnvDir)
		return 1
	}
	s := &standin{phones: Phones{Dir: dir}, stdin: stdin, stdout: stdout, stderr: stderr}
	code, err := s.main(args)
	if err != nil {
		fmt.Fprintf(stderr, "adb: error: %v\n", err)
	}
	return code
}

type standin struct {
	phones Phones
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	serial string
}

func (s *standin) main(args []string) (int, error) {
	s.serial = os.Getenv("ANDROID_SERIAL")
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-s":
			if len(args) < 2 {
				return 1, errors.New("-s requires an argument")
			}
			s.serial, args = args[1], args[2:]
		default:
			return 1, fmt.Errorf("unknown option %s (stand-in)", args[0])
		}
	}
	if len(args) == 0 {
		return 1, errors.New("no command")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "version":
		fmt.Fprintln(s.stdout, "Android Debug Bridge version 1.0.41 (hilsearch adb stand-in)")
		return 0, nil
	case "devices":
		return s.devices()
	case "get-state":
		serial, err := s.target()
		if err != nil {
			return 1, err
		}
		fmt.Fprintln(s.stdout, s.phones.State(serial))
		return 0, nil
	case "shell":
		return s.shell(rest)
	case "push":
		return s.push(rest)
	case "reverse":
		return s.reverse(rest)
	default:
		return 1, fmt.Errorf("unknown command %s (stand-in)", cmd)
	}
}

// serials lists the plugged-in phones, sorted.
func (s *standin) serials() []string {
	ents, _ := os.ReadDir(s.phones.Dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() && s.phones.State(e.Name()) != "" {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func (s *standin) devices() (int, error) {
	var b strings.Builder
	b.WriteString("List of devices attached\n")
	for _, serial := range s.serials() {
		fmt.Fprintf(&b, "%s\t%s\n", serial, s.phones.State(serial))
	}
	b.WriteString("\n")
	io.WriteString(s.stdout, b.String())
	return 0, nil
}

// target returns the phone a command addresses, as adb chooses it.
func (s *standin) target() (string, error) {
	if s.serial != "" {
		if s.phones.State(s.serial) == "" {
			return "", fmt.Errorf("device '%s' not found", s.serial)
		}
		return s.serial, nil
	}
	all := s.serials()
	switch len(all) {
	case 0:
		return "", errors.New("no devices/emulators found")
	case 1:
		return all[0], nil
	}
	return "", errors.New("more than one device/emulator")
}

// ready returns the addressed phone when it is usable.
func (s *standin) ready() (string, error) {
	serial, err := s.target()
	if err != nil {
		return "", err
	}
	switch st := s.phones.State(serial); st {
	case "device":
		return serial, nil
	case "unauthorized":
		return "", errors.New("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set")
	default:
		return "", fmt.Errorf("device %s", st)
	}
}

// mapPaths rewrites the phone paths of a script to this host.
func (s *standin) mapPaths(serial, text string) string {
	return strings.ReplaceAll(text, phonePrefix, s.phones.Root(serial))
}

// shell runs a script with sh -c in the phone's environment. It ends the
// session (killing the script's process group) when the phone is
// unplugged or the stand-in is told to stop, as adb does.
func (s *standin) shell(args []string) (int, error) {
	serial, err := s.ready()
	if err != nil {
		return 1, err
	}
	if len(args) == 0 {
		return 1, errors.New("interactive shells are not emulated (stand-in)")
	}
	cmd := exec.Command("/bin/sh", "-c", s.mapPaths(serial, strings.Join(args, " ")))
	cmd.Dir = s.phones.Root(serial)
	cmd.Env = append(os.Environ(), envPhone+"="+serial+"@"+s.phones.Dir, "HOME=/")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, s.stdout, s.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	kill := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), nil
			}
			if err != nil {
				return 1, err
			}
			return 0, nil
		case <-sig:
			kill()
			return 143, nil
		case <-tick.C:
			if s.phones.State(serial) != "device" {
				kill()
				return 1, errors.New("device offline (stand-in: unplugged during the shell session)")
			}
		}
	}
}

// push copies a local file to the phone, creating missing directories as
// adbd does.
func (s *standin) push(args []string) (int, error) {
	if len(args) != 2 {
		return 1, errors.New("push: want LOCAL REMOTE (stand-in)")
	}
	serial, err := s.ready()
	if err != nil {
		return 1, err
	}
	local, remote := args[0], args[1]
	if !strings.HasPrefix(remote, phonePrefix+"/") {
		return 1, fmt.Errorf("push: %s: only paths under %s are emulated", remote, phonePrefix)
	}
	dst := s.phones.HostPath(serial, remote)
	if st, err := os.Stat(dst); err == nil && st.IsDir() || strings.HasSuffix(remote, "/") {
		dst = filepath.Join(dst, filepath.Base(local))
	}
	src, err := os.Open(local)
	if err != nil {
		return 1, fmt.Errorf("cannot stat '%s': %w", local, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return 1, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 1, err
	}
	tmp := dst + ".standin-push"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return 1, err
	}
	n, err := io.Copy(out, bufio.NewReader(src))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return 1, fmt.Errorf("failed to copy '%s' to '%s': %w", local, remote, err)
	}
	fmt.Fprintf(s.stdout, "%s: 1 file pushed, 0 skipped. (%d bytes)\n", local, n)
	return 0, nil
}

// reverse records, lists and removes reverse rules.
func (s *standin) reverse(args []string) (int, error) {
	serial, err := s.ready()
	if err != nil {
		return 1, err
	}
	rules := s.phones.Reverses(serial)
	save := func() (int, error) {
		data := strings.Join(rules, "\n")
		if data != "" {
			data += "\n"
		}
		return 0, os.WriteFile(filepath.Join(s.phones.dir(serial), "reverse"), []byte(data), 0o644)
	}
	switch {
	case len(args) == 1 && args[0] == "--list":
		for _, r := range rules {
			fmt.Fprintf(s.stdout, "%s %s\n", serial, r)
		}
		return 0, nil
	case len(args) == 1 && args[0] == "--remove-all":
		rules = nil
		return save()
	case len(args) == 2 && args[0] == "--remove":
		rules = slices.DeleteFunc(rules, func(r string) bool { return strings.HasPrefix(r, args[1]+" ") })
		return save()
	case len(args) == 2:
		for _, a := range args {
			if _, err := tcpPort(a); err != nil {
				return 1, err
			}
		}
		rules = slices.DeleteFunc(rules, func(r string) bool { return strings.HasPrefix(r, args[0]+" ") })
		rules = append(rules, args[0]+" "+args[1])
		if _, err := save(); err != nil {
			return 1, err
		}
		fmt.Fprintln(s.stdout, strings.TrimPrefix(args[0], "tcp:"))
		return 0, nil
	}
	return 1, errors.New("reverse: want REMOTE LOCAL, --list, --remove REMOTE or --remove-all (stand-in)")
}

func tcpPort(spec string) (int, error) {
	p, ok := strings.CutPrefix(spec, "tcp:")
	n, err := strconv.Atoi(p)
	if !ok || err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("'%s': only tcp:PORT is emulated (stand-in)", spec)
	}
	return n, nil
}
