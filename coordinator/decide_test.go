package coordinator_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/search/pareto"
)

// TestSearchDecisionAids runs a search (stand-in measurements) that
// requires HF exports and bounds peak memory, then checks what a user
// decides with: every measured candidate exports, the front's ranks and
// recommended point, the hypervolume as a fraction, and the CSV.
func TestSearchDecisionAids(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	// lfm2-tiny: about two thirds of its candidates have attention
	// heads·head_dim ≠ hidden, which no export expresses.
	spec := strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 10), `"space":{"preset":"lfm2-like"}`,
		`"space":{"preset":"lfm2-tiny"},"export":"hf","constraints":[{"metric":"peak_rss_mb@phone","max":1000000}]`, 1)
	id := createSearch(t, c, spec)
	se := waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete < 8 || se.Progress.Rejected == 0 {
		t.Fatalf("finished with %+v: want most of 10 trials complete and candidates rejected (not exportable)", se.Progress)
	}

	// Every measured trial exports as HF (the others were rejected).
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials?limit=100", nil, c.Token)
	var page struct {
		Trials []struct {
			Number int
			State  string
			Arch   json.RawMessage
			Rank   *int
		}
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil {
		t.Fatalf("trials: %d %s", code, body)
	}
	rankOf := map[int]int{}
	for _, tr := range page.Trials {
		s, err := arch.Parse(tr.Arch)
		if err != nil {
			t.Fatal(err)
		}
		if err := arch.Exportable(s, arch.FormatHF); err != nil {
			t.Fatalf("trial %d was measured although the spec requires HF exports: %v", tr.Number, err)
		}
		if (tr.State == "complete") != (tr.Rank != nil) {
			t.Fatalf("trial %d (%s): rank %v", tr.Number, tr.State, tr.Rank)
		}
		if tr.Rank != nil {
			rankOf[tr.Number] = *tr.Rank
		}
	}

	// Front ⇔ rank 0; the recommended point is the knee of the front.
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/pareto", nil, c.Token)
	var pv struct {
		Objectives []struct{ Direction string }
		Points     []struct {
			Trial       int
			Values      []float64
			Feasible    bool
			Front       bool
			Rank        int
			Recommended bool
			Exports     []struct {
				Format     string
				Exportable bool
			}
		}
		Recommended     *int
		RecommendedRule string `json:"recommended_rule"`
	}
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil || pv.Recommended == nil || pv.RecommendedRule == "" {
		t.Fatalf("pareto: %d %s", code, body)
	}
	var front [][]float64
	var frontTrials []int
	recs := 0
	for _, p := range pv.Points {
		if p.Front != (p.Rank == 0) || rankOf[p.Trial] != p.Rank {
			t.Fatalf("trial %d: front %v, rank %d (trials page: %d)", p.Trial, p.Front, p.Rank, rankOf[p.Trial])
		}
		if p.Recommended {
			recs++
		}
		if !p.Front {
			if p.Exports != nil {
				t.Fatalf("trial %d is off the front but carries export checks", p.Trial)
			}
			continue
		}
		if len(p.Exports) != 2 || p.Exports[0].Format != "hf" || !p.Exports[0].Exportable {
			t.Fatalf("front trial %d: exports %+v, want hf exportable", p.Trial, p.Exports)
		}
		y := slices.Clone(p.Values)
		for k := range y {
			if pv.Objectives[k].Direction == "maximize" {
				y[k] = -y[k]
			}
		}
		front = append(front, y)
		frontTrials = append(frontTrials, p.Trial)
	}
	if recs != 1 || frontTrials[pareto.Knee(front)] != *pv.Recommended {
		t.Fatalf("recommended %d (%d marked), the knee of the front %v is %d", *pv.Recommended, recs, frontTrials, frontTrials[pareto.Knee(front)])
	}

	// The export of the recommended trial declares the space's context
	// (the lfm2-tiny preset's 2,048), not the workload's 512+16 tokens.
	code, body = c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/export?format=hf&trial=%d", id, *pv.Recommended), nil, c.Token)
	var hf struct {
		MaxPos int `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(body, &hf); code != 200 || err != nil || hf.MaxPos != 2048 {
		t.Fatalf("hf export of the recommended trial: %d %s, want max_position_embeddings 2048", code, body)
	}

	// Hypervolume as a fraction of the box, growing to hypervolume/box.
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/hypervolume", nil, c.Token)
	var hv struct {
		Box     float64
		History []struct{ Hypervolume, Fraction float64 }
	}
	if err := json.Unmarshal(body, &hv); code != 200 || err != nil || hv.Box <= 0 || len(hv.History) == 0 {
		t.Fatalf("hypervolume: %d %s", code, body)
	}
	for i, h := range hv.History {
		if h.Fraction < 0 || h.Fraction > 1 || math.Abs(h.Fraction-h.Hypervolume/hv.Box) > 1e-12 || (i > 0 && h.Fraction < hv.History[i-1].Fraction) {
			t.Fatalf("history[%d] = %+v with box %g", i, h, hv.Box)
		}
	}
	if last := hv.History[len(hv.History)-1]; last.Fraction <= 0 {
		t.Fatalf("final fraction %g", last.Fraction)
	}

	// CSV: params once, rank and recommendation, the constraint's metric,
	// numbers without float noise.
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/export?format=csv", nil, c.Token)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if code != 200 || err != nil || len(rows) != len(page.Trials)+1 {
		t.Fatalf("csv: %d %v\n%s", code, err, body)
	}
	want := []string{"trial", "state", "params", "layers", "arch_hash", "runtime", "feasible", "violation", "on_front", "rank", "recommended", "exports",
		"decode_ms_p50@phone at depth 0", "peak_rss_mb@phone at context 512", "constraint peak_rss_mb@phone at context 512 max 1000000", "error"}
	if !slices.Equal(rows[0], want) {
		t.Fatalf("csv header %q\nwant %q", rows[0], want)
	}
	col := func(name string) int { return slices.Index(rows[0], name) }
	for _, r := range rows[1:] {
		n, _ := strconv.Atoi(r[0])
		if r[col("state")] != "complete" {
			continue
		}
		if r[col("rank")] != strconv.Itoa(rankOf[n]) || r[col("on_front")] != strconv.FormatBool(rankOf[n] == 0) ||
			r[col("recommended")] != strconv.FormatBool(n == *pv.Recommended) || !strings.Contains(r[col("exports")], "hf") {
			t.Fatalf("csv row %q: rank %d, recommended %d", r, rankOf[n], *pv.Recommended)
		}
		for _, name := range want[12:15] {
			v := r[col(name)]
			f, err := strconv.ParseFloat(v, 64)
			digits := strings.TrimLeft(strings.NewReplacer(".", "", "-", "").Replace(strings.Split(v, "e")[0]), "0")
			if err != nil || f <= 0 || len(digits) > 10 {
				t.Fatalf("csv %s = %q: want a positive number of at most 10 significant digits", name, v)
			}
		}
		if r[col("peak_rss_mb@phone at context 512")] != r[col("constraint peak_rss_mb@phone at context 512 max 1000000")] {
			t.Fatalf("csv row %q: the constraint column differs from the objective on the same metric", r)
		}
	}
}
