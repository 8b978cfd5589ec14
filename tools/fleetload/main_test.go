package main

import "testing"

// TestSchedule: every fault of every kind is planned once, and each kind
// is spread over the run: in every quarter of the plan, each kind with at
// least 4 faults has at least one.
func TestSchedule(t *testing.T) {
	counts := [len(faultKinds)]int{coordKill: 25, natsRestart: 25, pgRestart: 25, agentDrop: 28}
	plan := schedule(counts)
	var got [len(faultKinds)]int
	for _, k := range plan {
		got[k]++
	}
	if got != counts {
		t.Fatalf("planned %v, want %v", got, counts)
	}
	n := len(plan)
	for q := range 4 {
		var seen [len(faultKinds)]int
		for _, k := range plan[q*n/4 : (q+1)*n/4] {
			seen[k]++
		}
		for k, c := range seen {
			if c < counts[k]/4-1 || c > counts[k]/4+2 {
				t.Errorf("quarter %d has %d faults of %s, want about %d", q, c, faultKinds[k], counts[k]/4)
			}
		}
	}
	// One kind alone, and none at all.
	if p := schedule([len(faultKinds)]int{pgRestart: 3}); len(p) != 3 || p[0] != pgRestart || p[2] != pgRestart {
		t.Fatalf("one kind: %v", p)
	}
	if p := schedule([len(faultKinds)]int{}); len(p) != 0 {
		t.Fatalf("no faults: %v", p)
	}
}
