package searchcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/search"
)

// create runs "hil search create FILE|-".
func create(ctx context.Context, e *env, args []string) int {
	fs := e.flags(subcommands["create"].usage)
	preset := fs.String("preset", "", "start the space from this built-in preset ("+strings.Join(search.PresetNames(), ", ")+"); fields of the file's space override it")
	dry := fs.Bool("dry-run", false, "validate only: print the errors or the parameter range of the space, create nothing")
	asJSON := fs.Bool("json", false, "print the created search (or the validation preview) as JSON")
	pos, code := e.parse(fs, args, 1, "one search spec file (or - for stdin)")
	if code >= 0 {
		return code
	}
	if *preset != "" && !slices.Contains(search.PresetNames(), *preset) {
		fmt.Fprintf(e.stderr, "%s: --preset: unknown preset %q (want %s)\n", e.name, *preset, strings.Join(search.PresetNames(), " or "))
		return 2
	}
	var data []byte
	var err error
	if pos[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20+1))
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return e.fail(fmt.Errorf("read search spec: %w", err))
	}
	if *preset != "" {
		if data, err = withPreset(data, *preset); err != nil {
			return e.fail(err)
		}
	}
	c, err := e.g.client()
	if err != nil {
		return e.fail(err)
	}
	if *dry {
		p, err := c.ValidateSearch(ctx, data)
		if err != nil {
			return e.fail(err)
		}
		if *asJSON {
			_ = writeJSON(e.stdout, p)
		}
		if !p.Valid {
			fmt.Fprintf(e.stderr, "%s: the search spec is invalid:\n", e.name)
			for _, f := range p.Errors {
				fmt.Fprintf(e.stderr, "  %s\n", fieldLine(f))
			}
			return 1
		}
		for _, w := range p.Warnings {
			fmt.Fprintf(e.stderr, "%s: warning: %s\n", e.name, w)
		}
		if !*asJSON {
			fmt.Fprintf(e.stdout, "valid; the space spans %s to %s parameters (%d to %d); nothing created\n",
				human(p.ParamsMin), human(p.ParamsMax), p.ParamsMin, p.ParamsMax)
			printExportShares(e, p)
		}
		return 0
	}
	s, err := c.CreateSearch(ctx, data)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, s); err != nil {
			return e.fail(err)
		}
		return 0
	}
	fmt.Fprintln(e.stdout, s.ID)
	return 0
}

// printExportShares prints the dry run's estimate of the exportable share
// of the space, per format, and what the spec's "export" field does.
func printExportShares(e *env, p api.SearchPreview) {
	for _, x := range p.Exportable {
		why := ""
		if x.Share < 1 && x.Reason != "" {
			why = "; most often because " + x.Reason
		}
		fmt.Fprintf(e.stdout, "exportable as %-4s %5.1f%% of %d sampled candidates within the budget%s\n", x.Format, 100*x.Share, x.Sampled, why)
	}
	if p.Spec != nil && p.Spec.Export != "" {
		fmt.Fprintf(e.stdout, "export %q: candidates that cannot be exported as %s are rejected before any device time\n", p.Spec.Export, p.Spec.Export)
	}
}

// withPreset sets space.preset of a spec. Other fields of the file's space
// stay and override the preset's (the coordinator merges them).
func withPreset(data []byte, preset string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var spec map[string]any
	if err := dec.Decode(&spec); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("search spec: %s", search.JSONErrorAt(data, syn.Offset, syn))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("search spec: %s", search.JSONErrorAt(data, int64(len(data)), errors.New("unexpected end of JSON input (truncated document?)")))
		}
		return nil, fmt.Errorf("search spec: not a JSON object: %w", err)
	}
	if spec == nil {
		return nil, fmt.Errorf("search spec: not a JSON object")
	}
	space, ok := spec["space"].(map[string]any)
	if !ok {
		if v, present := spec["space"]; present && v != nil {
			return nil, fmt.Errorf("search spec: space: not a JSON object")
		}
		space = map[string]any{}
	}
	space["preset"] = preset
	spec["space"] = space
	return json.Marshal(spec)
}

func fieldLine(f api.FieldError) string { return f.Error() }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// human formats a count as 354.5M, 1.17B or 900K.
func human(n int64) string {
	switch f := float64(n); {
	case n >= 1e9 || n <= -1e9:
		return fmt.Sprintf("%.3gB", f/1e9)
	case n >= 1e6 || n <= -1e6:
		return fmt.Sprintf("%.4gM", f/1e6)
	case n >= 1e3 || n <= -1e3:
		return fmt.Sprintf("%.4gK", f/1e3)
	}
	return fmt.Sprint(n)
}
