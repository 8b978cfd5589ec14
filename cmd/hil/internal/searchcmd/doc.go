// Package searchcmd implements "hil search": create, list, show, watch,
// pause, resume, cancel and export searches on a coordinator (through
// package client), and "bench", which compares the optimizers on
// search.AnalyticStandIn, an analytic stand-in evaluator that is never a
// measurement.
package searchcmd
