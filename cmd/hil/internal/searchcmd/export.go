package searchcmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hilsearch/hilsearch/cmd/hil/internal/outfile"
	"github.com/hilsearch/hilsearch/coordinator/api"
)

// export runs "hil search export ID --format F [--trial N] [-o FILE]".
func export(ctx context.Context, e *env, args []string) int {
	fs := e.flags(subcommands["export"].usage)
	format := fs.String("format", "", "json (arch spec), hf (Hugging Face config.json), gguf (seeded random weights) or csv (every trial)")
	trial := fs.Int("trial", -1, "trial to export (json, hf, gguf); default: the recommended point of the Pareto front (hil search show marks it)")
	precision := fs.String("precision", "", "GGUF weight precision: f32, f16, q8_0 or q4_0 (coordinator default f16)")
	out := fs.String("o", "", "output `file`, - for stdout; default: the file name the coordinator suggests, in the current directory")
	pos, code := e.parse(fs, args, 1, "one search ID")
	if code >= 0 {
		return code
	}
	switch *format {
	case "json", "hf", "gguf", "csv":
	default:
		fmt.Fprintf(e.stderr, "%s: --format: want json, hf, gguf or csv, got %q\n", e.name, *format)
		return 2
	}
	if *format == "csv" && *trial >= 0 {
		fmt.Fprintf(e.stderr, "%s: --trial: csv exports every trial\n", e.name)
		return 2
	}
	if *precision != "" && *format != "gguf" {
		fmt.Fprintf(e.stderr, "%s: --precision: only for --format gguf\n", e.name)
		return 2
	}
	c, err := e.g.client()
	if err != nil {
		return e.fail(err)
	}
	id := pos[0]
	q := api.ExportQuery{Format: *format, Trial: *trial, Precision: *precision}
	if *format != "csv" && *trial < 0 {
		pv, err := c.Pareto(ctx, id)
		if err != nil {
			return e.fail(err)
		}
		switch {
		case len(pv.Points) == 0:
			return e.fail(fmt.Errorf("search %s has no Pareto front yet (no complete trial); give --trial", id))
		case pv.Recommended == nil:
			return e.fail(fmt.Errorf("search %s has no recommended trial: no complete trial meets the constraints; give --trial", id))
		}
		q.Trial = *pv.Recommended
		for _, p := range pv.Points {
			if p.Trial != q.Trial {
				continue
			}
			for _, ch := range p.Exports {
				if ch.Format == *format && !ch.Exportable {
					return e.fail(fmt.Errorf("the recommended trial %d cannot be exported as %s: %s; give --trial (hil search show %s lists the front with its export formats)", q.Trial, *format, ch.Reason, id))
				}
			}
		}
		fmt.Fprintf(e.stderr, "exporting trial %d, the recommended point: %s\n", q.Trial, pv.RecommendedRule)
	}
	var f *outfile.File
	if *out == "" {
		f, err = outfile.CreateIn(".")
	} else {
		f, err = outfile.Create(*out, e.stdout)
	}
	if err != nil {
		return e.fail(err)
	}
	defer f.Abort()
	suggested, err := c.Export(ctx, id, q, f)
	if err != nil {
		return e.fail(err)
	}
	if *out == "" {
		name := filepath.Base(suggested)
		if suggested == "" || name == "." || name == "/" {
			name = fmt.Sprintf("%s-export.%s", id, *format)
		}
		err = f.CommitAs(name)
	} else {
		err = f.Commit()
	}
	if err != nil {
		return e.fail(err)
	}
	if name := f.Name(); name != outfile.Stdout {
		if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
			fmt.Fprintf(e.stderr, "wrote %s (%d bytes)\n", name, fi.Size())
		} else {
			fmt.Fprintf(e.stderr, "wrote %s\n", name)
		}
	}
	return 0
}
