package httpapi

import (
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

func TestGuardWarning(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ms := []api.FidelityMetric{{Metric: "pp512", N: 4, Spearman: f(0.95)}, {Metric: "tg128@d0", N: 4, Spearman: f(0.4)}, {Metric: "tg128@d2048", N: 2}}
	w := GuardWarning(ms, 0.8, "dev1")
	for _, want := range []string{"device dev1", "tg128@d0: Spearman 0.40 < 0.80", "tg128@d2048: no rank correlation (2 presets"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, "pp512") {
		t.Errorf("warning %q names pp512, whose 0.95 meets 0.8", w)
	}
	if w := GuardWarning(ms[:1], 0.8, "dev1"); w != "" {
		t.Errorf("agreeing metrics warn: %q", w)
	}
}
