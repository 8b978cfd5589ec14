package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestMain re-enters main() when the test binary is started as the
// coordinator (HIL_TEST_MAIN=1), so the real binary runs without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("HIL_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is written by the child's output copier while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeAnswersHealthzAndStopsOnSIGTERM(t *testing.T) {
	dsn := testenv.Postgres(t)
	httpAddr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve", "--listen", httpAddr, "--nats-listen", freeAddr(t), "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "HIL_TEST_MAIN=1", "DATABASE_URL="+dsn)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("/healthz not 200 within 15 s; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("healthz 200 after %v", time.Since(start))
	if !strings.Contains(out.String(), "Admin API token (shown once") {
		t.Errorf("first start on an empty database did not print the admin token:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
	}
}
