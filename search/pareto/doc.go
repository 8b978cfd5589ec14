// Package pareto provides multi-objective tools over points in objective
// space: dominance, fast non-dominated sorting (plain and constrained),
// crowding distance, exact hypervolume, hypervolume contributions and
// improvements, and reference points. Every objective is minimised; flip
// the sign of maximised ones first.
//
// # Hypervolume
//
// Hypervolume is computed exactly in any dimension with the WFG algorithm
// (While, Bradstreet and Barone, "A fast way of calculating exact
// hypervolumes", IEEE TEVC 16(1), 2012): the volume is the sum over points,
// taken in order of the last objective, of each point's exclusive
// contribution against the points after it, whose "limited" set (each
// point pushed to be no better than the current one) is reduced to its
// non-dominated subset and measured recursively. The 1-D and 2-D cases are
// closed forms and a sort-and-sweep. BenchmarkHypervolume measures
// all-non-dominated fronts: 1,700 points in 3-D take about 0.25 s and 200
// points in 5-D about 0.1 s on a 2-core VM. The tests compare it with inclusion–exclusion over all subsets
// and with counting cells of the coordinate grid.
package pareto
