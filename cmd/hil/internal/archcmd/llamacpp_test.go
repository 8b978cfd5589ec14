package archcmd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLlamaBenchOptIn exports lfm2-350m and llama-3.2-1b as q4_0 GGUF and
// runs llama.cpp's llama-bench on them ("-p 16 -n 4"). It is opt-in: set
// HIL_LLAMA_BENCH to a llama-bench binary (built from llama.cpp outside this
// repository; verified with commit 10e9780154365b191fb43ca4830659ef12def80f).
func TestLlamaBenchOptIn(t *testing.T) {
	bench := os.Getenv("HIL_LLAMA_BENCH")
	if bench == "" {
		t.Skip("set HIL_LLAMA_BENCH=/path/to/llama-bench to run llama.cpp on our GGUF exports")
	}
	dir := t.TempDir()
	for _, c := range []struct{ preset, label string }{
		{"lfm2-350m", "lfm2 350M Q4_0"},
		{"llama-3.2-1b", "llama 1B Q4_0"},
	} {
		path := filepath.Join(dir, c.preset+".gguf")
		if code, _, errs := runArch(t, "export", c.preset, "--format", "gguf", "--precision", "q4_0", "-o", path); code != 0 {
			t.Fatalf("%s: export: %s", c.preset, errs)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		out, err := exec.CommandContext(ctx, bench, "-m", path, "-p", "16", "-n", "4", "-r", "1").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: llama-bench: %v\n%s", c.preset, err, out)
		}
		for _, want := range []string{c.label, "pp16", "tg4"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: llama-bench output lacks %q:\n%s", c.preset, want, out)
			}
		}
		os.Remove(path)
	}
}
