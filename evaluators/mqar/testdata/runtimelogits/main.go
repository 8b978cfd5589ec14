// Command runtimelogits prints the Go runtime's logits for a spec, so the
// reference evaluator's tests can check that its PyTorch blocks compute the
// same network (evaluators/mqar/test_runtime.py). It lives under testdata:
// it is a test helper, not part of the build.
//
//	go run ./evaluators/mqar/testdata/runtimelogits -spec S.json -seed 7 -tokens 1,2,3
//
// It prints {"decode": [[logits after token 0], [after token 1], ...],
// "prefill": [logits after the whole prompt]} as JSON: the model is built
// at f32 with an f32 KV cache and the seeded weights of kernels.BuildWith (not arch.FillRow: the runtime draws its own); decode
// runs the prompt one token at a time, prefill in one call.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels"
)

func main() {
	specPath := flag.String("spec", "", "arch spec JSON file")
	seed := flag.Uint64("seed", 0, "weight seed (kernels.BuildWith)")
	toks := flag.String("tokens", "", "comma-separated token ids")
	flag.Parse()
	if err := run(*specPath, *seed, *toks); err != nil {
		fmt.Fprintln(os.Stderr, "runtimelogits:", err)
		os.Exit(1)
	}
}

func run(specPath string, seed uint64, toks string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	spec, err := arch.ParseValid(data)
	if err != nil {
		return err
	}
	var tokens []int32
	for _, f := range strings.Split(toks, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("token %q: %w", f, err)
		}
		tokens = append(tokens, int32(v))
	}
	build := func() (*kernels.Model, error) {
		return kernels.BuildWith(spec, arch.F32, len(tokens), 1, seed, kernels.Options{KVF32: true})
	}
	m, err := build()
	if err != nil {
		return err
	}
	out := struct {
		Decode  [][]float32 `json:"decode"`
		Prefill []float32   `json:"prefill"`
	}{}
	for _, t := range tokens {
		l, err := m.Decode(t)
		if err != nil {
			return err
		}
		out.Decode = append(out.Decode, append([]float32(nil), l...))
	}
	m2, err := build()
	if err != nil {
		return err
	}
	if out.Prefill, err = m2.Prefill(tokens); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
