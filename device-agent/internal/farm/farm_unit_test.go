package farm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseDevices(t *testing.T) {
	out := "* daemon not running; starting now at tcp:5037\n* daemon started successfully\nList of devices attached\n" +
		"R5CT1234ABC\tdevice\nemulator-5554\toffline\n0123456789ABCDEF\tunauthorized usb:1-1 transport_id:3\n\n"
	want := []device{{"R5CT1234ABC", "device"}, {"emulator-5554", "offline"}, {"0123456789ABCDEF", "unauthorized"}}
	if got := parseDevices(out); !slices.Equal(got, want) {
		t.Errorf("parseDevices = %v, want %v", got, want)
	}
	if got := parseDevices("List of devices attached\n\n"); len(got) != 0 {
		t.Errorf("no devices: %v", got)
	}
}

func TestTargetOf(t *testing.T) {
	for _, tt := range []struct{ abi, machine, want string }{
		{"arm64-v8a", "aarch64", "android/arm64"}, {"x86_64", "x86_64", "linux/amd64"},
		{"", "aarch64", "linux/arm64"}, {"", "x86_64", "linux/amd64"},
	} {
		if got, err := targetOf(tt.abi, tt.machine); err != nil || got != tt.want {
			t.Errorf("targetOf(%q, %q) = %q, %v; want %q", tt.abi, tt.machine, got, err, tt.want)
		}
	}
	for _, bad := range [][2]string{{"armeabi-v7a", "armv8l"}, {"x86", "i686"}, {"", "riscv64"}, {"", ""}} {
		if _, err := targetOf(bad[0], bad[1]); err == nil {
			t.Errorf("targetOf(%q, %q): no error", bad[0], bad[1])
		}
	}
}

func TestQuoteAndRunScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"plain", "moto g85 5G", "it's", `a"b$c\d`, ""} {
		out, err := exec.Command(sh, "-c", "printf %s "+quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("quote(%q) through sh = %q, %v", s, out, err)
		}
	}
	script := runScript([]string{"--nice", "-5", "it's"})
	if !strings.Contains(script, `exec ./device-agent run --config "$PWD/agent.json" --state-dir "$PWD/state" '--nice' '-5' 'it'\''s' >>agent.log 2>&1 </dev/null`) ||
		!strings.Contains(script, "echo $$ > agent.pid") {
		t.Errorf("run script:\n%s", script)
	}
}

func TestPhoneSide(t *testing.T) {
	for _, tt := range []struct {
		in, url string
		port    int
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", 8080},
		{"http://localhost:9000", "http://127.0.0.1:9000", 9000},
		{"http://[::1]:8080", "http://127.0.0.1:8080", 8080},
		{"http://localhost", "http://127.0.0.1:80", 80},
		{"http://10.0.0.2:8080", "http://10.0.0.2:8080", 0},
		{"https://hil.example.org", "https://hil.example.org", 0},
	} {
		u, p := phoneSide(tt.in)
		if u != tt.url || p != tt.port {
			t.Errorf("phoneSide(%s) = %s %d, want %s %d", tt.in, u, p, tt.url, tt.port)
		}
	}
}

func TestNATSPorts(t *testing.T) {
	// What grep prints from an identity file (device_id, coordinator and
	// NATS URLs); the embedded NATS advertises 0.0.0.0 by default.
	out := `"device_id": "d0123456789abcdef"
"http://127.0.0.1:8080"
"nats://0.0.0.0:4223"
"nats://127.0.0.1:4223"
"tls://localhost:4443"
"nats://[::]:4224"
"nats://10.0.0.2:4225"
"nats://localhost"
identity=done`
	if got := natsPorts(out); !slices.Equal(got, []int{4223, 4443, 4224, 4222}) {
		t.Errorf("natsPorts = %v", got)
	}
	if m := deviceIDRE.FindStringSubmatch(out); m == nil || m[1] != "d0123456789abcdef" {
		t.Errorf("device id: %v", m)
	}
}

func TestRestartDelay(t *testing.T) {
	want := []time.Duration{0, 0, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for n, w := range want {
		if got := restartDelay(n); got != w {
			t.Errorf("restartDelay(%d) = %v, want %v", n, got, w)
		}
	}
	if restartDelay(100) != maxBackoff {
		t.Error("restartDelay(100) exceeds the cap")
	}
}

func TestConfigCheck(t *testing.T) {
	ok := Config{Coordinator: "http://127.0.0.1:8080/", APIToken: "hil_x"}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	if ok.Agents != "http://127.0.0.1:8080/downloads/" || ok.RemoteDir != DefaultRemoteDir || ok.ADB != "adb" || !slices.Equal(ok.Tags, []string{"adb"}) {
		t.Errorf("defaults: %+v", ok)
	}
	for _, bad := range []Config{
		{Coordinator: "127.0.0.1:8080", APIToken: "t"},
		{Coordinator: "http://h:1", APIToken: ""},
		{Coordinator: "http://h:1", APIToken: "t", RemoteDir: "/data/local/tmp/my dir"},
		{Coordinator: "http://h:1", APIToken: "t", RemoteDir: "relative"},
	} {
		if err := bad.check(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestBinariesFromDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "device-agent-android-arm64")
	if err := os.WriteFile(path, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := newBinaries(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.get(context.Background(), "android/arm64")
	if err != nil || got.path != path || got.sha256 != sum([]byte("v1")) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	// A rebuilt binary is hashed again.
	if err := os.WriteFile(path, []byte("v2 longer"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get(context.Background(), "android/arm64"); got.sha256 != sum([]byte("v2 longer")) {
		t.Errorf("after a rebuild: %+v", got)
	}
	if _, err := b.get(context.Background(), "linux/arm64"); err == nil || !strings.Contains(err.Error(), "make agents") {
		t.Errorf("missing binary: %v", err)
	}
	if _, err := newBinaries(filepath.Join(dir, "nope"), ""); err == nil {
		t.Error("a missing directory was accepted")
	}
	if agentFile("windows/amd64") != "device-agent-windows-amd64.exe" || agentFile("android/arm64") != "device-agent-android-arm64" {
		t.Error("agentFile names")
	}
}

func TestBinariesFromURL(t *testing.T) {
	content := []byte("the agent binary")
	published := sum(content)
	var downloads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/downloads/device-agent-android-arm64.sha256":
			w.Write([]byte(published + "  device-agent-android-arm64\n"))
		case "/downloads/device-agent-android-arm64":
			downloads.Add(1)
			w.Write(content)
		case "/downloads/device-agent-linux-arm64.sha256":
			w.Write([]byte(sum([]byte("other")) + "  device-agent-linux-arm64\n"))
		case "/downloads/device-agent-linux-arm64":
			w.Write([]byte("tampered")) // does not match its checksum
		default:
			http.Error(w, `{"code":"download_not_found","message":"no such file"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	cache := t.TempDir()
	b, err := newBinaries(srv.URL+"/downloads", cache)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := b.get(ctx, "android/arm64")
	if err != nil || got.sha256 != published || got.path != filepath.Join(cache, "device-agent-android-arm64") {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if data, _ := os.ReadFile(got.path); string(data) != string(content) {
		t.Errorf("cached file %q", data)
	}
	// A second farm (new cache state in memory) finds the cached copy by
	// its digest and downloads nothing.
	b2, _ := newBinaries(srv.URL+"/downloads/", cache)
	if _, err := b2.get(ctx, "android/arm64"); err != nil || downloads.Load() != 1 {
		t.Errorf("second get: %v, %d downloads", err, downloads.Load())
	}
	if _, err := b.get(ctx, "linux/arm64"); err == nil || !strings.Contains(err.Error(), "but the coordinator publishes") {
		t.Errorf("tampered download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "device-agent-linux-arm64")); err == nil {
		t.Error("a tampered download was kept")
	}
	if _, err := b.get(ctx, "darwin/arm64"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing target: %v", err)
	}
	if _, err := newBinaries(srv.URL, ""); err == nil {
		t.Error("a URL source without a cache was accepted")
	}
}
