package search

import (
	"strings"
	"testing"
)

func scoreSpec(t *testing.T, extra string) string {
	t.Helper()
	return `{"space": {"preset": "lfm2-tiny"}, "workload": {"prompt_lengths": [64], "decode_depths": [64], "decode_tokens": 16, "precision": "f32"},
	 "targets": [{"name": "local", "class": "cpu"}],
	 "objectives": [{"metric": "decode_ms_p50@local"}, {"metric": "mqar_accuracy@mqar"}],
	 "budget": {"max_trials": 4}, "algorithm": "random"` + extra + `}`
}

func TestScoreRefsParseAndResolve(t *testing.T) {
	s, err := Parse([]byte(scoreSpec(t, `, "evaluators": {"mqar": {"settings": {"steps": 10}, "timeout": "30s"}}, "constraints": [{"metric": "mqar_loss@mqar", "max": 2.5}]`)))
	if err != nil {
		t.Fatal(err)
	}
	refs := s.ScoreRefs()
	if len(refs) != 2 || refs[0] != (ScoreRef{"mqar_accuracy", "mqar"}) || refs[1] != (ScoreRef{"mqar_loss", "mqar"}) {
		t.Fatalf("refs %v", refs)
	}
	if n := s.EvaluatorNames(); len(n) != 1 || n[0] != "mqar" {
		t.Fatalf("names %v", n)
	}
	if s.Objectives[1].Direction != "" {
		t.Fatalf("direction before resolving: %q", s.Objectives[1].Direction)
	}
	errs := s.ResolveScores(func(e string) (map[string]ScoreDecl, bool) {
		if e != "mqar" {
			return nil, false
		}
		return map[string]ScoreDecl{"mqar_accuracy": {Maximize}, "mqar_loss": {Minimize}}, true
	})
	if len(errs) != 0 || s.Objectives[1].Direction != Maximize {
		t.Fatalf("resolve: %v, direction %q", errs, s.Objectives[1].Direction)
	}
	if s.ScreeningActive(1000) {
		t.Fatal("a search with evaluator scores screens with device predictors, which cannot predict them")
	}
	settings, seed, timeout := s.EvaluatorUseOf("mqar")
	if string(settings) != `{"steps": 10}` || seed != 0 || timeout.Seconds() != 30 {
		t.Fatalf("use: %s %d %s", settings, seed, timeout)
	}
	// The outcome reads scores from the evaluator's pseudo-target.
	out, err := s.Outcome(1, map[string]Values{"local": {{MetricDecodeP50, 64}: 3}, "mqar": {{Metric("mqar_accuracy"), 0}: 0.9, {Metric("mqar_loss"), 0}: 3}})
	if err != nil || out.Values[1] != 0.9 || out.Violation == 0 {
		t.Fatalf("outcome %+v %v", out, err)
	}
	// Unknown evaluator and undeclared score are named.
	errs = s.ResolveScores(func(string) (map[string]ScoreDecl, bool) { return nil, false })
	if len(errs) == 0 || !strings.Contains(errs[0].Message, "registered evaluator") {
		t.Fatalf("unknown evaluator: %v", errs)
	}
	errs = s.ResolveScores(func(string) (map[string]ScoreDecl, bool) { return map[string]ScoreDecl{"x": {}}, true })
	if len(errs) != 2 || !strings.Contains(errs[0].Message, `declares no score "mqar_accuracy"`) {
		t.Fatalf("undeclared score: %v", errs)
	}
}

func TestScoreRefsInvalid(t *testing.T) {
	for _, c := range []struct{ extra, field string }{
		{`, "evaluators": {"local": {}}`, "evaluators.local"},
		{`, "evaluators": {"other": {}}`, "evaluators.other"},
		{`, "evaluators": {"mqar": {"timeout": "soon"}}`, "evaluators.mqar.timeout"},
		{`, "evaluators": {"mqar": {"settings": [1]}}`, "evaluators.mqar.settings"},
		{`, "constraints": [{"metric": "mqar_loss@mqar", "at": 64, "max": 1}]`, "constraints[0].at"},
		{`, "constraints": [{"metric": "Bad@mqar", "max": 1}]`, "constraints[0].metric"},
		{`, "constraints": [{"metric": "x@UP", "max": 1}]`, "constraints[0].metric"},
	} {
		_, err := Parse([]byte(scoreSpec(t, c.extra)))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: want an error naming %s, got %v", c.extra, c.field, err)
		}
	}
}
