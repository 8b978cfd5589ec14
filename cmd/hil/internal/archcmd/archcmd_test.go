package archcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hilsearch/hilsearch/arch"
)

func runArch(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

const tinySpec = `{"vocab": 300, "hidden": 64, "tied_embeddings": true, "norm_eps": 1e-5, "max_context": 256,
 "layers": [{"mixer": "conv", "conv": {"kernel": 3}, "ffn": 96},
            {"mixer": "gqa", "gqa": {"heads": 4, "kv_heads": 2, "head_dim": 16, "qk_norm": true, "rope_theta": 1e6}, "ffn": 96}]}`

func TestPresets(t *testing.T) {
	code, out, _ := runArch(t, "presets")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, n := range arch.PresetNames() {
		if !strings.Contains(out, n) {
			t.Errorf("presets output lacks %s", n)
		}
	}
	if !strings.Contains(out, "354483968") {
		t.Error("presets output lacks the lfm2-350m parameter count")
	}
}

func TestShowTableAndFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(path, []byte(tinySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArch(t, "show", "--context", "100", path, "--prompt", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	s, _ := arch.ParseValid([]byte(tinySpec))
	for _, want := range []string{"tiny", "conv", "gqa", "H4/G2/hd16 qk", "params", "decode  T=100"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runArch(t, "show", path, "--json", "--context", "100", "--prompt", "10")
	if code != 0 {
		t.Fatal(code)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Params != s.Params().Total || r.FLOPsDecode != s.FLOPsDecode(100) || r.FLOPsPrefill != s.FLOPsPrefill(10) ||
		r.Hash != s.Hash() || r.KVBytes != s.KVBytes(100, false) || len(r.Layers) != 2 {
		t.Errorf("report does not match arch: %+v", r)
	}
	// Defaults are capped at max_context (256 here).
	code, out, _ = runArch(t, "show", path, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Context != 256 || r.Prompt != 256 {
		t.Errorf("default context/prompt %d/%d, want 256/256", r.Context, r.Prompt)
	}
	var sumP, sumF int64
	for _, l := range r.Layers {
		sumP += l.Params
		sumF += l.FLOPsDecode
	}
	if sumP >= r.Params || sumF >= r.FLOPsDecode {
		t.Errorf("per-layer sums %d/%d exceed totals %d/%d", sumP, sumF, r.Params, r.FLOPsDecode)
	}
}

func TestShowErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(strings.Replace(tinySpec, `"kv_heads": 2`, `"kv_heads": 3`, 1)), 0o644)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"show"}, 2, "one preset"},
		{[]string{"show", "nope"}, 1, "unknown preset"},
		{[]string{"show", bad}, 1, "layers[1].gqa.kv_heads: 3 does not divide heads 4"},
		{[]string{"show", "lfm2-350m", "--context", "-2"}, 2, "non-negative"},
		{[]string{"show", "lfm2-350m", "--context", "999999"}, 2, "max_context"},
		{[]string{"show", "lfm2-350m", "--bogus"}, 2, "bogus"},
		{[]string{"wat"}, 2, "unknown arch subcommand"},
		{[]string{"export", "lfm2-350m", "--format", "gguf"}, 2, "-o FILE"},
		{[]string{"export", "lfm2-350m", "--format", "xml", "-o", filepath.Join(dir, "x")}, 2, "--format"},
		{[]string{"export", "lfm2-350m", "--format", "gguf", "--precision", "q2", "-o", filepath.Join(dir, "x")}, 2, "precision"},
	} {
		code, _, errs := runArch(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.json")
	_ = os.WriteFile(spec, []byte(tinySpec), 0o644)
	s, _ := arch.ParseValid([]byte(tinySpec))
	s.Name = "tiny" // the CLI names a file spec without a name after the file

	out := filepath.Join(dir, "out.json")
	if code, _, errs := runArch(t, "export", spec, "--format", "json", "-o", out); code != 0 {
		t.Fatal(errs)
	}
	b, _ := os.ReadFile(out)
	r, err := arch.ParseValid(b)
	if err != nil || r.Hash() != s.Hash() {
		t.Errorf("json export does not round-trip: %v", err)
	}

	out = filepath.Join(dir, "config.json")
	if code, _, errs := runArch(t, "export", spec, "--format", "hf", "-o", out); code != 0 {
		t.Fatal(errs)
	}
	b, _ = os.ReadFile(out)
	want, _ := s.HFConfig()
	if !bytes.Equal(b, want) {
		t.Error("hf export differs from arch.HFConfig")
	}

	out = filepath.Join(dir, "m.gguf")
	if code, _, errs := runArch(t, "export", spec, "--format", "gguf", "--precision", "q8_0", "--seed", "3", "-o", out); code != 0 {
		t.Fatal(errs)
	}
	b, _ = os.ReadFile(out)
	var buf bytes.Buffer
	_ = s.WriteGGUF(&buf, arch.Q8_0, 3)
	if !bytes.Equal(b, buf.Bytes()) {
		t.Error("gguf export differs from arch.WriteGGUF")
	}

	// A spec no format can express leaves no file behind, and the error
	// names the layer and why.
	lin := strings.Replace(tinySpec, `{"mixer": "gqa", "gqa": {"heads": 4, "kv_heads": 2, "head_dim": 16, "qk_norm": true, "rope_theta": 1e6}, "ffn": 96}`,
		`{"mixer": "linear_attn", "linear_attn": {"heads": 4, "head_dim": 16}, "ffn": 96}`, 1)
	_ = os.WriteFile(spec, []byte(lin), 0o644)
	out = filepath.Join(dir, "lin.gguf")
	code, _, errs := runArch(t, "export", spec, "--format", "gguf", "-o", out)
	if code != 1 || !strings.Contains(errs, `layers[1].mixer: linear_attn: no llama.cpp family`) {
		t.Errorf("linear_attn gguf export: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("failed export left a file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestExportKeepsSpecialFiles: -o on a character device (a private one with
// /dev/null's numbers, never the machine's own) and on a symlink writes
// through them instead of renaming a regular file over them.
func TestExportKeepsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.json")
	_ = os.WriteFile(spec, []byte(tinySpec), 0o644)

	target := filepath.Join(dir, "real.json")
	_ = os.WriteFile(target, nil, 0o644)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runArch(t, "export", spec, "--format", "hf", "-o", link); code != 0 {
		t.Fatal(errs)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("symlink replaced: %v", err)
	}
	if b, _ := os.ReadFile(target); !strings.Contains(string(b), "hidden_size") {
		t.Fatalf("link target holds %q", b)
	}

	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("cannot make a character device here (needs root): %v", err)
	}
	if code, _, errs := runArch(t, "export", spec, "--format", "gguf", "-o", null); code != 0 {
		t.Fatal(errs)
	}
	if fi, err := os.Lstat(null); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v", null, err)
	}
}
