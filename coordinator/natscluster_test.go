package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// clusterNode is one nats-server of a test cluster.
type clusterNode struct {
	url, log string
	cmd      *exec.Cmd
}

// startNATSCluster writes three node configurations with `coordinator
// nats-config --cluster-name …` (one authority in dataDir) and runs three
// Debian nats-server processes on loopback ports.
func startNATSCluster(t *testing.T, dataDir string) []*clusterNode {
	t.Helper()
	const n = 3
	client, route := make([]int, n), make([]int, n)
	for i := range n {
		client[i], route[i] = freePort(t), freePort(t)
	}
	nodes := make([]*clusterNode, n)
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[j]))
			}
		}
		conf, _ := natsConfig(t, dataDir, client[i], fmt.Sprintf("n%d", i+1),
			"--cluster-name", "hil", "--cluster-listen", fmt.Sprintf("127.0.0.1:%d", route[i]),
			"--routes", strings.Join(routes, ","))
		text, _ := os.ReadFile(conf)
		if !bytes.Contains(text, []byte("cluster {")) || !bytes.Contains(text, []byte(routes[0])) {
			t.Fatalf("node %d configuration has no cluster block with its routes:\n%s", i+1, text)
		}
		cmd, logPath := runNATSServer(t, conf)
		nodes[i] = &clusterNode{url: fmt.Sprintf("nats://127.0.0.1:%d", client[i]), log: logPath, cmd: cmd}
	}
	// JetStream is usable once the cluster has elected a metadata leader.
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, nd := range nodes {
			b, _ := os.ReadFile(nd.log)
			if bytes.Contains(b, []byte("JetStream cluster new metadata leader")) ||
				bytes.Contains(b, []byte("Self is new JetStream cluster metadata leader")) {
				return nil
			}
		}
		b, _ := os.ReadFile(nodes[0].log)
		return fmt.Errorf("no JetStream metadata leader yet; node 1 log:\n%s", b)
	})
	return nodes
}

// TestNATSClusterReplicas: three nats-server nodes run the configurations
// nats-config writes for a cluster; the coordinator connects to all three
// URLs with --nats-replicas 3, its streams have three replicas, every node
// refuses an anonymous client, and the streams still answer after one
// node is killed. (The full deployment run, two coordinators and a search
// through a node and a coordinator loss, is TestClusterHarness, behind the
// clusterharness build tag: make clusterharness.)
func TestNATSClusterReplicas(t *testing.T) {
	dataDir := t.TempDir()
	nodes := startNATSCluster(t, dataDir)
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.url
	}
	c := testenv.Start(t, func(cfg *coordinator.Config) {
		cfg.NATSURL, cfg.DataDir, cfg.NATSReplicas = strings.Join(urls, ","), dataDir, 3
	})
	for i, u := range urls {
		if nc, err := nats.Connect(u, nats.NoReconnect()); err == nil {
			nc.Close()
			t.Fatalf("node %d accepted a client without credentials", i+1)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("node %d anonymous connect: %v, want an authorization violation", i+1, err)
		}
	}
	check := func(wantPeers int) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, name := range []string{bus.StreamJobs, bus.StreamResults} {
				st, err := c.JetStream(t).Stream(ctx, name)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				info, err := st.Info(ctx)
				if err != nil {
					return fmt.Errorf("%s info: %w", name, err)
				}
				if info.Config.Replicas != 3 {
					return fmt.Errorf("%s has %d replicas, want 3", name, info.Config.Replicas)
				}
				if info.Cluster == nil || info.Cluster.Leader == "" {
					return fmt.Errorf("%s has no leader", name)
				}
				current := 0
				for _, p := range info.Cluster.Replicas {
					if p.Current && !p.Offline {
						current++
					}
				}
				if current != wantPeers {
					return fmt.Errorf("%s: %d current followers, want %d", name, current, wantPeers)
				}
			}
			return nil
		})
	}
	check(2)
	// Kill the node of the coordinator's connection's server or any one:
	// the streams keep a leader and one current follower.
	_ = nodes[2].cmd.Process.Kill()
	_ = nodes[2].cmd.Wait()
	check(1)
}

// TestNATSConfigClusterFlags: nats-config refuses incomplete or malformed
// cluster options and writes nothing.
func TestNATSConfigClusterFlags(t *testing.T) {
	base := func(dir string) []string {
		return []string{"nats-config", "--data-dir", dir, "--out", filepath.Join(dir, "nats.conf"),
			"--server-listen", "127.0.0.1:4333", "--server-store-dir", filepath.Join(dir, "js"),
			"--server-resolver-dir", filepath.Join(dir, "jwt")}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--routes", "nats://127.0.0.1:6222"}, "need --cluster-name"},
		{[]string{"--cluster-name", "hil", "--cluster-listen", "127.0.0.1:6222"}, "--server-name"},
		{[]string{"--cluster-name", "hil", "--server-name", "n1", "--cluster-listen", "6222"}, "--cluster-listen"},
		{[]string{"--cluster-name", "hil", "--server-name", "n1", "--cluster-listen", "127.0.0.1:6222", "--routes", "http://x:1"}, "nats://host:port"},
		{[]string{"--cluster-name", "h i l", "--server-name", "n1", "--cluster-listen", "127.0.0.1:6222"}, "--cluster-name"},
	} {
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		code := coordinator.Main(context.Background(), append(base(dir), tc.args...), func(string) string { return "" }, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %q", tc.args, code, stderr.String(), tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "nats.conf")); err == nil {
			t.Errorf("%v: a configuration was written", tc.args)
		}
	}
}
