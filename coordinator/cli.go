package coordinator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Main runs the coordinator command line and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, mainUsage)
		if len(args) > 0 {
			_, _ = LoadConfig("serve", []string{"-h"}, getenv, stdout, serveFlags(new(serveOpts)))
		}
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		err = cmdToken(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, Version)
	default:
		fmt.Fprintf(stderr, "coordinator: unknown command %q\n\n%s", args[0], mainUsage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "coordinator %s: %v\n", args[0], err)
		return 1
	}
}

var errUsage = errors.New("usage")

const mainUsage = `usage: coordinator <command> [flags]

commands:
  serve          run the coordinator (HTTP API, embedded NATS, PostgreSQL)
  migrate        apply database migrations and exit
  token create   mint an admin API token (--name N)
  version        print the version

Every command takes the configuration flags below; 'coordinator <command> -h'
lists them. Priority: flags > environment > YAML file (--config) > defaults.

`

type serveOpts struct{ check, dev bool }

func serveFlags(o *serveOpts) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.BoolVar(&o.check, "check-config", false, "validate the configuration and exit")
		fs.BoolVar(&o.dev, "dev", false, "one-command local run: PostgreSQL from DATABASE_URL or a private cluster in the data dir, a local agent enrolled automatically, and a demo search")
	}
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o serveOpts
	cfg, err := LoadConfig("serve", args, getenv, stderr, serveFlags(&o))
	if err != nil {
		return flagErr(err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if o.check {
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	if o.dev {
		return RunDev(ctx, cfg, NewLogger(cfg, stderr), stdout)
	}
	return Run(ctx, cfg, NewLogger(cfg, stderr), stdout)
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := LoadConfig("migrate", args, getenv, stderr, nil)
	if err != nil {
		return flagErr(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	from, to, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d -> %d\n", from, to)
	return nil
}

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: coordinator token create --name NAME [flags]")
		return errUsage
	}
	var name string
	cfg, err := LoadConfig("token create", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "name of the new token (required)")
	})
	if err != nil {
		return flagErr(err)
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return errors.New("--name is required (1 to 100 characters)")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, _, err := st.Migrate(ctx); err != nil {
		return err
	}
	t, secret, err := st.CreateAPIToken(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created API token %d %q; it is shown once:\n", t.ID, t.Name)
	fmt.Fprintln(stdout, secret)
	return nil
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if strings.HasPrefix(err.Error(), "flag provided but not defined") || strings.HasPrefix(err.Error(), "invalid value") || strings.HasPrefix(err.Error(), "unexpected argument") {
		return errUsage
	}
	return err
}
