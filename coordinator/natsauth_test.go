package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// debianNATS is the system nats-server binary the external-mode test runs.
const debianNATS = "/usr/sbin/nats-server"

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsConfig runs `coordinator nats-config` for one node in its own
// temporary directory (keys in dataDir; store and resolver directories
// beside the configuration) listening on 127.0.0.1:port, with extra
// flags. It returns the configuration's path and the command's output.
func natsConfig(t *testing.T, dataDir string, port int, name string, extra ...string) (conf, output string) {
	t.Helper()
	if _, err := os.Stat(debianNATS); err != nil {
		t.Skipf("%s not installed", debianNATS)
	}
	dir := t.TempDir()
	conf = filepath.Join(dir, "nats.conf")
	var stdout, stderr bytes.Buffer
	code := coordinator.Main(context.Background(), append([]string{"nats-config", "--data-dir", dataDir, "--out", conf,
		"--server-listen", fmt.Sprintf("127.0.0.1:%d", port), "--server-name", name,
		"--server-store-dir", filepath.Join(dir, "js"), "--server-resolver-dir", filepath.Join(dir, "jwt")}, extra...),
		func(string) string { return "" }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("nats-config %s: exit %d: %s", name, code, stderr.String())
	}
	return conf, stdout.String() + stderr.String()
}

// runNATSServer starts the Debian nats-server with conf, logging into
// nats-server.log beside it (returned), and kills it when the test ends.
func runNATSServer(t *testing.T, conf string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(conf), "nats-server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(debianNATS, "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, logPath
}

// startExternalNATS writes the server configuration with `coordinator
// nats-config` (keys in dataDir) and runs the Debian nats-server with it.
func startExternalNATS(t *testing.T, dataDir string) string {
	t.Helper()
	port := freePort(t)
	conf, output := natsConfig(t, dataDir, port, "ext1")
	// No secret leaves the data dir: no seed of the authority file is in
	// the configuration or the command's output.
	text, _ := os.ReadFile(conf)
	var seeds map[string]string
	raw, err := os.ReadFile(filepath.Join(dataDir, bus.AuthFile))
	if err != nil || json.Unmarshal(raw, &seeds) != nil || len(seeds) < 8 {
		t.Fatalf("authority file: %v %d seeds", err, len(seeds))
	}
	if fi, _ := os.Stat(filepath.Join(dataDir, bus.AuthFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("authority file mode %v, want 0600", fi.Mode().Perm())
	}
	for name, seed := range seeds {
		if bytes.Contains(text, []byte(seed)) || strings.Contains(output, seed) {
			t.Fatalf("seed %s leaked into the configuration or output", name)
		}
	}
	_, logPath := runNATSServer(t, conf)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	testenv.Eventually(t, 15*time.Second, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("nats-server not listening: %v\n%s", err, log)
		}
		c.Close()
		return nil
	})
	return url
}

// TestExternalNATSAuth is issue #16's acceptance test for authentication:
// an external nats-server runs the generated configuration; the
// coordinator connects to it with its own credentials.
func TestExternalNATSAuth(t *testing.T) {
	dataDir := t.TempDir()
	url := startExternalNATS(t, dataDir)
	c := testenv.Start(t, func(cfg *coordinator.Config) {
		cfg.NATSURL, cfg.DataDir = url, dataDir
	})

	// An unauthenticated client is refused.
	if nc, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("the external server accepted a client without credentials")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connect: %v, want an authorization violation", err)
	}

	a, b := newAgent(t), newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "class-a")
	b.enroll(t, c, enrollmentToken(t, c), "class-b")
	if a.Resp.NATS.JWT == "" {
		t.Fatal("enrollment returned no NATS JWT")
	}

	// A forged result: B's credentials publishing on A's results subject.
	errs := make(chan error, 4)
	nb, err := b.connect(t, errs)
	if err != nil {
		t.Fatalf("agent B connect: %v", err)
	}
	defer nb.Close()
	if err := nb.Publish("results."+a.Resp.DeviceID+".forged-job", []byte(`{"job_id":"forged-job","status":"ok"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("forged result: unexpected error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("forged result: no permissions violation")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.JetStream(t).Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("RESULTS after the forged publish: %v msgs, err %v", info.State.Msgs, err)
	}
	// B's own subject works (the permissions are not simply "nothing").
	if _, err := c.JetStream(t).Stream(ctx, bus.StreamResults); err != nil {
		t.Fatal(err)
	}
	if err := nb.Publish(bus.HeartbeatSubject(b.Resp.DeviceID), []byte(`{"status":"idle"}`)); err != nil {
		t.Fatal(err)
	}
	if err := nb.Flush(); err != nil {
		t.Fatal(err)
	}

	// Renewal: B asks for a fresh JWT on its own subject and can connect
	// with it; asking on A's subject is refused.
	m, err := nb.Request(b.Resp.NATS.JWTSubject, nil, 10*time.Second)
	if err != nil {
		t.Fatalf("renew B's JWT: %v", err)
	}
	uc, err := jwt.DecodeUserClaims(string(m.Data))
	if err != nil || uc.Subject != b.Pub || uc.Expires == 0 {
		t.Fatalf("renewed JWT: %v %+v", err, uc)
	}
	renewed := *b
	renewed.Resp.NATS.JWT = string(m.Data)
	if nc, err := renewed.connect(t, nil); err != nil {
		t.Fatalf("connect with the renewed JWT: %v", err)
	} else {
		nc.Close()
	}
	if _, err := nb.Request(bus.JWTSubject(a.Resp.DeviceID), nil, 2*time.Second); err == nil {
		t.Fatal("B obtained A's JWT")
	}

	// Revocation: A's open connection is dropped and its next one refused.
	closed := make(chan struct{})
	na, err := a.connect(t, nil, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("agent A connect: %v", err)
	}
	defer na.Close()
	if code, body := c.Do(t, "DELETE", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked agent's open connection was not dropped")
	}
	if nc, err := a.connect(t, nil); err == nil {
		nc.Close()
		t.Fatal("the revoked agent connected again")
	} else if !errors.Is(err, nats.ErrAuthorization) && !errors.Is(err, nats.ErrAuthRevoked) {
		t.Fatalf("revoked agent's connect: %v, want an authorization error", err)
	}
	// B is unaffected.
	if !nb.IsConnected() {
		t.Fatal("revoking A dropped B")
	}

	// After a coordinator restart the revocation still holds and B still
	// connects (the keys persist in the data dir, revocations in
	// PostgreSQL).
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := c.App.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, func(cfg *coordinator.Config) {
		cfg.NATSURL, cfg.DataDir, cfg.DatabaseURL = url, dataDir, c.DSN
	})
	if nc, err := a.connect(t, nil); err == nil {
		nc.Close()
		t.Fatal("the revoked agent connected after a coordinator restart")
	}
	nc, err := b.connect(t, nil)
	if err != nil {
		t.Fatalf("agent B after a coordinator restart: %v", err)
	}
	nc.Close()
}

// The coordinator refuses to start against a server that lets clients in
// without credentials: 127.0.0.1:4222 on the test machine is one.
func TestRefusesOpenNATS(t *testing.T) {
	const open = "nats://127.0.0.1:4222"
	nc, err := nats.Connect(open, nats.NoReconnect(), nats.Timeout(2*time.Second))
	if err != nil {
		t.Skipf("no open NATS server at %s: %v", open, err)
	}
	nc.Close()
	cfg := coordinator.Default()
	cfg.DatabaseURL = testenv.Postgres(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = testenv.AdminToken
	cfg.NATSURL = open
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app, err := coordinator.Start(ctx, cfg, testenv.Logger(t), os.Stderr)
	if err == nil {
		app.Close()
		t.Fatal("the coordinator started against an open NATS server")
	}
	if !errors.Is(err, bus.ErrOpenServer) {
		t.Fatalf("start against an open server: %v, want ErrOpenServer", err)
	}
}
