package archcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/outfile"
)

const usageText = `usage:
  hil arch presets
  hil arch show <preset|spec.json> [--json] [--context T] [--prompt L]
  hil arch export <preset|spec.json> --format json|hf|gguf [--precision P] [--seed S] -o FILE
`

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// Main runs "hil arch" with args (after "arch") and returns the exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func Main(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usageText)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "presets":
		err = presets(args[1:], stdout)
	case "show":
		err = show(args[1:], stdout, stderr)
	case "export":
		err = export(args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("%w: unknown arch subcommand %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "hil arch: %v\n%s", err, usageText)
		return 2
	default:
		fmt.Fprintf(stderr, "hil arch: %v\n", err)
		return 1
	}
}

// parse parses flags that may come before or after positional arguments
// (the std flag package stops at the first positional) and returns the
// positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// load reads a spec: a preset name, or a path to a JSON spec (any argument
// that ends in .json or names an existing file). The spec is validated.
func load(ref string) (*arch.Spec, error) {
	if !strings.HasSuffix(ref, ".json") {
		if _, err := os.Stat(ref); err != nil {
			return arch.Preset(ref)
		}
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	s, err := arch.ParseValid(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(ref), ".json")
	}
	return s, nil
}

func presets(args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: presets takes no arguments", errUsage)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tparams\tlayers\tattention\thidden\t")
	for _, n := range arch.PresetNames() {
		s, err := arch.Preset(n)
		if err != nil {
			return err
		}
		att := 0
		for _, l := range s.Layers {
			if l.Mixer != arch.MixerConv {
				att++
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", n, s.Params().Total, len(s.Layers), att, s.Hidden)
	}
	return tw.Flush()
}

func export(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hil arch export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "output format: json, hf or gguf")
	prec := fs.String("precision", "f16", "gguf weight precision: f32, f16, q8_0 or q4_0")
	seed := fs.Uint64("seed", 0, "gguf random-weight seed")
	out := fs.String("o", "", "output file (- for standard output)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: export takes one preset or spec file", errUsage)
	}
	if *out == "" {
		return fmt.Errorf("%w: -o FILE is required", errUsage)
	}
	p := arch.Precision(*prec)
	if !p.Valid() {
		return fmt.Errorf("%w: unknown precision %q", errUsage, *prec)
	}
	s, err := load(pos[0])
	if err != nil {
		return err
	}
	var write func(io.Writer) error
	switch *format {
	case "json", "hf":
		var b []byte
		if *format == "json" {
			b, err = s.JSON()
		} else {
			b, err = s.HFConfig()
		}
		if err != nil {
			return err
		}
		write = func(w io.Writer) error { _, err := w.Write(b); return err }
	case "gguf":
		if _, err := s.GGUFFamily(); err != nil {
			return err
		}
		write = func(w io.Writer) error { return s.WriteGGUF(w, p, *seed) }
	default:
		return fmt.Errorf("%w: --format must be json, hf or gguf", errUsage)
	}
	f, err := outfile.Create(*out, stdout)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.Commit()
}
