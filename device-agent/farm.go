package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hilsearch/hilsearch/device-agent/internal/farm"
)

// runFarm implements `device-agent farm` (package farm does the work).
func runFarm(ctx context.Context, args []string, st IO) error {
	fl := flag.NewFlagSet("farm", flag.ContinueOnError)
	fl.SetOutput(st.Stderr)
	var cfg farm.Config
	var serials, tags string
	fl.StringVar(&cfg.Coordinator, "coordinator", "", "coordinator base URL as this host reaches it, e.g. http://127.0.0.1:8080 (required)")
	fl.StringVar(&cfg.APIToken, "api-token", "", "API token of the coordinator (or env HIL_API_TOKEN, which keeps it out of the process list)")
	fl.StringVar(&cfg.Agents, "agents", "", "agent binaries: a directory as `make agents` writes (.hil/agents) or a /downloads/ URL. Defaults to <coordinator>/downloads/")
	fl.StringVar(&cfg.ADB, "adb", "adb", "the adb executable")
	fl.StringVar(&serials, "serial", "", "comma-separated serials to run; default every phone adb lists")
	fl.StringVar(&cfg.RemoteDir, "remote-dir", farm.DefaultRemoteDir, "the agent's directory on each phone (binary, identity, state, log)")
	fl.StringVar(&tags, "tags", "adb", "comma-separated tags given to each phone at enrollment")
	fl.StringVar(&cfg.CacheDir, "cache-dir", "", "where downloaded agent binaries are kept. Defaults to <user cache dir>/hilsearch/farm")
	fl.DurationVar(&cfg.Poll, "poll", farm.DefaultPoll, "interval of `adb devices` and of each agent check")
	fl.DurationVar(&cfg.Stale, "stale", farm.DefaultStale, "act on an agent whose device the coordinator reports offline this long (0: never)")
	fl.Func("run-arg", "an argument for `device-agent run` on the phones (repeat for several, e.g. --run-arg=--nice --run-arg=-5)", func(s string) error {
		cfg.RunArgs = append(cfg.RunArgs, s)
		return nil
	})
	verbose := fl.Bool("v", false, "log debug messages")
	fl.Usage = func() {
		fmt.Fprintln(st.Stderr, "usage: device-agent farm --coordinator URL [--api-token T] [--agents DIR|URL] [flags]\n\n"+
			"Runs the phones adb sees as measuring devices: pushes the agent built for each (checked by\n"+
			"SHA-256), sets up adb reverse for the coordinator, enrolls new phones with one-time tokens,\n"+
			"starts `device-agent run` detached on each, restarts it when it dies or the phone returns, and\n"+
			"prints every agent's log prefixed with the phone's serial. See docs/agent.md.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(st.Stderr, "device-agent farm: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	if cfg.Coordinator == "" {
		return errors.New("--coordinator: required")
	}
	if cfg.APIToken == "" {
		cfg.APIToken = os.Getenv("HIL_API_TOKEN")
	}
	if cfg.APIToken == "" {
		return errors.New("--api-token or HIL_API_TOKEN: required (create one with `coordinator token create --name farm`)")
	}
	if cfg.Stale < 0 {
		return fmt.Errorf("--stale %v: must not be negative", cfg.Stale)
	}
	cfg.Serials = splitList(serials)
	cfg.Tags = splitList(tags)
	if cfg.Tags == nil {
		cfg.Tags = []string{}
	}
	if cfg.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		cfg.CacheDir = filepath.Join(dir, "hilsearch", "farm")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(st.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Out = st.Stdout
	return farm.Run(ctx, cfg)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
