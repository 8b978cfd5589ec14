package searchcmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// hil runs "hil search args..." against c and returns the exit code,
// stdout and stderr. It fails the test if the token shows anywhere.
func hil(t *testing.T, ctx context.Context, c *testenv.Coordinator, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--coordinator", c.URL, "--token", c.Token}, args...)
	code := Main(ctx, all, &out, &errb)
	if strings.Contains(out.String()+errb.String(), c.Token) {
		t.Fatalf("hil search %v printed the token", args)
	}
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// searchCount is the number of searches "hil search list --json" shows.
func searchCount(t *testing.T, c *testenv.Coordinator) int {
	t.Helper()
	code, out, errs := hil(t, context.Background(), c, "list", "--json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errs)
	}
	var ss []map[string]any
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return len(ss)
}

// progressLine is one line of "hil search watch" on a non-terminal.
var progressLine = regexp.MustCompile(`^\[([#-]{20})\] (\d+)/(\d+) complete, (\d+) failed, (\d+) running, (\d+) rejected, HV (-|[0-9.]+)( \((\w+)\))?( - waiting for a device of target \w+)?$`)

func TestSearchLifecycle(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "stand-in")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	spec := testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 8)
	specFile := writeFile(t, "search.json", spec)

	// A bad spec: every field error on its own line, exit 1, nothing created.
	bad := strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 8), `"decode_ms_p50@phone"`, `"latency@phone"`, 1)
	bad = strings.Replace(bad, `"devices":["`+a.Resp.DeviceID+`"]`, `"devices":["nosuchdevice"]`, 1)
	bad = strings.Replace(bad, `"params","direction":"maximize"`, `"prefill_tps@galaxy"`, 1)
	code, out, errs := hil(t, ctx, c, "create", writeFile(t, "bad.json", bad))
	if code != 1 || out != "" {
		t.Fatalf("bad spec: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "search_invalid") ||
		!regexp.MustCompile(`(?m)^  objectives\[0\]\.metric: .*latency`).MatchString(errs) ||
		!regexp.MustCompile(`(?m)^  objectives\[2\]\.metric: .*galaxy`).MatchString(errs) {
		t.Fatalf("bad spec: stderr does not list the field errors one per line:\n%s", errs)
	}
	// The same spec with a good metric but an unknown device fails on the
	// coordinator's target check.
	bad = strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 8), a.Resp.DeviceID, "nosuchdevice", 1)
	code, _, errs = hil(t, ctx, c, "create", writeFile(t, "bad2.json", bad))
	if code != 1 || !regexp.MustCompile(`(?m)^  targets\[0\]\.devices\[0\]: no live device nosuchdevice$`).MatchString(errs) {
		t.Fatalf("unknown device: exit %d:\n%s", code, errs)
	}
	code, _, errs = hil(t, ctx, c, "create", "--dry-run", writeFile(t, "bad3.json", `{"space":{"preset":"lfm2-like"}}`))
	if code != 1 || !strings.Contains(errs, "\n  workload: missing (give precision, threads") {
		t.Fatalf("dry-run of a bad spec: exit %d:\n%s", code, errs)
	}
	if n := searchCount(t, c); n != 0 {
		t.Fatalf("bad specs created %d searches", n)
	}

	// Dry run: the parameter range of the space and its exportable share
	// (lfm2-like: every candidate exports), nothing created.
	code, out, errs = hil(t, ctx, c, "create", specFile, "--dry-run")
	m := regexp.MustCompile(`^valid; the space spans \S+ to \S+ parameters \((\d+) to (\d+)\); nothing created\n` +
		`exportable as hf   100\.0% of [1-9]\d* sampled candidates within the budget\n` +
		`exportable as gguf 100\.0% of [1-9]\d* sampled candidates within the budget\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("dry-run: exit %d: %q %s", code, out, errs)
	}
	lo, _ := strconv.ParseInt(m[1], 10, 64)
	hi, _ := strconv.ParseInt(m[2], 10, 64)
	// lfm2-like: budget 300-400 M and LFM2-350M is a point of the space.
	if !(lo <= 354_483_968 && 354_483_968 <= hi) {
		t.Fatalf("dry-run range [%d, %d] does not hold LFM2-350M", lo, hi)
	}
	if n := searchCount(t, c); n != 0 {
		t.Fatalf("dry run created %d searches", n)
	}

	// Create from stdin is the same code path as a file; create prints the ID.
	code, out, errs = hil(t, ctx, c, "create", specFile)
	id := strings.TrimSpace(out)
	if code != 0 || !regexp.MustCompile(`^s\S+$`).MatchString(id) {
		t.Fatalf("create: exit %d: %q %s", code, out, errs)
	}

	// Watch to completion (stdout is not a terminal: one line per change).
	code, out, errs = hil(t, ctx, c, "watch", id)
	if code != 0 || !strings.Contains(errs, "finished") {
		t.Fatalf("watch: exit %d:\n%s\n%s", code, out, errs)
	}
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if !progressLine.MatchString(l) {
			t.Fatalf("watch line %d %q is not a progress line", i, l)
		}
		if i > 0 && l == lines[i-1] {
			t.Fatalf("watch printed an unchanged line twice: %q", l)
		}
	}
	last := progressLine.FindStringSubmatch(lines[len(lines)-1])
	complete, _ := strconv.Atoi(last[2])
	failed, _ := strconv.Atoi(last[4])
	if last[1] != strings.Repeat("#", 20) || last[3] != "8" || complete+failed != 8 || last[9] != "finished" || last[7] == "-" {
		t.Fatalf("last watch line %q: want a full bar, 8 trials, a hypervolume and (finished)", lines[len(lines)-1])
	}
	if hv, err := strconv.ParseFloat(last[7], 64); err != nil || hv <= 0 || hv > 1 {
		t.Fatalf("normalised hypervolume %q not in (0, 1]", last[7])
	}

	// List: a table row with the ID, name, state and progress.
	code, out, _ = hil(t, ctx, c, "list")
	if code != 0 || !regexp.MustCompile(`(?m)^ID\s+NAME\s+STATE\s+PROGRESS\s+CREATED$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+id+`\s+test\s+finished\s+\d+/8 complete, \d+ failed, 0 running, \d+ rejected\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(out) {
		t.Fatalf("list: exit %d:\n%s", code, out)
	}

	// Show: state, progress, objectives, the front with layer strips, HV.
	code, out, errs = hil(t, ctx, c, "show", id)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`(?m)^state\s+finished$`,
		`(?m)^progress\s+\d+/8 complete`,
		`(?m)^  1\. decode_ms_p50@phone at 0, minimize$`,
		`(?m)^  3\. params, maximize$`,
		`(?m)^hypervolume [01]\.\d{3} after \d+ complete trials \([0-9.e+]+ of a box of [0-9.e+]+ from the ideal point`,
		`(?m)^Pareto front: [1-8] of \d+ complete trials`,
		`(?m)^recommended trial \d+ \(marked \*\): the knee of the feasible front`,
		`(?m)^\* \d+\s+[0-9.]+\s+[0-9.]+\s+\d{9}\s+true\s+0\s+(hf gguf|hf|gguf|none)\s+[CG]{16}$`,
		`(?m)^[* ] \d+\s+[0-9.]+\s+[0-9.]+\s+\d{9}\s+true\s+0\s+(hf gguf|hf|gguf|none)\s+[CG]{16}$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Fatalf("show output does not match %s:\n%s", want, out)
		}
	}
	code, out, _ = hil(t, ctx, c, "show", id, "--json")
	var shown struct {
		Search struct {
			ID    string
			State string
		}
		Pareto struct{ Front []int }
	}
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil || shown.Search.ID != id || shown.Search.State != "finished" || len(shown.Pareto.Front) == 0 {
		t.Fatalf("show --json: exit %d %v:\n%s", code, err, out)
	}

	// Exports.
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "trials.csv")
	code, _, errs = hil(t, ctx, c, "export", id, "--format", "csv", "-o", csvFile)
	if code != 0 {
		t.Fatalf("export csv: exit %d: %s", code, errs)
	}
	f, _ := os.Open(csvFile)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 9 || rows[0][0] != "trial" {
		t.Fatalf("csv: %v, %d rows", err, len(rows))
	}
	hfFile := filepath.Join(dir, "config.json")
	code, _, errs = hil(t, ctx, c, "export", id, "--format", "hf", "-o", hfFile)
	m = regexp.MustCompile(`exporting trial (\d+), the recommended point: the knee`).FindStringSubmatch(errs)
	if code != 0 || m == nil {
		t.Fatalf("export hf: exit %d: %s", code, errs)
	}
	best, _ := strconv.Atoi(m[1])
	var hf map[string]any
	if data, err := os.ReadFile(hfFile); err != nil || json.Unmarshal(data, &hf) != nil || hf["model_type"] != "lfm2" {
		t.Fatalf("hf export: %v %v", err, hf)
	}
	// The default trial is the recommended point of the front.
	var pv struct {
		Points []struct {
			Trial       int
			Front       bool
			Recommended bool
		}
		Recommended *int
	}
	_, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/pareto", nil, c.Token)
	if err := json.Unmarshal(body, &pv); err != nil {
		t.Fatal(err)
	}
	if pv.Recommended == nil || *pv.Recommended != best {
		t.Fatalf("default trial %d, the API recommends %v", best, pv.Recommended)
	}
	for _, p := range pv.Points {
		if p.Trial == best && (!p.Front || !p.Recommended) {
			t.Fatalf("default trial %d: front %v, recommended %v", best, p.Front, p.Recommended)
		}
	}
	jsonFile := filepath.Join(dir, "arch.json")
	code, _, errs = hil(t, ctx, c, "export", id, "--format", "json", "--trial", strconv.Itoa(best), "-o", jsonFile)
	if code != 0 {
		t.Fatalf("export json: exit %d: %s", code, errs)
	}
	if data, err := os.ReadFile(jsonFile); err != nil {
		t.Fatal(err)
	} else if _, err := arch.ParseValid(data); err != nil {
		t.Fatalf("json export is not a valid arch spec: %v", err)
	}
	// GGUF at q4_0 (the default trial): the header, and a size that only
	// 4-bit weights give (f16 would be about 2 bytes per parameter).
	ggufFile := filepath.Join(dir, "model.gguf")
	code, _, errs = hil(t, ctx, c, "export", id, "--format", "gguf", "--precision", "q4_0", "-o", ggufFile)
	if code != 0 {
		t.Fatalf("export gguf: exit %d: %s", code, errs)
	}
	var bestParams int64
	_, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/trials/"+strconv.Itoa(best), nil, c.Token)
	var bt struct{ Params int64 }
	if err := json.Unmarshal(body, &bt); err != nil || bt.Params == 0 {
		t.Fatalf("trial %d: %s", best, body)
	}
	bestParams = bt.Params
	gf, err := os.Open(ggufFile)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 8)
	_, err = io.ReadFull(gf, head)
	fi, _ := gf.Stat()
	gf.Close()
	if err != nil || string(head[:4]) != "GGUF" || binary.LittleEndian.Uint32(head[4:]) != 3 {
		t.Fatalf("gguf header %q: %v", head, err)
	}
	if perParam := float64(fi.Size()) / float64(bestParams); perParam < 0.5 || perParam > 0.7 {
		t.Fatalf("gguf of %d parameters is %d bytes (%.2f per parameter), not q4_0", bestParams, fi.Size(), perParam)
	}
	os.Remove(ggufFile)

	// -o on a character device (a private one with /dev/null's numbers,
	// never the machine's own) writes into it: it stays a device.
	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
		if code, _, errs := hil(t, ctx, c, "export", id, "--format", "hf", "-o", null); code != 0 {
			t.Fatalf("export to a character device: exit %d: %s", code, errs)
		}
		if fi, err := os.Lstat(null); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%s is no longer a character device: %v", null, err)
		}
	} else {
		t.Logf("not root: no character device test here (%v)", err)
	}

	// Errors: an unknown trial leaves no file; bad flags are usage errors.
	missing := filepath.Join(dir, "missing.json")
	code, _, errs = hil(t, ctx, c, "export", id, "--format", "json", "--trial", "100000", "-o", missing)
	if _, err := os.Stat(missing); code != 1 || !strings.Contains(errs, "trial_not_found") || err == nil {
		t.Fatalf("export of an unknown trial: exit %d, stat %v: %s", code, err, errs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".hil-out-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	for _, args := range [][]string{
		{"export", id, "--format", "pdf"},
		{"export", id, "--format", "csv", "--trial", "1"},
		{"export", id, "--format", "hf", "--precision", "q4_0"},
		{"export", "--format", "csv"},
		{"create", specFile, "--preset", "mystery"},
		{"show"},
		{"list", "extra"},
	} {
		if code, _, errs := hil(t, ctx, c, args...); code != 2 || !strings.Contains(errs, "hil search") {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	if code, _, errs := hil(t, ctx, c, "show", "snosuch"); code != 1 || !strings.Contains(errs, "search_not_found") {
		t.Errorf("show of an unknown search: exit %d: %s", code, errs)
	}
}

func TestSearchPauseResumeCancel(t *testing.T) {
	c := testenv.Start(t, nil)
	// An enrolled device whose agent never runs: the search stays running.
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "idle")
	ctx := context.Background()
	// --preset replaces the spec's space preset; the file's other space
	// fields stay.
	spec := strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 50), `"space":{"preset":"lfm2-like"}`, `"space":{"preset":"lfm2-like","hidden":[1024]}`, 1)
	// From stdin.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = io.WriteString(pw, spec)
		pw.Close()
	}()
	stdin := os.Stdin
	os.Stdin = pr
	code, out, errs := hil(t, ctx, c, "create", "-", "--preset", "hybrid-zoo", "--json")
	os.Stdin = stdin
	pr.Close()
	var created struct {
		ID    string
		State string
		Spec  struct {
			Space struct {
				Hidden []int
				Mixers map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &created); code != 0 || err != nil || created.State != "running" {
		t.Fatalf("create --json: exit %d %v: %s %s", code, err, out, errs)
	}
	if _, ok := created.Spec.Space.Mixers["ssm"]; !ok || len(created.Spec.Space.Hidden) != 1 || created.Spec.Space.Hidden[0] != 1024 {
		t.Fatalf("--preset hybrid-zoo with hidden [1024]: space %+v", created.Spec.Space)
	}
	id := created.ID

	// Ctrl-C stops watching only.
	wctx, stop := context.WithCancel(ctx)
	var wout bytes.Buffer
	w := &signalWriter{w: &wout, first: make(chan struct{})}
	done := make(chan int)
	var werr bytes.Buffer
	go func() {
		done <- Main(wctx, []string{"watch", "--coordinator", c.URL, "--token", c.Token, id}, w, &werr)
	}()
	<-w.first
	stop()
	if code := <-done; code != 130 || !strings.Contains(werr.String(), "stopped watching") {
		t.Fatalf("interrupted watch: exit %d: %s", code, werr.String())
	}
	if !progressLine.MatchString(strings.TrimSpace(w.String())) {
		t.Fatalf("watch output %q", w.String())
	}

	for _, step := range []struct{ action, state string }{{"pause", "paused"}, {"resume", "running"}, {"pause", "paused"}, {"cancel", "cancelled"}} {
		code, out, errs := hil(t, ctx, c, step.action, id)
		if code != 0 || out != id+" "+step.state+"\n" {
			t.Fatalf("%s: exit %d: %q %s", step.action, code, out, errs)
		}
		_, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
		var s struct{ State string }
		_ = json.Unmarshal(body, &s)
		if s.State != step.state {
			t.Fatalf("after %s the coordinator says %s", step.action, body)
		}
	}
	if code, _, errs := hil(t, ctx, c, "resume", id); code != 1 || !strings.Contains(errs, "the search is cancelled; this is possible only while it is ") || strings.Contains(errs, "{") {
		t.Fatalf("resume of a cancelled search: exit %d: %s", code, errs)
	}
	// Watching a cancelled search ends at once with exit 1.
	code, out, errs = hil(t, ctx, c, "watch", id)
	if code != 1 || !strings.Contains(out, "(cancelled)") || !strings.Contains(errs, "cancelled") {
		t.Fatalf("watch of a cancelled search: exit %d: %q %s", code, out, errs)
	}
	code, out, _ = hil(t, ctx, c, "show", id)
	if code != 0 || !strings.Contains(out, "\nstate       cancelled\n") || !strings.Contains(out, "\nhypervolume none yet (no complete trial)\n") ||
		!strings.HasSuffix(out, "\nPareto front: 0 of 0 complete trials (0 feasible)\n") {
		t.Fatalf("show of a search without trials: exit %d:\n%s", code, out)
	}
	// The export of a search with no complete trial says so.
	if code, _, errs := hil(t, ctx, c, "export", id, "--format", "hf", "-o", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(errs, "no Pareto front yet") {
		t.Fatalf("export without a front: exit %d: %s", code, errs)
	}
}

func TestEnvAndToken(t *testing.T) {
	c := testenv.Start(t, nil)
	t.Setenv("HIL_COORDINATOR", c.URL)
	t.Setenv("HIL_TOKEN", c.Token)
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"list", "--json"}, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("list from the environment: exit %d: %q %s", code, out.String(), errb.String())
	}
	// The flag wins over the environment; a bad token is reported.
	out.Reset()
	errb.Reset()
	if code := Main(context.Background(), []string{"list", "--token", "hil_wrong"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "unauthorized") {
		t.Fatalf("bad token: exit %d: %s", code, errb.String())
	}
	// Without any token the error says where one goes; a coordinator
	// address without a scheme is taken as http://.
	out.Reset()
	errb.Reset()
	t.Setenv("HIL_TOKEN", "")
	hostPort := strings.TrimPrefix(c.URL, "http://")
	if code := Main(context.Background(), []string{"list", "--coordinator", hostPort}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "HIL_TOKEN") || !strings.Contains(errb.String(), "--token") {
		t.Fatalf("no token: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main(context.Background(), []string{"list", "--json", "--coordinator", hostPort, "--token", c.Token}, &out, &errb); code != 0 {
		t.Fatalf("coordinator without scheme: exit %d: %s", code, errb.String())
	}
	// Usage never shows the token, even from the environment or a flag.
	for _, args := range [][]string{{"-h"}, {"list", "-h"}, {"--token", c.Token, "show", "-h"}} {
		out.Reset()
		errb.Reset()
		Main(context.Background(), args, &out, &errb)
		if strings.Contains(out.String()+errb.String(), c.Token) {
			t.Fatalf("%v printed the token", args)
		}
	}
}

// signalWriter closes first on the first write.
type signalWriter struct {
	mu    sync.Mutex
	w     *bytes.Buffer
	first chan struct{}
	once  sync.Once
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.once.Do(func() { close(s.first) })
	return s.w.Write(p)
}

func (s *signalWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
