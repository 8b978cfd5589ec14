package farm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phone supervises one phone's agent. Its run goroutine owns every field
// below mu's; the farm's poll loop only calls setState.
type phone struct {
	f      *Farm
	serial string
	log    *slog.Logger

	mu    sync.Mutex
	state string        // adb state; "" when adb does not list the phone
	wake  chan struct{} // signalled (without blocking) on a state change

	dir       string // remote directory
	deviceID  string
	natsPorts []int     // loopback NATS ports of the identity, to reverse
	pid       int       // the agent's PID when last seen alive, else 0
	startedAt time.Time // when the running agent was started (or adopted)
	quickDies int       // agent deaths in a row within minRun of a start
	nextStart time.Time // no start before this (backoff)
	revoked   bool      // the coordinator revoked the device: never restart
	stream    *logStream
	logLines  atomic.Int64 // lines of the current agent.log already printed
	offline   time.Time    // since when the coordinator reports the device offline
	reversed  bool         // reverse ports were set up again for the current offline spell
	lastHB    time.Time    // last device status check
}

func newPhone(f *Farm, serial string) *phone {
	return &phone{f: f, serial: serial, log: f.log.With("serial", serial), wake: make(chan struct{}, 1), dir: f.cfg.RemoteDir}
}

func (p *phone) setState(s string) {
	p.mu.Lock()
	changed := p.state != s
	p.state = s
	p.mu.Unlock()
	if changed {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *phone) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == "device"
}

func (p *phone) currentState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// sleep waits d, or less when ctx ends or the phone's state changes; it
// reports whether ctx is still alive.
func (p *phone) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-p.wake:
	case <-t.C:
	}
	return ctx.Err() == nil
}

// Timing of the supervisor.
const (
	// minRun: an agent that dies sooner after its start counts as a quick
	// death, and quick deaths back off up to maxBackoff.
	minRun     = time.Minute
	maxBackoff = time.Minute
	// adbTimeout bounds each short adb command; pushTimeout a push.
	adbTimeout  = 60 * time.Second
	pushTimeout = 10 * time.Minute
	// stopGrace is how long a stopped agent may take to return its job
	// (SIGTERM) before it is killed.
	stopGrace = 20 * time.Second
)

// run supervises the phone until ctx ends.
func (p *phone) run(ctx context.Context) {
	defer p.stopStream()
	backoff := time.Second
	reported := ""
	for ctx.Err() == nil {
		if st := p.currentState(); st != "device" {
			if st != reported {
				switch st {
				case "":
					p.log.Info("phone disconnected")
				case "unauthorized":
					p.log.Warn("phone is unauthorized: accept the USB debugging prompt on it")
				default:
					p.log.Info("phone not ready", "state", st)
				}
				reported = st
			}
			p.stopStream()
			p.sleep(ctx, time.Hour)
			continue
		}
		reported = "device"
		if err := p.setup(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if p.connected() {
				p.log.Warn("setting up the phone failed", "err", err, "retry_in", backoff)
				p.sleep(ctx, backoff)
				backoff = min(2*backoff, maxBackoff)
			}
			continue
		}
		backoff = time.Second
		p.watch(ctx)
	}
}

// setup brings the phone to a runnable state: binary, run script, reverse
// ports, identity.
func (p *phone) setup(ctx context.Context) error {
	info, err := p.probe(ctx)
	if err != nil {
		return err
	}
	target, err := targetOf(info["abi"], info["machine"])
	if err != nil {
		return err
	}
	bin, err := p.f.bins.get(ctx, target)
	if err != nil {
		return err
	}
	upgraded := false
	if info["sha"] != bin.sha256 {
		if err := p.pushAgent(ctx, bin, target, info["sha"]); err != nil {
			return err
		}
		upgraded = info["sha"] != ""
	}
	script := runScript(p.f.cfg.RunArgs)
	if info["runsha"] != sha256Hex(script) {
		if err := p.pushText(ctx, script, "run.sh"); err != nil {
			return err
		}
		upgraded = upgraded || info["runsha"] != ""
	}
	if p.f.httpPort > 0 {
		if err := p.reverse(ctx, p.f.httpPort); err != nil {
			return fmt.Errorf("reverse the coordinator's port: %w", err)
		}
	}
	if info["enrolled"] != "yes" {
		if err := p.enroll(ctx, info["model"]); err != nil {
			return err
		}
	}
	if err := p.readIdentity(ctx); err != nil {
		return err
	}
	if err := p.reverseNATS(ctx); err != nil {
		return err
	}
	if upgraded {
		// An agent of the old binary or script may still run: restart it.
		if pid, alive, err := p.alive(ctx); err == nil && alive {
			p.log.Info("restarting the agent on the new binary", "pid", pid)
			p.stop(ctx, pid)
		}
	}
	return nil
}

// reverse sets up adb reverse for one port, with adbTimeout.
func (p *phone) reverse(ctx context.Context, port int) error {
	c, cancel := context.WithTimeout(ctx, adbTimeout)
	defer cancel()
	return p.f.adb.reverse(c, p.serial, port)
}

// shell runs a script on the phone with adbTimeout.
func (p *phone) shell(ctx context.Context, script string) (string, error) {
	c, cancel := context.WithTimeout(ctx, adbTimeout)
	defer cancel()
	return p.f.adb.shell(c, p.serial, script, nil)
}

// kv parses "key=value" lines; a script ends with a sentinel key so a
// truncated run (old adb reports no exit status) is noticed.
func kv(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

// probe reads what setup needs in one round trip.
func (p *phone) probe(ctx context.Context) (map[string]string, error) {
	script := `mkdir -p ` + p.dir + ` && cd ` + p.dir + ` || exit 1
echo "abi=$(getprop ro.product.cpu.abi 2>/dev/null)"
echo "machine=$(uname -m 2>/dev/null)"
echo "model=$(getprop ro.product.model 2>/dev/null)"
s=$(sha256sum device-agent 2>/dev/null || toybox sha256sum device-agent 2>/dev/null); echo "sha=${s%% *}"
s=$(sha256sum run.sh 2>/dev/null || toybox sha256sum run.sh 2>/dev/null); echo "runsha=${s%% *}"
[ -f agent.json ] && echo enrolled=yes
echo probe=done`
	out, err := p.shell(ctx, script)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	m := kv(out)
	if m["probe"] != "done" {
		return nil, fmt.Errorf("probe: incomplete answer %q", tail(out, 200))
	}
	return m, nil
}

// targetOf chooses the agent build for a phone from its ABI (Android) or
// machine (other Linux).
func targetOf(abi, machine string) (string, error) {
	switch abi {
	case "arm64-v8a":
		return "android/arm64", nil
	case "x86_64":
		// An emulator or x86 Android device: the static Linux build runs.
		return "linux/amd64", nil
	case "":
	default:
		return "", fmt.Errorf("ABI %s: there is no agent build for it (arm64-v8a and x86_64 only)", abi)
	}
	switch machine {
	case "aarch64", "arm64":
		return "linux/arm64", nil
	case "x86_64", "amd64":
		return "linux/amd64", nil
	}
	return "", fmt.Errorf("machine %q: there is no agent build for it", machine)
}

// pushAgent pushes the binary next to the old one, checks the digest of
// the pushed copy and moves it into place.
func (p *phone) pushAgent(ctx context.Context, bin binary, target, had string) error {
	p.log.Info("pushing the agent", "target", target, "sha256", bin.sha256[:12], "phone_had", short(had))
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	tmp := p.dir + "/device-agent.new"
	if err := p.f.adb.push(pctx, p.serial, bin.path, tmp); err != nil {
		return fmt.Errorf("push the agent: %w", err)
	}
	out, err := p.shell(ctx, `chmod 755 `+tmp+` && s=$(sha256sum `+tmp+` 2>/dev/null || toybox sha256sum `+tmp+`) && echo "sha=${s%% *}"`)
	if err != nil {
		return fmt.Errorf("check the pushed agent: %w", err)
	}
	if got := kv(out)["sha"]; got != bin.sha256 {
		return fmt.Errorf("the pushed agent has SHA-256 %q on the phone, want %s (the copy is corrupt, or the phone has no sha256sum)", got, bin.sha256)
	}
	if _, err := p.shell(ctx, `mv -f `+tmp+` `+p.dir+`/device-agent`); err != nil {
		return fmt.Errorf("install the agent: %w", err)
	}
	return nil
}

// pushText writes text to a file in the remote directory (through a
// local temporary file and adb push).
func (p *phone) pushText(ctx context.Context, text, name string) error {
	f, err := os.CreateTemp("", "hil-farm-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, adbTimeout)
	defer cancel()
	if err := p.f.adb.push(c, p.serial, f.Name(), p.dir+"/"+name); err != nil {
		return fmt.Errorf("push %s: %w", name, err)
	}
	return nil
}

// runScript is run.sh: it records its PID (which exec keeps for the
// agent) and replaces itself with the agent, identity and state in its own
// directory, output appended to agent.log.
func runScript(extra []string) string {
	var b strings.Builder
	b.WriteString("# Written by device-agent farm, which starts it detached and watches agent.pid.\n")
	b.WriteString("cd \"$(dirname \"$0\")\" || exit 1\n")
	b.WriteString("echo $$ > agent.pid\n")
	b.WriteString(`exec ./device-agent run --config "$PWD/agent.json" --state-dir "$PWD/state"`)
	for _, a := range extra {
		b.WriteString(" " + quote(a))
	}
	b.WriteString(" >>agent.log 2>&1 </dev/null\n")
	return b.String()
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func short(sha string) string {
	if sha == "" {
		return "none"
	}
	return sha[:min(12, len(sha))]
}

// enroll enrolls the phone with a fresh one-time token, passed on the adb
// shell's standard input.
func (p *phone) enroll(ctx context.Context, model string) error {
	token, err := p.f.api.enrollmentToken(ctx)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(model + " " + p.serial)
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	args := []string{"--coordinator", quote(p.f.phoneURL), "--name", quote(name), "--config", p.dir + "/agent.json"}
	if len(p.f.cfg.Tags) > 0 {
		args = append(args, "--tags", quote(strings.Join(p.f.cfg.Tags, ",")))
	}
	script := `cd ` + p.dir + ` && read -r HIL_ENROLL_TOKEN && export HIL_ENROLL_TOKEN && ./device-agent enroll ` +
		strings.Join(args, " ") + ` 2>&1; echo "rc=$?"`
	c, cancel := context.WithTimeout(ctx, adbTimeout)
	defer cancel()
	out, err := p.f.adb.shell(c, p.serial, script, strings.NewReader(token+"\n"))
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if rc := kv(out)["rc"]; rc != "0" {
		return fmt.Errorf("enroll failed (exit %s): %s", rc, tail(strings.TrimSuffix(strings.TrimSpace(out), "rc="+rc), 400))
	}
	p.log.Info("phone enrolled", "name", name)
	return nil
}

var (
	deviceIDRE = regexp.MustCompile(`"device_id":\s*"([^"]*)"`)
	urlRE      = regexp.MustCompile(`"((?:nats|tls|ws|wss)://[^"]*)"`)
)

// readIdentity reads the device ID and NATS URLs of the phone's identity,
// with grep on the phone so the seed never leaves it.
func (p *phone) readIdentity(ctx context.Context) error {
	out, err := p.shell(ctx, `cd `+p.dir+` && grep -o '"device_id": *"[^"]*"' agent.json && grep -o '"[a-z]*://[^"]*"' agent.json; echo identity=done`)
	if err != nil {
		return fmt.Errorf("read the identity: %w", err)
	}
	m := deviceIDRE.FindStringSubmatch(out)
	if m == nil || kv(out)["identity"] != "done" {
		return fmt.Errorf("read the identity: no device_id in %s/agent.json (%q)", p.dir, tail(out, 200))
	}
	if p.deviceID != m[1] {
		p.deviceID = m[1]
		p.log.Info("phone identity", "device", p.deviceID)
	}
	p.natsPorts = natsPorts(out)
	return nil
}

// natsPorts returns the ports of the NATS URLs in out that a phone reaches
// on its loopback (through adb reverse); other hosts it reaches directly
// (Wi-Fi, IP).
func natsPorts(out string) []int {
	var ports []int
	for _, u := range urlRE.FindAllStringSubmatch(out, -1) {
		pu, err := url.Parse(u[1])
		if err != nil || !isLoopback(pu.Hostname()) {
			continue
		}
		if port := portOf(pu); !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	return ports
}

// reverseNATS sets up adb reverse for the identity's loopback NATS ports.
func (p *phone) reverseNATS(ctx context.Context) error {
	for _, port := range p.natsPorts {
		if port == p.f.httpPort {
			continue
		}
		if err := p.reverse(ctx, port); err != nil {
			return fmt.Errorf("reverse NATS port %d: %w", port, err)
		}
	}
	return nil
}

// alive reports whether the agent of agent.pid runs.
func (p *phone) alive(ctx context.Context) (int, bool, error) {
	out, err := p.shell(ctx, `p=$(cat `+p.dir+`/agent.pid 2>/dev/null)
if [ -n "$p" ] && [ -r /proc/$p/cmdline ] && tr '\000' ' ' </proc/$p/cmdline | grep -q 'device-agent run'; then echo "alive=$p"; else echo alive=no; fi`)
	if err != nil {
		return 0, false, err
	}
	v, ok := kv(out)["alive"]
	if !ok {
		return 0, false, fmt.Errorf("agent check: unexpected answer %q", tail(out, 200))
	}
	pid, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, nil
	}
	return pid, true, nil
}

// start starts the agent detached and returns its PID. The previous log
// is kept as agent.log.1.
func (p *phone) start(ctx context.Context) (int, error) {
	out, err := p.shell(ctx, `cd `+p.dir+` || exit 1
rm -f agent.pid
[ ! -f agent.log ] || mv -f agent.log agent.log.1
: > agent.log
if command -v setsid >/dev/null 2>&1; then setsid nohup sh ./run.sh >/dev/null 2>&1 </dev/null &
else nohup sh ./run.sh >/dev/null 2>&1 </dev/null &
fi
i=0; while [ ! -s agent.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "pid=$(cat agent.pid 2>/dev/null)"`)
	if err != nil {
		return 0, fmt.Errorf("start the agent: %w", err)
	}
	pid, err := strconv.Atoi(kv(out)["pid"])
	if err != nil {
		return 0, fmt.Errorf("start the agent: no PID (%q)", tail(out, 200))
	}
	return pid, nil
}

// stop sends SIGTERM (the agent returns a running job to the queue and
// exits), then SIGKILL after stopGrace. SIGCONT first wakes an agent that
// was stopped (a frozen process handles no SIGTERM).
func (p *phone) stop(ctx context.Context, pid int) {
	_, _ = p.shell(ctx, fmt.Sprintf("kill -CONT %d; kill -TERM %d", pid, pid))
	for deadline := time.Now().Add(stopGrace); time.Now().Before(deadline); {
		if !p.sleep(ctx, 500*time.Millisecond) {
			return
		}
		if cur, alive, err := p.alive(ctx); err == nil && (!alive || cur != pid) {
			return
		}
	}
	p.log.Warn("the agent did not stop; killing it", "pid", pid)
	_, _ = p.shell(ctx, fmt.Sprintf("kill -KILL %d", pid))
}

// watch keeps the agent running while the phone stays connected.
func (p *phone) watch(ctx context.Context) {
	for ctx.Err() == nil && p.connected() {
		pid, alive, err := p.alive(ctx)
		switch {
		case err != nil:
			if p.connected() {
				p.log.Debug("agent check failed", "err", err)
			}
		case alive:
			if pid != p.pid {
				// Not the agent this farm started: one that ran before the farm
				// (adopted), or one started by someone else. Its log has an
				// unknown history: show only its last lines.
				if p.pid == 0 {
					p.log.Info("agent running", "pid", pid)
				} else {
					p.log.Warn("agent replaced by another process", "was", p.pid, "pid", pid)
				}
				p.stopStream()
				p.logLines.Store(p.recentLines(ctx, adoptedLines))
				p.pid, p.startedAt = pid, time.Now()
			}
			p.ensureStream(ctx)
			p.checkHeartbeat(ctx, pid)
		case p.revoked:
		default:
			if p.pid != 0 {
				ran := time.Since(p.startedAt)
				p.log.Warn("agent exited", "pid", p.pid, "ran", ran.Round(time.Second))
				if ran < minRun {
					p.quickDies++
				} else {
					p.quickDies = 0
				}
				p.pid = 0
				p.nextStart = time.Now().Add(restartDelay(p.quickDies))
			}
			if time.Now().Before(p.nextStart) {
				break
			}
			p.stopStream()
			p.flushLog(ctx)
			pid, err := p.start(ctx)
			if err != nil {
				p.log.Warn("agent start failed", "err", err)
				p.quickDies++
				p.nextStart = time.Now().Add(restartDelay(p.quickDies))
				break
			}
			p.log.Info("agent started", "pid", pid)
			p.pid, p.startedAt = pid, time.Now()
			p.offline, p.reversed = time.Time{}, false
			p.logLines.Store(0)
			p.ensureStream(ctx)
		}
		p.sleep(ctx, p.f.cfg.Poll)
	}
	p.stopStream()
}

// adoptedLines is how many earlier log lines an adopted agent shows.
const adoptedLines = 20

// recentLines returns the number of lines of agent.log before its last
// keep lines (0 when unknown).
func (p *phone) recentLines(ctx context.Context, keep int) int64 {
	out, err := p.shell(ctx, `echo "lines=$(wc -l < `+p.dir+`/agent.log)"`)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(kv(out)["lines"]), 10, 64)
	if err != nil {
		return 0
	}
	return max(0, n-int64(keep))
}

// restartDelay backs off agents that keep dying: none for the first
// death, then 2 s doubling up to maxBackoff.
func restartDelay(quickDies int) time.Duration {
	if quickDies <= 1 {
		return 0
	}
	d := time.Second << min(quickDies-1, 10)
	return min(d, maxBackoff)
}

// checkHeartbeat asks the coordinator whether the device's heartbeats
// arrive. After Stale without them it sets up the reverse ports again (a
// lost reverse is the usual cause on USB); after another Stale it restarts
// the agent.
func (p *phone) checkHeartbeat(ctx context.Context, pid int) {
	stale := p.f.cfg.Stale
	if stale <= 0 || p.deviceID == "" || time.Since(p.lastHB) < max(stale/8, p.f.cfg.Poll) {
		return
	}
	p.lastHB = time.Now()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := p.f.api.deviceStatus(c, p.deviceID)
	cancel()
	if err != nil {
		p.log.Debug("device status", "err", err)
		return
	}
	switch st {
	case "revoked":
		p.log.Error("the coordinator revoked this device; stopping its agent for good (re-enroll: delete agent.json on the phone)", "device", p.deviceID)
		p.revoked = true
		p.stop(ctx, pid)
		return
	case "offline":
	default:
		p.offline, p.reversed = time.Time{}, false
		return
	}
	if p.offline.IsZero() {
		p.offline = time.Now()
	}
	quiet := time.Since(p.offline)
	if quiet < stale || time.Since(p.startedAt) < stale {
		return
	}
	if !p.reversed {
		p.log.Warn("no heartbeats from the agent; setting up reverse ports again", "for", quiet.Round(time.Second))
		if p.f.httpPort > 0 {
			_ = p.reverse(ctx, p.f.httpPort)
		}
		_ = p.reverseNATS(ctx)
		p.reversed, p.offline = true, time.Now()
		return
	}
	p.log.Warn("still no heartbeats from the agent; restarting it", "pid", pid, "for", quiet.Round(time.Second))
	p.stop(ctx, pid)
}

// logStream follows agent.log on the phone.
type logStream struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// ensureStream follows the current agent.log from the first line not yet
// printed, unless a stream is running.
func (p *phone) ensureStream(ctx context.Context) {
	if p.stream != nil {
		select {
		case <-p.stream.done:
		default:
			return
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &logStream{cancel: cancel, done: make(chan struct{})}
	p.stream = s
	from := p.logLines.Load() + 1
	cmd := p.f.adb.command(sctx, "-s", p.serial, "shell", fmt.Sprintf("tail -n +%d -f %s/agent.log", from, p.dir))
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		p.log.Debug("log stream", "err", err)
		cancel()
		close(s.done)
		return
	}
	go func() {
		defer close(s.done)
		defer cancel()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.f.emit(p.serial, strings.TrimRight(sc.Text(), "\r"))
			p.logLines.Add(1)
		}
		if err := cmd.Wait(); err != nil && sctx.Err() == nil && !errors.Is(err, context.Canceled) {
			p.log.Debug("log stream ended", "err", err)
		}
	}()
}

// flushLog prints what the stream has not shown yet of the log of an
// agent this farm watched (the last words of an agent that died), before
// the log is rotated. The log of an agent it never saw is not replayed.
func (p *phone) flushLog(ctx context.Context) {
	if p.startedAt.IsZero() {
		return
	}
	out, err := p.shell(ctx, fmt.Sprintf("tail -n +%d %s/agent.log 2>/dev/null", p.logLines.Load()+1, p.dir))
	if err != nil || out == "" {
		return
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		p.f.emit(p.serial, line)
		p.logLines.Add(1)
	}
}

func (p *phone) stopStream() {
	if p.stream == nil {
		return
	}
	p.stream.cancel()
	<-p.stream.done
	p.stream = nil
}
