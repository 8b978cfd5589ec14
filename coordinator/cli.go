package coordinator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
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
	case "nats-config":
		err = cmdNATSConfig(args[1:], getenv, stdout, stderr)
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
  token create   mint an API token (--name N [--scope S] [--ttl D])
  token list     list API tokens (never their secrets)
  token revoke   revoke an API token by ID and end its dashboard sessions
  nats-config    write the nats-server configuration (operator, system account,
                 resolver) for an external NATS server or cluster; creates the
                 NATS authority's keys in the data dir on first use
  version        print the version

Every command takes the configuration flags below; 'coordinator <command> -h'
lists them. Priority: flags > environment > YAML file (--config) > defaults.

`

type serveOpts struct{ check, dev, withEvaluator bool }

func serveFlags(o *serveOpts) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.BoolVar(&o.check, "check-config", false, "validate the configuration and exit")
		fs.BoolVar(&o.dev, "dev", false, "one-command local run: PostgreSQL from DATABASE_URL or a private cluster in the data dir, a local agent enrolled automatically, and a demo search")
		fs.BoolVar(&o.withEvaluator, "with-evaluator", false, "with --dev: also start the reference MQAR evaluator (evaluators/mqar, "+SystemPython+" with PyTorch) and register it as evaluator mqar")
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
	if o.withEvaluator && !o.dev {
		return errors.New("--with-evaluator needs --dev")
	}
	if o.dev {
		return RunDevWith(ctx, cfg, NewLogger(cfg, stderr), stdout, DevOptions{WithEvaluator: o.withEvaluator})
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

const tokenUsage = `usage:
  coordinator token create --name NAME [--scope admin|read-only|enroll-only] [--ttl 2160h] [flags]
  coordinator token list [flags]
  coordinator token revoke [flags] ID
`

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	switch args[0] {
	case "create":
		return cmdTokenCreate(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return cmdTokenList(ctx, args[1:], getenv, stdout, stderr)
	case "revoke":
		return cmdTokenRevoke(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, tokenUsage)
	return errUsage
}

// tokenStore opens and migrates the database for a token command.
func tokenStore(ctx context.Context, cfg Config) (*store.Store, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func cmdTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		name, scope string
		ttl         time.Duration
		ttlSet      bool
	)
	cfg, err := LoadConfig("token create", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "name of the new token (required)")
		fs.StringVar(&scope, "scope", string(api.ScopeAdmin), "what the token may do: admin, read-only or enroll-only")
		fs.Func("ttl", "life of the token, e.g. 720h; 0: no expiry (default: HIL_TOKEN_TTL)", func(v string) error {
			d, err := time.ParseDuration(v)
			ttl, ttlSet = d, true
			return err
		})
	})
	if err != nil {
		return flagErr(err)
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsRune(name, 0) || !utf8.ValidString(name) {
		return errors.New("--name is required (1 to 100 characters)")
	}
	if !api.Scope(scope).Valid() {
		return fmt.Errorf("--scope %q must be admin, read-only or enroll-only", scope)
	}
	if !ttlSet {
		ttl = cfg.TokenTTL
	}
	if ttl < 0 || ttl > api.MaxTokenTTL || (ttl > 0 && ttl < time.Minute) {
		return fmt.Errorf("--ttl %v must be 0 (no expiry) or between 1m and %v", ttl, api.MaxTokenTTL)
	}
	st, err := tokenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	t, secret, err := st.CreateAPIToken(ctx, store.NewToken{Name: name, Scope: api.Scope(scope), TTL: ttl})
	if err != nil {
		return err
	}
	expires := "does not expire"
	if t.ExpiresAt != nil {
		expires = "expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(stderr, "created %s API token %d %q (%s); it is shown once:\n", t.Scope, t.ID, t.Name, expires)
	fmt.Fprintln(stdout, secret)
	return nil
}

func cmdTokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := LoadConfig("token list", args, getenv, stderr, nil)
	if err != nil {
		return flagErr(err)
	}
	st, err := tokenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ts, err := st.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tSTATE\tCREATED\tEXPIRES\tLAST USED")
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return t.UTC().Format("2006-01-02 15:04Z")
	}
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.State,
			when(&t.CreatedAt, ""), when(t.ExpiresAt, "never"), when(t.LastUsedAt, "never"))
	}
	return tw.Flush()
}

func cmdTokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// The ID may come before or after the flags.
	var idArg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		idArg, args = args[0], args[1:]
	} else if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") && (n < 2 || !flagTakesValue(args[n-2])) {
		idArg, args = args[n-1], args[:n-1]
	}
	cfg, err := LoadConfig("token revoke", args, getenv, stderr, nil)
	if err != nil {
		return flagErr(err)
	}
	id, err := strconv.ParseInt(idArg, 10, 64)
	if err != nil || id < 1 {
		fmt.Fprint(stderr, tokenUsage)
		return fmt.Errorf("token revoke: the token ID (a positive integer, see coordinator token list) is required, got %q", idArg)
	}
	st, err := tokenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.RevokeAPIToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no API token has ID %d", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked API token %d %q; its dashboard sessions are ended\n", t.ID, t.Name)
	return nil
}

// flagTakesValue reports whether arg is a flag given without "=value" whose
// value is the next argument (every config flag but the booleans).
func flagTakesValue(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") || name == "" {
		return false
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c := Default()
	c.bindFlags(fs)
	fs.String("config", "", "")
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	bf, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !bf.IsBoolFlag()
}

func natsConfigFlags(out *string, sc *bus.ServerConfig) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(out, "out", "", "write the configuration to this file (default: standard output)")
		fs.StringVar(&sc.Listen, "server-listen", sc.Listen, "the NATS server's client listen address")
		fs.StringVar(&sc.StoreDir, "server-store-dir", sc.StoreDir, "the NATS server's JetStream directory")
		fs.StringVar(&sc.ResolverDir, "server-resolver-dir", sc.ResolverDir, "the NATS server's account JWT directory (resolver type full)")
		fs.StringVar(&sc.Name, "server-name", "", "server_name (required and unique per node in a cluster)")
		fs.IntVar(&sc.MaxPayload, "server-max-payload", 8<<20, "max_payload in bytes")
		fs.StringVar(&sc.ClusterName, "cluster-name", "", "cluster name: write a cluster block (every node the same name; needs --server-name and --cluster-listen)")
		fs.StringVar(&sc.ClusterListen, "cluster-listen", "", "this node's route listen address, host:port")
		fs.Var(listFlag{&sc.Routes}, "routes", "comma-separated route URLs of the other nodes (nats://host:port)")
	}
}

func cmdNATSConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var out string
	sc := bus.ServerConfig{Listen: "0.0.0.0:4222", StoreDir: "/data/jetstream", ResolverDir: "/data/jwt"}
	cfg, err := LoadConfig("nats-config", args, getenv, stderr, natsConfigFlags(&out, &sc))
	if err != nil {
		return flagErr(err)
	}
	if cfg.DataDir == "" {
		return errors.New("HIL_DATA_DIR (--data-dir) is empty: the NATS authority's keys live there")
	}
	if _, _, err := net.SplitHostPort(sc.Listen); err != nil {
		return fmt.Errorf("--server-listen %q: %w", sc.Listen, err)
	}
	if err := checkCluster(sc); err != nil {
		return err
	}
	auth, err := bus.LoadAuthority(cfg.DataDir)
	if err != nil {
		return err
	}
	text, err := auth.ServerConfigText(sc)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = io.WriteString(stdout, text)
		return err
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (operator %s; the signing keys stay in %s)\n", out, auth.OperatorPublicKey(), filepath.Join(cfg.DataDir, bus.AuthFile))
	return nil
}

// checkCluster validates nats-config's cluster options.
func checkCluster(sc bus.ServerConfig) error {
	if sc.ClusterName == "" {
		if sc.ClusterListen != "" || len(sc.Routes) > 0 {
			return errors.New("--cluster-listen and --routes need --cluster-name")
		}
		return nil
	}
	if !bus.ValidToken(sc.ClusterName) {
		return fmt.Errorf("--cluster-name %q: letters, digits, '-' and '_' only", sc.ClusterName)
	}
	if sc.Name == "" {
		return errors.New("--cluster-name needs --server-name (unique per node: JetStream in a cluster requires it)")
	}
	if _, _, err := net.SplitHostPort(sc.ClusterListen); err != nil {
		return fmt.Errorf("--cluster-listen %q: %w", sc.ClusterListen, err)
	}
	for _, r := range sc.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Port() == "" || u.Hostname() == "" {
			return fmt.Errorf("--routes %q: want nats://host:port", r)
		}
	}
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
