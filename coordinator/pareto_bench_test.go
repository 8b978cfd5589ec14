package coordinator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// seedTrials stores n complete trials with random objective values in a
// search (straight into PostgreSQL: the benchmark is about serving them).
func seedTrials(b *testing.B, c *testenv.Coordinator, searchID string, n int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([][]any, n)
	layers := []string{"conv", "conv", "gqa", "conv", "conv", "gqa", "conv", "conv", "gqa", "conv", "gqa", "conv", "gqa", "conv", "gqa", "conv"}
	for i := range rows {
		obj := []float64{5 + 20*r.Float64(), 200 + 300*r.Float64(), float64(3e8 + r.IntN(1e8))}
		viol := 0.0
		if r.IntN(10) == 0 {
			viol = r.Float64()
		}
		rows[i] = []any{searchID, i, 100000 + i, []byte(`{}`), fmt.Sprintf("h%d", i), int64(obj[2]), layers, "complete", obj, viol}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"trials"},
		[]string{"search_id", "number", "study_trial", "arch", "arch_hash", "params", "layers", "state", "objectives", "violation"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkParetoEndpoint5000 times GET /api/v1/searches/{id}/pareto and
// a page of the trials table for a search with 5,000 complete trials
// (goal: under 200 ms per Pareto request).
func BenchmarkParetoEndpoint5000(b *testing.B) {
	c := testenv.Start(b, nil)
	a := testenv.NewAgent(b)
	a.Enroll(b, c, "x86-test-8g")
	code, body := c.Do(b, "POST", "/api/v1/searches", testenv.SearchSpec(a.Resp.DeviceID, "random", 5000), c.Token)
	if code != 201 {
		b.Fatalf("create search: %d %s", code, body)
	}
	var se struct{ ID string }
	_ = jsonUnmarshal(body, &se)
	testenv.Exec(b, c.DSN, `UPDATE searches SET state = 'paused' WHERE id = $1`, se.ID) // no driver writes meanwhile
	seedTrials(b, c, se.ID, 5000)
	b.Run("pareto", func(b *testing.B) {
		for b.Loop() {
			if code, body := c.Do(b, "GET", "/api/v1/searches/"+se.ID+"/pareto", nil, c.Token); code != 200 {
				b.Fatalf("%d %s", code, body)
			}
		}
	})
	b.Run("hypervolume", func(b *testing.B) {
		for b.Loop() {
			if code, body := c.Do(b, "GET", "/api/v1/searches/"+se.ID+"/hypervolume", nil, c.Token); code != 200 {
				b.Fatalf("%d %s", code, body)
			}
		}
	})
	b.Run("trials-page", func(b *testing.B) {
		for b.Loop() {
			if code, body := c.Do(b, "GET", "/api/v1/searches/"+se.ID+"/trials?sort=-objective:0&limit=50&offset=2500", nil, c.Token); code != 200 {
				b.Fatalf("%d %s", code, body)
			}
		}
	})
}
