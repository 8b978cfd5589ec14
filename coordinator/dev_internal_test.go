package coordinator

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// TestDemoFrontAndRecommended: the line `serve --dev` prints when the demo
// ends names the front and its recommended trial. Trial 1 is within a few
// percent of the best latency and memory with 90 % of the largest model:
// the knee; trial 3 is dominated by trial 0.
func TestDemoFrontAndRecommended(t *testing.T) {
	se := api.Search{Spec: json.RawMessage(demoSearch("dlocal"))}
	pts := []store.TrialPoint{
		{Number: 0, Params: 1e6, Objectives: []float64{1, 100, 1e6}},
		{Number: 1, Params: 9e6, Objectives: []float64{1.1, 105, 9e6}},
		{Number: 2, Params: 1e7, Objectives: []float64{10, 1000, 1e7}},
		{Number: 3, Params: 1e6, Objectives: []float64{10, 1000, 1e6}},
	}
	front, rec := paretoFront(se, pts)
	if fmt.Sprint(front) != "[0 1 2]" || rec != 1 {
		t.Fatalf("front %v, recommended %d; want [0 1 2] and 1", front, rec)
	}
	if front, rec := paretoFront(se, nil); len(front) != 0 || rec != -1 {
		t.Fatalf("no trials: front %v, recommended %d", front, rec)
	}
}
