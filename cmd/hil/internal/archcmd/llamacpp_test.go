package archcmd

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
)

// benchRow is the part of one llama-bench "-o json" record the test reads
// (tools/llama-bench/llama-bench.cpp, json_printer and test::get_fields).
type benchRow struct {
	ModelType string  `json:"model_type"`
	Size      int64   `json:"model_size"`
	NParams   int64   `json:"model_n_params"`
	NPrompt   int     `json:"n_prompt"`
	NGen      int     `json:"n_gen"`
	AvgTS     float64 `json:"avg_ts"`
}

// TestLlamaBenchOptIn exports as q4_0 GGUF the lfm2-350m, llama-3.2-1b and
// qwen3-0.6b presets and every spec of arch/testdata/export that has a
// llama.cpp family (one per newly mapped block type: lfm2 with sliding
// window and per-layer KV heads, deci, openelm, step35, mamba2,
// granitehybrid), checks that together they cover every GGUF family the
// export writes (ggufFamilies), runs
// llama.cpp's llama-bench on each ("-p 16 -n 4 -r 1 -o json"), and checks
// that both tests ran, that llama.cpp names the expected architecture, and
// that its parameter count and model size equal arch's Params().Total and
// WeightBytes(q4_0). It is opt-in:
// set HIL_LLAMA_BENCH to a llama-bench binary (built from llama.cpp outside
// this repository; verified with commit
// d775b8967a46d8beb110d444aa3b8938179e0dd8). Run it under
// flock /tmp/hil-bench.lock when other benchmarks share the machine.
func TestLlamaBenchOptIn(t *testing.T) {
	bench := os.Getenv("HIL_LLAMA_BENCH")
	if bench == "" {
		t.Skip("set HIL_LLAMA_BENCH=/path/to/llama-bench to run llama.cpp on our GGUF exports")
	}
	type job struct{ ref, name string }
	jobs := []job{{"lfm2-350m", "lfm2-350m"}, {"llama-3.2-1b", "llama-3.2-1b"}, {"qwen3-0.6b", "qwen3-0.6b"}}
	specs, err := filepath.Glob(filepath.Join("..", "..", "..", "..", "arch", "testdata", "export", "*.json"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no export specs: %v", err)
	}
	for _, p := range specs {
		jobs = append(jobs, job{p, strings.TrimSuffix(filepath.Base(p), ".json")})
	}
	dir := t.TempDir()
	ran := 0
	covered := map[arch.Family]bool{}
	for _, j := range jobs {
		s, err := load(j.ref)
		if err != nil {
			t.Fatal(err)
		}
		fam, err := s.GGUFFamily()
		if err != nil {
			t.Logf("%s: not exportable to GGUF (checked in arch): %v", j.name, err)
			continue
		}
		covered[fam] = true
		t.Run(j.name, func(t *testing.T) {
			path := filepath.Join(dir, j.name+".gguf")
			if code, _, errs := runArch(t, "export", j.ref, "--format", "gguf", "--precision", "q4_0", "--seed", "1", "-o", path); code != 0 {
				t.Fatalf("export: %s", errs)
			}
			defer os.Remove(path)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bench, "-m", path, "-p", "16", "-n", "4", "-r", "1", "-o", "json")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("llama-bench: %v\n%s", err, tail(stderr.String(), 4000))
			}
			var rows []benchRow
			if err := json.Unmarshal(out, &rows); err != nil {
				t.Fatalf("llama-bench JSON: %v\n%s", err, out)
			}
			var pp, tg bool
			for _, r := range rows {
				if !strings.HasPrefix(r.ModelType, string(fam)+" ") {
					t.Errorf("model_type %q, want architecture %s", r.ModelType, fam)
				}
				if r.NParams != s.Params().Total {
					t.Errorf("llama.cpp counts %d parameters, arch.Params().Total = %d", r.NParams, s.Params().Total)
				}
				if want := s.WeightBytes(arch.Q4_0); r.Size != want {
					t.Errorf("llama.cpp model_size %d B, arch.WeightBytes(q4_0) = %d", r.Size, want)
				}
				if r.AvgTS <= 0 {
					t.Errorf("test pp%d/tg%d: %v t/s", r.NPrompt, r.NGen, r.AvgTS)
				}
				pp = pp || (r.NPrompt == 16 && r.NGen == 0)
				tg = tg || (r.NPrompt == 0 && r.NGen == 4)
				t.Logf("%s: %s, %d params, %d B, pp%d tg%d ran", j.name, r.ModelType, r.NParams, r.Size, r.NPrompt, r.NGen)
			}
			if !pp || !tg {
				t.Errorf("llama-bench ran pp16 %v, tg4 %v:\n%s", pp, tg, out)
			}
		})
		ran++
	}
	if ran < 8 {
		t.Errorf("only %d exports ran; every newly mapped block type should", ran)
	}
	for _, f := range ggufFamilies {
		if !covered[f] {
			t.Errorf("no spec of the GGUF family %s ran in llama.cpp", f)
		}
	}
}

// ggufFamilies are the llama.cpp architectures arch.Spec.GGUFFamily can
// choose (arch/families.go).
var ggufFamilies = []arch.Family{arch.FamilyLFM2, arch.FamilyLlama, arch.FamilyQwen3, arch.FamilyDeci, arch.FamilyOpenELM,
	arch.FamilyStep35, arch.FamilyMamba2, arch.FamilyGraniteHybrid}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
