// Package search holds the pure core of a hardware-in-the-loop architecture
// search: the search specification and its validation, the genome that maps
// sampled parameters to an arch.Spec, the optimizers (random, Sobol, NSGA-II
// and TPE-ParEGO on goptuna) behind an ask/tell API, and an analytic stand-in
// evaluator for benchmarking the optimizers. It does no I/O: the coordinator
// supplies a goptuna.Storage (PostgreSQL in production) and the measurements.
//
// Pareto tools (non-dominated sorting, hypervolume) live in search/pareto.
//
// # Trial life cycle
//
// The coordinator's driver calls Optimizer.Ask for a candidate. Ask creates a
// goptuna trial, samples every gene, decodes the genome into an arch.Spec and
// checks the hard space constraints that need no device (parameter budget,
// attention-layer count). A candidate that fails them is stored as a pruned
// trial with the reason in its system attributes and Ask samples again; these
// rejections are counted (Optimizer.Rejections) and never reach a device.
// When every target has reported, the driver calls Optimizer.Tell with the
// Outcome computed by Spec.Outcome, or Optimizer.Fail with a reason.
//
// All optimizer state is derived from the storage: a new Optimizer over the
// same storage and study continues exactly where the old one stopped.
package search
